"""Status bar: position in mm and the value under the cursor in HU / stored value.

napari's own status shows bare world numbers in ``(z, y, x)`` and the raw
value.  A plugin cannot set ``viewer.status`` durably (napari's status thread
overwrites it, NAPARI.md section 7), so :func:`attach` overrides
``get_status`` on each miss-imaging image layer; napari calls it for the
active layer.
"""

from __future__ import annotations

import logging

from typing import Any

import numpy as np

from miss_imaging.model import ImageVolume

from ._layers import NOTE_KEY, VOLUME_KEY, mark_viewer
from ._napari_private import unwrap

__all__ = ["status_text", "attach", "install", "is_plugin_image", "show_a_frame", "refresh"]

_ATTACHED = "_miss_imaging_status"  # marker on layers and viewers (idempotence)


def _fmt_value(volume: ImageVolume, value: Any, interpolated: bool) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "outside the image"
    v = float(np.asarray(value).ravel()[0]) if np.ndim(value) else float(value)
    num = f"{v:.0f}" if v == round(v) else f"{v:.1f}"
    unit = "HU" if volume.modality.upper() == "CT" and volume.kind == "volume" else "(stored value)"
    return f"{num} {unit}" + (" interpolated" if interpolated else "")


def status_text(volume: ImageVolume, world: Any, value: Any, *, interpolated: bool = False,
                calibration: str | None = None, frame: int | None | str = "world") -> str:
    """The status line for a cursor at napari world position `world`.

    Parameters
    ----------
    volume : ImageVolume
        The displayed volume (layer metadata ``"miss_imaging_volume"``).
    world : (>= 3,) array-like of float
        napari world position; the last three axes are the layer's: LPS
        ``(z, y, x)`` mm for volumes, ``(frame, row mm, col mm)`` for
        projections.
    value : number or None
        Layer value at that position (HU for CT; stored value otherwise).
    interpolated : bool
        The layer shows a display resample (tilted stack), so say the value
        is interpolated between stored voxels.
    calibration : str, optional
        Projections: the label of the calibration in force (a user
        calibration); default the volume's own.
    frame : int or None, optional
        Projections: the run's own frame index under the cursor (None: the
        viewer shows no frame of this run, e.g. its world axis is at a CT's z);
        default: the first world coordinate.

    Returns
    -------
    str
        e.g. ``"LPS (x 12.3, y -40.1, z 7.5) mm: 1200 HU"`` or
        ``"frame 3, row 41.2 mm, col 60.0 mm: 2100 (stored value)"``.
    """
    p = np.asarray(world, dtype=np.float64)[-3:]
    val = _fmt_value(volume, value, interpolated)
    if volume.kind == "projection":
        if frame is None:
            return f"no frame of this run here (frames 0-{volume.shape[0] - 1}): move the frame slider"
        frame = int(np.round(p[0])) if frame == "world" else int(frame)
        cal = calibration or volume.calibration
        if cal == "pixels only":
            return f"frame {frame}, row {p[1]:.1f} px, col {p[2]:.1f} px: {val}"
        return f"frame {frame}, row {p[1]:.1f} mm, col {p[2]:.1f} mm ({cal}): {val}"
    return f"LPS (x {p[2]:.1f}, y {p[1]:.1f}, z {p[0]:.1f}) mm: {val}"


def _frame_of(layer: Any, volume: ImageVolume, world: Any) -> int | None:
    """The run's own frame index at world position `world` (its frame axis may share a CT's z)."""
    from ._snapshot import frame_index

    axis = layer.ndim - 3
    return frame_index(float(np.asarray(world)[-3]), volume.shape[0], float(layer.scale[axis]),
                       float(layer.translate[axis]))


def show_a_frame(viewer: Any, layer: Any) -> bool:
    """Move the viewer's frame axis onto a frame of fluoro/projection `layer` when it shows none; True if moved.

    A CT and a run share napari's first world axis (CT z in mm, frame index):
    selecting the run while the slider sits at the CT's z = -220 mm showed a
    black canvas and "frame -220".
    """
    from ._snapshot import frame_world

    vol = (getattr(layer, "metadata", None) or {}).get(VOLUME_KEY)
    if not isinstance(vol, ImageVolume) or vol.kind != "projection" or layer.ndim != 3:
        return False
    axis = viewer.dims.ndim - 3
    if axis < 0 or axis in tuple(viewer.dims.displayed):
        return False
    value = frame_world(viewer.dims.point[axis], vol.shape[0], float(layer.scale[0]), float(layer.translate[0]))
    if value is None:
        return False
    viewer.dims.set_point(axis, value)
    return True


def refresh(viewer: Any) -> None:
    """Recompute the status line now: napari does it only when the cursor moves.

    After a calibration change the line kept the old calibration's text until
    the mouse moved (QA round 3).  Never raises.
    """
    try:
        viewer.update_status_from_cursor()
    except Exception as exc:  # a closing viewer: nothing to update
        logging.getLogger("miss_imaging").debug("status not refreshed: %s", exc)


def is_plugin_image(layer: Any) -> bool:
    """True for an image layer opened by miss-imaging (it carries an ImageVolume)."""
    return _is_plugin_image(layer)


def _is_plugin_image(layer: Any) -> bool:
    return isinstance((getattr(layer, "metadata", None) or {}).get(VOLUME_KEY), ImageVolume)


def _install_delegate(layer: Any, viewer: Any = None) -> bool:
    """A non-image layer (a ruler, a mask, any Shapes) shows the status of the image it belongs to.

    The image is :func:`._targets.target_image`: the one a measurement layer
    measures, else the top visible miss-imaging image of `viewer`.  Its
    vertices are world mm, so the image's status at the same world position
    is the right one.
    """
    import weakref

    from ._targets import target_image

    if getattr(layer, _ATTACHED, False):
        return True
    if not hasattr(layer, "get_status") or not hasattr(layer, "metadata"):
        return False
    viewer_ref = weakref.ref(viewer) if viewer is not None else None
    layer_ref = weakref.ref(layer)
    original = layer.get_status

    def image() -> Any:
        v = viewer_ref() if viewer_ref is not None else None
        me = layer_ref()
        measured = (getattr(me, "metadata", None) or {}).get("miss_imaging_measure", {}).get("image")
        layers = list(v.layers) if v is not None else ([measured] if measured is not None else [])
        target = target_image(me, layers, _is_plugin_image)
        return target if target is not None and install(target) else None

    def get_status(position: Any = None, *, view_direction: Any = None, dims_displayed: Any = None,
                   world: bool = False, value: Any = None) -> dict[str, str]:
        if position is not None and world:
            try:
                target = image()
                if target is not None:
                    return target.get_status(position, view_direction=view_direction, dims_displayed=dims_displayed,
                                             world=True)
            except Exception:  # never raise inside napari's status thread
                pass
        return original(position, view_direction=view_direction, dims_displayed=dims_displayed, world=world,
                        value=value)

    layer.get_status = get_status
    setattr(layer, _ATTACHED, True)
    return True


def install(layer: Any, viewer: Any = None) -> bool:
    """Override ``layer.get_status`` when it carries a miss-imaging volume; idempotent.

    Other layers (rulers, masks, any Shapes; not other images) show the status
    of the image they belong to (see :func:`_install_delegate`) instead of
    napari's raw coordinates.  Returns True when the layer is (now) handled.
    """
    from napari.layers import Image

    volume0 = getattr(layer, "metadata", {}).get(VOLUME_KEY)
    if not isinstance(volume0, ImageVolume):
        return False if isinstance(layer, Image) else _install_delegate(layer, viewer)
    if getattr(layer, _ATTACHED, False):
        return True
    original = layer.get_status
    interpolated = NOTE_KEY in layer.metadata  # a display resample of a tilted/irregular stack

    def get_status(
        position: Any = None,
        *,
        view_direction: Any = None,
        dims_displayed: Any = None,
        world: bool = False,
        value: Any = None,
    ) -> dict[str, str]:
        status = original(position, view_direction=view_direction, dims_displayed=dims_displayed, world=world,
                          value=value)
        if position is None:
            return status
        try:
            volume = layer.metadata.get(VOLUME_KEY, volume0)  # a reslice view swaps its volume on every update
            pos = np.asarray(position, dtype=np.float64)
            if value is None:
                value = layer.get_value(pos, view_direction=view_direction, dims_displayed=dims_displayed,
                                        world=world)
            if layer.ndim == 2 and volume.kind == "volume":
                # a resliced view (its world position is a display place beside the volume): the pixel's
                # patient position comes from the view's own affine, (0, row, col) -> LPS
                rc = np.asarray(layer.world_to_data(pos[-2:]) if world else pos[-2:], dtype=np.float64)
                pos = np.asarray(volume.index_to_patient(np.array([0.0, *rc[-2:]])), dtype=np.float64)[::-1]
            elif not world:  # napari passes world=True; keep data positions correct too
                pos = np.asarray(layer.data_to_world(pos[-layer.ndim:]))
            from ._layer_geometry import current_calibration

            cal = current_calibration(layer) if volume.kind == "projection" else None
            # a 2-D layer (a C-arm shot) is its single frame 0, whatever the CT's z on the shared axis
            frame = (_frame_of(layer, volume, pos) if layer.ndim == 3 else 0) if volume.kind == "projection" \
                else "world"
            text = status_text(volume, pos, value, interpolated=interpolated,
                               calibration=cal.label if cal is not None else None, frame=frame)
        except Exception:  # a status line must never raise inside napari's status thread
            return status
        status["coordinates"] = text
        status["coords"], _, status["value"] = text.rpartition(": ")
        return status

    layer.get_status = get_status
    setattr(layer, _ATTACHED, True)
    return True


def attach(viewer: Any) -> None:
    """Install the status override on every current and future miss-imaging layer of `viewer`."""
    for layer in list(viewer.layers):
        install(layer, viewer)
    if not mark_viewer(viewer, _ATTACHED):
        return

    import weakref

    viewer_ref = weakref.ref(viewer)  # the viewer's own event must not keep it alive

    def _on_inserted(event: Any) -> None:
        install(event.value, viewer_ref())

    viewer.layers.events.inserted.connect(_on_inserted)

    def _move_slider(layer_ref: Any) -> None:
        v, lay = viewer_ref(), layer_ref()
        if v is not None and lay is not None and lay in v.layers:
            try:
                show_a_frame(v, lay)
            except Exception as exc:  # never break napari's event loop
                logging.getLogger("miss_imaging").debug("frame slider not moved: %s", exc)

    def _on_active(event: Any) -> None:
        lay = getattr(event, "value", None)
        if lay is None:
            return
        from qtpy.QtCore import QTimer

        # later, not inside the selection event: the selection changes while napari's layer list model is
        # inserting rows, and a slider move then (layers re-slice, thumbnails repaint) left the proxy model
        # with "invalid inserted rows" and the delegate painting an item with no size (QA item 4)
        layer_ref = weakref.ref(unwrap(lay))
        QTimer.singleShot(0, lambda: _move_slider(layer_ref))

    viewer.layers.selection.events.active.connect(_on_active)
