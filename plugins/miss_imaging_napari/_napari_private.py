"""Every private napari attribute the plugin reaches, in one place, each with why (napari 0.9).

napari may rename or remove these in any release; when one moves, this is
the only module to change (a test keeps ``._qt_`` attributes out of every
other module of the plugin).  Each function returns None instead of raising
when the attribute is absent: a headless ``ViewerModel``, a closing window,
or a napari that moved it.  A plugin widget's viewer is napari's
``PublicOnlyProxy``, which warns on private access (an error from napari
0.10): the functions reach through to the viewer it wraps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["unwrap", "qt_viewer", "main_window", "canvas_widget", "canvas_size_hw", "qt_dims", "override_source_info",
           "restore_source_info", "embedded_canvas", "canvas_view", "layer_node", "canvas_on_screen"]


def unwrap(obj: Any) -> Any:
    """The object behind napari's ``PublicOnlyProxy`` (the private ``__wrapped__``), else `obj` itself.

    A plugin widget's viewer, and what it hands out, are proxies (a new one per access): identity
    checks, weak references, registries keyed by ``id`` and Qt calls need the real object.
    """
    return getattr(obj, "__wrapped__", obj)


def _window(viewer: Any) -> Any | None:
    """`viewer`'s napari ``Window``, through a plugin's ``PublicOnlyProxy``."""
    return unwrap(getattr(unwrap(viewer), "window", None))


def qt_viewer(viewer: Any) -> Any | None:
    """napari's ``QtViewer`` of `viewer` (``viewer.window._qt_viewer``).

    Needed for the canvas' Qt widget and the dims slider's play control,
    which napari's public API does not expose.
    """
    return getattr(_window(viewer), "_qt_viewer", None)


def main_window(viewer: Any) -> Any | None:
    """The ``QMainWindow`` of `viewer` (``viewer.window._qt_window``).

    Needed to size the window and find its dock widgets (tab groups,
    screenshots of the whole window at 1280x800).
    """
    return getattr(_window(viewer), "_qt_window", None)


def canvas_widget(viewer: Any) -> Any | None:
    """The Qt widget of `viewer`'s canvas (``_qt_viewer.canvas.native``).

    Needed to watch its resize events (the patient banner re-wraps to the
    canvas width; ``viewer.canvas.size`` has no event of its own).
    """
    qv = qt_viewer(viewer)
    canvas = getattr(qv, "canvas", None)
    return getattr(canvas, "native", None)


def canvas_size_hw(viewer: Any) -> tuple[int, int] | None:
    """(height, width) in screen pixels of the canvas widget on screen, None without one.

    The widget's own size: napari's model ``viewer.canvas.size`` lags a
    dock change until the next draw.
    """
    native = canvas_widget(viewer)
    if native is None:
        return None
    size = native.size()
    return int(size.height()), int(size.width())


def qt_dims(viewer: Any) -> Any | None:
    """napari's ``QtDims`` (``_qt_viewer.dims``): its ``play``/``stop`` run a cine at a given frame rate.

    The public ``viewer.dims`` has no animation; the Series browser plays a
    fluoroscopy run at its acquired frame rate through this.
    """
    return getattr(qt_viewer(viewer), "dims", None)


def override_source_info(layer: Any, edit: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> None:
    """Replace what napari shows as `layer`'s source (status bar, layer tooltip) by ``edit(layer, info)``.

    napari reads both from the private ``Layer._get_source_info``; teaching
    mode hides the source file name there (case folders are often named
    after the patient).  Per instance: other layers are untouched.
    """
    layer = unwrap(layer)
    original = type(layer)._get_source_info

    def info(layer: Any = layer, original: Any = original) -> dict[str, Any]:
        return edit(layer, dict(original(layer)))

    layer._get_source_info = info


def restore_source_info(layer: Any) -> None:
    """Undo :func:`override_source_info` (back to napari's class method)."""
    layer = unwrap(layer)
    if "_get_source_info" in vars(layer):
        del layer._get_source_info


# --------------------------------------------------------------------------- embedded canvases (MPR workspace)


def embedded_canvas(model: Any, *, slider: bool) -> Any:
    """A canvas of its own for a ``napari.components.ViewerModel``: ``napari.qt.QtViewer(model)``.

    The pair napari's own ``examples/multiple_viewer_widget.py`` uses for a second
    canvas (napari has no multi-canvas API; NAPARI.md "Multi-viewport MPR"), not a
    documented plugin API.  `slider`: keep its dims slider (a cine's frames) or hide it
    (the workspace drives the depth from its shared point).
    """
    from napari.qt import QtViewer

    qt = QtViewer(model)
    qt.dims.setVisible(slider)
    return qt


def canvas_view(qt: Any) -> Any:
    """The vispy ``ViewBox`` of an embedded canvas (``QtViewer.canvas.view``).

    Its ``scene`` holds the world (the MPR crosshair is one vispy line there, where a
    napari layer would rebuild its shader on every move); its own children are drawn
    in canvas pixels (the orientation letters, one vispy text).
    """
    return qt.canvas.view


def layer_node(qt: Any, layer: Any) -> Any | None:
    """The vispy node drawing `layer` on an embedded canvas (``canvas.layer_to_visual[layer].node``), or None.

    The MPR workspace hands a moved plane's pixels straight to it (~1 ms) and lets
    napari's own slicing catch up once the point rests (~9 ms per viewport saved).
    """
    visual = qt.canvas.layer_to_visual.get(layer)
    return None if visual is None else visual.node


@contextlib.contextmanager
def canvas_on_screen(viewer: Any) -> Iterator[None]:
    """Show the main canvas for the duration (a picture of it), if the MPR workspace hides it.

    The workspace hides the main window's central widget (the canvas) while it is open; a hidden
    GL widget renders garbage, so a snapshot shows it for the capture and hides it again.
    """
    from qtpy.QtWidgets import QApplication

    win = main_window(viewer)
    central = win.centralWidget() if win is not None else None
    hidden = central is not None and central.isHidden()
    if hidden:
        central.setVisible(True)
        QApplication.processEvents()  # laid out and its GL surface made before napari renders it
    try:
        yield
    finally:
        if hidden:
            central.setVisible(False)
