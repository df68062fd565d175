"""Teaching and export dock widget.

* Teaching-mode toggle (persisted by :mod:`miss_imaging.settings`; the
  patient banner of :mod:`._teaching` follows it).
* Info panel: technical attributes of the active series only (modality,
  device, kV/mA, spacing, calibration, frame rate, window); in clinician mode
  the patient line is added on top.
* Buttons, each a thin wrapper over a method that tests call with a path:
  :meth:`TeachingWidget.export_deidentified` (PS3.15 Basic Profile copy of the
  active series), :meth:`TeachingWidget.save_snapshot` (PNG of the canvas with
  orientation letters, scale bar and measurement labels; the banner is hidden
  for the capture even in clinician mode; no PNG metadata),
  :meth:`TeachingWidget.export_cine` (GIF of the active fluoro run at its
  frame rate), :meth:`TeachingWidget.save_session` /
  :meth:`TeachingWidget.restore_session`.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from miss_imaging import settings
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.deid import DeidReport, deidentify_series
from miss_imaging.sharing.export import CineReport, export_cine_gif, write_png
from miss_imaging.sharing.session import RestoreReport, Session, save_session

from . import _napari_private, _session_io, _teaching
from ._file_dialogs import ask_path, asking
from ._layers import SOURCE_KEY, VOLUME_KEY
from ._measure_layers import layer_measurements
from ._teaching_info import info_lines, layer_window, parse_regions, snapshot_caption

__all__ = ["TeachingWidget"]

_CAPTION_KEY = "miss_imaging_caption"  # canvas overlay shown during a snapshot
_widgets: weakref.WeakSet[TeachingWidget] = weakref.WeakSet()


@contextlib.contextmanager
def _series_only(viewer: Any, layer: Any) -> Iterator[None]:
    """Show only `layer`'s series (other images and their overlays hidden) on a frame of it; restore after."""
    from . import _framing, _snapshot, _status

    hidden = _snapshot.layers_to_hide(layer, list(viewer.layers), _status.is_plugin_image) if layer is not None else []
    point = tuple(viewer.dims.point)
    with _framing.suspended(viewer):  # these hide/show steps are not the user's: the camera stays
        try:
            for lay in hidden:
                lay.visible = False
            if layer is not None and not _status.show_a_frame(viewer, layer):
                _framing.slider_into(viewer, layer)  # a CT at a slider position outside it is a black picture
            yield
        finally:
            for lay in hidden:
                lay.visible = True
            if tuple(viewer.dims.point) != point:
                viewer.dims.point = point


def _capture_extent(viewer: Any, layer: Any, *, blank_text: bool = False) -> Any:
    """Canvas picture of `layer`'s whole 2-D extent at >= 1 screen pixel per image pixel (camera restored).

    `blank_text` blacks out `layer`'s detected burned-in text boxes in the picture itself, whatever
    the mask layer's state (a hidden or buried mask let the patient's name into the snapshot).
    """
    from . import _snapshot

    if layer is None or viewer.dims.ndisplay != 2:
        return viewer.screenshot(canvas_only=True, flash=False)
    shown = list(viewer.dims.displayed)
    axes = [layer.ndim - viewer.dims.ndim + a for a in shown]
    if min(axes) < 0:
        return viewer.screenshot(canvas_only=True, flash=False)
    ext = np.asarray(layer.extent.world, dtype=np.float64)
    size, center, zoom = _snapshot.fit_view(ext[0, axes], ext[1, axes], np.asarray(layer.extent.step)[axes])
    camera = viewer.camera
    old_center, old_zoom = camera.center, camera.zoom
    try:
        camera.center = center
        camera.zoom = zoom
        # RGB only: an offscreen canvas of another size comes back with alpha 0, which the PNG writer
        # composites to black
        picture = np.asarray(viewer.screenshot(size=size, canvas_only=True, flash=False))[..., :3]
        in_plane = blank_text and axes == [layer.ndim - 2, layer.ndim - 1]  # boxes are (row, col) of the last 2 axes
        boxes = _teaching.mask_rects(layer, _teaching.text_regions(layer)) if in_plane else []
        return _snapshot.blank_world_boxes(picture, boxes, center, zoom)
    finally:
        camera.center, camera.zoom = old_center, old_zoom


def _on_mode(on: bool) -> None:
    for w in list(_widgets):
        try:
            w._sync_mode(on)
        except RuntimeError:  # Qt object already deleted
            pass


class TeachingWidget(QWidget):
    """Teaching mode, technical info and exports for the active miss-imaging layer."""

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        from ._docking import tabify_when_docked

        tabify_when_docked(self)  # a tab beside the plugin's other docks, not a new row (canvas keeps its size)
        self.viewer = napari_viewer
        _teaching.attach(napari_viewer)

        self.teaching = QCheckBox("Teaching mode (hide patient identity)")
        self.teaching.setChecked(settings.get_teaching_mode())
        self.teaching.setToolTip("On: nothing shown carries patient identifiers. Off: patient banner for clinical use.")
        self.teaching.toggled.connect(self._on_toggle)
        self.info = QPlainTextEdit()
        self.info.setReadOnly(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.regions = QLineEdit()
        self.regions.setPlaceholderText("auto: burned-in text found in flagged images")
        self.regions.setToolTip("Pixel boxes to blank in exports: row0,col0,row1,col1; ...  "
                                "(empty/auto: detected burned-in text; none: no blanking)")

        layout = QVBoxLayout(self)
        layout.addWidget(self.teaching)
        layout.addWidget(self.info)
        layout.addWidget(QLabel("Blank regions (DICOM export and cine):"))
        layout.addWidget(self.regions)
        for text, slot in (
            ("De-identified DICOM export...", self._asking("folder", "Empty folder for the de-identified copy", "", "",
                                                          self.export_deidentified)),
            ("Annotated snapshot (PNG)...", self._asking("save", "Snapshot", "figure.png", "PNG (*.png)",
                                                         self.save_snapshot)),
            ("Cine clip (GIF)...", self._asking("save", "Cine clip", "run.gif", "GIF (*.gif)", self.export_cine)),
            ("Save session...", self._asking("save", "Save session", "case.miss-session.json", "JSON (*.json)",
                                             self.save_session)),
            ("Restore session...", self._asking("open", "Restore session", "", "JSON (*.json)", self.restore_session)),
            ("Save annotated image as DICOM...", self._asking("save", "Annotated image (DICOM)", "annotated_sc.dcm",
                                                              "DICOM (*.dcm)", self.save_annotated_dicom)),
            ("Flag for teaching...", self._ask_flag),
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            layout.addWidget(b)
        layout.addWidget(self.status)

        _widgets.add(self)
        settings.add_listener(_on_mode)
        napari_viewer.layers.events.inserted.connect(self.refresh_info)
        napari_viewer.layers.events.removed.connect(self.refresh_info)
        napari_viewer.layers.selection.events.active.connect(self.refresh_info)
        self.refresh_info()

    # ------------------------------------------------------------------ mode and info
    def _on_toggle(self, checked: bool) -> None:
        settings.set_teaching_mode(bool(checked))  # listeners update banner, info and other widgets

    def _sync_mode(self, on: bool) -> None:
        if self.teaching.isChecked() != on:
            self.teaching.blockSignals(True)
            self.teaching.setChecked(on)
            self.teaching.blockSignals(False)
        self.refresh_info()

    def refresh_info(self, event: Any = None) -> None:
        """Rewrite the info panel for the active layer and mode."""
        layer, vol = _teaching.active_volume(self.viewer)
        if vol is None:
            self.info.setPlainText("No miss-imaging series open.")
            return
        shown = layer.metadata.get(VOLUME_KEY, vol)
        self.info.setPlainText("\n".join(info_lines(shown, window=layer_window(layer, shown),
                                                    teaching=settings.get_teaching_mode())))

    def _active(self, *, projection: bool = False) -> tuple[Any, ImageVolume, ImageVolume]:
        layer, vol = _teaching.active_volume(self.viewer)
        if layer is None or vol is None:
            raise ValueError("no miss-imaging image layer: open a DICOM series first")
        shown = layer.metadata.get(VOLUME_KEY, vol)
        if projection and (shown.kind != "projection" or shown.shape[0] < 2):
            raise ValueError(f"{shown.label} is not a multi-frame fluoro run: select a cine layer")
        return layer, shown, layer.metadata.get(SOURCE_KEY, shown)

    # ------------------------------------------------------------------ actions (callable from tests)
    def export_deidentified(self, out_dir: str | Path, *, blank_regions: Any = "field") -> DeidReport:
        """De-identified copy of the active series' source files into `out_dir` (empty or new).

        `blank_regions` defaults to the widget's field (see :func:`parse_regions`).
        """
        if isinstance(blank_regions, str) and blank_regions == "field":
            blank_regions = parse_regions(self.regions.text())
        _, _, source = self._active()
        report = deidentify_series(source.files, out_dir, blank_regions=blank_regions,
                                   series_uid=source.series_uid or None)
        self.status.setText(report.summary())
        return report

    def save_snapshot(self, path: str | Path) -> Path:
        """PNG of the active series' whole image (its full extent, not the canvas crop) with scale bar (and its
        calibration), orientation letters, slice position or the run's own frame, and that series' measurement
        labels only; never the banner.  The view is restored afterwards."""
        from . import _orientation

        viewer = self.viewer
        overlays = viewer.canvas.overlays
        bar = overlays["scale_bar"] if "scale_bar" in overlays else None
        was = bar.visible if bar is not None else None
        layer, _ = _teaching.active_volume(viewer)
        try:
            if bar is not None:
                bar.visible = True
            with _series_only(viewer, layer):
                _orientation.update(viewer)
                self._show_caption()
                with _teaching.banner_hidden(viewer), _teaching.text_masks_shown(viewer), \
                        _napari_private.canvas_on_screen(viewer):
                    image = _capture_extent(viewer, layer, blank_text=True)
        finally:
            if bar is not None:
                bar.visible = was
            if _CAPTION_KEY in overlays:
                del overlays[_CAPTION_KEY]
        out = write_png(np.asarray(image), path)
        self.status.setText(f"snapshot written: {out.name}")
        return out

    def _show_caption(self) -> None:
        """A text overlay above the scale bar (overlays in one corner stack): calibration and position."""
        from napari.components.overlays import TextOverlay

        from . import _layer_geometry

        layer, vol = _teaching.active_volume(self.viewer)
        if layer is None:
            return
        shown = layer.metadata.get(VOLUME_KEY, vol)
        cal = _layer_geometry.current_calibration(layer)
        point = self.viewer.dims.point if layer.ndim == 3 and tuple(self.viewer.dims.displayed) == (1, 2) else ()
        if point and shown.kind == "projection":  # the run's own frame, not a world value shared with a CT
            point = (float(layer.world_to_data(point[-3:])[0]), *point[-2:])
        text = snapshot_caption(shown, cal.label if cal is not None else None, point)
        if text:
            self.viewer.canvas.overlays[_CAPTION_KEY] = TextOverlay(
                text=text, position="bottom_right", visible=True, font_size=10, color="white", box=True)

    def export_cine(self, path: str | Path, *, width_px: int = 512) -> CineReport:
        """Animated GIF of the active fluoro run at its frame rate, with overlays (blank regions from the field)."""
        from miss_imaging.measurement.measure import calibrated_volume

        from . import _layer_geometry

        layer, shown, _ = self._active(projection=True)
        shown = calibrated_volume(shown, _layer_geometry.current_calibration(layer))  # scale bar of the calibration in force
        report = export_cine_gif(shown, path, window=layer_window(layer, shown),
                                 measurements=layer_measurements(self.viewer, layer), width_px=width_px,
                                 blank_regions=parse_regions(self.regions.text()))
        self.status.setText(
            f"cine written: {report.n_frames} frames at {report.gif_fps:.3g} frames/s "
            f"(acquired {report.source_fps:.3g})" + "".join(f"\n{w}" for w in report.warnings)
        )
        return report

    def current_session(self) -> Session:
        """The viewer's state as a :class:`~miss_imaging.sharing.session.Session`."""
        return _session_io.current_session(self.viewer)

    def save_session(self, path: str | Path) -> Path:
        """Write the current session as versioned JSON."""
        out = save_session(self.current_session(), path)
        self.status.setText(f"session saved: {out.name}")
        return out

    def restore_session(self, path: str | Path) -> RestoreReport:
        """Reopen the series of a session and put back windows, measurements, camera and dims.

        Teaching mode is switched on if the session was saved with it, but a
        session never switches it off (restoring must not reveal a patient).
        """
        report = _session_io.restore_session(self.viewer, path)
        self.status.setText("session restored" if report.ok else "session restored with problems:\n"
                            + "\n".join(report.problems))
        return report

    # ------------------------------------------------------------------ dialogs (thin)
    def _asking(self, mode: str, title: str, default: str, filt: str, action: Any) -> Any:
        """A button slot: ask for a path, then run `action` on it (errors shown, see :meth:`_run`)."""
        return asking(self, mode, title, default, filt, lambda path: self._run(action, path))

    def _run(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            from napari.utils.notifications import show_error

            from ._teaching import strip_folders

            message = strip_folders(str(exc))  # errors name the source file: no case folder in teaching mode
            self.status.setText(f"failed: {message}")
            show_error(message)

    def save_annotated_dicom(self, path: str | Path) -> str:
        """Annotated Secondary Capture of the active layer (whole run for a fluoro cine) in its study."""
        from . import _sr_io

        layer, shown, _ = self._active()
        text = _sr_io.save_layer_capture(self.viewer, layer, path, window=layer_window(layer, shown),
                                         blank_regions=parse_regions(self.regions.text()))
        self.status.setText(text)
        return text

    def flag_for_teaching(self, path: str | Path, note: str = "") -> str:
        """Key Object Selection "For Teaching" of the active layer's current slice/frame, with a note."""
        from . import _sr_io

        layer, _, _ = self._active()
        text = _sr_io.flag_layer(self.viewer, layer, path, note=note)
        self.status.setText(text)
        return text

    def _ask_flag(self) -> None:
        from qtpy.QtWidgets import QInputDialog

        note, ok = QInputDialog.getText(self, "Flag for teaching", "Note (no patient names):")
        if not ok:
            return
        path = ask_path(self, "save", "Key Object Selection (DICOM)", "for_teaching_ko.dcm", "DICOM (*.dcm)")
        if path:
            self._run(self.flag_for_teaching, path, note)
