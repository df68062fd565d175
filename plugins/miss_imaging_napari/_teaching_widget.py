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

import logging
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from miss_imaging.measurement import measurements_io
from miss_imaging import settings
from miss_imaging.sharing.deid import DeidReport, deidentify_series, find_identifiers, identifier_variants
from miss_imaging.sharing.export import CineReport, export_cine_gif, frame_times_ms, write_png
from miss_imaging.model import ImageVolume, Window
from miss_imaging.sharing.session import (
    Camera,
    DimsState,
    LayerWindow,
    RestoreReport,
    Session,
    load_session,
    save_session,
    series_ref,
)
from miss_imaging.display.window import contrast_limits_to_window

from . import _carm_widget as _carm
from . import _teaching
from ._layers import SOURCE_KEY, VOLUME_KEY

__all__ = ["TeachingWidget", "info_lines", "parse_regions", "snapshot_caption"]

_log = logging.getLogger("miss_imaging")
_CAPTION_KEY = "miss_imaging_caption"  # canvas overlay shown during a snapshot


def _camera(viewer: Any) -> Any:
    """napari >= 0.9: ``viewer.scene.camera`` (``viewer.camera`` is deprecated)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


_widgets: weakref.WeakSet[TeachingWidget] = weakref.WeakSet()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return " x ".join(_fmt(x) for x in v)
    return str(v)


def info_lines(volume: ImageVolume, *, window: Window | None = None, teaching: bool = True) -> list[str]:
    """The info panel's lines for `volume`.

    Technical attributes only; any value that contains one of the volume's
    own patient identifiers is left out (a device field typed with a name).
    In clinician mode (``teaching=False``) the patient banner line comes first.
    """
    idents = identifier_variants(volume.patient or {})
    md = volume.metadata or {}
    lines = [f"Series: {volume.label}", f"Modality: {volume.modality or '?'}"]
    device = " ".join(str(md[k]) for k in ("Manufacturer", "ManufacturerModelName") if md.get(k))
    if device:
        lines.append(f"Device: {device}")
    tech = []
    if md.get("KVP") is not None:
        tech.append(f"{_fmt(md['KVP'])} kV")
    if md.get("XRayTubeCurrent") is not None:
        tech.append(f"{_fmt(md['XRayTubeCurrent'])} mA")
    if tech:
        lines.append("Technique: " + ", ".join(tech))
    shape = " x ".join(str(s) for s in volume.shape)
    if volume.kind == "volume":
        lines.append(f"Size: {shape} (slices x rows x cols)")
        lines.append(f"Spacing: {volume.spacing[0]:.4g} mm between slices, "
                     f"{volume.spacing[1]:.4g} x {volume.spacing[2]:.4g} mm in plane (row x col)")
    else:
        lines.append(f"Size: {shape} (frames x rows x cols)")
        unit = "px" if volume.calibration == "pixels only" else "mm"
        lines.append(f"Pixel spacing: {volume.spacing[1]:.4g} x {volume.spacing[2]:.4g} {unit} (row x col)")
        tags = volume.projection
        if tags is not None and tags.imager_pixel_spacing:
            lines.append(f"Detector spacing: {_fmt(tuple(tags.imager_pixel_spacing))} mm")
        if tags is not None and tags.ermf:
            lines.append(f"ERMF: {tags.ermf:g}")
        if tags is not None and tags.sid and tags.sod:
            lines.append(f"SID / SOD: {tags.sid:g} / {tags.sod:g} mm")
    lines.append(f"Calibration: {volume.calibration}")
    if volume.burned_in_annotation:
        lines.append("Burned-in annotation: YES (text masked in teaching mode and in every export)")
    if volume.kind == "projection" and volume.shape[0] > 1:
        durations, _warn = frame_times_ms(volume)
        has_timing = volume.projection is not None and (
            volume.projection.frame_time_ms or volume.projection.frame_time_vector_ms)
        rate = 1000.0 / float(np.mean(durations))
        lines.append(f"Frame rate: {rate:.3g} frames/s" + ("" if has_timing else " (assumed: no timing tags)"))
    if window is not None:
        lines.append(f"Window: C {window.center:g} / W {window.width:g} ({window.function})")
    lines = [ln for ln in lines if not find_identifiers(ln, idents)]
    if not teaching:
        lines.insert(0, "Patient: " + _teaching.banner_text(volume))
    return lines


def parse_regions(text: str) -> list[tuple[int, int, int, int]] | None:
    """Blank-region field: ``""``/``"auto"`` -> None (burned-in text found automatically),
    ``"none"`` -> [] (no blanking), else ``"row0,col0,row1,col1; ..."`` (pixels, end excluded).

    Examples
    --------
    >>> parse_regions("4,3,35,104; 0,0,10,10"), parse_regions(" auto "), parse_regions("none")
    ([(4, 3, 35, 104), (0, 0, 10, 10)], None, [])
    """
    t = text.strip().lower()
    if t in ("", "auto"):
        return None
    if t == "none":
        return []
    out = []
    for part in t.split(";"):
        if part.strip():
            vals = [int(v) for v in part.replace(" ", "").split(",")]
            if len(vals) != 4:
                raise ValueError(f"blank region {part.strip()!r}: expected row0,col0,row1,col1")
            out.append((vals[0], vals[1], vals[2], vals[3]))
    return out


def snapshot_caption(volume: ImageVolume, calibration_label: str | None, world_point: Any) -> str:
    """Text shown beside napari's scale bar in a snapshot: what its mm rest on, and where the picture is.

    Parameters
    ----------
    volume : ImageVolume
        The displayed volume.
    calibration_label : str or None
        Projections: the calibration in force (``_ruler.current_calibration``).
    world_point : sequence of float
        ``viewer.dims.point``: ``(z, y, x)`` LPS mm for a CT volume (axial
        view), ``(frame, row mm, col mm)`` for a projection.

    Examples
    --------
    >>> import numpy as np
    >>> ct = ImageVolume(np.zeros((3, 2, 2)), (2, 1, 1), np.eye(4), "volume", modality="CT")
    >>> snapshot_caption(ct, None, (12.0, 0, 0))
    'slice z = 12.0 mm (LPS)'
    """
    p = [float(v) for v in world_point]
    if volume.kind == "projection":
        frame = int(round(p[-3])) if len(p) >= 3 else 0
        where = f"frame {frame} of 0-{volume.shape[0] - 1}\n" if volume.shape[0] > 1 else ""
        cal = calibration_label or volume.calibration
        return where + ("scale bar in pixels (pixels only)" if cal == "pixels only" else f"scale bar: mm {cal}")
    if len(p) >= 3:
        return f"slice z = {p[-3]:.1f} mm (LPS)"
    return ""


PLANE_KEY = "miss_imaging_plane"  # reslice view layers (see _reslice_widget)
ROLE_KEY = "miss_imaging_reslice_role"


def _plane_entry(layer: Any, vol: ImageVolume, md: dict) -> dict:
    """Session record of a reslice view layer: its plane, slab and display placement."""
    import dataclasses

    plane = md[PLANE_KEY]
    rs = (vol.metadata or {}).get("reslice", {})
    return {
        "series_uid": vol.series_uid,
        "role": md.get(ROLE_KEY, "oblique"),
        "name": layer.name,
        "plane": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(plane).items()},
        "thickness_mm": float(rs.get("thickness_mm", 0.0)),
        "mode": "mip" if rs.get("mode", "thin") == "thin" else str(rs["mode"]),
        "order": int(rs.get("order", 1)),
        "translate": [float(t) for t in layer.translate],
        "contrast_limits": [float(c) for c in layer.contrast_limits],
    }


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
            ("De-identified DICOM export...", self._ask_export),
            ("Annotated snapshot (PNG)...", self._ask_snapshot),
            ("Cine clip (GIF)...", self._ask_cine),
            ("Save session...", self._ask_save_session),
            ("Restore session...", self._ask_restore_session),
            ("Save annotated image as DICOM...", self._ask_capture),
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

    def _layer_window(self, layer: Any, vol: ImageVolume) -> Window:
        func = vol.windows[0].function if vol.windows else "LINEAR"
        c, w = contrast_limits_to_window(*layer.contrast_limits, function=func)
        return Window(c, w, "current display", func)

    def refresh_info(self, event: Any = None) -> None:
        """Rewrite the info panel for the active layer and mode."""
        layer, vol = _teaching.active_volume(self.viewer)
        if vol is None:
            self.info.setPlainText("No miss-imaging series open.")
            return
        shown = layer.metadata.get(VOLUME_KEY, vol)
        self.info.setPlainText("\n".join(info_lines(shown, window=self._layer_window(layer, shown),
                                                    teaching=settings.get_teaching_mode())))

    def _active(self, *, projection: bool = False) -> tuple[Any, ImageVolume, ImageVolume]:
        layer, vol = _teaching.active_volume(self.viewer)
        if layer is None or vol is None:
            raise ValueError("no miss-imaging image layer: open a DICOM series first")
        shown = layer.metadata.get(VOLUME_KEY, vol)
        if projection and (shown.kind != "projection" or shown.shape[0] < 2):
            raise ValueError(f"{shown.label} is not a multi-frame fluoro run: select a cine layer")
        return layer, shown, layer.metadata.get(SOURCE_KEY, shown)

    def _measurements(self, image_layer: Any) -> list[Any]:
        from . import _ruler

        out = []
        for lay in _ruler.tool_layers(self.viewer, image_layer):
            out += [r.measurement for r in _ruler.results(lay) if r.measurement is not None]
        return out

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
        """PNG of the canvas with scale bar (and its calibration), orientation letters, slice position and
        measurement labels; never the banner."""
        from . import _orientation

        viewer = self.viewer
        overlays = viewer.canvas.overlays
        bar = overlays["scale_bar"] if "scale_bar" in overlays else None
        was = bar.visible if bar is not None else None
        try:
            if bar is not None:
                bar.visible = True
            _orientation.update(viewer)
            self._show_caption()
            with _teaching.banner_hidden(viewer), _teaching.text_masks_shown(viewer):
                image = viewer.screenshot(canvas_only=True, flash=False)
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

        from . import _ruler

        layer, vol = _teaching.active_volume(self.viewer)
        if layer is None:
            return
        shown = layer.metadata.get(VOLUME_KEY, vol)
        cal = _ruler.current_calibration(layer)
        point = self.viewer.dims.point if layer.ndim == 3 and tuple(self.viewer.dims.displayed) == (1, 2) else ()
        text = snapshot_caption(shown, cal.label if cal is not None else None, point)
        if text:
            self.viewer.canvas.overlays[_CAPTION_KEY] = TextOverlay(
                text=text, position="bottom_right", visible=True, font_size=10, color="white", box=True)

    def export_cine(self, path: str | Path, *, width_px: int = 512) -> CineReport:
        """Animated GIF of the active fluoro run at its frame rate, with overlays (blank regions from the field)."""
        from miss_imaging.measurement.measure import calibrated_volume

        from . import _ruler

        layer, shown, _ = self._active(projection=True)
        shown = calibrated_volume(shown, _ruler.current_calibration(layer))  # scale bar of the calibration in force
        report = export_cine_gif(shown, path, window=self._layer_window(layer, shown),
                                 measurements=self._measurements(layer), width_px=width_px,
                                 blank_regions=parse_regions(self.regions.text()))
        self.status.setText(
            f"cine written: {report.n_frames} frames at {report.gif_fps:.3g} frames/s "
            f"(acquired {report.source_fps:.3g})" + "".join(f"\n{w}" for w in report.warnings)
        )
        return report

    def current_session(self) -> Session:
        """The viewer's state as a :class:`~miss_imaging.sharing.session.Session`."""
        viewer = self.viewer
        session = Session(teaching_mode=settings.get_teaching_mode())
        seen: set[str] = set()
        for layer in viewer.layers:
            md = getattr(layer, "metadata", None) or {}
            vol = md.get(VOLUME_KEY)
            if not isinstance(vol, ImageVolume):
                continue
            if _carm.session_entry(layer) is not None:  # a C-arm shot: its pose, recomputed on restore
                session.carm_shots.append(_carm.session_entry(layer))
                continue
            if PLANE_KEY in md:  # a reslice view: saved as a plane of its series, rebuilt on restore
                session.planes.append(_plane_entry(layer, vol, md))
                session.measurements += [dict(measurements_io.to_dict(m), on_plane=layer.name)
                                         for m in self._measurements(layer)]
                continue
            source = md.get(SOURCE_KEY, vol)
            if source.series_uid in seen:
                continue
            src_path = getattr(getattr(layer, "source", None), "path", None)
            try:
                ref = series_ref(source, path=src_path)
            except Exception as exc:  # a volume without files (e.g. computed): cannot be reopened
                _log.warning("%s not saved in the session: %s", vol.label, exc)
                continue
            seen.add(source.series_uid)
            session.series.append(ref)
            w = self._layer_window(layer, vol)
            session.windows[source.series_uid] = LayerWindow(
                w.center, w.width, w.function, tuple(float(v) for v in layer.contrast_limits),
                float(layer.gamma), str(layer.colormap.name), bool(layer.visible), float(layer.opacity))
            session.measurements += [measurements_io.to_dict(m) for m in self._measurements(layer)]
        active, vol = _teaching.active_volume(viewer)
        session.active_series = None if vol is None else vol.series_uid
        cam = _camera(viewer)
        session.camera = Camera(tuple(float(v) for v in cam.center), float(cam.zoom),
                                tuple(float(v) for v in cam.angles), float(getattr(cam, "perspective", 0.0)))
        session.dims = DimsState(tuple(float(v) for v in viewer.dims.point), int(viewer.dims.ndisplay),
                                 tuple(int(v) for v in viewer.dims.order))
        return session

    def save_session(self, path: str | Path) -> Path:
        """Write the current session as versioned JSON."""
        out = save_session(self.current_session(), path)
        self.status.setText(f"session saved: {out.name}")
        return out

    def _layer_for(self, series_uid: str) -> Any:
        for layer in self.viewer.layers:
            md = getattr(layer, "metadata", {}) or {}
            if PLANE_KEY in md:
                continue
            vol = md.get(SOURCE_KEY) or md.get(VOLUME_KEY)
            if isinstance(vol, ImageVolume) and vol.series_uid == series_uid:
                return layer
        return None

    def _open(self, path: Path, series_uid: str) -> Any:
        from miss_imaging.reading.dicom_scan import scan
        from miss_imaging.reading.loader import load

        from ._layers import layer_data

        info = next((s for s in scan(path) if s.series_uid == series_uid), None)
        if info is None:
            return None
        data, kwargs, _ = layer_data(load(info))
        return self.viewer.add_image(data, **kwargs)

    def restore_session(self, path: str | Path) -> RestoreReport:
        """Reopen the series of a session and put back windows, measurements, camera and dims.

        Teaching mode is switched on if the session was saved with it, but a
        session never switches it off (restoring must not reveal a patient).
        """
        from . import _ruler

        session, report = load_session(path)
        if session.teaching_mode and not settings.get_teaching_mode():
            settings.set_teaching_mode(True)
        elif not session.teaching_mode and settings.get_teaching_mode():
            report.notes.append("saved in clinician mode; teaching mode left on (turn it off yourself if needed)")
        for ref in session.series:
            where = report.path_for(ref.series_uid)
            if where is None:
                continue
            layer = self._layer_for(ref.series_uid)
            if layer is None:
                try:
                    layer = self._open(where, ref.series_uid)
                except Exception as exc:
                    report.problems.append(f"not restored: {ref.label} could not be loaded from {where}: {exc}")
                    continue
            if layer is None:
                report.problems.append(f"not restored: {ref.label} not found in {where}")
                continue
            w = session.windows.get(ref.series_uid)
            if w is not None:
                if w.contrast_limits is not None:
                    layer.contrast_limits = w.contrast_limits
                layer.gamma, layer.visible, layer.opacity = w.gamma, w.visible, w.opacity
                try:
                    layer.colormap = w.colormap
                except Exception:
                    report.problems.append(f"not restored: colormap {w.colormap!r} of {ref.label}")
        for p in session.planes:
            self._restore_plane(p, report)
        for entry in session.carm_shots:
            ct = self._layer_for(str(entry.get("series_uid", "")))
            try:
                if ct is not None:
                    _carm.restore_shot(self.viewer, ct, entry)
            except Exception as exc:
                report.problems.append(f"not restored: C-arm shot: {exc}")
        for d in session.measurements:
            layer = (self._plane_layer(str(d["on_plane"])) if d.get("on_plane")
                     else self._layer_for(str(d.get("series_uid", ""))))
            if layer is None:
                continue  # the series is missing: already reported by load_session
            saved = measurements_io.from_dict(d)
            cal = saved.calibration_detail
            try:
                if cal is not None and cal.source == "user" and _ruler.layer_calibration(layer) is None:
                    _ruler.apply_user_calibration(self.viewer, layer, cal)  # the series' calibration comes back too
                _, res = _ruler.add_measurement(self.viewer, layer, saved.kind, saved.points_index, name=saved.name)
            except Exception as exc:
                report.problems.append(f"not restored: measurement {saved.name!r}: {exc}")
                continue
            if res.measurement is None:
                report.problems.append(f"not restored: measurement {saved.name!r}: {res.error}")
            elif abs(res.measurement.value - saved.value) > 1e-6 * max(1.0, abs(saved.value)):
                report.problems.append(
                    f"changed: measurement {saved.name!r} now reads {res.measurement.text} (saved {saved.text})")
        if session.dims is not None:
            dims = self.viewer.dims
            if len(session.dims.order) == dims.ndim:
                dims.order = session.dims.order
            dims.ndisplay = session.dims.ndisplay
            if len(session.dims.point) == dims.ndim:
                for axis, value in enumerate(session.dims.point):
                    dims.set_point(axis, value)
            else:
                report.problems.append("not restored: slice position (the open layers have other dimensions)")
        if session.camera is not None:
            cam = _camera(self.viewer)
            if len(session.camera.center) in (2, 3):
                cam.center = session.camera.center
            cam.zoom = session.camera.zoom
            cam.angles = session.camera.angles
            if hasattr(cam, "perspective"):
                cam.perspective = session.camera.perspective
        if session.active_series:
            layer = self._layer_for(session.active_series)
            if layer is not None:
                self.viewer.layers.selection.active = layer
        self.status.setText("session restored" if report.ok else "session restored with problems:\n"
                            + "\n".join(report.problems))
        return report

    def _plane_layer(self, name: str) -> Any:
        return next((lay for lay in self.viewer.layers if lay.name == name and PLANE_KEY in lay.metadata), None)

    def _restore_plane(self, p: dict, report: RestoreReport) -> None:
        from miss_imaging.spatial.reslicing import Plane, reslice

        source_layer = self._layer_for(str(p.get("series_uid", "")))
        if source_layer is None:
            return  # missing series: already reported by load_session
        md = source_layer.metadata
        source = md.get(SOURCE_KEY) or md[VOLUME_KEY]
        try:
            plane = Plane(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["plane"].items()})
            img = reslice(source, plane, thickness_mm=float(p.get("thickness_mm", 0.0)), mode=p.get("mode", "mip"),
                          order=int(p.get("order", 1)))
        except Exception as exc:
            report.problems.append(f"not restored: {p.get('role', 'oblique')} plane of {source.label}: {exc}")
            return
        meta = {VOLUME_KEY: img, PLANE_KEY: plane, ROLE_KEY: p.get("role", "oblique")}
        self.viewer.add_image(
            img.pixels[0], name=str(p.get("name") or f"{p.get('role', 'oblique')} ({source.label})"),
            scale=(plane.pixel_mm, plane.pixel_mm), translate=tuple(p.get("translate", (0.0, 0.0))),
            units=("mm", "mm"), axis_labels=("y", "x"), contrast_limits=tuple(p["contrast_limits"]),
            colormap=source_layer.colormap, metadata=meta)

    # ------------------------------------------------------------------ dialogs (thin)
    def _run(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:
            from napari.utils.notifications import show_error

            from ._teaching import strip_folders

            message = strip_folders(str(exc))  # errors name the source file: no case folder in teaching mode
            self.status.setText(f"failed: {message}")
            show_error(message)

    def _ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Empty folder for the de-identified copy")
        if folder:
            self._run(self.export_deidentified, folder)

    def _ask_snapshot(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Snapshot", "figure.png", "PNG (*.png)")
        if path:
            self._run(self.save_snapshot, path)

    def _ask_cine(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Cine clip", "run.gif", "GIF (*.gif)")
        if path:
            self._run(self.export_cine, path)

    def _ask_save_session(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", "case.miss-session.json", "JSON (*.json)")
        if path:
            self._run(self.save_session, path)

    def save_annotated_dicom(self, path: str | Path) -> str:
        """Annotated Secondary Capture of the active layer (whole run for a fluoro cine) in its study."""
        from . import _sr_io

        layer, shown, _ = self._active()
        text = _sr_io.save_layer_capture(self.viewer, layer, path, window=self._layer_window(layer, shown),
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

    def _ask_capture(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Annotated image (DICOM)", "annotated_sc.dcm", "DICOM (*.dcm)")
        if path:
            self._run(self.save_annotated_dicom, path)

    def _ask_flag(self) -> None:
        from qtpy.QtWidgets import QInputDialog

        note, ok = QInputDialog.getText(self, "Flag for teaching", "Note (no patient names):")
        if not ok:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Key Object Selection (DICOM)", "for_teaching_ko.dcm", "DICOM (*.dcm)")
        if path:
            self._run(self.flag_for_teaching, path, note)

    def _ask_restore_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Restore session", "", "JSON (*.json)")
        if path:
            self._run(self.restore_session, path)
