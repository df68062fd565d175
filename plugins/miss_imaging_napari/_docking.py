"""The plugin's docks open as tabs of one dock area, so the canvas keeps its size.

napari's Plugins menu adds each dock widget below the previous ones (no
tabify): four of the plugin's widgets squeezed the canvas to ~300 px and grew
the window past a 1000 px screen.  Each miss-imaging widget therefore joins,
once it is docked, the tab group of the plugin's docks already in the same
area.  The choice is :func:`tab_partner` (no Qt); :func:`tabify_when_docked`
only applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DockInfo", "dock_of", "make_scrollable", "tab_partner", "tabify_when_docked"]


@dataclass(frozen=True)
class DockInfo:
    """What the choice needs to know about another dock of the main window."""

    ours: bool  # holds a miss-imaging widget
    same_area: bool  # docked in the same area as the new dock
    floating: bool
    visible: bool


def tab_partner(others: Sequence[DockInfo]) -> int | None:
    """Index of the dock to tab the new one with: the first visible, docked miss-imaging dock in its area.

    Examples
    --------
    >>> tab_partner([DockInfo(False, True, False, True), DockInfo(True, True, False, True)])
    1
    >>> tab_partner([DockInfo(True, False, False, True), DockInfo(True, True, True, True)]) is None
    True
    """
    for i, d in enumerate(others):
        if d.ours and d.same_area and not d.floating and d.visible:
            return i
    return None


def _is_ours(dock: Any) -> bool:
    from qtpy.QtWidgets import QWidget

    inner = dock.widget()
    if inner is None or _holds_canvas(inner):  # a view (the MPR workspace), not a tool panel: never tabbed
        return False
    return any(type(w).__module__.startswith("miss_imaging_napari.") and type(w).__name__.endswith("Widget")
               for w in (inner, *inner.findChildren(QWidget)))


def _tabify(widget: Any) -> None:
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    dock = dock_of(widget)
    main = dock.parentWidget() if dock is not None else None
    if not isinstance(main, QMainWindow):
        return
    _watch_main_window(main)
    if dock.isFloating() or main.tabifiedDockWidgets(dock):
        return
    area = main.dockWidgetArea(dock)
    others = [d for d in main.findChildren(QDockWidget) if d is not dock]
    info = [DockInfo(_is_ours(d), main.dockWidgetArea(d) == area, d.isFloating(), not d.isHidden()) for d in others]
    k = tab_partner(info)
    if k is not None:
        main.tabifyDockWidget(others[k], dock)
        dock.show()
        dock.raise_()


def make_scrollable(widget: Any) -> bool:
    """Move `widget`'s contents into a scroll area inside it, so its dock can be narrower and shorter than its form.

    A dock's minimum size is its form's: the C-arm and Spine forms (543 x 250,
    466 x 540 px) set the whole tab group's minimum and squeezed the canvas or
    grew the window past the screen.  Widgets holding a GL canvas (the MPR
    viewports) are left alone: reparenting a canvas can lose its GL context.
    Returns True when the contents were moved (once per widget).
    """
    from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    lay = widget.layout()
    if lay is None or getattr(widget, "_mi_scrollable", False) or _holds_canvas(widget):
        return False
    inner = QWidget()
    inner.setLayout(lay)  # Qt reparents the layout and the widgets it manages to `inner`
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(inner)
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    widget._mi_scrollable = True
    return True


def _holds_canvas(widget: Any) -> bool:
    try:
        from qtpy.QtOpenGLWidgets import QOpenGLWidget
    except ImportError:  # Qt5 bindings
        from qtpy.QtWidgets import QOpenGLWidget
    return bool(widget.findChildren(QOpenGLWidget))


def dock_of(widget: Any) -> Any:
    """The QDockWidget `widget` sits in (its nearest QDockWidget ancestor), or None."""
    from qtpy.QtWidgets import QDockWidget

    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    return dock


def _later(fn: Any, *args: Any) -> None:
    from qtpy.QtCore import QTimer

    def run() -> None:
        try:
            fn(*args)
        except RuntimeError:  # the widget was deleted before the timer fired
            pass

    QTimer.singleShot(0, run)


def _watch_main_window(main: Any) -> None:
    """Any miss-imaging dock later added to `main` (whatever way it was added) joins the tab group."""
    from qtpy.QtCore import QEvent, QObject
    from qtpy.QtWidgets import QDockWidget

    if getattr(main, "_mi_dock_watch", None) is not None:
        return

    class Watch(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.ChildAdded and isinstance(event.child(), QDockWidget):
                _later(_join, event.child())
            return False

    main._mi_dock_watch = Watch(main)
    main.installEventFilter(main._mi_dock_watch)


def _join(dock: Any) -> None:
    inner = dock.widget()
    if inner is not None and _is_ours(dock):
        make_scrollable(inner)
        _tabify(inner)


def tabify_when_docked(widget: Any) -> None:
    """Once `widget` sits in a dock (now or whenever napari or a script docks it), tab it with the plugin's docks.

    The dock's contents become scrollable (:func:`make_scrollable`) and the
    main window is watched so that the plugin's docks added later join too.
    """
    from qtpy.QtCore import QEvent, QObject

    class Watch(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.ParentChange and dock_of(widget) is not None:
                make_scrollable(widget)
                _later(_tabify, widget)
            return False

    widget._mi_dock_watch = Watch(widget)
    widget.installEventFilter(widget._mi_dock_watch)
    _later(_tabify, widget)
