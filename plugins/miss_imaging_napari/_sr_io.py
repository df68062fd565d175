"""DICOM SR / Secondary Capture / Key Objects from the viewer (Qt-free; the widgets only call these).

Measurements are drawn on the layer's *shown* volume, which for tilted or
irregular CT is a display-resampled grid without source files.  Written
objects must reference the original images, so such measurements are
re-made on the original series (``miss_imaging_source``) from their patient
(LPS) points; an SR read back is placed on the shown grid the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from miss_imaging.errors import MissImagingError
from miss_imaging.measurement.measure import Measurement, measure_angle, measure_cobb, measure_distance, measure_path
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.sr import load_sr, lps_to_index, save_annotated_sc, save_key_objects, save_sr

from . import _layer_geometry, _measure_layers, _user_calibration
from ._layers import SOURCE_KEY, VOLUME_KEY

__all__ = ["source_volume", "on_source", "layer_measurements", "save_layer_sr", "open_sr", "save_layer_capture",
           "flag_layer", "current_index"]


def source_volume(layer: Any) -> ImageVolume:
    """The original series behind an image layer (its shown volume when not resampled)."""
    md = getattr(layer, "metadata", {}) or {}
    vol = md.get(SOURCE_KEY) or md.get(VOLUME_KEY)
    if not isinstance(vol, ImageVolume):
        raise MissImagingError(f"{getattr(layer, 'name', layer)} is not an image opened by miss-imaging")
    return vol


def _remake(vol: ImageVolume, m: Measurement, idx: np.ndarray) -> Measurement:
    pts = [tuple(p) for p in idx]
    cal = m.calibration_detail if vol.kind == "projection" else None
    made = {"distance": lambda: measure_distance(vol, pts[0], pts[1], calibration=cal),
            "path": lambda: measure_path(vol, pts, calibration=cal),
            "angle": lambda: measure_angle(vol, pts[0], pts[1], pts[2], calibration=cal),
            "cobb": lambda: measure_cobb(vol, pts[:2], pts[2:], calibration=cal)}[m.kind]()
    return made.renamed(m.name)


def on_source(shown: ImageVolume, source: ImageVolume, m: Measurement) -> Measurement:
    """`m` (made on `shown`) re-made on `source` through its LPS points; unchanged when they are the same."""
    if shown is source or source.kind == "projection" or m.points_patient is None:
        return m
    return _remake(source, m, lps_to_index(source, np.asarray(m.points_patient, dtype=np.float64)))


def layer_measurements(viewer: Any, image_layer: Any) -> tuple[list[Measurement], list[str]]:
    """Valid measurements of an image layer (on its original series) and the errors left out."""
    shown = _layer_geometry.image_volume(image_layer) or source_volume(image_layer)
    source = source_volume(image_layer)
    out, errors = [], []
    for lay in _measure_layers.tool_layers(viewer, image_layer):
        for r in _measure_layers.results(lay):
            if r.measurement is None:
                errors.append(f"{r.name or r.kind}: {r.error}")
            else:
                out.append(on_source(shown, source, r.measurement))  # type: ignore[arg-type]
    return out, errors


def save_layer_sr(viewer: Any, image_layer: Any, path: str | Path, **kwargs: Any) -> str:
    """Write the layer's measurements and the Spine widget's results as a DICOM SR; returns a one-line report.

    The spine results (published on the image layer under :data:`._spine.RESULTS_KEY`) are written as
    themselves, one group each with all their values, not as the rulers of the CSV/JSON export.
    """
    from ._spine import RESULTS_KEY

    ms, errors = layer_measurements(viewer, image_layer)
    spine = list((getattr(image_layer, "metadata", {}) or {}).get(RESULTS_KEY, []) or [])
    left_out: list[str] = []
    out = save_sr(ms + spine, source_volume(image_layer), path, report=left_out, **kwargs)
    text = f"wrote {len(ms)} measurement(s)" + (f" and {len(spine)} spine result(s)" if spine else "")
    text += f" to {Path(out).name}"
    if errors or left_out:
        text += f"; not written: {'; '.join(errors + left_out)}"
    return text


def open_sr(viewer: Any, path: str | Path) -> tuple[str, list[tuple[Any, Measurement]]]:
    """Read an SR and draw its measurements on the open layers that hold the referenced images.

    Returns
    -------
    report : str
        How many were placed, and what could not be placed and why.
    placed : list of (tool layer, Measurement)
    """
    layers = [lay for lay in viewer.layers if isinstance((getattr(lay, "metadata", {}) or {}).get(VOLUME_KEY),
                                                            ImageVolume) and "miss_imaging_plane" not in lay.metadata]
    result = load_sr(path, [source_volume(lay) for lay in layers])
    placed, failed = [], list(result.skipped)
    for m in result:
        layer = next(lay for lay in layers if source_volume(lay).series_uid == m.series_uid)
        shown = _layer_geometry.image_volume(layer) or source_volume(layer)
        idx = np.asarray(m.points_index)
        if shown is not source_volume(layer) and m.points_patient is not None and m.coordinate_frame == "LPS":
            idx = np.asarray(shown.patient_to_index(np.asarray(m.points_patient)))
        try:
            cal = m.calibration_detail
            if cal is not None and cal.source == "user" and _layer_geometry.layer_calibration(layer) is None:
                _user_calibration.apply_user_calibration(viewer, layer, cal)
            tool, res = _measure_layers.add_measurement(viewer, layer, m.kind, idx, name=m.name)
        except MissImagingError as exc:
            failed.append(f"{m.name or m.kind}: {exc}")
            continue
        if res.error:
            failed.append(f"{m.name or m.kind}: {res.error}")
        else:
            placed.append((tool, m))
    report = f"placed {len(placed)} of {len(result) + len(result.skipped)} measurement(s) from {Path(path).name}"
    if failed:
        report += "; could not place: " + "; ".join(failed)
    return report, placed


def current_index(viewer: Any, layer: Any) -> int:
    """Axis-0 index (slice/frame) of the original series shown at the viewer's current position."""
    shown = _layer_geometry.image_volume(layer) or source_volume(layer)
    source = source_volume(layer)
    data = np.asarray(layer.world_to_data(viewer.dims.point), dtype=np.float64)
    if data.size < 3:
        data = np.concatenate([np.zeros(3 - data.size), data])
    idx = data[-3:]
    if shown is not source and source.kind != "projection":
        idx = lps_to_index(source, np.atleast_2d(shown.index_to_patient(idx)))[0]
    return int(np.clip(round(float(idx[0])), 0, source.shape[0] - 1))


def save_layer_capture(viewer: Any, layer: Any, path: str | Path, *, window: Any = None, **kwargs: Any) -> str:
    """Annotated Secondary Capture of the layer: the whole run for a multi-frame projection, else the current slice."""
    source = source_volume(layer)
    ms, _errors = layer_measurements(viewer, layer)
    cine = source.kind == "projection" and source.shape[0] > 1
    frames = list(range(source.shape[0])) if cine else [current_index(viewer, layer)]
    out = save_annotated_sc(source, path, measurements=ms, frames=frames, window=window, **kwargs)
    return f"annotated capture written: {Path(out).name} ({len(frames)} frame(s))"


def flag_layer(viewer: Any, layer: Any, path: str | Path, *, note: str = "", title: str = "For Teaching",
               **kwargs: Any) -> str:
    """Key Object Selection flagging the current slice/frame of the layer."""
    k = current_index(viewer, layer)
    out = save_key_objects(source_volume(layer), path, frames=[k], title=title, note=note, **kwargs)
    return f"{title}: slice/frame {k} flagged in {Path(out).name}"
