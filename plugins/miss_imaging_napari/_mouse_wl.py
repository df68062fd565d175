"""Mouse-drag window/level on napari image layers (right-drag or Ctrl+left-drag).

The drag changes only ``layer.contrast_limits`` (the GPU windows); the data
is never recomputed.  The direction follows Cornerstone3D's WindowLevelTool
(the OHIF viewer's default; ``windowWidth += dx * m``, ``windowCenter += dy *
m`` in canvas pixels, y down): dragging right widens the window (less
contrast), dragging down raises the level (darker image).  The gain differs:
Cornerstone scales ``m`` with the image's dynamic range; here it is relative
to the window itself (a drag of :data:`PIXELS_PER_SPAN` canvas pixels changes
width or level by the window's span at the start of the drag), so the same
gesture is as fine on a narrow soft-tissue window as on a wide metal window,
and on a 0-255 fluoroscopy frame as on HU.

napari facts used (NAPARI.md section 5): layer drag callbacks run only for the
active layer; ``layer.mouse_pan = False`` during the drag stops the camera
from panning (left) or zooming (right-drag); ``auto_contrast`` must be off or
napari resets the limits on every slice change.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import numpy as np

__all__ = ["PIXELS_PER_SPAN", "drag_limits", "window_level_drag", "install", "uninstall", "is_installed"]

PIXELS_PER_SPAN = 256.0


def drag_limits(start: tuple[float, float], dx: float, dy: float) -> tuple[float, float]:
    """Contrast limits after a drag of (dx, dy) canvas pixels from limits `start`.

    ``span = hi - lo`` grows by ``g * dx`` and the centre moves by ``g * dy``
    (screen y grows downward), with ``g = span0 / PIXELS_PER_SPAN``.  The span
    never falls below ``g`` (one pixel's worth), so ``hi > lo`` always holds
    (DICOM LINEAR width ``span + 1 >= 1``).

    Examples
    --------
    >>> drag_limits((-100.0, 156.0), 50, -25)
    (-150.0, 156.0)
    """
    lo0, hi0 = float(start[0]), float(start[1])
    span0 = hi0 - lo0
    g = span0 / PIXELS_PER_SPAN if span0 > 0 else 1.0
    span = max(span0 + g * dx, g)
    mid = (lo0 + hi0) / 2.0 + g * dy
    return (mid - span / 2.0, mid + span / 2.0)


def _wants_drag(event: Any) -> bool:
    mods = tuple(getattr(event, "modifiers", ()) or ())
    return event.button == 2 or (event.button == 1 and any(m == "Control" for m in mods))


def window_level_drag(layer: Any, event: Any) -> Generator[None, None, None]:
    """napari ``mouse_drag_callbacks`` entry: window/level while the button is held."""
    if not _wants_drag(event):
        return
    layer.auto_contrast = False
    start_pos = np.asarray(event.pos, dtype=float)  # canvas pixels: independent of zoom
    start = tuple(layer.contrast_limits)
    pan = layer.mouse_pan
    layer.mouse_pan = False  # the camera ignores this drag (no pan, no right-drag zoom)
    yield
    try:
        while event.type == "mouse_move":
            dx, dy = np.asarray(event.pos, dtype=float) - start_pos
            layer.contrast_limits = drag_limits(start, dx, dy)
            yield
    finally:
        layer.mouse_pan = pan


def is_installed(layer: Any) -> bool:
    return window_level_drag in layer.mouse_drag_callbacks


def install(layer: Any) -> None:
    """Add the drag to an image layer (idempotent; other layer types are left alone)."""
    from napari.layers import Image

    if isinstance(layer, Image) and not is_installed(layer):
        layer.mouse_drag_callbacks.append(window_level_drag)


def uninstall(layer: Any) -> None:
    while window_level_drag in getattr(layer, "mouse_drag_callbacks", []):
        layer.mouse_drag_callbacks.remove(window_level_drag)
