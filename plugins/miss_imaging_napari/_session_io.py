"""A napari viewer's state as a :class:`~miss_imaging.sharing.session.Session`, and back (no Qt).

:func:`current_session` reads the open series (with their windows), reslice
planes, C-arm shots, measurements, camera and dims; :func:`restore_session`
reopens the series and puts the rest back, each step reporting what it could
not restore in the :class:`~miss_imaging.sharing.session.RestoreReport`
instead of raising.  The Teaching widget calls these two and shows the report.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from miss_imaging import settings
from miss_imaging.measurement import measurements_io
from miss_imaging.measurement.measure import Measurement
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.session import (
    Camera,
    DimsState,
    LayerWindow,
    RestoreReport,
    Session,
    SeriesRef,
    load_session,
    series_ref,
)

from . import _carm_shot as _carm
from . import _teaching, _viewer_links
from ._layer_geometry import layer_calibration
from ._layers import SOURCE_KEY, VOLUME_KEY
from ._measure_layers import add_measurement, layer_measurements
from ._orientation import PLANE_KEY
from ._teaching_info import layer_window
from ._user_calibration import apply_user_calibration

__all__ = [
    "PLANE_KEY",
    "ROLE_KEY",
    "current_session",
    "restore_session",
    "teaching_mode_on_restore",
    "measurement_change",
]

ROLE_KEY = "miss_imaging_reslice_role"  # reslice view layers: "axial", "oblique", ...
_log = logging.getLogger("miss_imaging")


def _camera(viewer: Any) -> Any:
    """napari >= 0.9: ``viewer.scene.camera`` (``viewer.camera`` is deprecated)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


# --------------------------------------------------------------------------- decisions


def teaching_mode_on_restore(saved: bool, current: bool) -> tuple[bool, str | None]:
    """Teaching mode after restoring a session saved with `saved`, now `current`; and a note if kept on.

    A session switches teaching mode on, never off: restoring must not reveal a patient.

    Examples
    --------
    >>> teaching_mode_on_restore(True, False), teaching_mode_on_restore(False, False)
    ((True, None), (False, None))
    >>> teaching_mode_on_restore(False, True)[0]
    True
    """
    if saved or not current:
        return saved or current, None
    return True, "saved in clinician mode; teaching mode left on (turn it off yourself if needed)"


def measurement_change(saved: Measurement, now: Measurement | None, error: str | None) -> str | None:
    """The problem to report for a measurement placed again from a session, or None if it reads the same.

    Same means within 1e-6 relative (1e-6 absolute below 1): the same points on
    the same pixels give the same value unless the geometry or calibration changed.
    """
    if now is None:
        return f"not restored: measurement {saved.name!r}: {error}"
    if abs(now.value - saved.value) > 1e-6 * max(1.0, abs(saved.value)):
        return f"changed: measurement {saved.name!r} now reads {now.text} (saved {saved.text})"
    return None


# --------------------------------------------------------------------------- saving


def _plane_entry(layer: Any, vol: ImageVolume, md: dict) -> dict:
    """Session record of a reslice view layer: its plane, slab and display placement."""
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


def _add_series(session: Session, viewer: Any, layer: Any, vol: ImageVolume, seen: set[str]) -> None:
    """Record a source series layer once: its reference, window and measurements."""
    source = layer.metadata.get(SOURCE_KEY, vol)
    if source.series_uid in seen:
        return
    src_path = getattr(getattr(layer, "source", None), "path", None)
    try:
        ref = series_ref(source, path=src_path)
    except Exception as exc:  # a volume without files (e.g. computed): cannot be reopened
        _log.warning("%s not saved in the session: %s", vol.label, exc)
        return
    seen.add(source.series_uid)
    session.series.append(ref)
    w = layer_window(layer, vol)
    session.windows[source.series_uid] = LayerWindow(
        w.center, w.width, w.function, tuple(float(v) for v in layer.contrast_limits),
        float(layer.gamma), str(layer.colormap.name), bool(layer.visible), float(layer.opacity))
    session.measurements += [measurements_io.to_dict(m) for m in layer_measurements(viewer, layer)]


def current_session(viewer: Any) -> Session:
    """The viewer's state as a :class:`~miss_imaging.sharing.session.Session`."""
    session = Session(teaching_mode=settings.get_teaching_mode())
    seen: set[str] = set()
    for layer in viewer.layers:
        md = getattr(layer, "metadata", None) or {}
        vol = md.get(VOLUME_KEY)
        if not isinstance(vol, ImageVolume):
            continue
        shot = _carm.session_entry(layer)
        if shot is not None:  # a C-arm shot: its pose, recomputed on restore
            session.carm_shots.append(shot)
        elif PLANE_KEY in md:  # a reslice view: saved as a plane of its series, rebuilt on restore
            session.planes.append(_plane_entry(layer, vol, md))
            session.measurements += [dict(measurements_io.to_dict(m), on_plane=layer.name)
                                     for m in layer_measurements(viewer, layer)]
        else:
            _add_series(session, viewer, layer, vol, seen)
    _, vol = _teaching.active_volume(viewer)
    session.active_series = None if vol is None else vol.series_uid
    cam = _camera(viewer)
    session.camera = Camera(tuple(float(v) for v in cam.center), float(cam.zoom),
                            tuple(float(v) for v in cam.angles), float(getattr(cam, "perspective", 0.0)))
    session.dims = DimsState(tuple(float(v) for v in viewer.dims.point), int(viewer.dims.ndisplay),
                             tuple(int(v) for v in viewer.dims.order))
    ws = _viewer_links.workspace_of(viewer)
    session.workspace = None if ws is None else ws.session_entry()
    return session


# --------------------------------------------------------------------------- restoring


def layer_for(viewer: Any, series_uid: str) -> Any:
    """The viewer's layer showing series `series_uid` itself (not a reslice view of it), else None."""
    for layer in viewer.layers:
        md = getattr(layer, "metadata", {}) or {}
        if PLANE_KEY in md:
            continue
        vol = md.get(SOURCE_KEY) or md.get(VOLUME_KEY)
        if isinstance(vol, ImageVolume) and vol.series_uid == series_uid:
            return layer
    return None


def _plane_layer(viewer: Any, name: str) -> Any:
    return next((lay for lay in viewer.layers if lay.name == name and PLANE_KEY in lay.metadata), None)


def _open(viewer: Any, path: Path, series_uid: str) -> Any:
    from miss_imaging.reading.dicom_scan import scan
    from miss_imaging.reading.loader import load

    from ._layers import layer_data

    info = next((s for s in scan(path) if s.series_uid == series_uid), None)
    if info is None:
        return None
    data, kwargs, _ = layer_data(load(info))
    return viewer.add_image(data, **kwargs)


def _restore_window(layer: Any, w: LayerWindow, label: str, report: RestoreReport) -> None:
    if w.contrast_limits is not None:
        layer.contrast_limits = w.contrast_limits
    layer.gamma, layer.visible, layer.opacity = w.gamma, w.visible, w.opacity
    try:
        layer.colormap = w.colormap
    except Exception:
        report.problems.append(f"not restored: colormap {w.colormap!r} of {label}")


def _restore_series(viewer: Any, ref: SeriesRef, session: Session, report: RestoreReport) -> None:
    """Find or open one series of the session and put its window back."""
    where = report.path_for(ref.series_uid)
    if where is None:
        return  # missing: already reported by load_session
    layer = layer_for(viewer, ref.series_uid)
    if layer is None:
        try:
            layer = _open(viewer, where, ref.series_uid)
        except Exception as exc:
            report.problems.append(f"not restored: {ref.label} could not be loaded from {where}: {exc}")
            return
    if layer is None:
        report.problems.append(f"not restored: {ref.label} not found in {where}")
        return
    w = session.windows.get(ref.series_uid)
    if w is not None:
        _restore_window(layer, w, ref.label, report)


def _restore_plane(viewer: Any, p: dict, report: RestoreReport) -> None:
    """Rebuild a reslice view of a restored series from its plane record."""
    from miss_imaging.spatial.reslicing import Plane, reslice

    source_layer = layer_for(viewer, str(p.get("series_uid", "")))
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
    viewer.add_image(
        img.pixels[0], name=str(p.get("name") or f"{p.get('role', 'oblique')} ({source.label})"),
        scale=(plane.pixel_mm, plane.pixel_mm), translate=tuple(p.get("translate", (0.0, 0.0))),
        units=("mm", "mm"), axis_labels=("y", "x"), contrast_limits=tuple(p["contrast_limits"]),
        colormap=source_layer.colormap, metadata=meta)


def _restore_carm_shot(viewer: Any, entry: dict, report: RestoreReport) -> None:
    ct = layer_for(viewer, str(entry.get("series_uid", "")))
    try:
        if ct is not None:
            _carm.restore_shot(viewer, ct, entry)
    except Exception as exc:
        report.problems.append(f"not restored: C-arm shot: {exc}")


def _restore_measurement(viewer: Any, d: dict, report: RestoreReport) -> None:
    """Place a saved measurement again (with its user calibration) and report if it now reads otherwise."""
    layer = _plane_layer(viewer, str(d["on_plane"])) if d.get("on_plane") else layer_for(viewer, str(d.get("series_uid", "")))
    if layer is None:
        return  # the series is missing: already reported by load_session
    saved = measurements_io.from_dict(d)
    cal = saved.calibration_detail
    try:
        if cal is not None and cal.source == "user" and layer_calibration(layer) is None:
            apply_user_calibration(viewer, layer, cal)  # the series' calibration comes back too
        _, res = add_measurement(viewer, layer, saved.kind, saved.points_index, name=saved.name)
    except Exception as exc:
        report.problems.append(f"not restored: measurement {saved.name!r}: {exc}")
        return
    problem = measurement_change(saved, res.measurement, res.error)
    if problem:
        report.problems.append(problem)


def _restore_workspace(viewer: Any, entry: dict, report: RestoreReport) -> None:
    """Reopen the MPR workspace on its CT (and run) and put back its planes and measurements."""
    ct = layer_for(viewer, str(entry.get("series_uid", "")))
    if ct is None:
        report.problems.append("not restored: MPR workspace (its CT is not open)")
        return
    fluoro = layer_for(viewer, str(entry["fluoro_series_uid"])) if entry.get("fluoro_series_uid") else None
    from ._mpr_workspace import open_mpr  # Qt: only when a session had the workspace open

    try:
        ws = open_mpr(viewer, ct, fluoro=fluoro)
        ws.finish_loading()
        placed = ws.restore(entry)
    except Exception as exc:
        report.problems.append(f"not restored: MPR workspace: {exc}")
        return
    for saved, res, error in placed:
        problem = measurement_change(saved, None if res is None else res.measurement, error or (res and res.error))
        if problem:
            report.problems.append(problem)


def _restore_view(viewer: Any, session: Session, report: RestoreReport) -> None:
    """Dims (slice position, order, 2-D/3-D), camera and the active series."""
    if session.dims is not None:
        dims = viewer.dims
        if len(session.dims.order) == dims.ndim:
            dims.order = session.dims.order
        dims.ndisplay = session.dims.ndisplay
        if len(session.dims.point) == dims.ndim:
            for axis, value in enumerate(session.dims.point):
                dims.set_point(axis, value)
        else:
            report.problems.append("not restored: slice position (the open layers have other dimensions)")
    if session.camera is not None:
        cam = _camera(viewer)
        if len(session.camera.center) in (2, 3):
            cam.center = session.camera.center
        cam.zoom = session.camera.zoom
        cam.angles = session.camera.angles
        if hasattr(cam, "perspective"):
            cam.perspective = session.camera.perspective
    if session.active_series:
        layer = layer_for(viewer, session.active_series)
        if layer is not None:
            viewer.layers.selection.active = layer


def restore_session(viewer: Any, path: str | Path) -> RestoreReport:
    """Reopen the series of a session and put back windows, planes, C-arm shots, measurements, camera and dims.

    Teaching mode is switched on if the session was saved with it, but a
    session never switches it off (:func:`teaching_mode_on_restore`).
    """
    session, report = load_session(path)
    mode, note = teaching_mode_on_restore(session.teaching_mode, settings.get_teaching_mode())
    if mode != settings.get_teaching_mode():
        settings.set_teaching_mode(mode)
    if note:
        report.notes.append(note)
    for ref in session.series:
        _restore_series(viewer, ref, session, report)
    for p in session.planes:
        _restore_plane(viewer, p, report)
    for entry in session.carm_shots:
        _restore_carm_shot(viewer, entry, report)
    for d in session.measurements:
        _restore_measurement(viewer, d, report)
    _restore_view(viewer, session, report)
    if session.workspace is not None:
        _restore_workspace(viewer, session.workspace, report)
    return report
