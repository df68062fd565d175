"""Measurements dock widget: tools, user calibration, the table, export and reload.

Thin adapter: geometry and values come from :mod:`miss_imaging.measurement.measure`,
calibration from :mod:`miss_imaging.measurement.calibration`, files from
:mod:`miss_imaging.measurement.measurements_io`; the live Shapes layers from
:mod:`._measure_layers`.  Every error becomes a napari notification (never an
exception escaping into the viewer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.errors import MeasurementError, MissImagingError
from miss_imaging.measurement.measure import Measurement
from miss_imaging.measurement.measurements_io import save_csv, save_json

from . import _layer_geometry, _measure_actions, _measure_layers, _viewer_links
from ._file_dialogs import asking
from ._measure_actions import COLUMNS

__all__ = ["MeasureWidget", "COLUMNS"]


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"info": show_info, "warning": show_warning, "error": show_error}[level](message)


class MeasureWidget(QWidget):
    """Ruler, angle and Cobb tools with a live table of every measurement.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by npe2.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ._docking import tabify_when_docked

        tabify_when_docked(self)  # a tab beside the plugin's other docks, not a new row (canvas keeps its size)
        self.viewer = napari_viewer
        self._rows: list[_measure_layers.Result] = []
        self._combo_layers: list[Any] = []  # the image layers listed in image_combo, in its order
        self._filling = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.update_table)

        layout = QVBoxLayout(self)
        self.image_combo = QComboBox()
        self.image_combo.setToolTip("Image layer to measure on (layers opened by miss-imaging)")
        layout.addWidget(QLabel("Measure on:"))
        layout.addWidget(self.image_combo)
        layout.addLayout(self._build_tools())
        layout.addWidget(self._build_calibration())
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemChanged.connect(lambda item: self._safe(lambda: self._on_item_changed(item))())
        layout.addWidget(self.table)
        self._build_file_buttons(layout)
        self._connect_viewer()
        self._on_layers_changed()
        self._show_scale_bar()

    # ------------------------------------------------------------------ controls

    def _build_tools(self) -> QGridLayout:
        tools = QGridLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        for tool, text, tip in (
            ("ruler", "Ruler", "Draw a line: distance in mm (3-D on a volume; in-plane on a projection)"),
            ("path", "Path", "Draw a polyline (double-click to finish): its length"),
            ("angle", "Angle", "Draw a 3-point path (end, vertex, end): the angle"),
            ("cobb", "Cobb", "Draw two lines (e.g. endplates): the Cobb angle"),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(self._safe(lambda t=tool: self.start_tool(t)))
            tools.addWidget(b, len(self.tool_buttons) // 2, len(self.tool_buttons) % 2)
            self.tool_buttons[tool] = b
        return tools

    def _build_calibration(self) -> QGroupBox:
        cal_box = QGroupBox("User calibration (projections)")
        form = QFormLayout(cal_box)
        self.length_edit = QLineEdit()
        self.length_edit.setPlaceholderText("known length in mm, e.g. 25.0")
        self.object_edit = QLineEdit()
        self.object_edit.setPlaceholderText("object, e.g. calibration sphere")
        form.addRow("Length (mm)", self.length_edit)
        form.addRow("Object", self.object_edit)
        row = QHBoxLayout()
        self.calibrate_button = QPushButton("Calibrate on picked line")
        self.calibrate_button.setToolTip("Click the row of the line drawn across the object in the table below "
                                         "(not needed when the image has a single line)")
        self.calibrate_button.clicked.connect(self._safe(self.calibrate_from_selection))
        self.reset_cal_button = QPushButton("Reset")
        self.reset_cal_button.clicked.connect(self._safe(self.reset_calibration))
        row.addWidget(self.calibrate_button)
        row.addWidget(self.reset_cal_button)
        form.addRow(row)
        self.calibration_label = QLabel("")
        self.calibration_label.setWordWrap(True)
        form.addRow(self.calibration_label)
        return cal_box

    def _build_file_buttons(self, layout: QVBoxLayout) -> None:
        def wrote(path: Path) -> None:
            _notify(f"wrote {path}")

        buttons = QGridLayout()  # 2 x 2: a narrow dock leaves the canvas its width
        for i, (text, slot) in enumerate((
                ("Delete", self.delete_selected),
                ("Export CSV", asking(self, "save", "Export measurements (CSV)", "measurements.csv", "CSV (*.csv)",
                                      lambda p: wrote(self.export_csv(p)))),
                ("Export JSON", asking(self, "save", "Export measurements (JSON)", "measurements.json",
                                       "JSON (*.json)", lambda p: wrote(self.export_json(p)))),
                ("Load JSON", asking(self, "open", "Load measurements (JSON)", "", "JSON (*.json)", self.load_json)))):
            b = QPushButton(text)
            b.clicked.connect(self._safe(slot))
            buttons.addWidget(b, i // 2, i % 2)
        layout.addLayout(buttons)
        sr_row = QHBoxLayout()  # DICOM SR (issue 17): logic in _sr_io
        for text, slot in (
                ("Save as DICOM SR...", asking(self, "save", "Save measurements as DICOM SR", "measurements_sr.dcm",
                                               "DICOM (*.dcm)", self.save_sr)),
                ("Open SR...", asking(self, "open", "Open DICOM SR", "", "DICOM (*.dcm);;All files (*)", self.open_sr))):
            b = QPushButton(text)
            b.clicked.connect(self._safe(slot))
            sr_row.addWidget(b)
        layout.addLayout(sr_row)

    def _connect_viewer(self) -> None:
        self.viewer.layers.events.inserted.connect(self._on_layers_changed)
        self.viewer.layers.events.removed.connect(self._on_layers_changed)
        # the combo lists layer names: a renamed layer (by the user, or an oblique view whose
        # orientation letters change) must not leave a stale entry that matches no layer
        self.viewer.layers.events.inserted.connect(lambda e: e.value.events.name.connect(self._on_layers_changed))
        for lay in self.viewer.layers:
            lay.events.name.connect(self._on_layers_changed)
        self.viewer.layers.selection.events.active.connect(self._on_active_changed)
        self.image_combo.currentIndexChanged.connect(lambda _=None: self._show_calibration())
        _viewer_links.on_new_tool_layer(self.viewer, self._on_layers_changed)  # rulers drawn in MPR viewports

    # ------------------------------------------------------------------ plumbing

    def _safe(self, fn: Any) -> Any:
        """Wrap a slot: any error is a notification, never a crash of the viewer."""

        def slot(*_: Any) -> None:
            try:
                fn()
            except MissImagingError as exc:
                _notify(str(exc), "warning")
            except Exception as exc:  # noqa: BLE001 - a dock widget must not take the viewer down
                _notify(f"measurement: unexpected error: {exc!r}", "error")

        return slot

    def _show_scale_bar(self) -> None:
        """Turn napari's scale bar on: with every layer in mm it reads true mm."""
        try:
            bar = self.viewer.canvas.overlays["scale_bar"]  # napari >= 0.9
        except (AttributeError, KeyError, TypeError):
            bar = self.viewer.scale_bar
        bar.visible = True

    def _on_layers_changed(self, event: Any = None) -> None:
        layers = _measure_actions.image_layers(self.viewer)
        index = self.image_combo.currentIndex()
        # by position, not by name: after a rename the combo's text names no layer any more
        current = self._combo_layers[index] if 0 <= index < len(self._combo_layers) else None
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self._combo_layers = layers
        for lay in layers:
            self.image_combo.addItem(lay.name)
        if current in layers:
            self.image_combo.setCurrentIndex(layers.index(current))
        self.image_combo.blockSignals(False)
        for lay in _measure_layers.tool_layers(self.viewer):
            _measure_layers.add_listener(lay, self._on_tool_layer_changed)
        self._show_calibration()
        self._timer.start()

    def _on_active_changed(self, event: Any = None) -> None:
        active = self.viewer.layers.selection.active
        if active is not None and _layer_geometry.image_volume(active) is not None:
            layers = _measure_actions.image_layers(self.viewer)
            if active in layers:
                self.image_combo.setCurrentIndex(layers.index(active))

    def _on_tool_layer_changed(self, layer: Any) -> None:
        self._timer.start()  # coalesce the many events of a drag into one table update

    def current_image_layer(self) -> Any | None:
        """The image layer chosen in the combo box."""
        index = self.image_combo.currentIndex() if hasattr(self, "image_combo") else -1
        if 0 <= index < len(self._combo_layers) and self._combo_layers[index] in self.viewer.layers:
            return self._combo_layers[index]
        return None

    def _require_image(self) -> Any:
        lay = self.current_image_layer()
        if lay is None:
            raise MeasurementError("no image layer opened by miss-imaging to measure on")
        return lay

    def _show_calibration(self) -> None:
        lay = self.current_image_layer()
        if lay is None:
            self.calibration_label.setText("")
            return
        self.calibration_label.setText(_measure_actions.calibration_summary(
            _layer_geometry.image_volume(lay), _layer_geometry.current_calibration(lay)))

    # ------------------------------------------------------------------ tools

    def start_tool(self, tool: str) -> Any | None:
        """Make (or reuse) the tool's Shapes layer on the chosen image and enter its drawing mode."""
        try:
            image = self._require_image()
            layer = _measure_layers.tool_layer(self.viewer, image, tool)
            _measure_layers.add_listener(layer, self._on_tool_layer_changed)
            self.viewer.layers.selection.active = layer
            layer.mode = _measure_layers.TOOLS[tool]["mode"]
            return layer
        except MissImagingError as exc:
            _notify(str(exc), "warning")
            return None

    def add_measurement(self, kind: str, points_index: Any, *, name: str = "", image_layer: Any = None) -> _measure_layers.Result:
        """Place a measurement from array-index points on an image layer (default: the chosen one)."""
        image = image_layer if image_layer is not None else self._require_image()
        layer, res = _measure_layers.add_measurement(self.viewer, image, kind, points_index, name=name)
        _measure_layers.add_listener(layer, self._on_tool_layer_changed)
        self.update_table()
        return res

    # ------------------------------------------------------------------ table

    def results(self) -> list[_measure_layers.Result]:
        """Every measurement (or its error) in every tool layer, in table order."""
        out: list[_measure_layers.Result] = []
        for lay in _measure_layers.tool_layers(self.viewer):
            out.extend(_measure_layers.results(lay))
        return out

    def measurements(self) -> list[Measurement]:
        """The valid measurements (what export writes)."""
        return [r.measurement for r in self.results() if r.measurement is not None]

    def update_table(self) -> None:
        """Rebuild the table from the tool layers."""
        self._rows = self.results()
        self._filling = True
        try:
            self.table.setRowCount(len(self._rows))
            for i, r in enumerate(self._rows):
                for j, text in enumerate(_measure_actions.table_cells(r)):
                    item = QTableWidgetItem(text)
                    if j != 0:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                    tip = _measure_actions.cell_tooltip(r, j)
                    if tip is not None:
                        item.setToolTip(tip)
                    self.table.setItem(i, j, item)
        finally:
            self._filling = False
        self._show_calibration()

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0 or item.row() >= len(self._rows):
            return
        self.rename(item.row(), item.text())

    def rename(self, row: int, name: str) -> None:
        """Rename the measurement in table row `row` (its label on the canvas follows)."""
        r = self._rows[row]
        feats = r.layer.features.copy()
        feats.loc[r.shapes[0], "name"] = name.strip()
        r.layer.features = feats
        self._timer.start()

    def delete_rows(self, rows: list[int]) -> None:
        """Delete the measurements of the given table rows (Cobb: both lines)."""
        by_layer: dict[int, tuple[Any, set[int]]] = {}
        for row in rows:
            r = self._rows[row]
            by_layer.setdefault(id(r.layer), (r.layer, set()))[1].update(r.shapes)
        for layer, shapes in by_layer.values():
            layer.selected_data = shapes
            layer.remove_selected()
        self.update_table()

    def delete_selected(self) -> None:
        """Delete the measurements selected in the table."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows:
            raise MeasurementError("select the rows to delete in the measurement table")
        self.delete_rows(rows)

    # ------------------------------------------------------------------ calibration

    def picked_rows(self) -> list[int]:
        """Rows the user picked in the measurement table."""
        return sorted({i.row() for i in self.table.selectedIndexes()})

    def calibrate_from_selection(self) -> str:
        """User calibration from the line picked in the table (or the image's only line) and the typed length.

        napari's own shape selection is not used: it is whatever shape was drawn last.
        """
        message = _measure_actions.calibrate_series(self.viewer, self._require_image(), self._rows, self.picked_rows(),
                                                    self.length_edit.text(), self.object_edit.text())
        self.update_table()
        _notify(message)
        return message

    def reset_calibration(self) -> str:
        """Remove the user calibration of the chosen image's series."""
        message = _measure_actions.clear_series_calibration(self.viewer, self._require_image())
        self.update_table()
        _notify(message)
        return message

    # ------------------------------------------------------------------ files

    def export_csv(self, path: str | Path) -> Path:
        """Write every valid measurement as CSV."""
        return save_csv(self._exportable(), path)

    def export_json(self, path: str | Path) -> Path:
        """Write every valid measurement as versioned JSON (reloadable)."""
        return save_json(self._exportable(), path)

    def _exportable(self) -> list[Measurement]:
        ms, warning = _measure_actions.exportable(self.viewer, self.results())
        if warning:
            _notify(warning, "warning")
        return ms

    def load_json(self, path: str | Path) -> str:
        """Reload measurements onto the series they were made on (matched by series UID).

        Volumes are placed by their patient (LPS) coordinates, so they land
        where they were even on a display-resampled grid; projections by
        index.  A stored user calibration is re-applied when the series has
        none.  Returns (and shows) a report naming what could not be placed.
        """
        report, ok = _measure_actions.load_measurements(
            self.viewer, path, lambda res: _measure_layers.add_listener(res.layer, self._on_tool_layer_changed))
        self.update_table()
        _notify(report, "info" if ok else "warning")
        return report

    def save_sr(self, path: str | Path) -> str:
        """Write the chosen image's measurements as a DICOM SR (TID 1500); de-identified in teaching mode."""
        from . import _sr_io

        report = _sr_io.save_layer_sr(self.viewer, self._require_image(), path)
        _notify(report)
        return report

    def open_sr(self, path: str | Path) -> str:
        """Draw the measurements of a DICOM SR on the open images they reference; report what was not placed."""
        from . import _sr_io

        report, placed = _sr_io.open_sr(self.viewer, path)
        for tool, _m in placed:
            _measure_layers.add_listener(tool, self._on_tool_layer_changed)
        self.update_table()
        _notify(report, "warning" if "could not place" in report else "info")
        return report
