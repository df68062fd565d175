"""Measurement layers: rulers, angles and Cobb angles on napari Shapes, labelled live in mm.

Design (NAPARI.md section 3)
----------------------------
* Each tool layer is a **world-space** Shapes layer (no scale, translate or
  affine): its vertices are world coordinates, i.e. patient mm for volumes and
  ``(frame, row mm, col mm)`` for projections.  Drawing on a layer that
  shares the image's transform crashes napari with tilted affines; a
  world-space layer does not.
* Lengths are never read from ``shapes.data * scale``: every vertex goes
  world -> image data index through the *image* layer's own
  ``world_to_data``, and the core (:mod:`miss_imaging.measurement.measure`) measures in
  index coordinates through the volume's affine (volumes) or calibration
  (projections).  Values are therefore right whatever scale/affine the image
  layer has, and they follow a user calibration that rescales the layer.
* The label (feature ``label``, shown as text) is recomputed on every
  ``set_data`` (each mouse move while drawing or dragging a vertex), ``data``
  and ``features`` event.
* Each tool layer gets the image layer's ``units`` so that napari's scale bar
  keeps showing "mm".

Tools and shapes: ``ruler`` (lines = distance, paths = polyline length),
``angle`` (paths of 3 points: end, vertex, end), ``cobb`` (lines taken in
pairs: shapes 0+1, 2+3, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from miss_imaging.measurement.calibration import Calibration
from miss_imaging.errors import MeasurementError
from miss_imaging.measurement.measure import (
    Measurement,
    measure_angle,
    measure_cobb,
    measure_distance,
    measure_path,
    volume_calibration,
)
from miss_imaging.model import ImageVolume

from ._calibrate import calibration_text

__all__ = [
    "TOOLS",
    "MEASURE_KEY",
    "USER_CAL_KEY",
    "VOLUME_KEY",
    "Result",
    "image_volume",
    "layer_calibration",
    "current_calibration",
    "world_to_index",
    "index_to_world",
    "tool_layer",
    "tool_layers",
    "results",
    "refresh",
    "add_measurement",
    "apply_user_calibration",
    "link_viewer",
    "unlink_viewer",
    "on_new_tool_layer",
]

VOLUME_KEY = "miss_imaging_volume"  # image layer metadata: the ImageVolume shown
MEASURE_KEY = "miss_imaging_measure"  # tool layer metadata: {"tool", "image", "counter"}
USER_CAL_KEY = "miss_imaging_user_calibration"  # image layer metadata: Calibration from the user

TOOLS = {
    "ruler": {"title": "Ruler", "mode": "add_line", "color": "yellow"},
    "path": {"title": "Ruler", "mode": "add_path", "color": "yellow"},  # same layer as ruler
    "angle": {"title": "Angle", "mode": "add_path", "color": "cyan"},
    "cobb": {"title": "Cobb", "mode": "add_line", "color": "orange"},
}


@dataclass
class Result:
    """One row of the measurement table: a measurement or why there is none."""

    layer: Any  # napari Shapes
    shapes: tuple[int, ...]  # shape indices in `layer` (2 for Cobb)
    kind: str
    name: str
    measurement: Measurement | None
    error: str | None


# --------------------------------------------------------------------------- geometry


def image_volume(layer: Any) -> ImageVolume | None:
    """The ImageVolume behind an image layer made by the plugin, else None."""
    vol = getattr(layer, "metadata", {}).get(VOLUME_KEY)
    return vol if isinstance(vol, ImageVolume) else None


def layer_calibration(image_layer: Any) -> Calibration | None:
    """A user calibration set on the image layer, else None (the volume's own)."""
    cal = image_layer.metadata.get(USER_CAL_KEY)
    return cal if isinstance(cal, Calibration) else None


def current_calibration(image_layer: Any) -> Calibration | None:
    """The calibration in force on an image layer: the user's if set, else the volume's own.

    The single source every physical value shown or written for the layer
    reads (canvas labels, table, status bar, scale bar caption, snapshot,
    GIF, CSV/JSON, session).  None for layers without a miss-imaging volume.
    """
    vol = image_volume(image_layer)
    if vol is None:
        return None
    return layer_calibration(image_layer) or volume_calibration(vol)


def world_to_index(image_layer: Any, world: np.ndarray) -> np.ndarray:
    """(n, d) world points -> (n, 3) array indices of the image layer's volume.

    Uses the image layer's public ``world_to_data`` (one point at a time),
    which applies its scale, translate and affine.  A 2-D layer of a
    single-plane volume gets axis-0 index 0.
    """
    out = []
    for p in np.atleast_2d(np.asarray(world, dtype=np.float64)):
        d = np.asarray(image_layer.world_to_data(p), dtype=np.float64)
        if d.size < 3:
            d = np.concatenate([np.zeros(3 - d.size), d])
        out.append(d[-3:])
    return np.array(out)


def index_to_world(image_layer: Any, index: np.ndarray, ndim: int) -> np.ndarray:
    """(n, 3) array indices -> (n, ndim) world points of the image layer."""
    out = []
    for p in np.atleast_2d(np.asarray(index, dtype=np.float64)):
        d = p[-image_layer.ndim:] if image_layer.ndim < 3 else p
        w = np.asarray(image_layer.data_to_world(d), dtype=np.float64)
        out.append(w[-ndim:] if w.size >= ndim else np.concatenate([np.zeros(ndim - w.size), w]))
    return np.array(out)


# --------------------------------------------------------------------------- layers


# Viewers linked to a main viewer (the MPR workspace's viewports): their tool layers are the main
# viewer's too, so one measurement table lists every ruler with the viewport it was drawn in.
# Keyed by id() (napari viewers are not hashable) with a weak reference to check the key is not
# a reused id; callbacks are held weakly, so a table widget is never kept alive by this registry.
_LINKED: dict[int, tuple[Any, list[Any]]] = {}  # id(main) -> (weakref(main), linked viewer models)
_HOOKS: dict[int, tuple[Any, list[Any]]] = {}  # id(main) -> (weakref(main), weak callbacks)


def _unwrap(viewer: Any) -> Any:
    return getattr(viewer, "__wrapped__", viewer)  # npe2 gives widgets a proxy of the viewer


def _entry(table: dict, viewer: Any, create: bool = False) -> list[Any] | None:
    import weakref

    main = _unwrap(viewer)
    ref_list = table.get(id(main))
    if ref_list is not None and ref_list[0]() is not main:  # an id reused by a new viewer
        del table[id(main)]
        ref_list = None
    if ref_list is None and create:
        ref_list = table[id(main)] = (weakref.ref(main), [])
    return None if ref_list is None else ref_list[1]


def link_viewer(main: Any, model: Any) -> None:
    """List `model`'s measurement layers among `main`'s (see :func:`tool_layers`)."""
    _entry(_LINKED, main, create=True).append(model)  # type: ignore[union-attr]


def unlink_viewer(main: Any, model: Any) -> None:
    """Undo :func:`link_viewer` and tell `main`'s listeners (e.g. the table) that layers went."""
    lst = _entry(_LINKED, main)
    if lst is not None:
        lst[:] = [m for m in lst if m is not model]  # identity: models compare by value
    _run_hooks(main)


def on_new_tool_layer(main: Any, callback: Any) -> None:
    """Call ``callback()`` when a tool layer appears in, or a viewer is unlinked from, `main` (held weakly)."""
    import weakref

    ref = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else (lambda cb=callback: cb)
    _entry(_HOOKS, main, create=True).append(ref)  # type: ignore[union-attr]


def _run_hooks(main: Any) -> None:
    lst = _entry(_HOOKS, main) or []
    for ref in list(lst):
        cb = ref()
        try:
            if cb is None:
                raise RuntimeError("collected")
            cb()
        except RuntimeError:  # collected, or a deleted Qt widget: forget it
            lst.remove(ref)


def _main_of(model: Any) -> Any:
    for ref, lst in list(_LINKED.values()):
        if any(m is model for m in lst):
            return ref()
    return None


def tool_layers(viewer: Any, image_layer: Any | None = None) -> list[Any]:
    """Every measurement layer in the viewer and its linked viewers (optionally only those of one image layer)."""
    out = []
    layers = list(viewer.layers)
    for model in _entry(_LINKED, viewer) or ():
        layers.extend(model.layers)
    for lay in layers:
        info = getattr(lay, "metadata", {}).get(MEASURE_KEY)
        if info and (image_layer is None or info.get("image") is image_layer):
            out.append(lay)
    return out


def _edge_width(image_layer: Any) -> float:
    """About 1.5 display pixels of the image, in world units (mm)."""
    scale = np.abs(np.asarray(image_layer.scale, dtype=np.float64))[-2:]
    return float(1.5 * scale.max())


def tool_layer(viewer: Any, image_layer: Any, tool: str) -> Any:
    """The tool's Shapes layer for `image_layer`, created (and wired for live labels) if needed."""
    if tool not in TOOLS:
        raise ValueError(f"`tool` must be one of {sorted(TOOLS)}; got {tool!r}")
    group = "ruler" if tool == "path" else tool
    for lay in tool_layers(viewer, image_layer):
        if lay.metadata[MEASURE_KEY]["tool"] == group:
            return lay
    spec = TOOLS[group]
    layer = viewer.add_shapes(
        None,
        ndim=image_layer.ndim,
        shape_type="line",
        name=f"{spec['title']} [{image_layer.name}]",
        units=image_layer.units,  # same units: napari's scale bar keeps "mm" (NAPARI.md section 1)
        edge_color=spec["color"],
        edge_width=_edge_width(image_layer),
        face_color="transparent",
        features={"label": np.array([], dtype=object), "name": np.array([], dtype=object),
                  "shown": np.array([], dtype=object)},
        feature_defaults={"label": "", "name": "", "shown": ""},
        # "shown" is the label on two short lines (value, then calibration): a long single line ran off the canvas
        text={"string": "{shown}", "color": spec["color"], "size": 12, "anchor": "upper_left"},
        metadata={MEASURE_KEY: {"tool": group, "image": image_layer, "counter": 0, "errors": {}}},
    )
    for ev in (layer.events.set_data, layer.events.data, layer.events.features):
        ev.connect(lambda event=None, lay=layer: _on_change(lay, event))

    # the image can change under the ruler (a reslice view follows its trajectory, a user
    # recalibrates or moves it): measure again, on the pixels now under the same world points
    def on_image_change(event: Any = None, lay: Any = layer) -> None:
        if lay in viewer.layers:
            _on_change(lay, None)

    for name in ("data", "scale", "translate", "affine"):
        getattr(image_layer.events, name).connect(on_image_change)
    viewer.layers.selection.active = layer
    main = _main_of(viewer)
    if main is not None:
        _run_hooks(main)
    return layer


# --------------------------------------------------------------------------- measuring


def _measure(image_layer: Any, vol: ImageVolume, kind: str, world_pts: list[np.ndarray]) -> Measurement:
    cal = layer_calibration(image_layer)
    idx = [world_to_index(image_layer, w) for w in world_pts]
    if kind == "distance":
        return measure_distance(vol, idx[0][0], idx[0][1], calibration=cal)
    if kind == "path":
        return measure_path(vol, list(idx[0]), calibration=cal)
    if kind == "angle":
        if len(idx[0]) != 3:
            raise MeasurementError(f"angle needs 3 points (end, vertex, end); this path has {len(idx[0])}")
        return measure_angle(vol, idx[0][0], idx[0][1], idx[0][2], calibration=cal)
    if kind == "cobb":
        return measure_cobb(vol, list(idx[0][:2]), list(idx[1][:2]), calibration=cal)
    raise MeasurementError(f"unknown measurement kind {kind!r}")


def world_vertices(layer: Any, i: int) -> np.ndarray:
    # data_to_world per vertex: right even if someone gives the tool layer a transform
    return np.array([layer.data_to_world(v) for v in np.asarray(layer.data[i])])


def results(layer: Any) -> list[Result]:
    """Measure every shape (or Cobb pair) of a tool layer."""
    info = layer.metadata.get(MEASURE_KEY) or {}
    image_layer = info.get("image")
    vol = image_volume(image_layer) if image_layer is not None else None
    names = list(layer.features["name"]) if "name" in layer.features else [""] * len(layer.data)
    n = len(layer.data)
    groups: list[tuple[tuple[int, ...], str]] = []
    if info.get("tool") == "cobb":
        groups = [((i, i + 1), "cobb") for i in range(0, n - 1, 2)]
        if n % 2:
            groups.append(((n - 1,), "cobb"))
    else:
        for i, st in enumerate(layer.shape_type):
            kind = "angle" if info.get("tool") == "angle" else ("distance" if st == "line" else "path")
            groups.append(((i,), kind))
    out = []
    for shapes, kind in groups:
        name = str(names[shapes[0]] or "") if shapes[0] < len(names) else ""
        if vol is None:
            out.append(Result(layer, shapes, kind, name, None, "its image layer is gone or has no DICOM volume"))
            continue
        if kind == "cobb" and len(shapes) == 1:
            out.append(Result(layer, shapes, kind, name, None, "Cobb: draw the second line"))
            continue
        try:
            m = _measure(image_layer, vol, kind, [world_vertices(layer, i) for i in shapes])
            out.append(Result(layer, shapes, kind, name, m.renamed(name), None))
        except MeasurementError as exc:
            out.append(Result(layer, shapes, kind, name, None, str(exc)))
    return out


def _label(r: Result, k: int) -> str:
    """Text shown beside shape `k` of result `r`."""
    if r.kind == "cobb" and len(r.shapes) == 2 and k == r.shapes[0]:
        return f"{r.name}: line 1" if r.name else "Cobb line 1"
    prefix = f"{r.name}: " if r.name else ""
    if r.measurement is not None:
        return prefix + r.measurement.text
    short = r.error or ""
    if "outside the image" in short:
        short = "outside the image"
    elif "zero" in short:
        short = "zero length"
    return prefix + short


def two_line_label(label: str, calibration: str) -> str:
    """A canvas label on two lines, the calibration on the second, so it stays short and the calibration is kept.

    Examples
    --------
    >>> two_line_label("beads: 25.4 mm magnification-corrected (ERMF)", "magnification-corrected (ERMF)")
    'beads: 25.4 mm\\nmagnification-corrected (ERMF)'
    >>> two_line_label("s: 42.0 mm magnification-corrected (ERMF), ±7.7 % for ±50 mm off isocentre",
    ...                "magnification-corrected (ERMF)")
    's: 42.0 mm\\nmagnification-corrected (ERMF), ±7.7 % for ±50 mm off isocentre'
    >>> two_line_label("ruler 1: outside the image", "")
    'ruler 1: outside the image'
    """
    at = label.rfind(" " + calibration) if calibration else -1
    if at >= 0 and label[at + 1 + len(calibration):][:1] in ("", ","):  # the calibration, then the range if any
        return label[:at] + "\n" + label[at + 1:]
    return label


def refresh(layer: Any) -> list[Result]:
    """Recompute labels of a tool layer; returns its results."""
    res = results(layer)
    n = len(layer.data)
    if len(layer.features) != n:  # mid add/remove: napari fixes the table next event
        return res
    labels = [""] * n
    shown = [""] * n
    for r in res:
        for k in r.shapes:
            labels[k] = _label(r, k)
            shown[k] = two_line_label(labels[k], r.measurement.calibration if r.measurement is not None else "")
    if list(layer.features["label"]) != labels or list(layer.features.get("shown", [])) != shown:
        feats = layer.features.copy()
        feats["label"] = np.array(labels, dtype=object)
        feats["shown"] = np.array(shown, dtype=object)
        info = layer.metadata[MEASURE_KEY]
        info["updating"] = True
        try:
            layer.features = feats  # assigning the table (not a column) refreshes the text
        finally:
            info["updating"] = False
    return res


def _name_new_shapes(layer: Any) -> None:
    """Give shapes without a name (or with one napari copied from the last selection) a fresh one."""
    info = layer.metadata[MEASURE_KEY]
    names = [str(v) if v is not None else "" for v in layer.features["name"]]
    seen: set[str] = set()
    changed = False
    step = 2 if info["tool"] == "cobb" else 1
    for i in range(0, len(names), step):
        if not names[i] or names[i] in seen:
            info["counter"] += 1
            names[i] = f"{TOOLS[info['tool']]['title'].lower()} {info['counter']}"
            changed = True
        seen.add(names[i])
    if step == 2:  # second line of a pair carries no name of its own
        for i in range(1, len(names), 2):
            if names[i]:
                names[i], changed = "", True
    if changed:
        feats = layer.features.copy()
        feats["name"] = np.array(names, dtype=object)
        info["updating"] = True
        try:
            layer.features = feats
        finally:
            info["updating"] = False


def _on_change(layer: Any, event: Any) -> None:
    """Event handler: relabel; an unexpected error becomes a notification, never a viewer crash."""
    try:
        _relabel(layer, event)
    except Exception as exc:  # noqa: BLE001 - runs inside napari's event loop
        from napari.utils.notifications import show_error

        show_error(f"{layer.name}: measurement update failed: {exc!r}")


def _relabel(layer: Any, event: Any) -> None:
    info = layer.metadata.get(MEASURE_KEY)
    if not info or info.get("updating") or len(layer.features) != len(layer.data):
        return
    action = getattr(event, "action", None)
    if action == "added":
        _name_new_shapes(layer)
    res = refresh(layer)
    if action in ("added", "changed"):
        _notify_new_errors(layer, res, action)
    for cb in list(info.get("listeners", ())):
        cb(layer)


def _notify_new_errors(layer: Any, res: list[Result], action: str) -> None:
    """A napari warning for each new error after a finished edit (not on every mouse move).

    A line is complete when napari reports it "added" (mouse release); a path
    is "added" at its first click and grows afterwards, so its errors are
    only notified after later edits (its label shows them meanwhile).
    """
    from napari.utils.notifications import show_warning

    info = layer.metadata[MEASURE_KEY]
    types = list(layer.shape_type)
    now = {r.shapes: r.error for r in res if r.error and not r.error.startswith("Cobb: draw")}
    for key, err in now.items():
        drawing_path = action == "added" and any(types[i] == "path" for i in key if i < len(types))
        if info["errors"].get(key) != err and not drawing_path:
            show_warning(f"{layer.name}: {err}")
    info["errors"] = now


def add_listener(layer: Any, callback: Any) -> None:
    """Call ``callback(layer)`` after each relabelling of `layer` (the table widget uses this)."""
    lst = layer.metadata[MEASURE_KEY].setdefault("listeners", [])
    if callback not in lst:
        lst.append(callback)


def add_measurement(
    viewer: Any, image_layer: Any, kind: str, points_index: Any, *, name: str = ""
) -> tuple[Any, Result]:
    """Place a measurement given in array-index coordinates of the image layer's volume.

    Parameters
    ----------
    kind : {"distance", "path", "angle", "cobb"}
    points_index : (n, 3) array-like
        Index points (2 for distance, >= 2 for path, 3 for angle, 4 for Cobb:
        line 1 then line 2).

    Returns
    -------
    (layer, Result)
        The tool layer and the measurement (or its error).
    """
    tool = {"distance": "ruler", "path": "path", "angle": "angle", "cobb": "cobb"}.get(kind)
    if tool is None:
        raise ValueError(f"`kind` must be distance, path, angle or cobb; got {kind!r}")
    layer = tool_layer(viewer, image_layer, tool)
    world = index_to_world(image_layer, np.asarray(points_index, dtype=np.float64), layer.ndim)
    if kind == "cobb":
        if len(world) != 4:
            raise MeasurementError(f"Cobb angle needs 4 points (two lines); got {len(world)}")
        if len(layer.data) % 2:  # a dangling single line would shift the pairing
            raise MeasurementError(f"{layer.name} has an unpaired line: finish or delete it first")
        layer.add_lines([world[:2], world[2:]])
        first = len(layer.data) - 2
    elif kind in ("distance",):
        layer.add_lines([world])
        first = len(layer.data) - 1
    else:
        layer.add_paths([world])
        first = len(layer.data) - 1
    if name:
        feats = layer.features.copy()
        feats.loc[first, "name"] = name
        layer.features = feats
    res = [r for r in refresh(layer) if r.shapes[0] == first]
    return layer, res[0]


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
        lay.edge_width = _edge_width(image_layer)
        if idx:
            lay.data = [index_to_world(image_layer, p, lay.ndim) for p in idx]
        refresh(lay)
        for cb in list(lay.metadata[MEASURE_KEY].get("listeners", ())):
            cb(lay)
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
    return f"{image_layer.name}: user calibration removed; back to {base.label}"
