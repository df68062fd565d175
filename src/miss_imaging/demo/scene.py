"""The demo scene: which bundled series, which window, which labelled measurements, and what is printed.

Default (``phantom="lumbar"``): the anatomical lumbar CT beside the lateral
fluoroscopy shot computed from it (the same spine), each with rulers measured
by :func:`miss_imaging.measure_distance` on ``truth.json`` landmarks, the
spine tools on the CT (:mod:`miss_imaging.demo.spine`), and the true value
printed beside every number.  ``phantom="beads"``: the older geometric
phantoms (bead pairs 25.4 mm apart), kept for tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from miss_imaging.demo.samples import samples_dir
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing._deid_pixels import BOX_CONVENTION, format_box

__all__ = ["Ruler", "Overlay", "DemoItem", "demo_scene", "describe_scene", "spacing_text"]

Point = tuple[float, float, float]


@dataclass
class Ruler:
    """A measurement drawn and printed: two array-index points, the result, and the phantom's truth.

    ``measurement`` comes from :func:`miss_imaging.measurement.measure.measure_distance`
    on truth landmarks converted to array indices through the series' own
    geometry (CT: LPS mm -> index via the affine; projections: detector
    pixels), never from typed-in numbers.  ``truth`` is printed beside it.
    """

    name: str
    points_index: tuple[Point, Point]
    measurement: Any
    truth: str = ""


@dataclass
class Overlay:
    """A labelled drawing that is not a ruler (screw outline, access line, tube): array-index points."""

    name: str
    points_index: np.ndarray  # (N, 3) float, array indices of the item's volume
    text: str = ""
    color: str = "cyan"
    closed: bool = False  # polygon (outline) rather than a polyline
    anchor: str = "upper_left"  # where the label starts on the drawing's bounding box (napari text anchor)
    label_shift_mm: tuple[float, float] = (0.0, 0.0)  # then moved (screen down, screen right) in mm, off the lines


@dataclass
class DemoItem:
    """One series of the demo: its window, rulers, drawings, printed findings and blanked text."""

    key: str
    volume: ImageVolume
    window: Window
    rulers: list[Ruler]
    overlays: list[Overlay] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # printed lines (value, then truth)
    notes: list[str] = field(default_factory=list)
    blank: list[tuple[int, int, int, int]] = field(default_factory=list)  # (row0, col0, row1, col1) burned-in text
    slab: tuple[int, int] | None = None  # axis-0 index range shown as a maximum-intensity slab (CT)

    @property
    def measurements(self) -> list[Any]:
        """The rulers' measurements, in order (what the SR carries)."""
        return [r.measurement for r in self.rulers]


def _load_truth(samples: Path) -> dict[str, Any]:
    return dict(json.loads((samples / "truth.json").read_text()))


def _blank_burned_in(item: DemoItem) -> DemoItem:
    """Find burned-in patient text ((0028,0301) = YES) and keep it off the picture."""
    from miss_imaging.sharing.export import burned_in_regions

    regions = burned_in_regions(item.volume)
    if regions:
        item.blank.extend(regions)
        item.notes.append(f"burned-in text (0028,0301) detected and blanked: {len(regions)} region(s) "
                          f"({BOX_CONVENTION}): " + " ".join(format_box(r) for r in regions))
    return item


def _bead_scene(samples: Path, truth: dict[str, Any]) -> list[DemoItem]:
    """The geometric phantoms: a CT bead pair and a fluoro bead pair, each 25.4 mm apart."""
    from miss_imaging.display.presets import default_window
    from miss_imaging.measurement.measure import measure_distance
    from miss_imaging.reading.loader import load

    ct = load(samples / truth["spine_ct"]["folder"])
    lps = truth["spine_ct"]["landmarks_lps_mm"]
    p0, p1 = (tuple(float(v) for v in ct.patient_to_index(lps[n])) for n in ("inch_a", "inch_b"))
    true_ct = truth["spine_ct"]["distances_mm"]["inch_a-inch_b"]
    from miss_imaging.demo.spine import spine_demo_text

    items = [DemoItem("spine_ct", ct, default_window(ct), [Ruler(
        "inch_a-inch_b", (p0, p1), measure_distance(ct, p0, p1, name="inch beads"),  # type: ignore[arg-type]
        f"phantom truth {true_ct:.2f} mm")], findings=spine_demo_text(ct).splitlines())]
    tf = truth["fluoro"]
    fl = load(samples / tf.get("folder", "fluoro"))
    marks = tf["landmarks_px"]
    q0, q1 = (tuple(float(v) for v in marks[n]) for n in ("bead_a", "bead_b"))
    true_fl = tf["distances_mm"]["bead_a-bead_b"]
    items.append(_blank_burned_in(DemoItem("fluoro", fl, default_window(fl), [Ruler(
        "bead_a-bead_b", (q0, q1), measure_distance(fl, q0, q1, name="fluoro beads"),  # type: ignore[arg-type]
        f"phantom truth {true_fl:.2f} mm")])))
    return items


def demo_scene(samples: Path | None = None, *, phantom: Literal["lumbar", "beads"] = "lumbar") -> list[DemoItem]:
    """The demo's series with their windows and measurements.

    Parameters
    ----------
    samples : Path, optional
        The phantom folder; default :func:`miss_imaging.demo.samples.samples_dir`.
    phantom : {"lumbar", "beads"}
        ``"lumbar"``: the anatomical lumbar CT (axial slab through the L4
        screws, bone window) and the lateral fluoroscopy shot of the same
        spine.  ``"beads"``: the geometric CT and fluoro bead phantoms.

    Returns
    -------
    list of DemoItem
        CT first, then the projection.
    """
    samples = samples or samples_dir()
    truth = _load_truth(samples)
    if phantom == "beads":
        return _bead_scene(samples, truth)
    from miss_imaging.demo.lumbar import lumbar_scene

    return [_blank_burned_in(it) if it.volume.kind == "projection" else it for it in lumbar_scene(samples, truth)]


def spacing_text(v: ImageVolume) -> str:
    """Spacing as printed by ``info`` and the demo (projections: row x col in their calibration)."""
    if v.kind == "projection":
        return f"{v.spacing[1]:.4g} x {v.spacing[2]:.4g} mm/px (row x col)" if v.calibration != "pixels only" else "pixels"
    text = " x ".join(f"{s:.4g}" for s in v.spacing) + " mm (slice x row x col)"
    return text if v.regular else text + ", slices uneven/sheared (mean step)"


def describe_scene(items: Sequence[DemoItem]) -> str:
    """What the demo shows, as text, each value with the phantom's truth beside it (no patient identifiers)."""
    out = []
    for it in items:
        v, w = it.volume, it.window
        out.append(f"{v.label}  [{v.modality}, {v.kind}]")
        out.append(f"  shape {' x '.join(map(str, v.shape))}, spacing {spacing_text(v)}")
        out.append(f"  calibration: {v.calibration}")
        out.append(f"  window: C {w.center:g} / W {w.width:g} ({w.explanation or w.function})")
        for r in it.rulers:
            out.append(f"  measurement {r.name}: {r.measurement.text}" + (f" ({r.truth})" if r.truth else ""))
        out += [f"  {line}" for line in it.findings]
        out += [f"  note: {note}" for note in it.notes]
    return "\n".join(out)
