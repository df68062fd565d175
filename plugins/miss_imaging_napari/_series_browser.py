"""Series browser dock widget: the series in the viewer or in a folder, and the tools.

* The table lists every miss-imaging layer of the viewer, or (after "Scan
  folder...") every series found in a folder, headers only: modality,
  frames, size, spacing, calibration, number of warnings.  "Open selected"
  loads a scanned series as a layer.
* The info panel shows technical attributes of the selected series only
  (geometry, calibration, windows, timing, warnings, device tags); patient
  and study identifiers are never shown here (teaching mode governs the
  separate patient banner).
* Buttons dock the other miss-imaging tools and play a fluoroscopy run at
  its recorded frame rate (FrameTime).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.model import ImageVolume, SeriesInfo

from ._file_dialogs import asking
from ._layers import NOTE_KEY, SOURCE_KEY, VOLUME_KEY, layer_data, resample_notice
from ._series_info import (COLUMNS, cine_rate, scanned_info, series_row, shown, skipped_text, technical_info,
                           volume_row)

__all__ = ["SeriesWidget", "TOOLS"]

#: button text -> widget display name in napari.yaml
TOOLS = {
    "Window / level": "Window / level",
    "Measurements": "Measurements",
    "Resample / reslice": "Resample and reslice",
    "Teaching / export": "Teaching and export",
}


class SeriesWidget(QWidget):
    """Dock widget listing series, showing technical info and docking the tools."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ._docking import tabify_when_docked

        tabify_when_docked(self)  # a tab beside the plugin's other docks, not a new row (canvas keeps its size)
        self.viewer = napari_viewer
        self._scanned: list[SeriesInfo] = []
        self._skipped_text = ""
        self._mode = "layers"  # or "folder"

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.itemSelectionChanged.connect(self._on_select)
        self.info = QPlainTextEdit()
        self.info.setReadOnly(True)
        self.source_label = QLabel("Series in the viewer")

        self.scan_button = QPushButton("Scan folder...")
        self.scan_button.clicked.connect(asking(self, "folder", "DICOM folder to scan", "", "", self.scan_folder))
        self.layers_button = QPushButton("Show viewer series")
        self.layers_button.clicked.connect(self.show_layers)
        self.open_button = QPushButton("Open selected")
        self.open_button.clicked.connect(self.open_selected)
        self.play_button = QPushButton("Play cine")
        self.play_button.clicked.connect(self.toggle_play)
        self._playing = False

        top = QGridLayout()  # 2 x 2: a narrow dock leaves the canvas its width
        for i, b in enumerate((self.scan_button, self.layers_button, self.open_button, self.play_button)):
            top.addWidget(b, i // 2, i % 2)
        tools = QGridLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        for i, (text, name) in enumerate(TOOLS.items()):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, n=name: self.dock_tool(n))
            tools.addWidget(b, i // 2, i % 2)
            self.tool_buttons[name] = b

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.source_label)
        layout.addWidget(self.table)
        layout.addWidget(self.info)
        layout.addLayout(tools)

        ev = self.viewer.layers.events
        ev.inserted.connect(self._refresh_layers)
        ev.removed.connect(self._refresh_layers)
        self.viewer.layers.selection.events.active.connect(self._follow_active)
        self.show_layers()

    # -- listing ----------------------------------------------------------------------------------------------------

    def _layers(self) -> list[Any]:
        return [ly for ly in self.viewer.layers if isinstance(ly.metadata.get(VOLUME_KEY), ImageVolume)]

    def _fill(self, rows: list[tuple[str, ...]]) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()

    def _refresh_layers(self, event: Any = None) -> None:
        if self._mode == "layers":
            self.show_layers()

    def show_layers(self) -> None:
        """List the miss-imaging layers of the viewer."""
        self._mode = "layers"
        self.source_label.setText("Series in the viewer")
        self._fill([volume_row(ly.metadata.get(SOURCE_KEY) or ly.metadata[VOLUME_KEY]) for ly in self._layers()])
        self.open_button.setEnabled(False)
        if self.table.rowCount():
            self.table.selectRow(0)
        else:
            self.info.setPlainText("No DICOM series open. File > Open (choose miss-imaging), or Scan folder...")

    def scan_folder(self, folder: str | Path) -> None:
        """List the series found under `folder` (headers only)."""
        from napari.utils.notifications import show_warning

        from miss_imaging.reading.dicom_scan import scan
        from miss_imaging.redact import remember_case_path

        remember_case_path(folder)  # chosen in the dialog: in teaching mode none of its folders is shown
        try:
            result = scan(folder)
        except Exception as e:
            show_warning(shown(f"Could not scan {folder}: {e}"))
            return
        self._mode = "folder"
        self._scanned = list(result)
        self.source_label.setText(shown(f"Series in {folder} ({len(result.skipped)} file(s) skipped)"))
        self._fill([series_row(s) for s in self._scanned])
        self.open_button.setEnabled(bool(self._scanned))
        self._skipped_text = skipped_text(result.skipped)
        self.info.setPlainText(shown(self._skipped_text) or "Select a series and press Open selected.")
        if self._scanned:
            self.table.selectRow(0)

    # -- selection / info -------------------------------------------------------------------------------------------

    def _row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _on_select(self) -> None:
        r = self._row()
        if r < 0:
            return
        if self._mode == "layers":
            layers = self._layers()
            if r < len(layers):
                ly = layers[r]
                self.info.setPlainText(shown(technical_info(ly.metadata[VOLUME_KEY], ly.metadata.get(SOURCE_KEY),
                                                             ly.metadata.get(NOTE_KEY))))
                if self.viewer.layers.selection.active is not ly:
                    self.viewer.layers.selection.active = ly
        elif r < len(self._scanned):
            self.info.setPlainText(shown(scanned_info(self._scanned[r], self._skipped_text)))

    def _follow_active(self, event: Any = None) -> None:
        if self._mode != "layers":
            return
        active = self.viewer.layers.selection.active
        layers = self._layers()
        if active in layers:
            r = layers.index(active)
            if self._row() != r:
                self.table.selectRow(r)

    # -- actions ----------------------------------------------------------------------------------------------------

    def open_selected(self) -> None:
        """Load the selected scanned series into the viewer (notifications on failure)."""
        from napari.utils.notifications import show_error, show_info, show_warning

        from miss_imaging.reading.loader import load

        from ._reader import attach_viewer_tools

        r = self._row()
        if self._mode != "folder" or not (0 <= r < len(self._scanned)):
            return
        s = self._scanned[r]
        if s.kind not in ("volume", "projection"):
            show_info(f"{s.label}: {s.kind} series are not displayed")
            return
        try:
            vol = load(s)
            data, kw, kind = layer_data(vol)
        except Exception as e:
            show_error(shown(f"Could not open {s.label} ({s.files[0] if s.files else ''}): {e}"))
            return
        attach_viewer_tools(self.viewer)  # before the layer: the framing rules put it on screen
        self.viewer.add_image(data, **kw)
        for w in vol.warnings:
            show_warning(shown(f"{vol.label}: {w}"))
        if kw["metadata"].get(NOTE_KEY):
            show_info(shown(resample_notice(vol)))

    def dock_tool(self, display_name: str) -> Any:
        """Dock another miss-imaging widget by its napari.yaml display name."""
        from napari.utils.notifications import show_warning

        try:
            return self.viewer.window.add_plugin_dock_widget("miss-imaging", display_name, tabify=True)
        except Exception as e:
            show_warning(f"{display_name} is unavailable: {e}")
            return None

    def toggle_play(self) -> None:
        """Play/stop the active projection layer's frames at 1000 / FrameTime fps."""
        from napari.utils.notifications import show_info

        from ._napari_private import qt_dims

        ly = self.viewer.layers.selection.active
        vol = ly.metadata.get(VOLUME_KEY) if ly is not None else None
        player = qt_dims(self.viewer)  # napari's dims slider widget: it plays a cine at a frame rate
        if player is None:
            return
        if self._playing:
            player.stop()
            self._playing = False
            self.play_button.setText("Play cine")
            return
        if not isinstance(vol, ImageVolume) or vol.kind != "projection" or vol.shape[0] < 2:
            show_info("Select a fluoroscopy run (more than one frame) to play it.")
            return
        fps, note = cine_rate(vol)
        if note:
            show_info(note)
        player.play(axis=0, fps=fps, loop_mode="loop")
        self._playing = True
        self.play_button.setText(f"Stop ({fps:.3g} fps)")
