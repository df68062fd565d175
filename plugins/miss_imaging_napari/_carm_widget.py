"""C-arm dock widget: a virtual fluoroscopy shot (DRR) of the open CT, turned like a real C-arm.

Thin adapter over :mod:`miss_imaging.carm`.  The shot is a 2-D image layer
placed beside the CT (like the reslice views: a 2-D layer in a 3-D viewer is
drawn on every slice); its data is the DRR's single frame, its scale the
magnification-corrected (ERMF) pixel size, and
``layer.metadata["miss_imaging_volume"]`` holds the projection ImageVolume
(tags SID, SOD, ERMF, angles), so rulers on it are measured and labelled as
on a real XA, with their off-isocentre range.

* Presets (AP, lateral, obliques, a cranial tilt that squares an endplate)
  and sliders for Positioner Primary Angle (LAO +), Secondary Angle
  (cranial +), SID and SOD.  While a slider is dragged the shot is rendered
  on a 4x-binned detector from a 2x-decimated CT (a coarse preview); on
  release at full size.
* The isocentre is the CT's centre, or the last point clicked on the CT
  ("Isocentre at last click").
* Points and lines drawn on the CT (trajectory points, rulers, planned
  screws) are projected into the shot with :meth:`CArm.project` as one
  Shapes layer ("C-arm projections") that follows every render.

The geometry decisions are Qt-free functions in :mod:`._carm_shot`
(``carm_for``, ``shot_translate``, ``project_world_points``), tested on their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.carm import PRESETS, CArm, drr
from miss_imaging.errors import MissImagingError
from miss_imaging.model import ImageVolume

from ._carm_shot import (PREVIEW_BINNING, ROLE_KEY, carm_for, decimated, project_world_points, shot_translate,
                         show_shot)
from ._layers import VOLUME_KEY

__all__ = ["CArmWidget"]

# --------------------------------------------------------------------------- widget


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"info": show_info, "warning": show_warning, "error": show_error}[level](message)


def _slider(lo: int, hi: int, value: int) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal, minimum=lo, maximum=hi, value=value)
    s.setTracking(True)
    return s


class CArmWidget(QWidget):
    """Virtual C-arm: presets, angle/SID/SOD sliders, a DRR beside the CT, CT marks projected into it.

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
        self.shot_layer: Any = None
        self.overlay_layer: Any = None
        self.shot: ImageVolume | None = None
        self.carm: CArm | None = None
        self._isocenter: np.ndarray | None = None
        self._busy = False

        self.source = QComboBox()
        self.preset = QComboBox()
        self.preset.addItems(list(PRESETS))
        self.apply_preset = QPushButton("Apply preset")
        self.primary = _slider(-180, 180, 0)
        self.secondary = _slider(-45, 45, 0)
        self.sid = _slider(700, 1300, 1000)
        self.sod = _slider(400, 1200, 750)
        self.labels = {k: QLabel() for k in ("primary", "secondary", "sid", "sod")}
        self.iso_button = QPushButton("Isocentre at last click")
        self.render_button = QPushButton("Take shot")
        self.info = QLabel("")
        self.info.setWordWrap(True)

        form = QFormLayout()
        form.addRow("CT", self.source)
        row = QHBoxLayout()
        row.addWidget(self.preset, 1)
        row.addWidget(self.apply_preset)
        form.addRow("Preset", row)
        for key, text, s in (("primary", "Primary (LAO +)", self.primary), ("secondary", "Secondary (cranial +)",
                                                                              self.secondary),
                             ("sid", "SID", self.sid), ("sod", "SOD", self.sod)):
            h = QHBoxLayout()
            h.addWidget(s, 1)
            h.addWidget(self.labels[key])
            form.addRow(text, h)
            s.valueChanged.connect(self._slider_moved)
            s.sliderReleased.connect(self.render)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.iso_button)
        layout.addWidget(self.render_button)
        layout.addWidget(self.info)
        layout.addStretch(1)

        # the patient cannot sit at the detector: SOD stays at least 50 mm below SID
        self.sid.valueChanged.connect(lambda v: self.sod.setMaximum(int(v) - 50))
        self.sod.setMaximum(self.sid.value() - 50)
        self.apply_preset.clicked.connect(self._apply_preset)
        self.iso_button.clicked.connect(self._isocenter_at_click)
        self.render_button.clicked.connect(self.render)
        self.viewer.layers.events.inserted.connect(self._fill_sources)
        self.viewer.layers.events.removed.connect(self._layer_removed)
        self.viewer.mouse_drag_callbacks.append(self._record_click)
        self.destroyed.connect(self._disconnect)
        self._click_world: np.ndarray | None = None
        self._sources: list[Any] = []
        self._watched: list[Any] = []
        self._update_labels()
        self._fill_sources()

    def _disconnect(self, *_: Any) -> None:
        for emitter, cb in ((self.viewer.layers.events.inserted, self._fill_sources),
                            (self.viewer.layers.events.removed, self._layer_removed)):
            try:
                emitter.disconnect(cb)
            except (RuntimeError, ValueError, TypeError):
                pass
        if self._record_click in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self._record_click)

    # ---------------------------------------------------------------- sources
    def _watch_marks(self) -> None:
        """Re-project when a CT point or line is added, moved or deleted (and when such a layer appears)."""
        new = [ly for ly in self.viewer.layers if type(ly).__name__ in ("Points", "Shapes")
               and ROLE_KEY not in ly.metadata and ly not in self._watched]
        for ly in new:
            ly.events.data.connect(self._marks_changed)
            self._watched.append(ly)
        if new:
            self._marks_changed()

    def _marks_changed(self, event: Any = None) -> None:
        if self.shot is not None:
            self.project_marks()

    def _fill_sources(self, event: Any = None) -> None:
        self._watch_marks()
        current = self.source_layer()
        layers = [ly for ly in self.viewer.layers if isinstance(ly.metadata.get(VOLUME_KEY), ImageVolume)
                  and ly.metadata[VOLUME_KEY].kind == "volume" and ly.metadata[VOLUME_KEY].shape[0] > 1]
        self.source.blockSignals(True)
        self.source.clear()
        self._sources = layers
        self.source.addItems([ly.name for ly in layers])
        if current in layers:
            self.source.setCurrentIndex(layers.index(current))
        self.source.blockSignals(False)

    def _layer_removed(self, event: Any) -> None:
        if event.value is self.shot_layer:
            self.shot_layer = None
        if event.value is self.overlay_layer:
            self.overlay_layer = None
        if event.value in self._watched:
            self._watched.remove(event.value)
            event.value.events.data.disconnect(self._marks_changed)
        self._fill_sources()

    def source_layer(self) -> Any:
        i = self.source.currentIndex() if hasattr(self, "source") else -1
        return self._sources[i] if 0 <= i < len(getattr(self, "_sources", [])) else None

    def source_volume(self) -> ImageVolume | None:
        """The displayed CT (on a regular grid: a tilted original was resampled for display)."""
        layer = self.source_layer()
        return None if layer is None else layer.metadata[VOLUME_KEY]

    # ---------------------------------------------------------------- controls
    def set_pose(self, primary: float, secondary: float, sid: float | None = None, sod: float | None = None) -> None:
        """Move the sliders (no render)."""
        for s, v in ((self.primary, primary), (self.secondary, secondary), (self.sid, sid), (self.sod, sod)):
            if v is not None:
                s.blockSignals(True)
                s.setValue(int(round(v)))
                s.blockSignals(False)
                if s is self.sid:
                    self.sod.setMaximum(self.sid.value() - 50)
        self._update_labels()

    def _apply_preset(self) -> None:
        self.set_pose(*PRESETS[self.preset.currentText()])
        self.render()

    def _update_labels(self) -> None:
        p, s = self.primary.value(), self.secondary.value()
        self.labels["primary"].setText(f"{abs(p)}° {'LAO' if p > 0 else 'RAO' if p < 0 else ''}".strip())
        self.labels["secondary"].setText(f"{abs(s)}° {'cranial' if s > 0 else 'caudal' if s < 0 else ''}".strip())
        self.labels["sid"].setText(f"{self.sid.value()} mm")
        self.labels["sod"].setText(f"{self.sod.value()} mm")

    def _slider_moved(self, _: int = 0) -> None:
        self._update_labels()
        dragging = any(s.isSliderDown() for s in (self.primary, self.secondary, self.sid, self.sod))
        self.render(preview=dragging)

    def _record_click(self, viewer: Any, event: Any) -> None:
        if event.type == "mouse_press":
            self._click_world = np.asarray(viewer.cursor.position, dtype=np.float64)[-3:]

    def _isocenter_at_click(self) -> None:
        if self._click_world is None:
            _notify("Click on the CT first (the point becomes the isocentre).", "warning")
            return
        self._isocenter = self._click_world[::-1].copy()  # world (z, y, x) -> LPS
        self.render()

    # ---------------------------------------------------------------- rendering
    def current_carm(self, preview: bool = False) -> CArm | None:
        vol = self.source_volume()
        if vol is None:
            return None
        sid, sod = float(self.sid.value()), float(self.sod.value())
        c = carm_for(vol, self.primary.value(), self.secondary.value(), sid, sod, self._isocenter)
        return c.binned(PREVIEW_BINNING) if preview else c

    def render(self, preview: bool = False) -> Any:
        """Compute the shot for the current controls and show it; returns the shot layer."""
        vol = self.source_volume()
        if vol is None:
            _notify("Open a CT volume first.", "warning")
            return None
        if self._busy:
            return self.shot_layer
        self._busy = True
        try:
            carm = self.current_carm(preview)
            shot = drr(decimated(vol, 2) if preview else vol, carm)
        except (MissImagingError, ValueError, MemoryError) as exc:
            _notify(f"C-arm shot failed: {exc}", "error")
            return None
        finally:
            self._busy = False
        self.carm, self.shot = carm, shot
        self._show(vol, shot, carm)
        self.project_marks()
        t = shot.projection
        self.info.setText(f"{shot.series_description}: SID {t.sid:g} mm, SOD {t.sod:g} mm, magnification "
                          f"(ERMF) {t.ermf:.3f}; pixel {shot.spacing[1]:.3f} mm at the isocentre"
                          + (" — preview" if preview else ""))
        return self.shot_layer

    def _show(self, vol: ImageVolume, shot: ImageVolume, carm: CArm) -> None:
        self.shot_layer = show_shot(self.viewer, vol, shot, carm, self.shot_layer)

    # ---------------------------------------------------------------- projections of CT marks
    def _marks(self) -> list[np.ndarray]:
        """World (z, y, x) polylines of the CT's points and lines (one array per mark)."""
        out: list[np.ndarray] = []
        for ly in self.viewer.layers:
            if ly is self.overlay_layer or ly is self.shot_layer or ROLE_KEY in ly.metadata:
                continue
            kind = type(ly).__name__
            if kind == "Points" and ly.ndim == 3 and len(ly.data):
                out += [np.asarray(ly.data_to_world(p), dtype=np.float64)[None, :] for p in np.asarray(ly.data, dtype=np.float64)]
            elif kind == "Shapes" and ly.ndim == 3:
                out += [np.array([np.asarray(ly.data_to_world(v), dtype=np.float64) for v in s]) for s in ly.data]
        return out

    def project_marks(self) -> Any:
        """Project the CT's points and lines into the shot (a Shapes layer; points as short crosses)."""
        if self.shot is None or self.carm is None:
            return None
        vol = self.source_volume()
        marks = self._marks()
        if vol is None or not marks:
            if self.overlay_layer is not None and self.overlay_layer in self.viewer.layers:
                self.overlay_layer.data = []  # every mark was deleted
            return self.overlay_layer
        t = shot_translate(vol)
        shapes, types = [], []
        for m in marks:
            p = project_world_points(self.carm, self.shot, t, m)
            if len(p) == 1:  # a point: a small cross (two lines) so it shows at any zoom
                d = 3.0
                shapes += [p + [[-d, -d], [d, d]] * np.ones((2, 2)), p + [[-d, d], [d, -d]]]
                types += ["line", "line"]
            else:
                shapes.append(p)
                types.append("line" if len(p) == 2 else "path")
        if self.overlay_layer is None or self.overlay_layer not in self.viewer.layers:
            self.overlay_layer = self.viewer.add_shapes(shapes, shape_type=types, edge_color="yellow", edge_width=1.0,
                                                        name="C-arm projections", metadata={ROLE_KEY: "projections"},
                                                        units=("mm", "mm"))  # the shot's world (napari: one unit)
        else:
            self.overlay_layer.data = []
            self.overlay_layer.add(shapes, shape_type=types, edge_color="yellow", edge_width=1.0)
        return self.overlay_layer
