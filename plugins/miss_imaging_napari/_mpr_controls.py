"""The MPR workspace's dock contents: a compact control strip above the grid of canvases.

Qt only: every action calls the workspace (:class:`._mpr_workspace.MPRWorkspace`).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QSignalBlocker, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari.utils.notifications import show_warning

from ._docking import dock_of
from ._mpr_fluoro import FluoroViewport
from ._mpr_viewport import CELLS, SLAB_MODES, VIEWPORTS

__all__ = ["WorkspaceWidget", "LineChooser"]

_NO_LINE = "along a screw / plan..."


class LineChooser(QComboBox):
    """The Spine widget's screws, plan and access path, listed afresh each time the list opens."""

    def __init__(self, ws: Any) -> None:
        super().__init__()
        self.ws = ws
        self.setToolTip("Set the oblique viewport along a screw found, the planned screw or the access path "
                        "(Spine widget), with the point on its middle")
        self.refresh()
        self.activated.connect(self._chosen)

    def refresh(self) -> None:
        with QSignalBlocker(self):
            self.clear()
            self.addItems([_NO_LINE, *self.ws.spine_trajectories()])

    def showPopup(self) -> None:  # noqa: N802 - Qt override
        self.refresh()
        super().showPopup()

    def _chosen(self, index: int) -> None:
        if index > 0:
            self.ws.go_along(self.itemText(index))


class WorkspaceWidget(QWidget):
    """The 2 x 2 canvases with a compact control strip above them."""

    def __init__(self, ws: Any) -> None:
        super().__init__()
        self.ws = ws
        self.setObjectName("miss_mpr_workspace")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(self._controls())
        self.grid = grid = QGridLayout()
        grid.setSpacing(2)
        self.cells: dict[str, QWidget] = {}
        for name in VIEWPORTS + ((FluoroViewport.name,) if ws.fluoro is not None else ()):
            cell = QLabel(f"{name}: loading...")
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.cells[name] = cell
            grid.addWidget(cell, *CELLS[name])
            grid.setRowStretch(CELLS[name][0], 1)
            grid.setColumnStretch(CELLS[name][1], 1)
        layout.addLayout(grid, 1)
        hint = QLabel("Click (pan/zoom mode) or Shift+drag: move the point; Shift+drag a trajectory end: move it.  "
                      "Ctrl+wheel: scroll.  "
                      "Right-drag: window/level (all viewports).")
        hint.setStyleSheet("color: gray; font-size: 10px")
        hint.setWordWrap(True)  # one long line set the dock's minimum width and grew the window past 1280 px
        layout.addWidget(hint)

    def _controls(self) -> QVBoxLayout:
        ws = self.ws
        self.target = QComboBox()
        self.target.addItems(list(ws.viewports))
        self.slab = QDoubleSpinBox(decimals=1, minimum=0.0, maximum=60.0, singleStep=1.0, suffix=" mm")
        self.slab.setToolTip("Slab thickness of the chosen viewport (0 = thin)")
        self.mode = QComboBox()
        self.mode.addItems(["MIP", "mean", "MinIP"])
        self.kind = QComboBox()
        self.kind.addItems(["along trajectory", "bull's-eye"])
        self.angle = QSpinBox(minimum=-180, maximum=180, singleStep=5, suffix=" deg")
        self.angle.setToolTip("Rotation of the oblique plane about the trajectory")
        self.along = LineChooser(ws)
        rows = QVBoxLayout()
        top, bottom = QHBoxLayout(), QHBoxLayout()
        for w in (QLabel("Viewport"), self.target, QLabel("slab"), self.slab, self.mode):
            top.addWidget(w)
        for text, slot, row in (("Navigate", ws.navigate, top),
                                ("Ruler", lambda: ws.start_tool(self.target.currentText(), "ruler"), top),
                                ("Angle", lambda: ws.start_tool(self.target.currentText(), "angle"), top),
                                ("Entry = point", lambda: self._set_end(0), bottom),
                                ("Target = point", lambda: self._set_end(1), bottom)):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, f=slot: f())
            row.addWidget(b)
        for w in (QLabel("Oblique"), self.kind, self.angle, self.along):
            bottom.addWidget(w)
        top.addStretch(1)
        bottom.addStretch(1)
        rows.addLayout(top)
        rows.addLayout(bottom)
        def apply(*_: Any) -> None:
            ws.set_slab(self.target.currentText(), self.slab.value(), self.mode.currentText())

        self.slab.valueChanged.connect(apply)
        self.mode.currentIndexChanged.connect(apply)
        self.kind.currentIndexChanged.connect(lambda i: ws.set_oblique(kind=("along", "bullseye")[i]))
        self.angle.valueChanged.connect(lambda v: ws.set_oblique(angle_deg=v))
        self.target.currentTextChanged.connect(self._target_changed)
        return rows

    def _target_changed(self, name: str) -> None:
        """The slab controls show the chosen viewport's slab (none for the fluoroscopy run)."""
        slab = self.ws.slab(name) if name else None
        for w in (self.slab, self.mode):
            w.setEnabled(slab is not None)
        if slab is not None:
            self.show_slab(name, *slab)

    def show_oblique(self, kind: str, angle_deg: float) -> None:
        """Show the oblique viewport's kind and rotation (set from a script or a session) without applying them."""
        with QSignalBlocker(self.kind), QSignalBlocker(self.angle):
            self.kind.setCurrentIndex(0 if kind == "along" else 1)
            self.angle.setValue(int(round(angle_deg)))

    def place(self, name: str, canvas: QWidget) -> None:
        """Put a viewport's new canvas in its cell (in place of the placeholder)."""
        old = self.cells.pop(name, None)
        if old is not None:
            self.grid.removeWidget(old)
            old.deleteLater()
        self.grid.addWidget(canvas, *CELLS[name])

    def remove_cell(self, name: str, canvas: QWidget | None) -> None:
        """Take a viewport's canvas (or placeholder) out of the grid and the viewport chooser."""
        for w in (self.cells.pop(name, None), canvas):
            if w is not None:
                self.grid.removeWidget(w)
        k = self.target.findText(name)
        if k >= 0:
            self.target.removeItem(k)

    def show_slab(self, name: str, thickness_mm: float, mode: str) -> None:
        """Show a viewport's slab in the controls (set from a script) without applying it again."""
        for w in (self.slab, self.mode):
            w.setEnabled(True)
        with QSignalBlocker(self.target), QSignalBlocker(self.slab), QSignalBlocker(self.mode):
            self.target.setCurrentText(name)
            self.slab.setValue(thickness_mm)
            if mode in SLAB_MODES and mode != "thin":
                self.mode.setCurrentText(mode)

    def _set_end(self, k: int) -> None:
        ends = list(self.ws.trajectory)
        ends[k] = self.ws.point_lps
        try:
            self.ws.set_trajectory(*ends)
        except ValueError as exc:
            show_warning(str(exc))

    def release(self) -> None:
        """Detach the canvases (already closed) and remove the dock from the main window."""
        dock = dock_of(self)
        try:
            if dock is not None:
                self.ws.viewer.window.remove_dock_widget(dock)
        except (RuntimeError, AttributeError, LookupError, ValueError):
            pass
