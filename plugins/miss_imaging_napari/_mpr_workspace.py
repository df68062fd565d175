"""MPR workspace: linked axial / coronal / sagittal / oblique viewports, each its own napari canvas.

The geometry (planes, depths, crosshair lines, trajectory planes) is decided
by the Qt-free :mod:`miss_imaging.spatial.mpr`; this module links the
viewports (:mod:`._mpr_viewport`), the fluoroscopy viewport
(:mod:`._mpr_fluoro`) and the controls (:mod:`._mpr_controls`).

Each viewport is a napari ``ViewerModel`` with its own ``QtViewer`` (camera,
zoom, pan, scale bar, orientation letters).  Its world is the viewport frame
``(depth, y, x)`` mm of :class:`miss_imaging.spatial.mpr.ViewportFrame`; its
image layer is a lazy stack of planes resliced from the CT's **original**
geometry (a tilted stack is never shown resampled twice).  The layer's
metadata holds the stack's ImageVolume, whose affine maps (plane, row, col)
to LPS mm, so the plugin's rulers (:mod:`._measure_layers`) measure true 3-D
mm in any viewport and land in the measurement table.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import weakref
from typing import Any, Callable

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from miss_imaging.measurement import measurements_io
from miss_imaging.model import ImageVolume
from miss_imaging.spatial.mpr import (
    ORTHOGONAL,
    ViewportFrame,
    bullseye_plane,
    crosshair,
    trajectory_plane,
    viewport_frame,
    volume_center,
    volume_corners,
)
from miss_imaging.spatial.reslicing import make_sampler, reslice

from . import _layer_geometry, _measure_layers, _mouse_wl, _napari_private, _viewer_links
from ._docking import dock_of
from ._mpr_controls import WorkspaceWidget
from ._mpr_fluoro import FluoroViewport, fluoro_layers
from ._mpr_viewport import COLORS, SLAB_MODES, VIEWPORTS, PlaneStack, Viewport, clip_ray
from ._layers import SOURCE_KEY, VOLUME_KEY, image_kwargs
from ._orientation import plane_labels
from ._spine import TRAJECTORIES_KEY

__all__ = ["MPRWorkspace", "MPRWidget", "open_mpr", "VIEWPORTS", "COLORS"]

TRAJECTORY_COLOR = "#40c0ff"
ROLE_KEY = "miss_imaging_mpr_viewport"
_ATTACH_DELAY_MS = 10  # between canvases made after the first: its paint goes first
_FIRST_FRAME_WAIT_MS = 1500  # the first canvas not drawn by then (hidden viewer): make the others anyway
_SETTLE_MS = 120  # napari's dims, the titles and the series text follow a moving point once it rests this long
_GRAB_PX = 8.0  # Shift+press this close (screen pixels) to a trajectory end drags that end
_GAP_MM = 4.0  # crosshair lines stop this far from the point, leaving it visible


def _single_shot(interval_ms: int) -> QTimer:
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    return timer


def _gl_widget(qt_viewer: Any) -> Any:
    """The ``QOpenGLWidget`` of a canvas (its ``frameSwapped`` says a frame is on screen), or None."""
    try:
        from qtpy.QtOpenGLWidgets import QOpenGLWidget
    except ImportError:  # Qt5
        from qtpy.QtWidgets import QOpenGLWidget
    return qt_viewer.findChild(QOpenGLWidget)


def _notify(message: str, level: str = "info") -> None:
    from napari.utils.notifications import show_info, show_warning

    (show_warning if level == "warning" else show_info)(message)


def _one_plane(name: str) -> Callable:
    """The viewport's answer to napari's 2-D/3-D toggle (Ctrl+Y): a viewport is one plane of a lazy stack that
    never builds the volume napari's 3-D view would ask for."""
    def toggle(model: Any) -> None:
        _notify(f"the {name} viewport shows one plane: for 3-D, close the workspace and use the main viewer")

    return toggle


def ct_layers(viewer: Any) -> list[Any]:
    """CT-like volume layers of `viewer` opened by miss-imaging (no reslices), bottom to top."""
    out = []
    for layer in viewer.layers:
        vol = getattr(layer, "metadata", {}).get(VOLUME_KEY)
        if isinstance(vol, ImageVolume) and vol.kind == "volume" and vol.shape[0] > 1 \
                and ROLE_KEY not in layer.metadata and "reslice" not in vol.metadata:
            out.append(layer)
    return out


class MPRWorkspace:
    """Linked viewports on one CT layer; see :func:`open_mpr`.

    Attributes
    ----------
    viewports : dict
        ``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` -> napari ``ViewerModel``.
    widget : QWidget
        The 2 x 2 canvases and the controls (docked by :func:`open_mpr`).
    """

    def __init__(self, viewer: Any, layer: Any = None, fluoro: Any = None) -> None:
        viewer, layer = _napari_private.unwrap(viewer), _napari_private.unwrap(layer)  # npe2 hands widgets a public-only proxy
        if layer is None:
            cts = ct_layers(viewer)
            if not cts:
                raise ValueError("no CT volume opened by miss-imaging in this viewer: open one first")
            layer = cts[-1]
        vol = layer.metadata.get(SOURCE_KEY) or layer.metadata.get(VOLUME_KEY)
        if not isinstance(vol, ImageVolume) or vol.kind != "volume":
            raise ValueError(f"layer {layer.name!r} is not a CT volume opened by miss-imaging")
        runs = fluoro_layers(viewer, ROLE_KEY)
        run = _napari_private.unwrap(fluoro) if fluoro is not None else (runs[-1] if runs else None)
        if run is not None and all(run is not r for r in runs):
            raise ValueError(f"layer {run.name!r} is not a fluoroscopy run opened by miss-imaging")
        self.viewer, self.layer, self.volume = viewer, layer, vol
        # numpy kernel until the compiled one is loaded off the UI thread (numba's first load: ~0.6 s)
        self._sampler = make_sampler(vol, compiled=False)
        self._point = volume_center(vol)
        corners = volume_corners(vol)
        self._box = (corners.min(axis=0), corners.max(axis=0))  # LPS mm bounds of the CT: the point stays inside
        self._syncing = False
        self._closed = False
        self._restore: Callable[[], Any] = lambda: None
        self._settle_timer = _single_shot(_SETTLE_MS)
        self._settle_timer.timeout.connect(self.settle)
        self.trajectory: tuple[np.ndarray, np.ndarray] = self._default_trajectory()
        self.oblique_kind = "along"
        self.oblique_angle = 0.0
        self._vp: dict[str, Viewport] = {n: Viewport(n, viewport_frame(vol, n, max_pixels=768)) for n in ORTHOGONAL}
        self._vp["oblique"] = Viewport("oblique", self._oblique_frame())
        self.viewports = {n: vp.model for n, vp in self._vp.items()}
        for vp in self._vp.values():
            self._build(vp)
            _viewer_links.link_viewer(viewer, vp.model)
        self.fluoro = FluoroViewport(run, ROLE_KEY) if run is not None else None
        if self.fluoro is not None:
            self.viewports[self.fluoro.name] = self.fluoro.model
            _viewer_links.link_viewer(viewer, self.fluoro.model)
        self.widget = WorkspaceWidget(self)
        layer.events.contrast_limits.connect(self._source_limits)
        viewer.layers.events.removed.connect(self._layer_removed)
        self.set_point(self._point)
        # first pixel first: the axial canvas now, the others one per event-loop turn after it is drawn
        self._pending = list(VIEWPORTS) + ([self.fluoro.name] if self.fluoro is not None else [])
        self._attached = 0
        self._attach_timer = _single_shot(_ATTACH_DELAY_MS)
        self._attach_timer.timeout.connect(self._attach_next)
        self._attach_next()
        # the next canvases wait for the first one's first frame on screen (or a moment, hidden viewer)
        self._attach_timer.start(_FIRST_FRAME_WAIT_MS)
        first = _gl_widget(self._vp[VIEWPORTS[0]].qt)
        if first is not None:
            first.frameSwapped.connect(self._first_frame)

    def _first_frame(self) -> None:
        if self._pending and self._attached == 1 and self._attach_timer.interval() == _FIRST_FRAME_WAIT_MS:
            self._attach_timer.start(_ATTACH_DELAY_MS)

    @property
    def ready(self) -> bool:
        """True once every viewport has its canvas (the first one is there when :func:`open_mpr` returns)."""
        return not self._pending

    def finish_loading(self) -> None:
        """Make the remaining canvases now (scripts that screenshot at once; tests)."""
        while self._pending and not self._closed:
            self._attach_next()

    def _attach_next(self) -> None:
        if self._closed or not self._pending:
            return
        name = self._pending.pop(0)
        vp = self._viewport(name)
        if isinstance(vp, Viewport):
            self._ensure_image(vp)
        vp.attach()
        self.widget.place(name, vp.qt)
        self._attached += 1
        model = weakref.ref(vp.model)  # fit the image to the cell once the layout has sized the canvas
        QTimer.singleShot(0, lambda: None if model() is None else model().reset_view())
        if self._attached > 1:  # the first canvas's decorations come with the second canvas, after its first frame
            if self._attached == 2:  # the thread holds the volume and the sampler only, never the viewers
                plane = dataclasses.replace(self._vp["axial"].frame.reference, shape=(2, 2))
                threading.Thread(target=_load_compiled_kernel, args=(self.volume, plane, self._sampler),
                                 daemon=True).start()
            self._vp[VIEWPORTS[0]].decorate()
            vp.decorate()
        if self._pending and self._attached > 1:
            self._attach_timer.start(_ATTACH_DELAY_MS)

    # ------------------------------------------------------------ public
    @property
    def point_lps(self) -> np.ndarray:
        """The shared point, LPS mm ``(x, y, z)`` (a copy; not snapped to any grid)."""
        return self._point.copy()

    def set_point(self, lps_mm: Any) -> None:
        """Move the shared point (LPS mm); every viewport follows.

        The planes that moved go straight to their canvases; each viewport's napari
        state (``dims.point``, the title with the plane position, the series text of
        its rulers) follows when the point rests for ``_SETTLE_MS`` (a drag is not
        slowed by it) or at once with :meth:`settle`.
        """
        p = np.asarray(lps_mm, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(p)) or self._closed:
            return
        self._point = np.clip(p, *self._box)
        moved = []
        for vp in self._vp.values():
            depth = self._depth_for(vp)
            if vp.image is None:  # made with its canvas (_attach_next) or when first needed
                vp.depth = depth
            elif depth != vp.depth:  # only viewports whose plane moved are resliced and redrawn
                vp.depth = depth
                moved.append(vp)
        self._show_depths(moved)
        self._draw_crosshairs()

    def set_trajectory(self, entry_lps: Any, target_lps: Any) -> None:
        """Oblique viewport along (or down, in bull's-eye mode) entry -> target, LPS mm."""
        e, t = (np.asarray(x, dtype=np.float64).reshape(3) for x in (entry_lps, target_lps))
        if np.linalg.norm(t - e) < 1e-3:
            raise ValueError("entry and target coincide: a trajectory needs two distinct points")
        self.trajectory = (e, t)
        self._refresh_oblique()

    def spine_trajectories(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Lines the Spine widget found or planned on this CT: ``{"screw 1": (entry, tip), "planned screw":
        (entry, target), "access path": (skin entry, target)}`` (LPS mm), for :meth:`set_trajectory`."""
        found = self.layer.metadata.get(TRAJECTORIES_KEY) or []
        return {label: (np.asarray(e, float), np.asarray(t, float)) for label, e, t in found}

    def go_along(self, label: str) -> None:
        """The oblique viewport along the line `label` of :meth:`spine_trajectories`, the point on its middle."""
        lines = self.spine_trajectories()
        if label not in lines:
            raise ValueError(f"no line {label!r} on this CT: the Spine widget has {sorted(lines) or 'none'}")
        e, t = lines[label]
        self.set_trajectory(e, t)
        self.set_point((e + t) / 2)

    def set_oblique(self, *, kind: str | None = None, angle_deg: float | None = None) -> None:
        """``kind`` ``"along"`` (plane containing the trajectory) or ``"bullseye"``; rotation about it."""
        if kind is not None:
            if kind not in ("along", "bullseye"):
                raise ValueError(f"`kind` must be 'along' or 'bullseye'; got {kind!r}")
            self.oblique_kind = kind
        if angle_deg is not None:
            self.oblique_angle = float(angle_deg)
        self._refresh_oblique()
        self.widget.show_oblique(self.oblique_kind, self.oblique_angle)

    def slab(self, name: str) -> tuple[float, str] | None:
        """Slab thickness (mm, 0 = thin) and mode of viewport `name`; None for one without slabs (fluoro)."""
        vp = self._vp.get(name)
        return None if vp is None else (vp.slab_mm, vp.mode)

    def set_slab(self, name: str, thickness_mm: float, mode: str = "MIP") -> None:
        """Slab of one CT viewport: thickness (mm, 0 = thin) and ``"MIP"``, ``"mean"`` or ``"MinIP"``."""
        if name not in self._vp:
            raise ValueError(f"no slab in the {name!r} viewport: slabs are for {', '.join(self._vp)}")
        vp = self._vp[name]
        if mode not in SLAB_MODES:
            raise ValueError(f"`mode` must be one of {sorted(SLAB_MODES)}; got {mode!r}")
        vp.slab_mm, vp.mode = max(0.0, float(thickness_mm)), mode
        self._draw_image(vp)
        for lay in _measure_layers.tool_layers(vp.model, vp.image):  # their labels name the slab (or none now)
            _measure_layers.refresh(lay)
        self.widget.show_slab(name, vp.slab_mm, mode)

    def start_tool(self, name: str, tool: str = "ruler") -> Any:
        """Ruler / path / angle / cobb drawing in viewport `name` (``"fluoro"`` too); returns its Shapes layer."""
        self.settle()
        vp = self._viewport(name)
        if isinstance(vp, Viewport):
            self._ensure_image(vp)
        layer = _measure_layers.tool_layer(vp.model, vp.image, tool)
        layer.mode = _measure_layers.TOOLS[tool]["mode"]
        return layer

    def measure(self, name: str, kind: str, points_lps: Any, *, label: str = "") -> Any:
        """Place a measurement in viewport `name` from LPS mm points; returns its table row (``Result``).

        ``kind`` is ``"distance"``, ``"path"``, ``"angle"`` or ``"cobb"``.  Every point must lie in
        what the viewport shows (its plane +- half a pixel, or +- half its slab); within that the
        points keep their own depth, so the value is the true 3-D one.  Raises ValueError naming
        the point and its distance from the plane otherwise.
        """
        self.settle()
        if name not in self._vp:
            raise ValueError(f"the {name!r} viewport has no patient coordinates: draw with start_tool({name!r})")
        vp = self._vp[name]
        self._ensure_image(vp)
        world = vp.frame.to_world(np.asarray(points_lps, dtype=np.float64))
        half = max(vp.slab_mm if vp.mode != "thin" else 0.0, vp.frame.pixel_mm) / 2 + 1e-6
        off = np.abs(world[:, 0] - vp.depth)
        if np.any(off > half):
            raise ValueError(f"point {int(np.argmax(off))} is {off.max():.1f} mm off the {name} viewport's plane "
                             f"(shown: +-{half:.1f} mm); draw it in a viewport or slab that contains it")
        index = _layer_geometry.world_to_index(vp.image, world)
        return _measure_layers.add_measurement(vp.model, vp.image, kind, index, name=label)[1]

    def session_entry(self) -> dict[str, Any]:
        """What a session keeps of the workspace (``Session.workspace``), JSON-ready.

        The CT (and fluoroscopy) series UIDs, the shared point and trajectory
        (LPS mm), the oblique kind and angle, the slabs, and every measurement
        drawn in a viewport (:func:`miss_imaging.measurement.measurements_io.to_dict`
        plus ``"viewport"``; CT viewports' points are re-placed from their LPS mm).
        """
        self.settle()
        meas = [{**measurements_io.to_dict(m), "viewport": n}
                for n, vp in self._vp.items() if vp.image is not None
                for m in _measure_layers.layer_measurements(vp.model, vp.image)]
        if self.fluoro is not None:
            meas += [{**measurements_io.to_dict(m), "viewport": self.fluoro.name}
                     for m in _measure_layers.layer_measurements(self.fluoro.model, self.fluoro.image)]
        fl = self.fluoro.source.metadata[VOLUME_KEY] if self.fluoro is not None else None
        return {"series_uid": self.volume.series_uid, "fluoro_series_uid": None if fl is None else fl.series_uid,
                "point_lps": [float(v) for v in self._point],
                "trajectory": [[float(v) for v in p] for p in self.trajectory],
                "oblique_kind": self.oblique_kind, "oblique_angle": self.oblique_angle,
                "slabs": {n: [vp.slab_mm, vp.mode] for n, vp in self._vp.items() if vp.slab_mm > 0},
                "measurements": meas}

    def restore(self, entry: dict[str, Any]) -> list[tuple[Any, Any, str | None]]:
        """Put back what :meth:`session_entry` saved; returns ``(saved Measurement, Result or None, error)``
        for each measurement, so the caller can report any that now reads otherwise."""
        self.set_trajectory(*entry["trajectory"])
        self.set_oblique(kind=entry.get("oblique_kind", "along"), angle_deg=float(entry.get("oblique_angle", 0.0)))
        for name, (thickness, mode) in (entry.get("slabs") or {}).items():
            self.set_slab(name, float(thickness), str(mode))
        out = []
        for d in entry.get("measurements", []):
            saved = measurements_io.from_dict(d)
            try:
                out.append((saved, self._replace(str(d["viewport"]), saved), None))
            except (ValueError, KeyError, IndexError) as exc:
                out.append((saved, None, f"{d.get('viewport')} viewport: {exc}"))
        self.set_point(entry["point_lps"])
        return out

    def _replace(self, name: str, saved: Any) -> Any:
        """Draw a saved measurement again in viewport `name` (the plane brought onto its points)."""
        if name == FluoroViewport.name:
            if self.fluoro is None:
                raise ValueError("no fluoroscopy run in the workspace")
            return _measure_layers.add_measurement(self.fluoro.model, self.fluoro.image, saved.kind,
                                                   saved.points_index, name=saved.name)[1]
        pts = np.asarray(saved.points_patient, dtype=np.float64)
        vp = self._vp[name]
        self._ensure_image(vp)
        if name != "oblique":  # bring the plane onto the ruler (it shows there); an oblique one keeps its plane
            normal = np.asarray(vp.frame.plane_at(vp.depth).normal)
            self.set_point(self._point + normal * (vp.frame.depth_of(pts.mean(axis=0)) - vp.depth))
            self.settle()
        # at its own points, as drawn (a ruler drawn on an earlier oblique plane is off the current one)
        index = _layer_geometry.world_to_index(vp.image, vp.frame.to_world(pts))
        return _measure_layers.add_measurement(vp.model, vp.image, saved.kind, index, name=saved.name)[1]

    def _viewport(self, name: str) -> Viewport | FluoroViewport:
        """A CT viewport or the fluoroscopy one, by name."""
        if name == FluoroViewport.name and self.fluoro is not None:
            return self.fluoro
        if name not in self._vp:
            raise ValueError(f"no {name!r} viewport: the workspace has {', '.join(self.viewports)}")
        return self._vp[name]

    def fit_views(self) -> None:
        """Fit every viewport's image to its canvas (napari's reset view in each)."""
        for model in list(self.viewports.values()):
            model.reset_view()

    def navigate(self) -> None:
        """Back to pan/zoom in every viewport (a click then moves the point)."""
        for vp in (*self._vp.values(), *([self.fluoro] if self.fluoro is not None else [])):
            vp.model.layers.selection.active = vp.image

    def close(self) -> None:
        """Free the viewports and their canvases and remove the dock (idempotent)."""
        if getattr(self, "_closed", True):  # closed, or being collected (its fields already cleared)
            return
        self._closed = True
        self._pending = []
        for timer in (self._settle_timer, self._attach_timer):
            try:
                timer.stop()
            except RuntimeError:  # already deleted by Qt (interpreter exit)
                pass
        if _viewer_links.workspace_of(self.viewer) is self:
            _viewer_links.set_workspace(self.viewer, None)
        for emitter, cb in ((self.layer.events.contrast_limits, self._source_limits),
                            (self.viewer.layers.events.removed, self._layer_removed)):
            try:
                emitter.disconnect(cb)
            except (RuntimeError, ValueError, TypeError):
                pass
        for vp in self._vp.values():
            _viewer_links.unlink_viewer(self.viewer, vp.model)
            vp.teardown()
        if self.fluoro is not None:
            _viewer_links.unlink_viewer(self.viewer, self.fluoro.model)
            self.fluoro.teardown()
            self.fluoro = None
        self.widget.release()
        try:
            self._restore()
        except RuntimeError:  # the main window is already gone
            pass
        self._restore = lambda: None  # it holds the main window's widgets
        self._vp.clear()
        self.viewports = {}
        self.widget.ws = None  # break the cycle: the canvases go with the Qt widgets
        self.widget.setParent(None)
        self.widget.deleteLater()

    # ------------------------------------------------------------ geometry
    def _default_trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """A transpedicular-like line through the volume centre, 40 mm long: posterior to anterior,
        15 deg medial (toward patient left from a right-sided entry) and 10 deg caudal."""
        m, c = np.radians(15.0), np.radians(10.0)
        d = np.array([np.sin(m) * np.cos(c), -np.cos(m) * np.cos(c), -np.sin(c)])  # LPS unit, entry -> target
        centre = volume_center(self.volume)
        return centre - 20.0 * d, centre + 20.0 * d

    def _oblique_frame(self) -> ViewportFrame:
        e, t = self.trajectory
        px = float(min(self.volume.spacing))
        span = float(np.ptp(volume_corners(self.volume), axis=0).max())
        px = max(px, span / 511)
        if self.oblique_kind == "bullseye":
            plane = bullseye_plane(e, t, angle_deg=self.oblique_angle, pixel_mm=px, size_mm=span / 2)
        else:
            plane = trajectory_plane(e, t, angle_deg=self.oblique_angle, pixel_mm=px, size_mm=span)
        return ViewportFrame("oblique", plane)

    def _depth_for(self, vp: Viewport) -> float:
        if vp.name == "oblique" and self.oblique_kind == "along":
            return 0.0  # the plane contains the trajectory; the point does not move it
        return vp.frame.depth_of(self._point)

    def _refresh_oblique(self) -> None:
        vp = self._vp["oblique"]
        old = vp.frame
        rulers = _measure_layers.tool_layers(vp.model, vp.image) if vp.image is not None else []
        lps = [[old.to_lps(np.asarray(v, dtype=np.float64)) for v in lay.data] for lay in rulers]
        vp.frame = self._oblique_frame()
        vp.depth = self._depth_for(vp)
        before = vp.stack
        if vp.image_node() is not None and before is not None and self._n_half(vp) <= before.n_half \
                and before.shape[1:] == tuple(vp.frame.reference.shape):
            # a dragged trajectory: same stack, new frame; the plane goes straight to the canvas (settle)
            before.invalidate()
            vp.image.metadata[VOLUME_KEY] = self._stack_volume(vp)
            self._show_depths([vp])
        else:
            self._draw_image(vp)
        self._draw_crosshairs()
        for lay, points in zip(rulers, lps):  # the rulers keep their patient points (and values) in the new frame
            types = list(lay.shape_type)
            lay.data = [vp.frame.to_world(p) for p in points]
            lay.shape_type = types  # setting Shapes.data alone turns lines into polygons
        if vp.stack is not before:  # a new image size (the other oblique kind): fit it; a drag keeps the view
            vp.model.reset_view()

    def planes(self) -> dict[str, Any]:
        """Each viewport's current plane (:class:`miss_imaging.Plane`, LPS mm)."""
        return {n: vp.frame.plane_at(vp.depth) for n, vp in self._vp.items()}

    # ------------------------------------------------------------ drawing
    def _build(self, vp: Viewport) -> None:
        from napari.components.overlays import TextOverlay

        m = vp.model
        # title and scale bar are shown with the letters (Viewport.decorate), after the first frame: their
        # glyphs and shaders cost ~0.2 s of the first canvas's first paint
        m.canvas.overlays["miss_title"] = TextOverlay(text=vp.name, position="top_left", visible=False,
                                                      font_size=11, color=COLORS[vp.name],
                                                      box=False)  # a box lagged behind title changes (QA)
        keep = self._keep_depth_cb(vp)
        m.dims.events.point.connect(keep)
        vp.connections.append((m.dims.events.point, keep))
        self._bind_keys(vp)
        vp.hook(m.mouse_drag_callbacks, self._make_click(vp))
        vp.hook(m.mouse_move_callbacks, self._make_cursor(vp))
        vp.hook(m.mouse_wheel_callbacks, self._make_wheel(vp))
        for cb in list(m.mouse_wheel_callbacks):
            if getattr(cb, "__name__", "") == "dims_scroll":  # Ctrl+wheel moves the point instead
                m.mouse_wheel_callbacks.remove(cb)

    def _bind_keys(self, vp: Viewport) -> None:
        """napari's viewer keys that would break a viewport (3-D, axis rolls, grid: the lazy plane stack would be
        asked for the whole volume, and an exception in a Qt key handler aborts the process; deleting its image)
        are answered here; the arrow keys step the point along the viewport's normal, as Ctrl+wheel does."""
        refuse = _one_plane(vp.name)
        for key in ("Control-Y", "Control-E", "Control-T", "Control-Alt-T", "Control-G"):
            vp.model.bind_key(key, refuse, overwrite=True)
        for key, sign in (("Left", -1.0), ("Right", 1.0)):
            vp.model.bind_key(key, lambda model, s=sign: self._step(vp, s), overwrite=True)
        for key in ("Control-Delete", "Control-Backspace"):
            vp.model.bind_key(key, lambda model: self._delete_tools(vp), overwrite=True)

    def _step(self, vp: Viewport, sign: float) -> None:
        """Move the shared point one pixel along the viewport's normal."""
        self.set_point(self._point + sign * vp.frame.pixel_mm * np.asarray(vp.frame.plane_at(vp.depth).normal))

    def _delete_tools(self, vp: Viewport) -> None:
        """Delete the selected layers of a viewport (its rulers), never its image."""
        for layer in [lay for lay in vp.model.layers.selection if lay is not vp.image]:
            vp.model.layers.remove(layer)

    def _n_half(self, vp: Viewport) -> int:
        """Planes each side of the reference so the stack covers the whole volume along the normal."""
        ref = vp.frame.reference
        corners = volume_corners(self.volume)
        reach = float(np.abs((corners - np.asarray(ref.center)) @ ref.normal).max())
        if vp.name == "oblique":  # the frame follows the trajectory: room for any centre in the box
            reach = max(reach, float(np.linalg.norm(np.ptp(corners, axis=0))))
        return int(np.ceil(reach / vp.frame.pixel_mm - 1e-9)) + 1

    def _stack_volume(self, vp: Viewport) -> ImageVolume:
        """The ImageVolume behind the viewport's image layer: stack index (k, row, col) -> LPS mm."""
        assert vp.stack is not None
        plane = vp.frame.plane_at(vp.stack.lo)
        meta = dict(self.volume.metadata)
        thick = vp.slab_mm if vp.slab_mm > 0 and vp.mode != "thin" else 0.0
        meta["reslice"] = {"center": plane.center, "u": plane.u, "v": plane.v, "pixel_mm": plane.pixel_mm,
                           "thickness_mm": thick, "mode": SLAB_MODES[vp.mode] if thick else "thin", "order": 1}
        # on a slab a point drawn with the mouse lies in its mid-plane (its depth inside the slab is not seen):
        # such a ruler measures the distance projected on that plane, and its label says so (measure() keeps
        # the depth of the points it is given)
        cal = self.volume.calibration
        if thick:
            cal = f"{cal}; {thick:g} mm {vp.mode} slab: a drawn point lies in its mid-plane"
        # the series text names the viewport only: a ruler's own points say where it is (a plane position
        # here would follow the point after the ruler was drawn)
        return dataclasses.replace(
            self.volume, pixels=vp.stack, spacing=(plane.pixel_mm,) * 3, affine=plane.affine(),
            slice_positions=None, regular=True, metadata=meta, warnings=list(self.volume.warnings), calibration=cal,
            series_description=f"[{vp.name} viewport] {self.volume.series_description}")  # first: a narrow column

    def _describe(self, vp: Viewport) -> None:
        """The viewport's title (plane position) and letters: the plane shown now."""
        self._draw_letters(vp, vp.frame.plane_at(vp.depth))

    def _ensure_image(self, vp: Viewport) -> None:
        if vp.image is None:
            self._draw_image(vp)

    def _draw_image(self, vp: Viewport) -> None:
        """(Re)build the viewport's image after its frame, slab or mode changed."""
        px = vp.frame.pixel_mm
        n_half = self._n_half(vp)
        st = vp.stack
        if st is None or n_half > st.n_half or st.shape[1:] != tuple(vp.frame.reference.shape):
            vp.stack = st = PlaneStack(self.volume, self._sampler, vp, n_half)
            if vp.image is not None:  # a new shape (oblique kind): the one data change, batched
                with vp.image.events.blocker_all():
                    vp.image.data = st
                    vp.image.translate = (st.lo, 0.0, 0.0)
                    vp.image.scale = (px, px, px)
                vp.image.events.data(value=st)  # the viewer updates its dims once
        else:
            st.invalidate()
        if vp.image is None:
            kw = image_kwargs(self.volume)
            vp.image = vp.model.add_image(
                st, name=vp.name, scale=(px, px, px), translate=(st.lo, 0.0, 0.0), units=("mm",) * 3,
                contrast_limits=tuple(self.layer.contrast_limits), colormap=kw["colormap"],
                metadata={VOLUME_KEY: None, ROLE_KEY: vp.name})
            vp.image.events.contrast_limits.connect(lambda e, v=vp: self._viewport_limits(v))
            _mouse_wl.install(vp.image)
            vp.model.layers.selection.active = vp.image
        vp.image.metadata[VOLUME_KEY] = self._stack_volume(vp)
        vp.unsettled = False
        vp.model.dims.set_point(0, vp.depth)
        vp.image.refresh()  # same point, new pixels (frame, slab or mode)
        self._describe(vp)

    def _show_depths(self, moved: list[Viewport]) -> None:
        """The point moved along these viewports' normals: their planes' pixels straight to the canvases.

        napari's slider path (``dims.set_point``: events, every layer re-sliced, the
        visual updated) costs ~9 ms per viewport on top of the reslice; handing the
        vispy node the plane is ~1 ms.  napari's dims catch up in :meth:`settle`, where
        slicing finds the plane in the stack's cache.  (Reslicing the planes on two
        threads gained nothing measurable here: the other core was busy painting.)
        """
        shown = [vp for vp in moved if vp.image_node() is not None]
        for vp in moved:
            if vp not in shown:  # no canvas yet: napari's own path
                vp.model.dims.set_point(0, vp.depth)
                self._describe(vp)
        for vp in shown:
            assert vp.stack is not None
            node = vp.image_node()
            node.set_data(vp.stack.plane(vp.stack.index(vp.depth)))
            node.update()
            vp.unsettled = True
        if shown:
            self._settle_timer.start()

    def settle(self) -> None:
        """Bring each viewport's napari state (dims point, title, series text) to the plane it shows."""
        self._settle_timer.stop()
        for vp in self._vp.values():
            if vp.unsettled and vp.image is not None:
                vp.unsettled = False
                vp.model.dims.set_point(0, vp.depth)
                self._describe(vp)

    def _keep_depth_cb(self, vp: Viewport) -> Callable:
        return lambda event=None: self._keep_depth(vp)

    def _keep_depth(self, vp: Viewport) -> None:
        """napari moves the slider when a layer changes the range (a ruler off this plane): put it back."""
        point = vp.model.dims.point
        if self._closed or len(point) != 3 or vp.image is None or vp.__dict__.get("_fixing"):
            return
        if abs(point[0] - vp.depth) > vp.frame.pixel_mm / 2:
            vp.__dict__["_fixing"] = True
            try:
                vp.model.dims.set_point(0, vp.depth)
            finally:
                vp.__dict__["_fixing"] = False

    def letters(self, name: str) -> dict[str, str]:
        """The orientation letters at the ``"top"``, ``"bottom"``, ``"left"`` and ``"right"`` edges of
        viewport `name` (radiological: patient left on screen right in axial and coronal)."""
        return dict(self._vp[name].letter_text)

    def _draw_letters(self, vp: Viewport, plane: Any) -> None:
        ov = vp.model.canvas.overlays
        c = np.asarray(plane.center)
        if vp.name == "oblique":
            title: str = f"{'bull' + chr(39) + 's-eye' if self.oblique_kind == 'bullseye' else 'oblique'}" \
                    f" {self.oblique_angle:g} deg"
        else:
            axis = {"axial": (2, "z"), "coronal": (1, "y"), "sagittal": (0, "x")}[vp.name]
            title = f"{vp.name}  {axis[1]} = {c[axis[0]]:.1f} mm"
        if vp.slab_mm > 0 and vp.mode != "thin":
            title += f"  ({vp.mode} slab {vp.slab_mm:g} mm)"
        if ov["miss_title"].text != title:
            ov["miss_title"].text = title
        # the title at font 11: ~11 px a character plus its margin (measured on screen; no text
        # metrics before the text is drawn)
        vp.set_letters(plane_labels(plane.u, plane.v), title_px=11.0 * len(title) + 20)

    def _draw_crosshairs(self) -> None:
        from vispy.color import ColorArray  # type: ignore[import-untyped]

        planes = self.planes()
        e, t = self.trajectory
        for name, vp in self._vp.items():
            plane = planes[name]
            others = {n: p for n, p in planes.items() if n != name}
            lines, colors = [], []
            px = plane.pixel_mm
            box = (np.array(plane.shape, dtype=np.float64) - 1) * px  # (y, x) extent of the image, mm
            for other, ((r, c), (dr, dc)) in crosshair(plane, self._point, others).items():
                p, d = np.array([r * px, c * px]), np.array([dr, dc])
                for sign in (-1.0, 1.0):
                    lines.append(clip_ray(p + sign * _GAP_MM * d, sign * d, box))
                    colors.append(COLORS[other])
            if name != "oblique":
                we, wt = vp.frame.to_world(e)[1:], vp.frame.to_world(t)[1:]
                lines.append(np.array([we, wt - we]))
                colors.append(TRAJECTORY_COLOR)
            seg = np.array(lines, dtype=np.float64).reshape(-1, 2, 2)
            pos = np.stack([seg[:, 0], seg[:, 0] + seg[:, 1]], axis=1).reshape(-1, 2)[:, ::-1]  # (x, y) mm
            rgba = np.repeat(ColorArray(colors).rgba, 2, axis=0)
            vp.cross_data = {"pos": pos.astype(np.float32), "color": rgba.astype(np.float32)}
            if vp.cross is not None:
                vp.cross.set_data(**vp.cross_data)

    # ------------------------------------------------------------ window / level
    def _source_limits(self, event: Any = None) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            lim = tuple(self.layer.contrast_limits)
            for vp in self._vp.values():
                if vp.image is not None and tuple(vp.image.contrast_limits) != lim:
                    vp.image.contrast_limits = lim
        finally:
            self._syncing = False

    def _viewport_limits(self, vp: Viewport) -> None:
        if self._syncing or vp.image is None:
            return
        self.layer.contrast_limits = tuple(vp.image.contrast_limits)  # the source then updates the others

    def _layer_removed(self, event: Any) -> None:
        if event.value is self.layer:
            self.close()  # the viewer closes (or the CT went): free the canvases now, in the right order
        elif self.fluoro is not None and event.value is self.fluoro.source:
            self._drop_fluoro()

    def _drop_fluoro(self) -> None:
        """The run's layer left the main viewer: its viewport goes too (the CT's stay)."""
        assert self.fluoro is not None
        fl, self.fluoro = self.fluoro, None
        if fl.name in self._pending:
            self._pending.remove(fl.name)
        self.viewports.pop(fl.name, None)
        _viewer_links.unlink_viewer(self.viewer, fl.model)
        self.widget.remove_cell(fl.name, fl.qt)
        fl.teardown()

    # ------------------------------------------------------------ mouse
    def _lps_at(self, vp: Viewport, position: Any) -> np.ndarray:
        w = np.asarray(position, dtype=np.float64)[-3:].copy()
        w[0] = vp.depth
        return vp.frame.to_lps(w)

    def _make_click(self, vp: Viewport) -> Callable:
        def click(model: Any, event: Any) -> Any:
            self.settle()  # napari's dims must hold the shown plane before a ruler is started on it
            mods = tuple(event.modifiers or ())
            active = model.layers.selection.active
            navigating = active is None or getattr(active, "mode", "pan_zoom") == "pan_zoom"
            if event.button != 1 or "Control" in mods or not ("Shift" in mods or navigating):
                return
            shift = "Shift" in mods
            end = self._end_near(vp, model, event.position) if shift else None
            if end is not None:  # Shift+drag on a trajectory end moves that end (the oblique follows)
                yield from self._drag_end(vp, end, event)
                return
            start = np.asarray(event.pos, dtype=np.float64)
            moved = False
            if shift:
                self.set_point(self._lps_at(vp, event.position))
            yield
            while event.type == "mouse_move":
                if shift:
                    self.set_point(self._lps_at(vp, event.position))
                moved = moved or float(np.linalg.norm(np.asarray(event.pos) - start)) > 3
                yield
            if not shift and not moved:  # a click, not a pan
                self.set_point(self._lps_at(vp, event.position))

        return click

    def _end_near(self, vp: Viewport, model: Any, position: Any) -> int | None:
        """0 (entry) or 1 (target) when `position` is within ``_GRAB_PX`` screen pixels of that end's
        projection in an orthogonal viewport, else None."""
        if vp.name == "oblique":
            return None
        w = np.asarray(position, dtype=np.float64)[-2:]
        tol = _GRAB_PX / max(float(model.scene.camera.zoom), 1e-9)  # zoom: screen pixels per mm
        dist = [float(np.linalg.norm(vp.frame.to_world(p)[1:] - w)) for p in self.trajectory]
        k = int(np.argmin(dist))
        return k if dist[k] <= tol else None

    def _drag_end(self, vp: Viewport, k: int, event: Any) -> Any:
        """Move trajectory end `k` with the mouse, parallel to the viewport (it keeps its depth)."""
        while True:
            ends = list(self.trajectory)
            w = vp.frame.to_world(ends[k])
            w[1:] = np.asarray(event.position, dtype=np.float64)[-2:]
            ends[k] = vp.frame.to_lps(w)
            try:
                self.set_trajectory(*ends)
            except ValueError:  # dragged onto the other end: keep the last valid trajectory
                pass
            if event.type == "mouse_release":
                return
            yield

    def _make_cursor(self, vp: Viewport) -> Callable:
        def cursor(model: Any, event: Any) -> None:
            """LPS mm and HU under the cursor, in the main window's status bar (no canvas redraw)."""
            p = self._lps_at(vp, event.position)
            z = np.zeros((1, 1))
            hu = float(self._sampler.grid(p, [np.zeros(3), np.zeros(3)], [z, z])[0, 0])
            self.viewer.status = f"{vp.name}: LPS ({p[0]:.1f}, {p[1]:.1f}, {p[2]:.1f}) mm  {hu:.0f} HU"

        return cursor

    def _make_wheel(self, vp: Viewport) -> Callable:
        def wheel(model: Any, event: Any) -> None:
            if "Control" not in tuple(event.modifiers or ()):
                return
            sign = float(np.sign(event.delta[1]))
            if sign:
                self._step(vp, sign)

        return wheel


def _lock_dock(widget: QWidget) -> None:
    """No floating of the dock holding the canvases unless GL contexts are shared (NAPARI.md, MPR crash 1).

    napari never sets ``AA_ShareOpenGLContexts``; ``miss-imaging view`` does.  Without
    it a floated canvas aborts the process, so the dock is kept in the window.
    """
    from qtpy.QtCore import QCoreApplication

    if QCoreApplication.testAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts):
        return
    dock = dock_of(widget)
    if dock is not None:
        dock.setFeatures(dock.features() & ~dock.DockWidgetFeature.DockWidgetFloatable)
        if dock.isFloating():
            dock.setFloating(False)


def _load_compiled_kernel(volume: ImageVolume, plane: Any, sampler: Any) -> None:
    """Load the compiled trilinear kernel (bit-identical to the numpy one) and switch `sampler` to it (a thread)."""
    try:
        probe = make_sampler(volume)
        reslice(volume, plane, sampler=probe)
    except Exception as exc:  # numba failed to load: keep the numpy kernel
        logging.getLogger("miss_imaging").debug("compiled reslice kernel not loaded: %s", exc)
        return
    sampler.compiled = probe.compiled


def _resize_docks(refs: list[Any], widths: list[int]) -> None:
    """``refs``: weak references to the main window, then to its left docks; give those `widths` (px) and
    the right-hand tool docks at most a quarter of the window, so the canvas gets the room back."""
    from qtpy.QtWidgets import QDockWidget

    win, *docks = (r() for r in refs)
    if win is None or any(d is None for d in docks):
        return
    try:
        right = [d for d in win.findChildren(QDockWidget) if d.isVisible() and not d.isFloating()
                 and win.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea]
        win.resizeDocks(docks + right, widths[:len(docks)] + [min(d.width(), win.width() // 4) for d in right],
                        Qt.Orientation.Horizontal)
    except RuntimeError:  # the window closed meanwhile
        pass


def _closed_by_user(ref: Any, dock_ref: Any) -> None:
    """The workspace's dock was closed or hidden (and stayed so): close the workspace, give the canvas back."""
    ws, dock = ref(), dock_ref()
    try:
        hidden = dock is None or not dock.isVisible()
    except RuntimeError:  # the dock is already deleted
        hidden = True
    if ws is not None and hidden:
        ws.close()


class MPRWidget(QWidget):
    """Dock widget (npe2 command): the workspace on the top CT layer of the viewer.

    ``.workspace`` is the :class:`MPRWorkspace` (None when the viewer had no CT).
    """

    def __init__(self, napari_viewer: Any, layer: Any = None, parent: QWidget | None = None,
                 fluoro: Any = None) -> None:
        super().__init__(parent)
        napari_viewer = _napari_private.unwrap(napari_viewer)
        self._viewer, self._taken = weakref.ref(napari_viewer), False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        old = _viewer_links.workspace_of(napari_viewer)
        if old is not None:
            old.close()
        try:
            self.workspace: MPRWorkspace | None = MPRWorkspace(napari_viewer, layer, fluoro)
        except ValueError as exc:
            self.workspace = None
            layout.addWidget(QLabel(f"MPR workspace: {exc}"))
            return
        _viewer_links.set_workspace(napari_viewer, self.workspace)
        layout.addWidget(self.workspace.widget)
        ref = weakref.ref(self.workspace)
        self.destroyed.connect(lambda *_: ref() is not None and ref().close())

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        """Docked (by :func:`open_mpr` or napari's Plugins menu): lock floating, take the main canvas's room."""
        super().showEvent(event)
        _lock_dock(self)
        if not self._taken and self.workspace is not None:
            self._taken = True
            self._take_over()

    def _take_over(self) -> None:
        """The workspace replaces the main canvas while it is open (as a four-up layout does in other viewers).

        The main canvas, layer list and layer controls are hidden and come back when it closes; the dock
        moves to the left area, so the plugin's tool docks (right, tabbed) stay beside it; closing or
        hiding the dock closes the workspace.
        """
        ws = self.workspace
        assert ws is not None
        qv, win = _napari_private.qt_viewer(self._viewer()), _napari_private.main_window(self._viewer())
        dock = dock_of(self)
        if qv is None or win is None or dock is None:
            return
        hidden = [d for d in (qv.dockLayerList, qv.dockLayerControls, win.centralWidget()) if d.isVisible()]
        # their widths to come back to (at most a quarter of the window: adding the dock may have widened them)
        widths = [min(d.width(), win.width() // 4) for d in hidden if d is not win.centralWidget()]
        for d in hidden:
            d.setVisible(False)

        def restore() -> None:  # the hidden widgets come back at the widths they had (once laid out)
            for d in hidden:
                d.setVisible(True)
            refs = [weakref.ref(w) for w in (win, *(d for d in hidden if d is not win.centralWidget()))]
            QTimer.singleShot(0, lambda: _resize_docks(refs, widths))  # weak: a pending timer keeps what it holds

        ws._restore = restore
        win.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        dock.show()
        tools = [d for d in win.findChildren(type(dock)) if d is not dock and d.isVisible() and not d.isFloating()]
        win.resizeDocks([dock], [win.width() - (380 if tools else 0)], Qt.Orientation.Horizontal)
        ref = weakref.ref(ws)
        dock_ref = weakref.ref(dock)  # weak: a closure holding the dock would keep the viewer alive after close
        dock.visibilityChanged.connect(
            lambda shown: shown or QTimer.singleShot(0, lambda: _closed_by_user(ref, dock_ref)))
        QTimer.singleShot(0, lambda: ref() is not None and ref().fit_views())  # the canvases' new sizes


def open_mpr(viewer: Any, layer: Any = None, fluoro: Any = None) -> MPRWorkspace:
    """Open the MPR workspace on a CT layer of `viewer` (default: the top CT).

    Parameters
    ----------
    viewer : napari.Viewer
    layer : napari Image layer, optional
        A CT opened by miss-imaging; its original geometry is resliced (a
        tilted stack's display copy is not used).
    fluoro : napari Image layer, optional
        A fluoroscopy run / radiograph opened by miss-imaging, shown in its own
        ``"fluoro"`` viewport (its frames, calibration and window; not linked
        to the CT's point).  Default: the top one in the viewer, if any.

    Returns
    -------
    MPRWorkspace
        ``.viewports`` maps ``"axial"``, ``"coronal"``, ``"sagittal"``,
        ``"oblique"`` (and ``"fluoro"`` with a run) to each viewport's napari
        ``ViewerModel``;
        ``.set_point(lps_mm)``, ``.point_lps`` and ``.close()``.  Every model
        exists on return, with the axial image layer; the axial canvas is drawn
        first (image and crosshair; title, scale bar and letters just after) and
        the other viewports' layers and canvases follow one per event-loop turn
        (``.ready``; ``.finish_loading()`` makes them at once, e.g. before a
        screenshot).

    Raises
    ------
    ValueError
        When the viewer has no CT volume opened by miss-imaging, or `fluoro`
        is not a fluoroscopy run opened by it.
    """
    viewer = _napari_private.unwrap(viewer)
    widget = MPRWidget(viewer, layer, fluoro=fluoro)
    if widget.workspace is None:
        raise ValueError("no CT volume opened by miss-imaging in this viewer: open one first")
    viewer.window.add_dock_widget(widget, name="MPR workspace", area="left")
    return widget.workspace
