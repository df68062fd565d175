"""The demo scene: which bundled series, which window, which measurements, and what is printed about them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miss_imaging.demo.samples import samples_dir
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing._deid_pixels import BOX_CONVENTION, format_box

__all__ = ["DemoItem", "demo_scene", "describe_scene", "spacing_text"]


@dataclass
class DemoItem:
    """One series of the demo with its window and its measurement.

    ``measurement`` comes from :func:`miss_imaging.measurement.measure.measure_distance`
    on the truth landmarks converted to array indices through the series'
    own geometry (CT: LPS mm -> index via the affine; fluoro: the truth's
    pixel indices), never from typed-in numbers.  ``truth_mm`` is the
    phantom's true distance, printed beside it.
    """

    key: str
    volume: ImageVolume
    window: Window
    measurement: Any
    points_index: tuple[tuple[float, float, float], tuple[float, float, float]]
    landmarks: tuple[str, str]
    truth_mm: float | None
    notes: list[str] = field(default_factory=list)
    blank: list[tuple[int, int, int, int]] = field(default_factory=list)  # (row0, col0, row1, col1) burned-in text


def _fluoro_pair(t: dict) -> tuple[tuple[str, str], list[list[float]], float | None]:
    """The fluoro bead pair (names, (frame,row,col) indices, true mm) from truth.json."""
    marks = t.get("landmarks_index") or t.get("landmarks_frc") or t.get("landmarks_px") or t.get("landmarks")
    if not isinstance(marks, dict):
        raise KeyError("truth.json fluoro: no landmark table (frame, row, col)")
    names = sorted(k for k in marks if "bead" in k.lower())[:2]
    if len(names) != 2:
        raise KeyError(f"truth.json fluoro: expected two bead landmarks, found {sorted(marks)}")
    dist = t.get("distances_mm", {})
    truth_mm = next((float(v) for k, v in dist.items() if names[0] in k and names[1] in k), None)
    return (names[0], names[1]), [list(map(float, marks[n])) for n in names], truth_mm


def demo_scene(samples: Path | None = None) -> list[DemoItem]:
    """Load the CT and fluoro phantoms and measure their 25.4 mm bead pairs.

    Returns
    -------
    list of DemoItem
        CT (bone window) first, then the fluoroscopy run (the file's window).
    """
    from miss_imaging.sharing.export import burned_in_regions
    from miss_imaging.reading.loader import load
    from miss_imaging.measurement.measure import measure_distance
    from miss_imaging.display.presets import default_window

    samples = samples or samples_dir()
    truth = json.loads((samples / "truth.json").read_text())
    items = []

    ct = load(samples / truth["spine_ct"]["folder"])
    lps = truth["spine_ct"]["landmarks_lps_mm"]
    p0, p1 = (tuple(float(v) for v in ct.patient_to_index(lps[n])) for n in ("inch_a", "inch_b"))
    m = measure_distance(ct, p0, p1, name="inch beads")
    items.append(DemoItem("spine_ct", ct, default_window(ct), m, (p0, p1), ("inch_a", "inch_b"),
                          truth["spine_ct"]["distances_mm"].get("inch_a-inch_b")))

    if "fluoro" in truth:
        tf = truth["fluoro"]
        fl = load(samples / tf.get("folder", "fluoro"))
        names, pts, truth_mm = _fluoro_pair(tf)
        q0, q1 = (tuple(p) for p in pts)
        mf = measure_distance(fl, q0, q1, name="fluoro beads")
        item = DemoItem("fluoro", fl, default_window(fl), mf, (q0, q1), names, truth_mm)  # type: ignore[arg-type]
        regions = burned_in_regions(fl)  # (0028,0301) = YES: patient text in the pixels, kept off the picture
        if regions:
            item.blank.extend(regions)
            item.notes.append(f"burned-in text (0028,0301) detected and blanked: {len(regions)} region(s) "
                              f"({BOX_CONVENTION}): " + " ".join(format_box(r) for r in regions))
        items.append(item)
    return items


def spacing_text(v: ImageVolume) -> str:
    """Spacing as printed by ``info`` and the demo (projections: row x col in their calibration)."""
    if v.kind == "projection":
        return f"{v.spacing[1]:.4g} x {v.spacing[2]:.4g} mm/px (row x col)" if v.calibration != "pixels only" else "pixels"
    text = " x ".join(f"{s:.4g}" for s in v.spacing) + " mm (slice x row x col)"
    return text if v.regular else text + ", slices uneven/sheared (mean step)"


def describe_scene(items: Sequence[DemoItem]) -> str:
    """What the demo shows, as text (no patient identifiers)."""
    out = []
    for it in items:
        v, w, m = it.volume, it.window, it.measurement
        out.append(f"{v.label}  [{v.modality}, {v.kind}]")
        out.append(f"  shape {' x '.join(map(str, v.shape))}, spacing {spacing_text(v)}")
        out.append(f"  calibration: {v.calibration}")
        out.append(f"  window: C {w.center:g} / W {w.width:g} ({w.explanation or w.function})")
        truth = f" (phantom truth {it.truth_mm:.2f} mm)" if it.truth_mm is not None else ""
        out.append(f"  measurement {it.landmarks[0]}-{it.landmarks[1]}: {m.text}{truth}")
        for note in it.notes:
            out.append(f"  note: {note}")
    return "\n".join(out)
