"""Keep what the user opened or turned on on screen: the slider inside its extent, the camera on it.

A CT's axis 0 is z in patient mm, a fluoroscopy shot's is the frame number
(see :mod:`._layers`), and both share napari's one slider: in one viewer the
slider position that shows a lateral shot (frame 0) lies 60 mm above the
lumbar CT, and the shot's plane (0..150 mm) lies beside the CT's.  QA found
the shot just opened drawn off-screen, and hiding it left a black canvas at
"z = 0.0 mm".  The rules (Qt-free, tested):

* a series just opened: the slider moves into its extent when it is outside
  (:func:`slice_to_show`) and the camera frames it when it is not fully in
  view (:func:`miss_imaging_napari._carm_shot.view_to_show`);
* a layer turned on: the same, for that layer;
* a layer hidden or removed: when no visible image layer is on the slider's
  position any more, the slider moves to the top visible one.

A volume is shown at its middle slice, a projection at its first frame.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from ._layers import VOLUME_KEY, mark_viewer

__all__ = ["Span", "covers", "slice_to_show", "layer_span", "slider_into", "show_layer", "suspended", "attach"]

_PLANE_KEY = "miss_imaging_plane"  # reslice layers: placed in their own frame by the reslice widget
_CARM_KEY = "miss_imaging_carm"  # C-arm shots: placed and framed by _carm_shot
_SUSPENDED: set[int] = set()  # id(viewer) while the plugin itself hides and re-shows layers


class Span(NamedTuple):
    """A layer's world extent along the slider axis (axis 0).

    ``lo``/``hi`` are the world positions of its first and last slice (mm for
    a volume, frame number for a projection), ``step`` the slice step, and
    ``kind`` ``"volume"`` or ``"projection"``.  A layer with fewer dimensions
    than the viewer (a 2-D shot) has no span: it is drawn at every position.
    """

    lo: float
    hi: float
    step: float
    kind: str


def covers(span: Span | None, point0: float) -> bool:
    """Whether a layer with `span` draws something at slider position `point0` (half a step of slack)."""
    if span is None:
        return True
    half = abs(span.step) / 2
    return span.lo - half <= point0 <= span.hi + half


def slice_to_show(point0: float, wanted: Span | None, visible: Sequence[Span | None]) -> float | None:
    """Slider position that puts an image on screen, or None to leave the slider where it is.

    Parameters
    ----------
    point0 : float
        The slider's position now (world axis 0: mm or frame number).
    wanted : Span or None
        The layer the user just opened or turned on: it must be on screen.
        None when the user hid or removed a layer.
    visible : sequence of Span or None
        The visible image layers, top of the layer list first.

    Returns
    -------
    float or None
        The middle slice of a volume (on its slice grid) or the first frame of
        a projection: of `wanted` when it does not cover `point0`, else of the
        top visible layer when none of `visible` covers `point0`.

    Examples
    --------
    >>> ct, lateral = Span(-282.0, -61.5, 1.5, "volume"), Span(0.0, 0.0, 1.0, "projection")
    >>> slice_to_show(0.0, None, [ct])  # the shot was hidden: the CT's middle slice
    -172.5
    >>> slice_to_show(-172.5, lateral, [lateral, ct])  # the shot was opened: its frame
    0.0
    >>> slice_to_show(-172.5, None, [ct]) is None
    True
    """
    if wanted is not None:
        return None if covers(wanted, point0) else _home(wanted)
    if any(covers(s, point0) for s in visible):
        return None
    spans = [s for s in visible if s is not None]
    return _home(spans[0]) if spans else None


def _home(span: Span) -> float:
    if span.kind == "projection" or span.step == 0:
        return float(span.lo)
    n = round((span.hi - span.lo) / span.step)
    return float(span.lo + (n // 2) * span.step)


# --------------------------------------------------------------------------- napari side


def _is_image(layer: Any) -> bool:
    from napari.layers import Image

    return isinstance(layer, Image)


def _framed(layer: Any) -> bool:
    """Image layers of a series the plugin opened (not reslices, not C-arm shots, not masks)."""
    md = getattr(layer, "metadata", None) or {}
    return md.get(VOLUME_KEY) is not None and _is_image(layer) and _PLANE_KEY not in md and _CARM_KEY not in md


def layer_span(layer: Any, ndim: int) -> Span | None:
    """The :class:`Span` of an image layer in a viewer of `ndim` dimensions (None for a 2-D layer in 3-D)."""
    if layer.ndim < ndim or layer.ndim < 3:
        return None
    ext = np.asarray(layer.extent.world, dtype=np.float64)
    step = float(np.asarray(layer.extent.step, dtype=np.float64)[0])
    kind = getattr(layer.metadata.get(VOLUME_KEY), "kind", "volume")
    return Span(float(ext[0, 0]), float(ext[1, 0]), step, kind)


def _visible_spans(viewer: Any) -> list[Span | None]:
    ndim = viewer.dims.ndim
    return [layer_span(lay, ndim) for lay in reversed(viewer.layers)
            if lay.visible and _is_image(lay)]


def _bring_into_view(viewer: Any, layer: Any) -> None:
    """Fit napari's 2-D camera to `layer` when its displayed extent is not fully on the canvas."""
    from ._carm_shot import view_to_show

    if viewer.dims.ndisplay != 2 or viewer.dims.ndim != layer.ndim:
        return
    shown = list(viewer.dims.displayed)
    ext = np.asarray(layer.extent.world, dtype=np.float64)[:, shown]
    step = np.asarray(layer.extent.step, dtype=np.float64)[shown]
    from ._napari_private import canvas_size_hw

    canvas_hw = canvas_size_hw(viewer) or tuple(viewer.canvas.size)  # the widget's size: the model's lags
    if view_to_show(ext[0] - step / 2, ext[1] + step / 2, viewer.scene.camera.center, float(viewer.scene.camera.zoom),
                    canvas_hw) is not None:
        viewer.fit_to_view(layers=[layer])


def _move_slider(viewer: Any, target: float | None) -> bool:
    """Set the slider of world axis 0 to `target` (not when axis 0 is displayed, e.g. a sagittal view)."""
    if target is None or viewer.dims.ndim < 3 or 0 in viewer.dims.displayed:
        return False
    viewer.dims.set_point(0, target)
    return True


def slider_into(viewer: Any, layer: Any) -> bool:
    """Move the slider into `layer`'s extent when it is outside (:func:`slice_to_show`); True if moved."""
    span = layer_span(layer, viewer.dims.ndim)
    return span is not None and _move_slider(viewer, slice_to_show(float(viewer.dims.point[0]), span, []))


def show_layer(viewer: Any, layer: Any) -> None:
    """Put `layer` on screen: the slider inside its extent, the camera on it when it is not fully in view."""
    slider_into(viewer, layer)
    _bring_into_view(viewer, layer)


def _after_hiding(viewer: Any) -> None:
    target = slice_to_show(float(viewer.dims.point[0]), None, _visible_spans(viewer))
    if _move_slider(viewer, target):
        top = next((lay for lay in reversed(viewer.layers) if lay.visible and _framed(lay)), None)
        if top is not None:
            _bring_into_view(viewer, top)


@contextlib.contextmanager
def suspended(viewer: Any) -> Iterator[None]:
    """The rules stand down while the plugin hides and re-shows layers itself (a snapshot of one series)."""
    _SUSPENDED.add(id(viewer))
    try:
        yield
    finally:
        _SUSPENDED.discard(id(viewer))


def attach(viewer: Any) -> None:
    """Install the rules above on `viewer` (idempotent)."""
    if not mark_viewer(viewer, "framing"):
        return

    def on_visible(event: Any) -> None:
        layer = event.source
        if id(viewer) in _SUSPENDED or layer not in viewer.layers:
            return
        if layer.visible and _framed(layer):
            show_layer(viewer, layer)
        elif not layer.visible:
            _after_hiding(viewer)

    def on_inserted(event: Any) -> None:
        layer = event.value
        if _framed(layer):
            layer.events.visible.connect(on_visible)
            if len(viewer.layers) > 1:  # napari frames the first layer itself
                show_layer(viewer, layer)

    def on_removed(event: Any) -> None:
        layer = event.value
        layer.events.visible.disconnect(on_visible)
        if _framed(layer) and len(viewer.layers):
            _after_hiding(viewer)

    for lay in viewer.layers:
        if _framed(lay):
            lay.events.visible.connect(on_visible)
    viewer.layers.events.inserted.connect(on_inserted)
    viewer.layers.events.removed.connect(on_removed)
