"""What the Measurements widget decides, without Qt.

The table's cells (:func:`table_cells`, :func:`cell_tooltip`), the calibration
line (:func:`calibration_summary`, :func:`calibrate_series`), which layers share a
series' calibration (:func:`series_layers`), what export writes
(:func:`exportable`) and how a measurements JSON file is placed back on the
open series (:func:`place_measurements`).  The widget builds the controls,
calls these and shows their messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from miss_imaging.errors import MeasurementError, MissImagingError
from miss_imaging.measurement.calibration import Calibration, user_calibration
from miss_imaging.measurement.measure import Measurement
from miss_imaging.measurement.measurements_io import load_json
from miss_imaging.model import ImageVolume

from ._calibrate import LineCandidate, calibration_message, choose_calibration_line
from ._layer_geometry import current_calibration, image_volume, layer_calibration, world_to_index
from ._layers import SOURCE_KEY
from ._measure_layers import MEASURE_KEY, Result, add_measurement, results, tool_layers, world_vertices
from ._user_calibration import apply_user_calibration, clear_user_calibration

__all__ = [
    "COLUMNS",
    "table_cells",
    "cell_tooltip",
    "calibration_summary",
    "image_layers",
    "series_layers",
    "calibrate_series",
    "clear_series_calibration",
    "exportable",
    "place_measurements",
    "load_measurements",
]

COLUMNS = ("name", "type", "value", "unit", "calibration", "series", "slice/frame", "points (index)")


# --------------------------------------------------------------------------- table


def _frames_text(m: Measurement | None) -> str:
    """Slice/frame column: one index, or first-last when the points span several."""
    if m is None:
        return ""
    f = sorted(set(m.frame_indices))
    return str(f[0]) if len(f) == 1 else f"{f[0]}-{f[-1]}"


def _points_text(m: Measurement | None) -> str:
    if m is None:
        return ""
    return "; ".join("(" + ", ".join(f"{v:.1f}" for v in p) + ")" for p in m.points_index)


def table_cells(r: Result) -> list[str]:
    """The texts of one table row, in :data:`COLUMNS` order (the error in the value column)."""
    m = r.measurement
    vol = image_volume(r.layer.metadata[MEASURE_KEY]["image"])
    series = m.series_label if m is not None else (vol.label if vol is not None else "")
    return [
        r.name,
        r.kind,
        f"{m.value:.2f}" if m is not None else (r.error or ""),
        m.unit if m is not None else "",
        m.calibration if m is not None else "",
        series,
        _frames_text(m),
        _points_text(m),
    ]


def cell_tooltip(r: Result, column: int) -> str | None:
    """Tooltip of a cell: the full error, the uncorrected detector-plane length, or the points in patient mm."""
    m = r.measurement
    if m is None:
        return (r.error or "") if column == 2 else None
    if column == 2 and m.detector_mm is not None and m.calibration_detail.source != "detector":  # type: ignore[union-attr]
        return f"at the detector plane (not corrected): {m.detector_mm:.2f} mm"
    if column == 7 and m.points_patient is not None:
        return f"{m.coordinate_frame} mm: " + "; ".join(
            "(" + ", ".join(f"{v:.2f}" for v in p) + ")" for p in m.points_patient)
    return None


def calibration_summary(vol: ImageVolume, cal: Calibration) -> str:
    """The "Current: ..." line under the calibration fields (mm/pixel as row x col)."""
    text = f"Current: {cal.label}"
    if cal.has_mm:
        text += f" ({cal.row_mm:.4g} x {cal.col_mm:.4g} mm/pixel)"
    if vol.kind == "projection" and cal.detector_row_mm is not None and cal.source != "detector":
        text += f"; detector plane {cal.detector_row_mm:.4g} x {cal.detector_col_mm:.4g} mm"
    return text


# --------------------------------------------------------------------------- calibration


def image_layers(viewer: Any) -> list[Any]:
    """The viewer's image layers that show a miss-imaging volume, in layer order."""
    return [lay for lay in viewer.layers if image_volume(lay) is not None]


def series_layers(viewer: Any, image: Any) -> list[Any]:
    """The projection layers showing the same series as `image` (one calibration for all of them)."""
    uid = image_volume(image).series_uid  # type: ignore[union-attr]
    same = [lay for lay in image_layers(viewer)
            if image_volume(lay).series_uid == uid and image_volume(lay).kind == "projection"]  # type: ignore[union-attr]
    return same or [image]


def _apply_to_series(viewer: Any, image: Any, cal: Calibration) -> str:
    return "; ".join(apply_user_calibration(viewer, lay, cal) for lay in series_layers(viewer, image))


def calibrate_series(viewer: Any, image: Any, rows: Sequence[Result], picked: Sequence[int],
                     length_text: str, object_name: str) -> str:
    """User calibration of `image`'s series from a line of the table and a typed known length (mm).

    The line is the row picked in the table, or the image's only line
    (:func:`._calibrate.choose_calibration_line`); its two end points are taken
    in image indices, so the calibration does not depend on the layer's scale.

    Returns
    -------
    str
        What was done, in words (line, length, mm/pixel before and after).
    """
    vol = image_volume(image)
    text = length_text.strip()
    try:
        known = float(text)
    except ValueError:
        raise MeasurementError(f"type the object's known length in mm (got {text!r})") from None
    if vol is None or vol.kind != "projection":
        raise MeasurementError(
            f"user calibration applies to projection images; {image.name} is measured in its patient geometry (CT)"
        )
    candidates = [LineCandidate(i, r.name, r.kind, r.measurement.pixels if r.measurement is not None else None,
                                r.layer.metadata[MEASURE_KEY]["image"] is image, r.error or "")
                  for i, r in enumerate(rows)]
    line = choose_calibration_line(candidates, list(picked), image.name)
    r = rows[line.row]
    idx = world_to_index(image, world_vertices(r.layer, r.shapes[0]))
    before = current_calibration(image)
    cal = user_calibration(idx[0], idx[1], known, object_name, base=before)
    _apply_to_series(viewer, image, cal)
    n = sum(len(results(t)) for lay in series_layers(viewer, image) for t in tool_layers(viewer, lay))
    return calibration_message(image.name, line, known, cal, before, n)  # type: ignore[arg-type]


def clear_series_calibration(viewer: Any, image: Any) -> str:
    """Remove the user calibration of `image`'s series; what was done, in words."""
    return "; ".join(clear_user_calibration(viewer, lay) for lay in series_layers(viewer, image))


# --------------------------------------------------------------------------- files


def exportable(viewer: Any, rows: Sequence[Result]) -> tuple[list[Measurement], str | None]:
    """What export writes (the valid rows, then the Spine widget's results) and a warning naming rows left out."""
    from ._spine import extra_measurements  # results of the Spine widget (levels, screws, plans)

    bad = [r for r in rows if r.measurement is None]
    warning = None
    if bad:
        warning = f"{len(bad)} measurement(s) with errors not exported: " + "; ".join(
            f"{r.name or r.kind}: {r.error}" for r in bad)
    return [r.measurement for r in rows if r.measurement is not None] + extra_measurements(viewer), warning


def _layer_for_series(viewer: Any, uid: str) -> Any | None:
    for lay in image_layers(viewer):
        src = lay.metadata.get(SOURCE_KEY)
        if image_volume(lay).series_uid == uid or getattr(src, "series_uid", None) == uid:  # type: ignore[union-attr]
            return lay
    return None


def _saved_index(vol: ImageVolume, m: Measurement) -> np.ndarray:
    """Where a saved measurement goes: volumes by patient (LPS) mm (right on a resampled grid), projections by index."""
    if vol.kind != "projection" and m.points_patient is not None and m.coordinate_frame == "LPS":
        return np.asarray(vol.patient_to_index(np.asarray(m.points_patient)))
    return np.asarray(m.points_index)


def place_measurements(viewer: Any, ms: Sequence[Measurement],
                       on_placed: Callable[[Result], None] | None = None) -> tuple[int, list[str], list[str]]:
    """Draw saved measurements on the open series they were made on (matched by series UID).

    A stored user calibration is re-applied to the series when it has none.

    Returns
    -------
    (placed, failed, notes)
        How many were placed, why each other one was not, and what else was done.
    """
    placed, failed, notes = 0, [], []
    for m in ms:
        image = _layer_for_series(viewer, m.series_uid)
        if image is None:
            failed.append(f"{m.name or m.kind} ({m.series_label or m.series_uid}): series not open")
            continue
        try:
            idx = _saved_index(image_volume(image), m)  # type: ignore[arg-type]
            cal = m.calibration_detail
            if cal is not None and cal.source == "user" and layer_calibration(image) is None:
                notes.append(_apply_to_series(viewer, image, cal))
            res = add_measurement(viewer, image, m.kind, idx, name=m.name)[1]
            if on_placed is not None:
                on_placed(res)
            if res.error:
                failed.append(f"{m.name or m.kind}: {res.error}")
            else:
                placed += 1
        except MissImagingError as exc:
            failed.append(f"{m.name or m.kind}: {exc}")
    return placed, failed, notes


def load_measurements(viewer: Any, path: str | Path,
                      on_placed: Callable[[Result], None] | None = None) -> tuple[str, bool]:
    """Read a measurements JSON file and place it (:func:`place_measurements`); the report and whether all fitted."""
    ms = load_json(path)
    placed, failed, notes = place_measurements(viewer, ms, on_placed)
    report = f"placed {placed} of {len(ms)} measurement(s) from {Path(path).name}"
    if notes:
        report += "; " + "; ".join(notes)
    if failed:
        report += "; could not place: " + "; ".join(failed)
    return report, not failed
