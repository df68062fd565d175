"""Resample and reslice dock widget: isotropic copy, orthogonal MPR, live oblique view, thick slabs.

Thin adapter over :mod:`miss_imaging.spatial.resampling` and :mod:`miss_imaging.spatial.reslicing`.

How the views are shown (napari 0.9 has one canvas per viewer and cannot
draw an oblique cut of a volume in 2-D, see NAPARI.md section 1):

* **Isotropic copy**: a new 3-D image layer in the same world frame (LPS mm
  as ``(z, y, x)``), made by :func:`~miss_imaging.spatial.resampling.resample` (or
  :func:`~miss_imaging.spatial.resampling.to_patient_grid` for a tilted source, so the
  copy is interpolated once and displays exactly).
* **Orthogonal views** and the **oblique view** are 2-D image layers (data =
  the resliced ``(rows, cols)`` image, ``scale`` = pixel size in mm, units
  mm) placed side by side to the right of the volume.  A 2-D layer in a 3-D
  viewer is drawn on every slice, so the views stay visible while the user
  scrolls; distances measured in them are true in-plane mm.  Their world
  position is a display position beside the volume, not patient LPS; the
  plane's geometry is in ``layer.metadata["miss_imaging_volume"]`` (an
  ImageVolume of shape ``(1, rows, cols)`` whose affine maps pixels to LPS)
  and ``layer.metadata["miss_imaging_plane"]``.
* The orthogonal views pass through the current point: the slider's z and
  the (y, x) of the last click on the volume (default: its centre).
* The oblique view follows a 2-point Points layer ("trajectory"): entry =
  point 1, target = point 2, both in world = LPS mm.  It updates on every
  ``set_data`` event, i.e. on every mouse move while a point is dragged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume
from miss_imaging.spatial.resampling import resample, to_patient_grid
from miss_imaging.spatial.reslicing import Plane, make_sampler, reslice

from ._layers import SOURCE_KEY, VOLUME_KEY, image_kwargs, is_patient_grid, layer_data
from ._orientation import plane_labels

__all__ = ["ResliceWidget", "PLANE_KEY", "SLAB_STEP_MM", "GAP_MM"]

PLANE_KEY = "miss_imaging_plane"
ROLE_KEY = "miss_imaging_reslice_role"  # "axial" | "coronal" | "sagittal" | "oblique"
SLAB_STEP_MM = 0.5  # slider step
SLAB_MAX_MM = 40.0
GAP_MM = 10.0  # space between the volume and the 2-D views (world mm)
MPR_NAMES = ("axial", "coronal", "sagittal")


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"info": show_info, "warning": show_warning, "error": show_error}[level](message)


def _lps_to_world(p: np.ndarray) -> np.ndarray:
    return np.asarray(p, dtype=np.float64)[..., ::-1]  # (x, y, z) <-> (z, y, x)


def _world_bounds(volume: ImageVolume) -> tuple[np.ndarray, np.ndarray]:
    """Min/max world (z, y, x) mm of the volume's voxel centres."""
    n = np.array(volume.shape) - 1
    corners = np.array([[a, b, c] for a in (0, n[0]) for b in (0, n[1]) for c in (0, n[2])], dtype=np.float64)
    w = _lps_to_world(volume.index_to_patient(corners))
    return w.min(axis=0), w.max(axis=0)


class ResliceWidget(QWidget):
    """Isotropic copy, orthogonal views, an oblique view along two points, slab thickness.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        Injected by npe2.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self._sampler: Any = None
        self._sampler_for: int | None = None
        self._click_world: np.ndarray | None = None
        self._busy = False
        self.points_layer: Any = None
        self.views: dict[str, Any] = {}  # role -> 2-D image layer
        self._source_layers: list[Any] = []  # the volume layers listed in self.source, in its order

        self.source = QComboBox()
        self.iso_mm = QDoubleSpinBox(decimals=2, minimum=0.1, maximum=10.0, singleStep=0.1, suffix=" mm")
        self.iso_button = QPushButton("Make isotropic copy")
        self.mpr_box = QCheckBox("Orthogonal views (axial / coronal / sagittal)")
        self.oblique_button = QPushButton("Oblique view along two points")
        self.angle = QSlider(Qt.Orientation.Horizontal, minimum=-180, maximum=180, value=0)
        self.angle_label = QLabel("0 deg")
        self.slab = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=int(SLAB_MAX_MM / SLAB_STEP_MM), value=0)
        self.slab_label = QLabel("thin")
        self.mode = QComboBox()
        self.mode.addItems(["MIP", "mean", "MinIP"])
        self.fov_mm = QDoubleSpinBox(decimals=0, minimum=10, maximum=500, value=120, singleStep=10, suffix=" mm")
        self.pixel_mm = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=5.0, value=0.5, singleStep=0.05, suffix=" mm")

        form = QFormLayout()
        form.addRow("Volume", self.source)
        iso = QGroupBox("Isotropic copy")
        row = QHBoxLayout(iso)
        row.addWidget(self.iso_mm)
        row.addWidget(self.iso_button)
        views = QGroupBox("Views")
        vform = QFormLayout(views)
        vform.addRow(self.mpr_box)
        vform.addRow(self.oblique_button)
        ang = QHBoxLayout()
        ang.addWidget(self.angle)
        ang.addWidget(self.angle_label)
        vform.addRow("Rotation about line", ang)
        sl = QHBoxLayout()
        sl.addWidget(self.slab)
        sl.addWidget(self.slab_label)
        vform.addRow("Slab thickness", sl)
        vform.addRow("Slab mode", self.mode)
        vform.addRow("Field of view", self.fov_mm)
        vform.addRow("Pixel size", self.pixel_mm)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(iso)
        layout.addWidget(views)
        layout.addStretch(1)

        self.iso_button.clicked.connect(self.make_isotropic)
        self.mpr_box.toggled.connect(self._mpr_toggled)
        self.oblique_button.clicked.connect(self.start_oblique)
        self.angle.valueChanged.connect(self._angle_changed)
        self.slab.valueChanged.connect(self._slab_changed)
        self.mode.currentIndexChanged.connect(lambda _: self.refresh())
        self.fov_mm.valueChanged.connect(lambda _: self.refresh())
        self.pixel_mm.valueChanged.connect(lambda _: self.refresh())
        self.source.currentIndexChanged.connect(self._source_changed)
        self.viewer.layers.events.inserted.connect(self._layer_inserted)
        self.viewer.layers.events.removed.connect(self._layer_removed)
        for layer in self.viewer.layers:
            layer.events.name.connect(self._fill_sources)
        self.viewer.dims.events.point.connect(self._point_changed)
        self.viewer.mouse_drag_callbacks.append(self._record_click)
        self.destroyed.connect(self._disconnect)
        self._fill_sources()

    def _disconnect(self, *_: Any) -> None:
        """Detach from the viewer when the dock widget is deleted (no callbacks into a dead widget)."""
        for emitter, cb in ((self.viewer.layers.events.inserted, self._layer_inserted),
                            (self.viewer.layers.events.removed, self._layer_removed),
                            (self.viewer.dims.events.point, self._point_changed)):
            try:
                emitter.disconnect(cb)
            except (RuntimeError, ValueError, TypeError):
                pass
        if self._record_click in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._record_click)

    # ---------------------------------------------------------------- sources
    def _volume_layers(self) -> list[Any]:
        out = []
        for layer in self.viewer.layers:
            vol = layer.metadata.get(VOLUME_KEY) if hasattr(layer, "metadata") else None
            if isinstance(vol, ImageVolume) and vol.kind == "volume" and ROLE_KEY not in layer.metadata \
                    and vol.shape[0] > 1:
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
        removed = event.value
        if removed is self.points_layer:
            self.points_layer = None
        for role, layer in list(self.views.items()):
            if layer is removed:
                del self.views[role]
                if role != "oblique":
                    self.mpr_box.blockSignals(True)
                    self.mpr_box.setChecked(False)
                    self.mpr_box.blockSignals(False)
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
        self.pixel_mm.setValue(float(min(vol.spacing)))
        self.refresh()

    def _get_sampler(self, vol: ImageVolume) -> Any:
        if self._sampler_for != id(vol):
            self._sampler = make_sampler(vol)
            self._sampler_for = id(vol)
        return self._sampler

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

    # ---------------------------------------------------------------- current point
    def _record_click(self, viewer: Any, event: Any) -> None:
        vol = self.source_volume()
        if vol is None or event.type != "mouse_press":
            return
        pos = np.asarray(viewer.cursor.position, dtype=np.float64)[-3:]
        lo, hi = _world_bounds(vol)
        if np.all(pos[1:] >= lo[1:]) and np.all(pos[1:] <= hi[1:]):
            self._click_world = pos
            if self.mpr_box.isChecked():
                self.refresh_mpr()

    def current_point_lps(self) -> np.ndarray | None:
        """LPS mm of the MPR centre: slider z, (y, x) of the last click on the volume or its centre."""
        vol = self.source_volume()
        if vol is None:
            return None
        lo, hi = _world_bounds(vol)
        world = (lo + hi) / 2 if self._click_world is None else self._click_world.copy()
        world[0] = float(self.viewer.dims.point[-3]) if len(self.viewer.dims.point) >= 3 else world[0]
        return _lps_to_world(world)

    def _point_changed(self, event: Any = None) -> None:
        if self.mpr_box.isChecked():
            self.refresh_mpr()

    # ---------------------------------------------------------------- 2-D view layers
    def _slab(self) -> tuple[float, str]:
        return self.slab.value() * SLAB_STEP_MM, {"MIP": "mip", "mean": "mean", "MinIP": "minip"}[
            self.mode.currentText()]

    def _plane_shape(self) -> tuple[int, int]:
        n = max(8, int(round(self.fov_mm.value() / self.pixel_mm.value())))
        return (n, n)

    def _show(self, role: str, vol: ImageVolume, plane: Plane, slot: int, create: bool) -> Any:
        layer = self.views.get(role)
        if layer is not None and layer not in self.viewer.layers:
            layer = None
        if layer is None and not create:
            # only a user action adds a view; an event (point change, layer removal while the
            # viewer closes) must never re-add one, or close() re-adds what it just removed (issue 12.1)
            return None
        thickness, mode = self._slab()
        img = reslice(vol, plane, thickness_mm=thickness, mode=mode, sampler=self._get_sampler(vol))
        data = img.pixels[0]  # (rows, cols) view of the ImageVolume's pixels
        lo, hi = _world_bounds(vol)
        fov = plane.shape[1] * plane.pixel_mm
        translate = (float(lo[1]), float(hi[2] + GAP_MM + slot * (fov + GAP_MM)))
        meta = {VOLUME_KEY: img, PLANE_KEY: plane, ROLE_KEY: role}
        # the canvas-edge letters are hidden while views are shown side by side (each has its own
        # orientation), so every view names its own at the end of its layer name (kept visible in the list)
        edges = plane_labels(plane.u, plane.v)
        name = f"{role} ({vol.label}) top {edges['top']}, left {edges['left']}"
        if layer is None:
            kw = image_kwargs(vol)
            self.views[role] = layer = self.viewer.add_image(
                data, name=name, scale=(plane.pixel_mm, plane.pixel_mm), translate=translate,
                units=("mm", "mm"), axis_labels=("y", "x"), contrast_limits=kw["contrast_limits"],
                colormap=kw["colormap"], metadata=meta)
        else:
            layer.metadata.update(meta)
            if layer.name != name:
                layer.name = name
            layer.scale = (plane.pixel_mm, plane.pixel_mm)
            layer.translate = translate
            layer.data = data
        return layer

    def refresh_mpr(self, create: bool = False) -> None:
        """Update the orthogonal views shown; add the missing ones only when ``create`` (a user action)."""
        vol = self.source_volume()
        centre = self.current_point_lps()
        if vol is None or centre is None or self._busy:
            return
        self._busy = True  # adding a layer fires layers.inserted, which must not recurse into here
        try:
            for slot, name in enumerate(MPR_NAMES):
                plane = Plane.standard(name, centre, pixel_mm=self.pixel_mm.value(), shape=self._plane_shape())
                self._show(name, vol, plane, slot, create)
        finally:
            self._busy = False

    def _mpr_toggled(self, on: bool) -> None:
        if on:
            if self.source_volume() is None:
                _notify("Open a CT volume first.", "warning")
                return
            self.refresh_mpr(create=True)
        else:
            for name in MPR_NAMES:
                layer = self.views.pop(name, None)
                if layer is not None and layer in self.viewer.layers:
                    self.viewer.layers.remove(layer)

    # ---------------------------------------------------------------- oblique
    def start_oblique(self) -> Any:
        """Add (or select) the 2-point trajectory layer and show the oblique view; returns the layer."""
        vol = self.source_volume()
        if vol is None:
            _notify("Open a CT volume first.", "warning")
            return None
        if self.points_layer is None or self.points_layer not in self.viewer.layers:
            lo, hi = _world_bounds(vol)
            c = (lo + hi) / 2
            c[0] = float(self.viewer.dims.point[-3]) if len(self.viewer.dims.point) >= 3 else c[0]
            half = 0.2 * (hi[1] - lo[1])
            start = np.array([c - [0, half, 0], c + [0, half, 0]])  # an anterior-posterior line in this slice
            self.points_layer = self.viewer.add_points(
                start, name="trajectory (entry, target)", ndim=3, units=("mm", "mm", "mm"), size=3,
                face_color="yellow", border_color="black", text={"string": ["entry", "target"], "color": "yellow"},
                projection_mode="all")
            self.points_layer.events.set_data.connect(self._points_changed)
            self.points_layer.events.data.connect(self._points_changed)
            _notify("Drag the two points (entry, target) to move the oblique view; it follows live.")
        self.refresh_oblique(create=True)
        return self.points_layer

    def trajectory_lps(self) -> tuple[np.ndarray, np.ndarray] | None:
        layer = self.points_layer
        if layer is None or len(layer.data) < 2:
            return None
        w = np.array([layer.data_to_world(p) for p in layer.data[:2]], dtype=np.float64)[:, -3:]
        entry, target = _lps_to_world(w[0]), _lps_to_world(w[1])
        if np.linalg.norm(target - entry) < 1e-6:
            return None
        return entry, target

    def _points_changed(self, event: Any = None) -> None:
        self.refresh_oblique()

    def refresh_oblique(self, create: bool = False) -> None:
        """Update the oblique view; add it only when ``create`` (a user action)."""
        vol = self.source_volume()
        line = self.trajectory_lps()
        if vol is None or line is None or self._busy:
            return
        plane = Plane.along_line(*line, angle_deg=float(self.angle.value()), pixel_mm=self.pixel_mm.value(),
                                 shape=self._plane_shape())
        self._busy = True
        try:
            self._show("oblique", vol, plane, 3 if self.mpr_box.isChecked() else 0, create)
        finally:
            self._busy = False

    def _angle_changed(self, value: int) -> None:
        self.angle_label.setText(f"{value} deg")
        self.refresh_oblique()

    def _slab_changed(self, value: int) -> None:
        t = value * SLAB_STEP_MM
        self.slab_label.setText("thin" if t == 0 else f"{t:g} mm")
        self.refresh()

    def refresh(self) -> None:
        """Recompute every view shown (after a change of source, slab, mode, field of view or pixel size)."""
        if self.mpr_box.isChecked():
            self.refresh_mpr()
        if "oblique" in self.views:
            self.refresh_oblique()
