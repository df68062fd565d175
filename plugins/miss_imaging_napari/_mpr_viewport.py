"""One viewport of the MPR workspace: its napari model and canvas, and the lazy stack of its planes.

:class:`Viewport` owns one canvas (a napari ``ViewerModel`` with its own
``QtViewer``), the crosshair (one vispy line in the canvas scene) and the
orientation letters (one vispy text in canvas pixels); :class:`PlaneStack`
is the image layer's data: the viewport's planes at every depth, resliced
from the CT's original geometry when asked for.  The workspace
(:mod:`._mpr_workspace`) links the viewports.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from miss_imaging.model import ImageVolume
from miss_imaging.spatial.mpr import ViewportFrame
from miss_imaging.spatial.reslicing import reslice

from . import _mouse_wl, _napari_private

__all__ = ["VIEWPORTS", "COLORS", "SLAB_MODES", "CELLS", "PlaneStack", "Viewport", "clip_ray"]

VIEWPORTS = ("axial", "coronal", "sagittal", "oblique")
#: line colour of each viewport's plane in the others (Slicer's habit: axial red, coronal green, sagittal yellow)
COLORS = {"axial": "#ff4040", "coronal": "#40d040", "sagittal": "#f0d020", "oblique": "#ff9020"}
#: slab mode shown in the controls -> :func:`miss_imaging.reslice` mode ("thin": no slab)
SLAB_MODES = {"thin": "mip", "MIP": "mip", "mean": "mean", "MinIP": "minip"}
#: grid cell (row, column, row span, column span) of each viewport: the CT's 2 x 2, a fluoroscopy run at the right
CELLS = {"axial": (0, 0, 1, 1), "coronal": (0, 1, 1, 1), "sagittal": (1, 0, 1, 1), "oblique": (1, 1, 1, 1),
         "fluoro": (0, 2, 2, 1)}


def clip_ray(start: np.ndarray, direction: np.ndarray, box: np.ndarray) -> np.ndarray:
    """``[start, vector]`` of the ray from `start` along unit `direction`, cut at the box ``[0, box]`` (mm).

    A start outside the box gives a zero-length vector.
    """
    if np.any(start < 0) or np.any(start > box):
        return np.array([start, np.zeros(2)])
    with np.errstate(divide="ignore", invalid="ignore"):
        limits = np.where(direction > 0, (box - start) / direction,
                          np.where(direction < 0, -start / direction, np.inf))
    return np.array([start, direction * float(limits.min())])


class PlaneStack:
    """A viewport's planes at every depth as a lazy ``(depths, rows, cols)`` float32 array.

    napari slices it at the viewport's ``dims`` depth like any image, so moving
    the point is napari's own slider path (one ``dims.set_point`` per viewport):
    no layer data, translate or extent changes (each of which re-slices every
    layer and recomputes the dims of the viewer).  Index ``k`` is the plane at
    depth ``lo + k * pixel`` mm of the frame; each plane is resliced from the
    CT's original geometry when napari asks for it (the last one is cached).
    """

    ndim = 3
    dtype = np.dtype(np.float32)

    def __init__(self, volume: ImageVolume, sampler: Any, vp: "Viewport", n_half: int) -> None:
        self.volume, self.sampler, self.vp, self.n_half = volume, sampler, vp, n_half
        rows, cols = vp.frame.reference.shape
        self.shape = (2 * n_half + 1, rows, cols)
        self.size = int(np.prod(self.shape))
        self._cache: tuple[Any, np.ndarray] | None = None

    @property
    def lo(self) -> float:
        """Depth (mm) of plane 0."""
        return -self.n_half * self.vp.frame.pixel_mm

    def invalidate(self) -> None:
        self._cache = None

    def index(self, depth_mm: float) -> int:
        """The plane napari shows at `depth_mm` (its own rounding: ``np.round``, half to even)."""
        k = int(np.round((depth_mm - self.lo) / self.vp.frame.pixel_mm))
        return min(max(k, 0), self.shape[0] - 1)

    def plane(self, k: int) -> np.ndarray:
        vp = self.vp
        key = (k, vp.frame, vp.slab_mm, vp.mode)
        if self._cache is None or self._cache[0] != key:
            thin = vp.slab_mm <= 0 or vp.mode == "thin"
            img = reslice(self.volume, vp.frame.plane_at(self.lo + k * vp.frame.pixel_mm),
                          thickness_mm=0.0 if thin else vp.slab_mm, mode=SLAB_MODES[vp.mode],
                          sampler=self.sampler)
            self._cache = (key, img.pixels[0])
        return self._cache[1]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0] if key else slice(None), key[1:]
        if isinstance(first, (int, np.integer)):
            return self.plane(int(first) % self.shape[0])[rest]
        ks = range(*first.indices(self.shape[0])) if isinstance(first, slice) else np.asarray(first).ravel()
        if len(ks) > 8:  # napari only asks for the displayed plane; never build a volume-sized copy
            raise IndexError(f"{self.vp.name} viewport: {len(ks)} planes requested at once (at most 8)")
        return np.stack([self.plane(int(k)) for k in ks])[(slice(None),) + tuple(rest)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self[:], dtype=dtype)


class Viewport:
    """One canvas: its model, Qt viewer, frame, depth, slab and layers."""

    def __init__(self, name: str, frame: ViewportFrame) -> None:
        from napari.components import ViewerModel

        self.name = name
        self.frame = frame
        self.depth = 0.0
        self.slab_mm = 0.0
        self.mode = "thin"
        self.model = ViewerModel(title=name)
        self.qt: Any = None  # the canvas, made by attach() (the first one at once, the others just after)
        self.cross_data: dict[str, np.ndarray] = {}
        self.image: Any = None
        self.stack: PlaneStack | None = None
        self.cross: Any = None
        self.letters: Any = None  # the four orientation letters: one vispy Text in canvas pixels
        self.letter_text = {"top": "", "bottom": "", "left": "", "right": ""}
        self.title_px = 0.0  # estimated width of the title (the top letter moves down when they would meet)
        self.unsettled = False  # pixels pushed to the canvas ahead of napari's dims (see MPRWorkspace.settle)
        self.callbacks: list[tuple[list, Callable]] = []  # (napari callback list, callback)
        self.connections: list[tuple[Any, Callable]] = []  # (event emitter, callback)

    def attach(self) -> None:
        """Make the canvas (``QtViewer``, ~0.3-1 s each with its shaders) and its crosshair line."""
        from vispy.scene.visuals import Line  # type: ignore[import-untyped]

        self.qt = _napari_private.embedded_canvas(self.model, slider=False)
        # the crosshair: one vispy line in the canvas scene (scene = viewport world (x, y) mm), above the
        # layers.  A napari Vectors/Shapes layer rebuilds its mesh shader on every data change
        # (~75 ms per viewport and move here, against ~15 ms for this line).
        self.cross = Line(pos=np.zeros((2, 2), np.float32), connect="segments", width=2, method="gl",
                          parent=_napari_private.canvas_view(self.qt).scene)
        self.cross.order = 1_000_000
        if self.cross_data:
            self.cross.set_data(**self.cross_data)
        self.model.reset_view()

    def decorate(self) -> None:
        """Title, scale bar and orientation letters (idempotent).

        The letters are one vispy Text in the canvas's pixel frame (four napari text
        overlays cost four draws per frame: ~4 ms per canvas and move on software GL).
        """
        from vispy.scene.visuals import Text

        if self.letters is not None:
            return
        for key in ("miss_title", "scale_bar"):
            self.model.canvas.overlays[key].visible = True

        view = _napari_private.canvas_view(self.qt)
        self.letters = Text(text=list(self.letter_text.values()), pos=np.zeros((4, 2)), color="yellow",
                            font_size=14, bold=True, anchor_x="center", anchor_y="center", parent=view)
        self.letters.order = 1_000_001
        view.events.resize.connect(self.place_letters)
        self.connections.append((view.events.resize, self.place_letters))
        self.place_letters()

    def set_letters(self, letters: dict[str, str], title_px: float) -> None:
        """Show `letters` (edge -> letter); `title_px`: width of the title at the top left."""
        self.title_px = title_px
        if letters != self.letter_text:
            self.letter_text = dict(letters)
            if self.letters is not None:
                self.letters.text = list(letters.values())
        self.place_letters()

    def place_letters(self, event: Any = None) -> None:
        """Letters at the middle of each edge; the top one below the title when they would overlap."""
        if self.letters is None:
            return
        w, h = _napari_private.canvas_view(self.qt).size  # vispy: (width, height) in canvas pixels, y down
        top = 14.0 if self.title_px < w / 2 - 12 else 44.0
        self.letters.pos = np.array([[w / 2, top], [w / 2, h - 14], [12, h / 2], [w - 12, h / 2]])

    def image_node(self) -> Any:
        """The vispy node drawing the image layer on this canvas (None before the canvas exists)."""
        if self.qt is None or self.image is None:
            return None
        return _napari_private.layer_node(self.qt, self.image)

    def hook(self, lst: list, cb: Callable) -> None:
        lst.append(cb)
        self.callbacks.append((lst, cb))

    def teardown(self) -> None:
        for lst, cb in self.callbacks:
            while cb in lst:
                lst.remove(cb)
        for emitter, cb in self.connections:
            emitter.disconnect(cb)
        if self.image is not None:
            _mouse_wl.uninstall(self.image)
        # the layers stay in the model: napari runs a full gc.collect() per removed layer (or per
        # layers.clear()), 0.1-0.7 s each here; once the callbacks are gone and the canvas is closed
        # nothing outside this viewport refers to them, and they are freed with it
        for visual in (self.cross, self.letters):
            if visual is not None:
                visual.parent = None
        if self.qt is not None:
            self.qt.close()
            self.qt.setParent(None)  # owned by Python now: freed with the last reference, below
            self.qt.deleteLater()
        # break the model <-> callback cycles
        self.qt = self.model = self.image = self.cross = self.letters = self.stack = None
        self.callbacks.clear()
        self.connections.clear()
