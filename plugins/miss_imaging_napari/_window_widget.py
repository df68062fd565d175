"""Window / level dock widget: presets, W/L fields, the file's windows, mouse drag.

Everything here changes ``layer.contrast_limits`` of the active image layer
only: napari windows on the GPU, and the data is never recomputed.  The
numbers shown are DICOM window width / level (PS3.3 C.11.2.1.2.1, LINEAR),
converted to and from contrast limits by
:func:`miss_imaging.display.window.window_to_contrast_limits`; so "W 400 / L 40"
here is exactly the window a PACS would apply.  A MONOCHROME1 layer is shown
with the ``gray_r`` colormap by the reader; its windows still refer to the
stored/modality values.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.model import Window
from miss_imaging.display.presets import PRESETS, auto_window, file_windows
from miss_imaging.display.window import contrast_limits_to_window, window_to_contrast_limits

from . import _mouse_wl

__all__ = ["WindowWidget", "layer_file_windows", "window_text"]

VOLUME_KEY = "miss_imaging_volume"
PRESET_LABELS = {"bone": "Bone", "soft_tissue": "Soft tissue", "metal": "Metal / screws"}


def window_text(win: Window) -> str:
    """``"W 2500 / L 480  Bone (...)"`` plus the VOI function when not LINEAR."""
    text = f"W {win.width:g} / L {win.center:g}"
    if win.explanation:
        text += f"  {win.explanation}"
    if win.function.upper() != "LINEAR":
        text += f"  [{win.function.upper()}: shown as a linear ramp over c -/+ w/2]"
    return text


def layer_file_windows(layer: Any) -> list[Window]:
    """The file's windows of a layer made by the plugin (empty for plain layers)."""
    vol = getattr(layer, "metadata", {}).get(VOLUME_KEY) if layer is not None else None
    return file_windows(vol)


class WindowWidget(QWidget):
    """Dock widget for window/level of the active image layer.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by npe2.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        from ._docking import tabify_when_docked

        tabify_when_docked(self)  # a tab beside the plugin's other docks, not a new row (canvas keeps its size)
        self.viewer = napari_viewer
        self._layer: Any = None
        self._syncing = False

        layout = QVBoxLayout(self)
        self.layer_label = QLabel("No image layer")
        self.layer_label.setWordWrap(True)
        layout.addWidget(self.layer_label)

        grid = QGridLayout()
        self.preset_buttons: dict[str, QPushButton] = {}
        for i, (key, win) in enumerate(PRESETS.items()):
            btn = QPushButton(f"{PRESET_LABELS.get(key, key)}\nW {win.width:g} / L {win.center:g}")
            btn.setToolTip(win.explanation)
            btn.clicked.connect(lambda _=False, k=key: self.apply_preset(k))
            grid.addWidget(btn, i // 2, i % 2)  # two columns: a narrow dock leaves the canvas its width
            self.preset_buttons[key] = btn
        self.auto_button = QPushButton("Auto\n1st-99th pct")
        self.auto_button.setToolTip("Percentiles inside the collimated field (collimator black and burned-in text ignored)")
        self.auto_button.clicked.connect(lambda _=False: self.apply_auto())
        grid.addWidget(self.auto_button, len(PRESETS) // 2, len(PRESETS) % 2)
        layout.addLayout(grid)

        form = QFormLayout()
        self.width_box = self._spin(1.0)
        self.level_box = self._spin(-1e7)
        form.addRow("Window width (W)", self.width_box)
        form.addRow("Window level (L)", self.level_box)
        layout.addLayout(form)
        self.width_box.valueChanged.connect(self._on_fields)
        self.level_box.valueChanged.connect(self._on_fields)

        layout.addWidget(QLabel("Windows in the file:"))
        self.file_list = QListWidget()
        self.file_list.itemClicked.connect(self._on_file_item)
        layout.addWidget(self.file_list)

        self.mouse_box = QCheckBox("Mouse window/level: right-drag\nor Ctrl+left-drag (right = wider,\ndown = higher level)")
        self.mouse_box.setChecked(True)
        self.mouse_box.toggled.connect(self.set_mouse_enabled)
        layout.addWidget(self.mouse_box)
        layout.addStretch(1)

        self.viewer.layers.selection.events.active.connect(self._on_active)
        self.viewer.layers.events.inserted.connect(self._on_inserted)
        self.viewer.layers.events.removed.connect(self._on_active)
        self.set_mouse_enabled(True)
        self._on_active()

    # ------------------------------------------------------------------ public actions

    @property
    def layer(self) -> Any:
        """The image layer being windowed: the active image, the image the active ruler measures, or the top
        visible image; None without images."""
        return self._layer

    def set_window(self, window: Window) -> None:
        """Show `window` on the active layer (its contrast limits only)."""
        if self._layer is None:
            return
        lo, hi = window_to_contrast_limits(window.center, window.width, window.function)
        self._layer.auto_contrast = False
        self._layer.contrast_limits = (lo, hi if hi > lo else lo + 1e-6)

    def apply_preset(self, key: str) -> None:
        self.set_window(PRESETS[key])

    def apply_auto(self) -> None:
        """Auto window from the displayed data (a few frames of it, not the whole volume)."""
        if self._layer is not None:
            data = self._layer.data[-1] if self._layer.multiscale else self._layer.data  # coarsest level
            self.set_window(auto_window(data))

    def set_mouse_enabled(self, on: bool) -> None:
        """Install (or remove) the mouse drag on every image layer."""
        for layer in self.viewer.layers:
            (_mouse_wl.install if on else _mouse_wl.uninstall)(layer)

    def cleanup(self) -> None:
        """Disconnect from the viewer and remove the mouse drag."""
        self.set_mouse_enabled(False)
        self._watch(None)
        for emitter, cb in ((self.viewer.layers.selection.events.active, self._on_active),
                            (self.viewer.layers.events.inserted, self._on_inserted),
                            (self.viewer.layers.events.removed, self._on_active)):
            emitter.disconnect(cb)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self.cleanup()
        super().closeEvent(event)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _spin(minimum: float) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(minimum, 1e7)
        box.setDecimals(2)
        box.setSingleStep(10.0)
        box.setKeyboardTracking(False)  # apply on Enter / arrows, not on every keystroke
        return box

    def _on_inserted(self, event: Any = None) -> None:
        if self.mouse_box.isChecked() and event is not None:
            _mouse_wl.install(event.value)
        self._on_active()

    def _on_active(self, event: Any = None) -> None:
        from napari.layers import Image

        from ._targets import target_image

        # a ruler is active after every measurement: window the image it measures (or the top visible one)
        target = target_image(self.viewer.layers.selection.active, list(self.viewer.layers),
                              lambda lay: isinstance(lay, Image))
        if target is not self._layer or target is None:
            self._watch(target)

    def _watch(self, layer: Any) -> None:
        if self._layer is not None:
            try:
                self._layer.events.contrast_limits.disconnect(self._sync_fields)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._layer = layer
        enabled = layer is not None
        for w in (*self.preset_buttons.values(), self.auto_button, self.width_box, self.level_box, self.file_list):
            w.setEnabled(enabled)
        self.file_list.clear()
        if layer is None:
            self.layer_label.setText("No image layer selected")
            return
        layer.events.contrast_limits.connect(self._sync_fields)
        vol = layer.metadata.get(VOLUME_KEY)
        # the presets are HU windows: on fluoro/radiograph stored values they give a meaningless picture
        hu = vol is None or vol.modality.upper() == "CT"
        for key, btn in self.preset_buttons.items():
            btn.setEnabled(hu)
            btn.setToolTip(PRESETS[key].explanation if hu else
                           f"HU preset for CT; {layer.name} holds stored values, not HU: use Auto or the file's windows")
        note = ""
        if vol is not None and vol.photometric.upper() == "MONOCHROME1":
            note = "\nMONOCHROME1: shown inverted (low values white); W/L refer to the values"
        self.layer_label.setText(f"Layer: {layer.name}{note}")
        wins = layer_file_windows(layer)
        for win in wins:
            item = QListWidgetItem(window_text(win))
            item.setData(256, win)  # Qt.UserRole
            self.file_list.addItem(item)
        if not wins:
            self.file_list.addItem(QListWidgetItem("(none in the file)"))
        self._sync_fields()

    def _sync_fields(self, event: Any = None) -> None:
        """Contrast limits -> W/L fields (without feeding back into the layer)."""
        if self._layer is None:
            return
        center, width = contrast_limits_to_window(*self._layer.contrast_limits)
        self._syncing = True
        try:
            self.width_box.setValue(max(width, 1.0))
            self.level_box.setValue(center)
        finally:
            self._syncing = False

    def _on_fields(self, _value: float = 0.0) -> None:
        if self._syncing or self._layer is None:
            return
        self.set_window(Window(self.level_box.value(), self.width_box.value()))

    def _on_file_item(self, item: QListWidgetItem) -> None:
        win = item.data(256)
        if isinstance(win, Window):
            self.set_window(win)
