"""A user calibration on a projection layer: rescale the layer, keep its measurements on the same pixels."""

from __future__ import annotations

from typing import Any

from miss_imaging.errors import MeasurementError
from miss_imaging.measurement.calibration import Calibration
from miss_imaging.measurement.measure import volume_calibration

from ._calibrate import calibration_text
from ._layer_geometry import USER_CAL_KEY, current_calibration, image_volume, index_to_world, world_to_index
from ._status import refresh as refresh_status
from ._measure_layers import edge_width, notify_listeners, refresh, results, tool_layers, world_vertices

__all__ = ["apply_user_calibration", "clear_user_calibration"]


def _set_in_plane_scale(viewer: Any, image_layer: Any, row_col_mm: tuple[float, float], unit: str) -> list[Any]:
    """Give a projection layer a new in-plane scale and unit; keep its measurements on the same pixels.

    Measurement vertices are converted to image indices with the old scale
    and back to world with the new one, then relabelled.  Every axis takes
    `unit` (see :mod:`._layers`: one unit per world axis across layers).
    Returns the tool layers with their index vertices.
    """
    layers = tool_layers(viewer, image_layer)
    kept = [(lay, [world_to_index(image_layer, world_vertices(lay, i)) for i in range(len(lay.data))]) for lay in layers]
    scale = list(image_layer.scale)
    scale[-2:] = [float(v) for v in row_col_mm]
    image_layer.scale = scale
    image_layer.units = (unit,) * len(image_layer.units)
    for lay, idx in kept:
        lay.units = image_layer.units
        lay.edge_width = edge_width(image_layer)
        if idx:
            lay.data = [index_to_world(image_layer, p, lay.ndim) for p in idx]
        refresh(lay)
        notify_listeners(lay)
    return kept


def apply_user_calibration(viewer: Any, image_layer: Any, cal: Calibration) -> str:
    """Put a user calibration on a projection layer; rescale it; re-place its measurements.

    The measurement vertices are converted to image indices with the old
    scale and back to world with the new one, so every measurement stays on
    the same pixels and is relabelled "user-calibrated (...)".  The image
    layer's in-plane scale becomes the calibrated spacing (so napari's scale
    bar reads true mm) and its in-plane units become mm.

    Returns
    -------
    str
        What was done, in words.
    """
    vol = image_volume(image_layer)
    if vol is None or vol.kind != "projection":
        raise MeasurementError(
            "user calibration applies to projection images (fluoroscopy, radiographs); "
            f"{image_layer.name} is positioned by its patient geometry"
        )
    before = current_calibration(image_layer)
    image_layer.metadata[USER_CAL_KEY] = cal
    kept = _set_in_plane_scale(viewer, image_layer, (float(cal.row_mm), float(cal.col_mm)), "mm")  # type: ignore[arg-type]
    n = sum(len(results(lay)) for lay, _ in kept)
    refresh_status(viewer)  # the status line names the calibration in force
    was = calibration_text(before)  # type: ignore[arg-type]  (a projection always has one)
    return (
        f"{image_layer.name}: {cal.label}; in-plane scale set to {cal.row_mm:.4g} x {cal.col_mm:.4g} mm/pixel "
        f"(was {was}); {n} measurement(s) updated"
    )


def clear_user_calibration(viewer: Any, image_layer: Any) -> str:
    """Undo :func:`apply_user_calibration`: back to the volume's own calibration and scale."""
    vol = image_volume(image_layer)
    if vol is None or USER_CAL_KEY not in image_layer.metadata:
        return f"{image_layer.name}: no user calibration to remove"
    base = volume_calibration(vol)
    del image_layer.metadata[USER_CAL_KEY]
    _set_in_plane_scale(viewer, image_layer, (vol.spacing[1], vol.spacing[2]), "mm" if base.has_mm else "pixel")
    refresh_status(viewer)
    return f"{image_layer.name}: user calibration removed; back to {base.label}"
