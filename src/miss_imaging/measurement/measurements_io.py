"""Export measurements to CSV and JSON, and reload them from JSON.

The JSON file is versioned (``"schema": "miss-imaging.measurements"``,
``"version": 1``).  Each measurement keeps its series UID, its calibration
(label and, for projections, the spacings and source) and its points in index
*and* physical coordinates, so that it can be placed back where it was: on the
same series by index, or on another grid of the same patient frame by LPS mm.
No patient identifier is written (the series is named by UID and by its
display label only).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from miss_imaging.measurement.calibration import Calibration
from miss_imaging.errors import MeasurementError
from miss_imaging.measurement.measure import Measurement, as_point

__all__ = ["SCHEMA", "VERSION", "to_dict", "from_dict", "save_json", "load_json", "save_csv", "CSV_COLUMNS"]

SCHEMA = "miss-imaging.measurements"
VERSION = 1

CSV_COLUMNS = (
    "name", "kind", "value", "unit", "calibration", "mm", "pixels", "detector_mm", "series_label", "series_uid",
    "slice_or_frame", "points_index", "points_patient", "coordinate_frame",
)


def to_dict(m: Measurement) -> dict[str, Any]:
    """A JSON-ready dict of one measurement (tuples become lists)."""
    d = asdict(m)
    d["calibration_detail"] = None if m.calibration_detail is None else asdict(m.calibration_detail)
    return json.loads(json.dumps(d))  # tuples -> lists, floats kept exactly (repr round-trips)


def from_dict(d: dict[str, Any]) -> Measurement:
    """Rebuild a measurement from :func:`to_dict` output.

    Raises
    ------
    MeasurementError
        A required field is missing or malformed.
    """
    try:
        detail = d.get("calibration_detail")
        cal = None
        if detail:
            cal = Calibration(**{**detail, "warnings": tuple(detail.get("warnings", ()))})
        pp = d.get("points_patient")
        return Measurement(
            kind=str(d["kind"]),
            value=float(d["value"]),
            unit=str(d["unit"]),
            calibration=str(d["calibration"]),
            points_index=tuple(as_point(p) for p in d["points_index"]),
            points_patient=None if pp is None else tuple(as_point(p) for p in pp),
            frame_indices=tuple(int(v) for v in d.get("frame_indices", ())),
            series_uid=str(d.get("series_uid", "")),
            series_label=str(d.get("series_label", "")),
            name=str(d.get("name", "")),
            mm=None if d.get("mm") is None else float(d["mm"]),
            pixels=None if d.get("pixels") is None else float(d["pixels"]),
            calibration_detail=cal,
            coordinate_frame=str(d.get("coordinate_frame", "LPS")),
            detector_mm=None if d.get("detector_mm") is None else float(d["detector_mm"]),
            warnings=tuple(d.get("warnings", ())),
            magnification_range=None if d.get("magnification_range") is None
            else (float(d["magnification_range"][0]), float(d["magnification_range"][1])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MeasurementError(f"malformed measurement record ({exc!r}): {d!r}") from None


def save_json(measurements: Iterable[Measurement], path: str | Path) -> Path:
    """Write measurements as versioned JSON; returns the path."""
    path = Path(path)
    doc = {"schema": SCHEMA, "version": VERSION, "measurements": [to_dict(m) for m in measurements]}
    path.write_text(json.dumps(doc, indent=2))
    return path


def load_json(path: str | Path) -> list[Measurement]:
    """Read measurements written by :func:`save_json`.

    Raises
    ------
    MeasurementError
        Not a miss-imaging measurement file, or a newer version.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MeasurementError(f"cannot read measurements: {exc}", path=path) from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise MeasurementError(f"not a miss-imaging measurement file (schema != {SCHEMA!r})", path=path)
    if not isinstance(doc.get("version"), int) or doc["version"] > VERSION:
        raise MeasurementError(
            f"measurement file version {doc.get('version')!r} is newer than this miss-imaging reads ({VERSION})", path=path
        )
    return [from_dict(d) for d in doc.get("measurements", [])]


def _fmt_points(points: Iterable[Iterable[float]] | None) -> str:
    if points is None:
        return ""
    return "; ".join("(" + ", ".join(f"{v:.3f}" for v in p) + ")" for p in points)


def save_csv(measurements: Iterable[Measurement], path: str | Path) -> Path:
    """Write one row per measurement (columns :data:`CSV_COLUMNS`); returns the path."""
    path = Path(path)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for m in measurements:
            frames = sorted(set(m.frame_indices))
            w.writerow([
                m.name, m.kind, repr(m.value), m.unit, m.calibration,
                "" if m.mm is None else repr(m.mm), "" if m.pixels is None else repr(m.pixels),
                "" if m.detector_mm is None else repr(m.detector_mm),
                m.series_label, m.series_uid, "-".join(str(v) for v in (frames[0], frames[-1])) if len(frames) > 1 else frames[0],
                _fmt_points(m.points_index), _fmt_points(m.points_patient), m.coordinate_frame,
            ])
    return path
