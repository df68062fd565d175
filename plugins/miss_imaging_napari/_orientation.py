"""Patient orientation labels (R/L, A/P, S/I) at the four edges of the 2-D view.

World axes of miss-imaging volume layers are LPS ``(z, y, x)`` mm, so the
letter at each edge follows from which two world axes napari displays
(``viewer.dims.displayed``) and which way the camera draws them
(``camera.orientation2d``: ``down``/``up`` for the vertical axis,
``right``/``left`` for the horizontal one).  Projections (fluoroscopy,
radiographs) carry no patient direction here, so no letters are shown while
one is visible, rather than guessed ones.  The labels are canvas overlays
(NAPARI.md section 6).
"""

from __future__ import annotations

from typing import Any

from miss_imaging.model import ImageVolume

from ._layers import VOLUME_KEY, mark_viewer

__all__ = ["edge_labels", "plane_labels", "box_on_screen", "current_labels", "update", "attach", "OVERLAY_KEYS", "PLANE_KEY"]

# world axis (z, y, x) -> (letter at the negative end, letter at the positive end), LPS
_LETTERS = {0: ("I", "S"), 1: ("A", "P"), 2: ("R", "L")}
#: layer metadata key of a resliced 2-D view (set by the Resample and reslice widget)
PLANE_KEY = "miss_imaging_plane"
_SECOND_LETTER = 0.38  # a second letter when the direction is over ~22.5 deg off its main axis (PACS habit)

#: canvas overlay key -> napari canvas position
OVERLAY_KEYS = {
    "miss_orient_top": "top_center",
    "miss_orient_bottom": "bottom_center",
    "miss_orient_left": "middle_left",
    "miss_orient_right": "middle_right",
}


def edge_labels(displayed: tuple[int, int], orientation2d: tuple[str, str] = ("down", "right")) -> dict[str, str]:
    """Letters at the top, bottom, left and right edges of a 2-D LPS view.

    Parameters
    ----------
    displayed : (2,) tuple of int
        World axes shown vertically and horizontally (``viewer.dims.displayed``),
        counted in LPS ``(z, y, x)`` order (0 = z, 1 = y, 2 = x).
    orientation2d : (2,) tuple of str
        Direction in which the vertical axis grows on screen (``"down"`` or
        ``"up"``) and the horizontal one (``"right"`` or ``"left"``).

    Returns
    -------
    dict
        ``{"top": ..., "bottom": ..., "left": ..., "right": ...}``.

    Examples
    --------
    >>> edge_labels((1, 2))  # axial, napari default: radiological convention
    {'top': 'A', 'bottom': 'P', 'left': 'R', 'right': 'L'}
    >>> edge_labels((0, 2))  # coronal as napari first shows it: superior at the bottom
    {'top': 'I', 'bottom': 'S', 'left': 'R', 'right': 'L'}
    """
    v, h = displayed
    v_neg, v_pos = _LETTERS[v]
    h_neg, h_pos = _LETTERS[h]
    top, bottom = (v_neg, v_pos) if orientation2d[0] == "down" else (v_pos, v_neg)
    left, right = (h_neg, h_pos) if orientation2d[1] == "right" else (h_pos, h_neg)
    return {"top": top, "bottom": bottom, "left": left, "right": right}


def _direction_letters(d: Any) -> str:
    """Letters of an LPS direction: main axis first, a second one if the direction is clearly oblique."""
    import numpy as np

    d = np.asarray(d, dtype=np.float64)
    order = np.argsort(-np.abs(d))
    out = ""
    for k, axis in enumerate(order[:2]):  # LPS x, y, z -> world axis 2, 1, 0
        if k == 0 or abs(d[axis]) > _SECOND_LETTER:
            out += _LETTERS[2 - int(axis)][int(d[axis] > 0)]
    return out


def plane_labels(u: Any, v: Any) -> dict[str, str]:
    """Edge letters of a resliced image whose columns step along `u` and rows along `v` (LPS unit vectors).

    Examples
    --------
    >>> plane_labels((1, 0, 0), (0, 0, -1))  # coronal, superior up
    {'top': 'S', 'bottom': 'I', 'left': 'R', 'right': 'L'}
    """
    import numpy as np

    u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return {"top": _direction_letters(-v), "bottom": _direction_letters(v),
            "left": _direction_letters(-u), "right": _direction_letters(u)}


def _camera(viewer: Any) -> Any:
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def _volumes(viewer: Any) -> list[tuple[Any, ImageVolume]]:
    out = []
    for layer in viewer.layers:
        vol = getattr(layer, "metadata", {}).get(VOLUME_KEY)
        if isinstance(vol, ImageVolume) and layer.visible:
            out.append((layer, vol))
    return out


def box_on_screen(lo: Any, hi: Any, center: Any, zoom: float, canvas_hw: Any) -> bool:
    """Whether the world box ``lo..hi`` (vertical, horizontal; mm) shows on a canvas of `canvas_hw` pixels.

    Examples
    --------
    >>> box_on_screen((-110, 137), (-40, 177), (0, 8.5), 2.95, (728, 674))  # an oblique beside the CT
    False
    >>> box_on_screen((-110, 100), (-40, 140), (0, 8.5), 2.95, (728, 674))
    True
    """
    import numpy as np

    half = np.asarray(canvas_hw, dtype=np.float64) / (2 * float(zoom))
    c = np.asarray(center, dtype=np.float64)[-2:]
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    return bool(np.all(hi >= c - half) and np.all(lo <= c + half))


def _beside(viewer: Any, layer: Any) -> bool:
    """A 2-D view drawn beside a volume (reslice, oblique along a screw, C-arm shot)."""
    return layer.ndim == 2 and viewer.dims.ndim >= 3


def _on_screen(viewer: Any, layer: Any) -> bool:
    try:
        ext = layer.extent.world
        cam = _camera(viewer)
        return box_on_screen(ext[0][-2:], ext[1][-2:], cam.center, float(cam.zoom), tuple(viewer.canvas.size))
    except Exception:  # no canvas size: count it as shown (no letters rather than wrong ones)
        return True


def current_labels(viewer: Any) -> dict[str, str] | None:
    """Edge letters for what `viewer` shows now, or None when none are known.

    None in 3-D display, without a visible miss-imaging volume, while a
    projection is visible (its world axes are not patient axes), or while a
    2-D view drawn beside the volume (a reslice, the oblique along a screw,
    a C-arm shot) is on screen: those views have their own orientation, given
    in their layer names, so letters at the canvas edges would be wrong for
    some of what is on screen.  Off screen, such a view does not take the
    volume's letters away (QA round 3: after "Go to screw" the axial CT
    lost its letters because of an oblique view outside the canvas).
    """
    shown = _volumes(viewer)
    beside = [layer for layer, _ in shown if _beside(viewer, layer) or PLANE_KEY in layer.metadata]
    if any(_on_screen(viewer, layer) for layer in beside):
        return None
    shown = [(layer, v) for layer, v in shown if not any(layer is b for b in beside)]
    if viewer.dims.ndisplay != 2 or not shown or any(v.kind != "volume" for _, v in shown):
        return None
    ndim = viewer.dims.ndim
    displayed = tuple(int(a) - (ndim - 3) for a in viewer.dims.displayed)  # the layers' last three axes
    if any(a < 0 for a in displayed):
        return None  # a non-spatial leading axis is displayed
    orientation = tuple(_camera(viewer).orientation2d)
    return edge_labels((displayed[0], displayed[1]), (str(orientation[0]), str(orientation[1])))


def update(viewer: Any) -> None:
    """Create, refresh or hide the four edge labels of `viewer`."""
    from napari.components.overlays import TextOverlay

    labels = current_labels(viewer)
    overlays = viewer.canvas.overlays
    for key, position in OVERLAY_KEYS.items():
        edge = key.rsplit("_", 1)[1]
        text = labels[edge] if labels else ""
        if key not in overlays:
            overlays[key] = TextOverlay(
                text=text, position=position, visible=bool(labels), font_size=16, color="yellow", box=False
            )
        else:
            overlays[key].text = text
            overlays[key].visible = bool(labels)


def attach(viewer: Any) -> None:
    """Show the labels on `viewer` and keep them current; idempotent."""
    update(viewer)
    if not mark_viewer(viewer, "orientation"):
        return

    def _refresh(event: Any = None) -> None:
        try:
            update(viewer)
        except Exception:  # never break napari's event loop for a label
            pass

    def _on_inserted(event: Any) -> None:
        event.value.events.visible.connect(_refresh)
        _refresh()

    viewer.dims.events.order.connect(_refresh)
    viewer.dims.events.ndisplay.connect(_refresh)
    viewer.dims.events.ndim.connect(_refresh)
    _camera(viewer).events.orientation.connect(_refresh)
    _camera(viewer).events.center.connect(_refresh)  # a view beside the volume moves on or off screen
    _camera(viewer).events.zoom.connect(_refresh)
    viewer.layers.events.inserted.connect(_on_inserted)
    viewer.layers.events.removed.connect(_refresh)
    for layer in viewer.layers:
        layer.events.visible.connect(_refresh)
