"""napari side of ``miss-imaging view`` and ``miss-imaging demo``.

Run as ``python -m miss_imaging_napari._app view PATH`` or ``... demo --out
PNG [--show]`` by :mod:`miss_imaging.cli` (the core never imports napari, so
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


def _add_volume_item(viewer: Any, item: Any) -> list[str]:
    """CT: patient-grid layer, slab MIP spanning the bead pair, 3-D ruler + projected guide line."""
    from ._layers import VOLUME_KEY, layer_data

    data, kw, _ = layer_data(item.volume)
    layer = viewer.add_image(data, **kw)
    layer.contrast_limits = item.window.contrast_limits
    shown = layer.metadata[VOLUME_KEY]
    lps = item.volume.index_to_patient(np.asarray(item.points_index))  # (2, 3) LPS (x, y, z) mm
    notes = []
    # The bead pair lies on an oblique 3-D line, so its ends are on different axial slices and a ruler
    # spanning slices is never drawn in napari 2-D (NAPARI.md section 3). Show a maximum-intensity slab
    # covering both beads and draw the line's in-plane projection, labelled with the true 3-D length.
    z0, z1 = sorted(lps[:, 2])
    margin = 2.0 * float(shown.spacing[0])
    layer.projection_mode = "max"
    viewer.dims.set_point(0, (z0 + z1) / 2)
    thick = list(viewer.dims.thickness)
    thick[0] = (z1 - z0) + 2 * margin
    viewer.dims.thickness = tuple(thick)
    notes.append(f"CT shown as a {thick[0]:.1f} mm maximum-intensity slab (z {z0:.1f} to {z1:.1f} mm) holding both "
                 "beads; the ruler line is drawn projected on it and labelled with its 3-D length")
    try:
        from ._measure_layers import add_measurement

        idx = shown.patient_to_index(lps)
        add_measurement(viewer, layer, "distance", idx, name="inch beads (3-D)")
    except Exception as e:
        notes.append(f"measurement tool layer unavailable: {e}")
    viewer.add_shapes(
        [lps[:, [1, 0]]], shape_type="line", ndim=2, units=("mm", "mm"), name="ruler (projected on slab)",
        edge_color="yellow", edge_width=0.6,
        features={"label": [item.measurement.text]},
        text={"string": "{label}", "color": "yellow", "size": 10, "anchor": "lower_left"},
    )
    return notes


def _add_projection_item(viewer: Any, item: Any) -> list[str]:
    from ._layers import layer_data

    data, kw, _ = layer_data(item.volume)  # burned-in text: covered by the teaching tool's mask layers
    layer = viewer.add_image(data, **kw)
    layer.contrast_limits = item.window.contrast_limits
    frame = int(round(item.points_index[0][0]))
    viewer.dims.set_point(0, frame)
    try:
        from ._measure_layers import add_measurement

        add_measurement(viewer, layer, "distance", np.asarray(item.points_index), name="fluoro beads")
        return []
    except Exception as e:  # fall back to a plain labelled line at the same place
        world = np.asarray([layer.data_to_world(p) for p in item.points_index])
        viewer.add_shapes([world], shape_type="line", ndim=3, units=kw["units"], name="ruler", edge_color="yellow",
                          features={"label": [item.measurement.text]},
                          text={"string": "{label}", "color": "yellow", "size": 12})
        return [f"measurement tool layer unavailable ({e}); drew a plain labelled line"]


def build_demo(show: bool = True) -> tuple[list[Any], list[Any]]:
    """Open one viewer per demo series; returns (viewers, demo items)."""
    import napari

    from miss_imaging.cli import demo_scene

    from ._reader import attach_viewer_tools

    items = demo_scene()
    viewers = []
    for item in items:
        viewer = napari.Viewer(title=f"miss-imaging demo: {item.volume.label}", show=show)
        viewer.window.resize(*_WINDOW_SIZE)
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


def screenshot(viewers: list[Any], out: Path) -> Path:
    """Save the viewers' windows side by side as one PNG (<= 300 kB: palette if needed)."""
    import io

    from PIL import Image
    from qtpy.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()
    for v in viewers:  # fit the data to the final canvas size, once the docks are laid out
        v.reset_view()
        cam = v.scene.camera if hasattr(v, "scene") else v.camera
        cam.zoom *= 0.85  # room for the measurement labels at the edges
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
    screenshot(viewers, Path(args.out))
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
