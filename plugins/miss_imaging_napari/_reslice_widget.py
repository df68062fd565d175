"""Resample and reslice dock widget: isotropic copy of a CT, and the MPR workspace.

Thin adapter over :mod:`miss_imaging.spatial.resampling`.  The orthogonal and oblique
views that used to sit as 2-D thumbnails beside the volume are replaced by the
MPR workspace (:mod:`._mpr_workspace`: one canvas per viewport, linked
crosshair, slabs, oblique and bull's-eye views along a trajectory), which the
*Open MPR workspace* button opens on the selected volume.

* **Isotropic copy**: a new 3-D image layer in the same world frame (LPS mm
  as ``(z, y, x)``), made by :func:`~miss_imaging.spatial.resampling.resample` (or
  :func:`~miss_imaging.spatial.resampling.to_patient_grid` for a tilted source, so the
  copy is interpolated once and displays exactly).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume
from miss_imaging.spatial.resampling import resample, to_patient_grid

from ._layers import SOURCE_KEY, VOLUME_KEY, is_patient_grid, layer_data

__all__ = ["ResliceWidget"]


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"info": show_info, "warning": show_warning, "error": show_error}[level](message)


class ResliceWidget(QWidget):
    """Isotropic copy of a CT volume, and the button that opens the MPR workspace on it.

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
        self._source_layers: list[Any] = []  # the volume layers listed in self.source, in its order

        self.source = QComboBox()
        self.iso_mm = QDoubleSpinBox(decimals=2, minimum=0.1, maximum=10.0, singleStep=0.1, suffix=" mm")
        self.iso_button = QPushButton("Make isotropic copy")
        self.mpr_button = QPushButton("Open MPR workspace")
        self.mpr_button.setToolTip("Linked axial, coronal, sagittal and oblique viewports, each its own canvas")

        form = QFormLayout()
        form.addRow("Volume", self.source)
        iso = QGroupBox("Isotropic copy")
        row = QHBoxLayout(iso)
        row.addWidget(self.iso_mm)
        row.addWidget(self.iso_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(iso)
        layout.addWidget(self.mpr_button)
        layout.addWidget(QLabel("Orthogonal, oblique and slab views: in the MPR workspace."))
        layout.addStretch(1)

        self.iso_button.clicked.connect(self.make_isotropic)
        self.mpr_button.clicked.connect(lambda _=False: self.open_workspace())
        self.source.currentIndexChanged.connect(self._source_changed)
        self.viewer.layers.events.inserted.connect(self._layer_inserted)
        self.viewer.layers.events.removed.connect(self._layer_removed)
        for layer in self.viewer.layers:
            layer.events.name.connect(self._fill_sources)
        self.destroyed.connect(self._disconnect)
        self._fill_sources()

    def _disconnect(self, *_: Any) -> None:
        """Detach from the viewer when the dock widget is deleted (no callbacks into a dead widget)."""
        for emitter, cb in ((self.viewer.layers.events.inserted, self._layer_inserted),
                            (self.viewer.layers.events.removed, self._layer_removed)):
            try:
                emitter.disconnect(cb)
            except (RuntimeError, ValueError, TypeError):
                pass

    # ---------------------------------------------------------------- sources
    def _volume_layers(self) -> list[Any]:
        out = []
        for layer in self.viewer.layers:
            vol = layer.metadata.get(VOLUME_KEY) if hasattr(layer, "metadata") else None
            if isinstance(vol, ImageVolume) and vol.kind == "volume" and vol.shape[0] > 1 \
                    and "reslice" not in vol.metadata:
                out.append(layer)
        return out

    def _fill_sources(self, event: Any = None) -> None:
        # by layer, not by name: a layer renamed in napari's list must stay the source
        current = self.source_layer()
        layers = self._volume_layers()
        self.source.blockSignals(True)
        self.source.clear()
        self._source_layers = layers
        for layer in layers:
            self.source.addItem(layer.name)
        i = layers.index(current) if current in layers else -1
        self.source.setCurrentIndex(i if i >= 0 else (0 if self.source.count() else -1))
        self.source.blockSignals(False)
        if self.source_layer() is not current:
            self._source_changed()

    def _layer_inserted(self, event: Any) -> None:
        event.value.events.name.connect(self._fill_sources)
        self._fill_sources()

    def _layer_removed(self, event: Any) -> None:
        self._fill_sources()

    def source_layer(self) -> Any:
        i = self.source.currentIndex()
        layers = self._source_layers
        return layers[i] if 0 <= i < len(layers) and layers[i] in self.viewer.layers else None

    def source_volume(self) -> ImageVolume | None:
        """The volume to reslice: the original (not the display-resampled copy) when there is one."""
        layer = self.source_layer()
        if layer is None:
            return None
        return layer.metadata.get(SOURCE_KEY) or layer.metadata[VOLUME_KEY]

    def _source_changed(self, *_: Any) -> None:
        vol = self.source_volume()
        if vol is None:
            return
        self.iso_mm.setValue(float(min(vol.spacing)))

    # ---------------------------------------------------------------- isotropic copy
    def make_isotropic(self) -> Any:
        """Add an isotropic copy of the selected volume (same world frame); returns the layer."""
        vol = self.source_volume()
        if vol is None:
            _notify("Open a CT volume first.", "warning")
            return None
        s = float(self.iso_mm.value())
        try:
            iso = resample(vol, s) if is_patient_grid(vol) else to_patient_grid(vol, s)
        except (MissImagingError, ValueError, MemoryError) as exc:
            _notify(f"Isotropic copy failed: {exc}", "error")
            return None
        data, kw, _ = layer_data(iso)
        kw["name"] = f"{vol.label} isotropic {s:g} mm"
        layer = self.viewer.add_image(data, **kw)
        _notify(f"Isotropic copy: {iso.shape[2]} x {iso.shape[1]} x {iso.shape[0]} voxels of {s:g} mm "
                f"(linear interpolation on the exact grid).")
        return layer

    # ---------------------------------------------------------------- MPR workspace
    def open_workspace(self) -> Any:
        """Open the MPR workspace on the selected volume; returns it (None without a volume)."""
        layer = self.source_layer()
        if layer is None:
            _notify("Open a CT volume first.", "warning")
            return None
        from ._mpr_workspace import open_mpr

        return open_mpr(self.viewer, layer)
