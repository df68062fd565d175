"""What a teaching snapshot shows: one series, a valid frame of it, its whole extent (no Qt, no napari imports).

A CT and a fluoro run in one viewer share napari's first world axis: CT z in
mm and the run's frame index.  The QA report found a fluoro snapshot black,
captioned "frame -220 of 0-9", carrying the CT's planned-screw outlines, and
the canvas crop (424 x 1092 px) cutting both flanks of the body.  These
functions decide what the snapshot of the active series is; the Teaching
widget applies them around its capture and restores the view.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._napari_private import unwrap
from ._targets import MEASURE_KEY

__all__ = ["owner_image", "layers_to_hide", "frame_index", "frame_world", "fit_view", "blank_world_boxes"]

_MASK_KEY = "miss_imaging_text_mask"  # = _teaching.MASK_KEY (kept here so this module stays napari-free)
_INCISION_KEY = "miss_imaging_incision"  # = _spine.INCISION_KEY (an access plan's incision drawn on a shot)


def owner_image(layer: Any) -> Any | None:
    """The image layer a measurement, text-mask or incision layer belongs to (None for other layers)."""
    md = getattr(layer, "metadata", None) or {}
    for key in (MEASURE_KEY, _MASK_KEY, _INCISION_KEY):
        info = md.get(key)
        if isinstance(info, dict) and info.get("image") is not None:
            return info["image"]
    return None


def _same(a: Any, b: Any) -> bool:
    """Identity through napari's PublicOnlyProxy (a plugin widget's viewer hands out a new proxy per access)."""
    return unwrap(a) is unwrap(b)


def layers_to_hide(target: Any, layers: Sequence[Any], is_image: Callable[[Any], bool]) -> list[Any]:
    """Visible layers that are not part of `target`'s snapshot: other images and the overlays of other images.

    Layers belonging to no image (a user's own annotation) stay.
    """
    out = []
    for lay in layers:
        if _same(lay, target) or not getattr(lay, "visible", True):
            continue
        if is_image(lay):
            out.append(lay)
            continue
        owner = owner_image(lay)
        if owner is not None and not _same(owner, target):
            out.append(lay)
    return out


def frame_index(world_value: float, n_frames: int, scale0: float = 1.0, translate0: float = 0.0) -> int | None:
    """The run's own frame index at napari world position `world_value` on its frame axis; None outside the run.

    Examples
    --------
    >>> frame_index(3.2, 10), frame_index(-220.0, 10), frame_index(9.4, 10)
    (3, None, 9)
    """
    f = int(np.round((float(world_value) - translate0) / (scale0 or 1.0)))
    return f if 0 <= f < n_frames else None


def frame_world(world_value: float, n_frames: int, scale0: float = 1.0, translate0: float = 0.0) -> float | None:
    """A world value that shows a frame of the run, when `world_value` shows none (else None: leave it).

    The nearest end of the run: a CT's z of -220 mm beside a 10-frame run gives frame 0.

    Examples
    --------
    >>> frame_world(-220.0, 10), frame_world(40.0, 10, 1.0, 5.0), frame_world(3.0, 10)
    (0.0, 14.0, None)
    """
    if frame_index(world_value, n_frames, scale0, translate0) is not None:
        return None
    f = (float(world_value) - translate0) / (scale0 or 1.0)
    return float(min(max(round(f), 0), n_frames - 1) * scale0 + translate0)


def fit_view(lo: Sequence[float], hi: Sequence[float], step: Sequence[float], *,
             long_side_px: int = 1024, max_side_px: int = 4096) -> tuple[tuple[int, int], tuple[float, float], float]:
    """Canvas size, camera centre and zoom that show a 2-D image's whole extent, pixel edges included.

    Parameters
    ----------
    lo, hi : (2,) float
        World coordinates (row axis, column axis; mm) of the first and last
        pixel centres (napari ``layer.extent.world`` of the displayed axes).
    step : (2,) float
        Pixel spacing along those axes (mm).
    long_side_px : int
        The picture's longer side in pixels, at least one screen pixel per
        image pixel (up to `max_side_px`).

    Returns
    -------
    size : (height, width) int
        Canvas size in pixels.
    center : (row, col) float
        Camera centre (world mm).
    zoom : float
        Screen pixels per mm.

    Examples
    --------
    >>> fit_view((0.5, 0.5), (255.5, 255.5), (1.0, 1.0))
    ((1024, 1024), (128.0, 128.0), 4.0)
    >>> fit_view((0, 0), (1091, 423), (1, 1))[0]
    (1092, 424)
    """
    lo_e = np.asarray(lo, float) - np.abs(np.asarray(step, float)) / 2
    hi_e = np.asarray(hi, float) + np.abs(np.asarray(step, float)) / 2
    span = np.maximum(hi_e - lo_e, 1e-9)
    native = span / np.maximum(np.abs(np.asarray(step, float)), 1e-9)  # image pixels along each axis
    zoom = max(long_side_px, float(native.max())) / float(span.max())
    zoom = min(zoom, max_side_px / float(span.max()))
    size = tuple(int(v) for v in np.maximum(np.round(span * zoom), 1))
    center = tuple(float(v) for v in (lo_e + hi_e) / 2)
    return (size[0], size[1]), (center[0], center[1]), float(zoom)


def blank_world_boxes(picture: np.ndarray, boxes_world: Sequence[Any], center: Sequence[float], zoom: float,
                      *, margin_px: int = 2) -> np.ndarray:
    """Black out world-space boxes in a canvas picture taken with camera `center` (row, col; mm) and `zoom`.

    Parameters
    ----------
    picture : (H, W, C) array
        Canvas capture; napari puts the camera centre at the picture's centre.
    boxes_world : sequence of (N, 2) arrays
        Corners (row, col; world mm) of each box.
    zoom : float
        Screen pixels per mm.
    margin_px : int
        Extra screen pixels blanked on every side (anti-aliased edges).

    Returns
    -------
    array
        A copy of `picture` with the boxes set to 0 (colour channels; alpha kept).

    Examples
    --------
    >>> pic = np.full((10, 10, 3), 255, np.uint8)
    >>> out = blank_world_boxes(pic, [np.array([[1.0, 1.0], [2.0, 2.0]])], (2.5, 2.5), 2.0, margin_px=0)
    >>> int((out[..., 0] == 0).sum()), out[2:4, 2:4, 0].tolist()
    (4, [[0, 0], [0, 0]])
    """
    out = np.array(picture, copy=True)
    h, w = out.shape[:2]
    for box in boxes_world:
        b = np.asarray(box, dtype=np.float64)
        rows = (b[:, 0] - center[0]) * zoom + h / 2
        cols = (b[:, 1] - center[1]) * zoom + w / 2
        r0, r1 = int(np.floor(rows.min())) - margin_px, int(np.ceil(rows.max())) + margin_px
        c0, c1 = int(np.floor(cols.min())) - margin_px, int(np.ceil(cols.max())) + margin_px
        out[max(r0, 0):max(min(r1, h), 0), max(c0, 0):max(min(c1, w), 0), :3] = 0
    return out
