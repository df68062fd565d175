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

__all__ = ["DockInfo", "tab_partner", "tabify_when_docked"]


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
    if inner is None:
        return False
    return any(type(w).__module__.startswith("miss_imaging_napari.") and type(w).__name__.endswith("Widget")
               for w in (inner, *inner.findChildren(QWidget)))


def _tabify(widget: Any) -> None:
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    dock = widget.parentWidget()
    while dock is not None and not isinstance(dock, QDockWidget):
        dock = dock.parentWidget()
    main = dock.parentWidget() if dock is not None else None
    if not isinstance(main, QMainWindow) or dock.isFloating() or main.tabifiedDockWidgets(dock):
        return
    area = main.dockWidgetArea(dock)
    others = [d for d in main.findChildren(QDockWidget) if d is not dock]
    info = [DockInfo(_is_ours(d), main.dockWidgetArea(d) == area, d.isFloating(), not d.isHidden()) for d in others]
    k = tab_partner(info)
    if k is not None:
        main.tabifyDockWidget(others[k], dock)
        dock.show()
        dock.raise_()


def tabify_when_docked(widget: Any) -> None:
    """Once `widget` sits in a dock (after napari docks it), tab it with the plugin's other docks."""
    from qtpy.QtCore import QTimer

    def run() -> None:
        try:
            _tabify(widget)
        except RuntimeError:  # the widget was deleted before the timer fired
            pass

    QTimer.singleShot(0, run)
