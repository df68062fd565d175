"""napari side of ``miss-imaging view`` and ``miss-imaging demo``.

Run as ``python -m miss_imaging_napari._app view PATH`` or ``... demo --out
PNG [--show]`` by :mod:`miss_imaging.demo.display` (the core never imports napari, so
it starts this in a child process, on an Xvfb display when there is no
screen).

The demo opens two viewers side by side, one per coordinate system: napari
has a single slider per world axis and one unit per axis for all layers of a
viewer, so a CT (patient mm) and a fluoroscopy run (frames, image-plane mm)
in one viewer would share the z slider with the frame slider and lose the
"mm" on the scale bar (NAPARI.md sections 1 and 4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["open_view", "build_demo", "screenshot", "main"]

_WINDOW_SIZE = (1280, 860)
_WIDE_WINDOW_SIZE = (1680, 860)  # projections: room for the calibrated ruler labels right of the image
_MAX_PNG_BYTES = 300_000  # README screenshot budget; larger shots are saved with a 256-colour palette


def _dock(viewer: Any, name: str, tabify: bool = False) -> None:
    try:
        viewer.window.add_plugin_dock_widget("miss-imaging", name, tabify=tabify)
    except Exception as e:  # a missing tool widget must not stop the viewer
        from napari.utils.notifications import show_warning

        show_warning(f"{name} panel unavailable: {e}")


def _share_gl_contexts() -> None:
    """Let a docked canvas float without aborting (NAPARI.md, MPR crash 1); only before the QApplication exists."""
    from qtpy.QtCore import QCoreApplication, Qt

    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def open_view(path: str) -> Any:
    """A napari viewer with `path` opened by the miss-imaging reader and the Series browser docked."""
    import napari
    from napari.utils.notifications import show_error

    from miss_imaging.redact import remember_case_path

    from ._reader import attach_viewer_tools
    from ._teaching import strip_folders

    remember_case_path(path)
    _share_gl_contexts()
    viewer = napari.Viewer(title="miss-imaging")
    attach_viewer_tools(viewer)
    _dock(viewer, "Series browser")
    try:
        viewer.open(path, plugin="miss-imaging")
    except Exception as e:  # e.g. not DICOM: napari raises "refused the file"; keep the window usable
        show_error(strip_folders(f"Could not open {path}: {e}"))
    return viewer


def _world_yx(volume: Any, points_index: Any) -> np.ndarray:
    """Array indices of `volume` -> (N, 2) world (y, x) LPS mm of an axial view (A up, patient left right)."""
    lps = np.asarray(volume.index_to_patient(np.asarray(points_index, float)))
    return np.asarray(lps[:, [1, 0]])


def _slab(viewer: Any, item: Any, spacing_z: float) -> str:
    """Show the CT as a maximum-intensity slab holding every ruler and drawing; the note says which."""
    pts = [np.asarray(r.points_index, float) for r in item.rulers] + [o.points_index for o in item.overlays]
    z = np.asarray(item.volume.index_to_patient(np.concatenate(pts)))[:, 2]
    z0, z1 = float(z.min()), float(z.max())
    viewer.dims.set_point(0, (z0 + z1) / 2)
    thick = list(viewer.dims.thickness)
    thick[0] = (z1 - z0) + 4.0 * spacing_z
    viewer.dims.thickness = tuple(thick)
    return (f"CT shown as a {thick[0]:.1f} mm maximum-intensity slab (z {z0:.1f} to {z1:.1f} mm) holding the "
            "rulers and drawings; lines are drawn projected on it, rulers labelled with their 3-D length")


def _add_volume_item(viewer: Any, item: Any) -> list[str]:
    """CT: patient-grid layer as an axial slab MIP; 3-D rulers, their projected lines, spine drawings."""
    from ._layers import VOLUME_KEY, layer_data

    data, kw, _ = layer_data(item.volume)
    layer = viewer.add_image(data, **kw)
    layer.contrast_limits = item.window.contrast_limits
    shown = layer.metadata[VOLUME_KEY]
    layer.projection_mode = "max"
    # A ruler spanning slices is never drawn in napari 2-D (NAPARI.md section 3): slab MIP + in-plane projection.
    notes = [_slab(viewer, item, float(shown.spacing[0]))]
    for o in item.overlays:
        yx = _world_yx(item.volume, o.points_index)
        viewer.add_shapes([yx], shape_type="polygon" if o.closed else "line", ndim=2, units=("mm", "mm"),
                          name=o.name, edge_color=o.color, face_color="transparent", edge_width=0.6,
                          features={"label": [o.text]}, opacity=0.9,
                          text={"string": "{label}", "color": o.color, "size": 11, "anchor": o.anchor,
                                "translation": list(o.label_shift_mm)})
    for r in item.rulers:
        try:
            from ._measure_layers import add_measurement

            lps = item.volume.index_to_patient(np.asarray(r.points_index))
            add_measurement(viewer, layer, "distance", shown.patient_to_index(lps), name=f"{r.name} (3-D)")
        except Exception as e:
            notes.append(f"measurement tool layer unavailable: {e}")
        viewer.add_shapes([_world_yx(item.volume, r.points_index)], shape_type="line", ndim=2, units=("mm", "mm"),
                          name=f"{r.name} (projected on slab)", edge_color="yellow", edge_width=0.6,
                          features={"label": [r.measurement.text]},
                          text={"string": "{label}", "color": "yellow", "size": 11, "anchor": "upper_right",
                                "translation": [3.0, 68.0]})  # right of the screw heads
    return notes


def _add_projection_item(viewer: Any, item: Any) -> list[str]:
    from ._layers import layer_data

    data, kw, _ = layer_data(item.volume)  # burned-in text: covered by the teaching tool's mask layers
    layer = viewer.add_image(data, **kw)
    layer.contrast_limits = item.window.contrast_limits
    viewer.dims.set_point(0, int(round(item.rulers[0].points_index[0][0])))
    notes = []
    for r in item.rulers:
        try:
            from ._measure_layers import add_measurement

            add_measurement(viewer, layer, "distance", np.asarray(r.points_index), name=r.name)
        except Exception as e:  # fall back to a plain labelled line at the same place
            world = np.asarray([layer.data_to_world(p) for p in r.points_index])
            viewer.add_shapes([world], shape_type="line", ndim=3, units=kw["units"], name=r.name,
                              edge_color="yellow", features={"label": [r.measurement.text]},
                              text={"string": "{label}", "color": "yellow", "size": 12})
            notes.append(f"measurement tool layer unavailable ({e}); drew a plain labelled line")
    return notes


def build_demo(show: bool = True) -> tuple[list[Any], list[Any]]:
    """Open one viewer per demo series; returns (viewers, demo items)."""
    import napari

    from miss_imaging.demo import demo_scene

    from ._reader import attach_viewer_tools

    items = demo_scene()
    viewers = []
    for item in items:
        viewer = napari.Viewer(title=f"miss-imaging demo: {item.volume.label}", show=show)
        viewer.window.resize(*(_WINDOW_SIZE if item.volume.kind == "volume" else _WIDE_WINDOW_SIZE))
        attach_viewer_tools(viewer)
        add = _add_volume_item if item.volume.kind == "volume" else _add_projection_item
        item.notes += add(viewer, item)
        viewer.layers.selection.active = viewer.layers[0]
        _dock(viewer, "Measurements")
        _dock(viewer, "Series browser", tabify=True)
        viewers.append(viewer)
    return viewers, items


def _text_masks(viewer: Any) -> Any:
    """The teaching tool's screenshot contexts: burned-in text covered, patient banner hidden (both modes).

    Pictures are files for sharing, de-identified whatever the teaching mode; no-op if the tool is absent.
    """
    import contextlib

    stack = contextlib.ExitStack()
    try:
        from ._teaching import banner_hidden, text_masks_shown

        stack.enter_context(banner_hidden(viewer))
        stack.enter_context(text_masks_shown(viewer))
    except Exception:
        pass
    return stack


def _frame(viewer: Any, focus: tuple[tuple[float, float], float] | None) -> None:
    """Fit the data to the canvas, then centre on `focus` ((y, x) world mm, field width mm) if given."""
    viewer.reset_view()
    cam = viewer.camera
    ext = np.asarray(viewer.layers.extent.world)[:, -2:]
    if focus is None:  # image left of centre: the ruler labels run to the right of their lines
        cam.zoom *= 0.74
        cam.center = (cam.center[-2], cam.center[-1] + 0.43 * float(ext[1, 1] - ext[0, 1]))
        return
    cam.zoom *= float(np.max(ext[1] - ext[0])) / focus[1]
    cam.center = focus[0]


def focus_of(item: Any) -> tuple[tuple[float, float], float] | None:
    """Where the demo picture of `item` looks: CT, the drawings' centre, 150 mm wide; projections, None."""
    if item.volume.kind != "volume":
        return None
    pts = np.concatenate([_world_yx(item.volume, r.points_index) for r in item.rulers] +
                         [_world_yx(item.volume, o.points_index) for o in item.overlays])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2)), max(150.0, 1.4 * float(np.max(hi - lo)))


def screenshot(viewers: list[Any], out: Path, focus: list[Any] | None = None) -> Path:
    """Save the viewers' windows side by side as one PNG (<= 300 kB: palette if needed).

    `focus`: per viewer, None (fit the data) or ((y, x) world mm, field width mm) to look at.
    """
    import io

    from PIL import Image
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    for v, f in zip(viewers, focus or [None] * len(viewers)):  # fit to the final canvas, docks laid out
        _frame(v, f)
    for _ in range(5):
        QApplication.processEvents()
    shots = []
    for v in viewers:
        with _text_masks(v):  # burned-in patient text covered in the picture, in either teaching mode
            shots.append(Image.fromarray(np.asarray(v.screenshot(canvas_only=False, flash=False))[..., :3]))
    width = sum(s.width for s in shots)
    joined = Image.new("RGB", (width, max(s.height for s in shots)))
    x = 0
    for s in shots:
        joined.paste(s, (x, 0))
        x += s.width
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    joined.save(buf, format="PNG", optimize=True)
    if buf.tell() > _MAX_PNG_BYTES:
        buf = io.BytesIO()
        joined.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, format="PNG", optimize=True)
    out.write_bytes(buf.getvalue())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m miss_imaging_napari._app")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("view")
    v.add_argument("path")
    d = sub.add_parser("demo")
    d.add_argument("--out", required=True)
    d.add_argument("--show", action="store_true", help="keep the windows open until closed")
    args = p.parse_args(argv)

    import napari

    if args.command == "view":
        open_view(args.path)
        napari.run()
        return 0
    viewers, items = build_demo(show=True)  # hidden windows screenshot black (ENVIRONMENT.md)
    screenshot(viewers, Path(args.out), [focus_of(it) for it in items])
    for item in items:
        for note in item.notes:
            print(f"note ({item.volume.label}): {note}")
    if args.show:
        napari.run()
    for v in viewers:
        v.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
