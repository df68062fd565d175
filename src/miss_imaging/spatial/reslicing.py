"""Oblique reslicing (MPR) and thick slabs, in patient mm.

A :class:`Plane` is a rectangle of pixels in patient space (LPS mm):

* ``u`` -- unit vector along which the **column** index grows (screen right);
* ``v`` -- unit vector along which the **row** index grows (screen down);
* ``normal = u x v`` -- the viewing direction (into the screen).  Because
  the normal is always the right-handed cross product, a resliced image is
  never a mirror image of the anatomy: it is what an observer looking along
  ``normal`` sees, with ``u`` to the right and ``v`` down.

Standard planes follow radiological display conventions:

=========  ================  ================  ==============================
plane      screen right (u)  screen down (v)   viewer looks along (normal)
=========  ================  ================  ==============================
axial      patient left +x   posterior +y      toward the head (+z), from the feet
coronal    patient left +x   inferior -z       toward posterior (+y), from the front
sagittal   posterior +y      inferior -z       toward patient right (-x), from the left
=========  ================  ================  ==============================

:func:`reslice` returns an :class:`~miss_imaging.model.ImageVolume` of shape
``(1, rows, cols)`` whose affine maps ``(0, row, col)`` to LPS mm (column 0 is
the normal times the slab thickness, or the pixel size for a thin plane), so
distances measured in the image are true 3-D distances in mm.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from miss_imaging import _parallel
from miss_imaging.model import ImageVolume
from miss_imaging.spatial._interp import TRI_BLOCK_THREADED, PointSampler

__all__ = ["Plane", "reslice", "make_sampler", "SlabMode"]

SlabMode = Literal["mip", "mean", "minip"]

_DEGENERATE = 1e-9  # |cross product| below this: directions are parallel


def _unit(v: npt.ArrayLike, what: str) -> npt.NDArray[np.float64]:
    a = np.asarray(v, dtype=np.float64).reshape(3)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n < _DEGENERATE:
        raise ValueError(f"{what} must be a non-zero finite 3-vector (LPS mm); got {v!r}")
    return a / n


@dataclasses.dataclass(frozen=True)
class Plane:
    """An image plane in patient space.

    Parameters
    ----------
    center : (3,) float
        LPS mm of the image centre (between the middle pixels for even sizes).
    u, v : (3,) float
        In-plane directions of growing column and row index.  They are
        orthonormalised on construction (``v`` loses its component along
        ``u``), so any two non-parallel vectors are accepted.
    pixel_mm : float
        Pixel size in mm (square pixels).
    shape : (rows, cols)
        Image size in pixels.
    """

    center: tuple[float, float, float]
    u: tuple[float, float, float]
    v: tuple[float, float, float]
    pixel_mm: float = 0.5
    shape: tuple[int, int] = (512, 512)

    def __post_init__(self) -> None:
        u = _unit(self.u, "`u`")
        v = np.asarray(self.v, dtype=np.float64).reshape(3)
        v = _unit(v - (v @ u) * u, "`v` (after removing its component along `u`; u and v parallel?)")
        c = np.asarray(self.center, dtype=np.float64).reshape(3)
        if not (self.pixel_mm > 0 and math.isfinite(self.pixel_mm)):
            raise ValueError(f"`pixel_mm` must be a positive number of mm; got {self.pixel_mm!r}")
        rows, cols = (int(s) for s in self.shape)
        if rows < 1 or cols < 1:
            raise ValueError(f"`shape` must be (rows, cols) >= 1; got {self.shape!r}")
        object.__setattr__(self, "center", tuple(float(x) for x in c))
        object.__setattr__(self, "u", tuple(float(x) for x in u))
        object.__setattr__(self, "v", tuple(float(x) for x in v))
        object.__setattr__(self, "pixel_mm", float(self.pixel_mm))
        object.__setattr__(self, "shape", (rows, cols))

    # ------------------------------------------------------------ geometry
    @property
    def normal(self) -> npt.NDArray[np.float64]:
        """``u x v``: unit viewing direction (into the screen)."""
        return np.cross(self.u, self.v)

    @property
    def origin(self) -> npt.NDArray[np.float64]:
        """LPS mm of pixel ``(row 0, col 0)``."""
        rows, cols = self.shape
        return (np.asarray(self.center) - (rows - 1) / 2 * self.pixel_mm * np.asarray(self.v)
                - (cols - 1) / 2 * self.pixel_mm * np.asarray(self.u))

    def affine(self, slab_mm: float | None = None) -> npt.NDArray[np.float64]:
        """4x4 map of ``(0, row, col, 1)`` to LPS mm; column 0 = normal x `slab_mm` (default pixel size)."""
        A = np.eye(4)
        A[:3, 0] = self.normal * (slab_mm or self.pixel_mm)
        A[:3, 1] = np.asarray(self.v) * self.pixel_mm
        A[:3, 2] = np.asarray(self.u) * self.pixel_mm
        A[:3, 3] = self.origin
        return A

    def to_pixel(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """LPS mm ``(..., 3)`` -> ``(..., 3)`` = (distance from the plane in mm along normal, row, col)."""
        d = np.asarray(points, dtype=np.float64) - self.origin
        return np.stack([d @ self.normal, d @ np.asarray(self.v) / self.pixel_mm,
                         d @ np.asarray(self.u) / self.pixel_mm], axis=-1)

    def to_patient(self, row: npt.ArrayLike, col: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Pixel ``(row, col)`` (fractions allowed) -> LPS mm ``(..., 3)``."""
        r = np.asarray(row, dtype=np.float64)[..., None]
        c = np.asarray(col, dtype=np.float64)[..., None]
        return self.origin + r * self.pixel_mm * np.asarray(self.v) + c * self.pixel_mm * np.asarray(self.u)

    def replace(self, **changes: Any) -> "Plane":
        """A copy with some fields changed (e.g. ``center=...``)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------ helpers
    @classmethod
    def axial(cls, center: npt.ArrayLike, *, pixel_mm: float = 0.5, shape: tuple[int, int] = (512, 512)) -> "Plane":
        """Axial plane: patient left on screen right, anterior up (viewed from the feet)."""
        return cls(tuple(center), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), pixel_mm, shape)  # type: ignore[arg-type]

    @classmethod
    def coronal(cls, center: npt.ArrayLike, *, pixel_mm: float = 0.5, shape: tuple[int, int] = (512, 512)) -> "Plane":
        """Coronal plane: patient left on screen right, superior up (viewed from the front)."""
        return cls(tuple(center), (1.0, 0.0, 0.0), (0.0, 0.0, -1.0), pixel_mm, shape)  # type: ignore[arg-type]

    @classmethod
    def sagittal(cls, center: npt.ArrayLike, *, pixel_mm: float = 0.5, shape: tuple[int, int] = (512, 512)) -> "Plane":
        """Sagittal plane: anterior on screen left, superior up (viewed from the patient's left)."""
        return cls(tuple(center), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0), pixel_mm, shape)  # type: ignore[arg-type]

    @classmethod
    def standard(cls, name: str, center: npt.ArrayLike, **kw: Any) -> "Plane":
        """``"axial"``, ``"coronal"`` or ``"sagittal"`` through `center`."""
        try:
            return {"axial": cls.axial, "coronal": cls.coronal, "sagittal": cls.sagittal}[name.lower()](center, **kw)
        except KeyError:
            raise ValueError(f"unknown plane {name!r}; use 'axial', 'coronal' or 'sagittal'") from None

    @classmethod
    def along_line(
        cls,
        entry: npt.ArrayLike,
        target: npt.ArrayLike,
        *,
        angle_deg: float = 0.0,
        pixel_mm: float = 0.5,
        shape: tuple[int, int] = (512, 512),
        center: npt.ArrayLike | None = None,
    ) -> "Plane":
        """Plane containing the line entry -> target (e.g. a screw trajectory).

        The line runs down the image along ``v`` (entry above target), through
        the image centre (default: the midpoint).  At ``angle_deg = 0``, ``u``
        is the patient +x (left) direction made perpendicular to the line
        (patient +y when the line is within 25 deg of the x axis); the plane
        then rotates by `angle_deg` about the line, right-handed about
        entry -> target (90 deg gives the perpendicular view through the same line).
        """
        e = np.asarray(entry, dtype=np.float64)
        t = _unit(np.asarray(target, dtype=np.float64) - e, "target - entry")
        ref = np.array([1.0, 0.0, 0.0]) if abs(t[0]) < math.cos(math.radians(25)) else np.array([0.0, 1.0, 0.0])
        u0 = _unit(ref - (ref @ t) * t, "reference direction")
        a = math.radians(angle_deg)
        u = math.cos(a) * u0 + math.sin(a) * np.cross(t, u0)
        c = (e + np.asarray(target, dtype=np.float64)) / 2 if center is None else np.asarray(center, np.float64)
        return cls(tuple(c), tuple(u), tuple(t), pixel_mm, shape)  # type: ignore[arg-type]

    @classmethod
    def through_points(
        cls,
        p0: npt.ArrayLike,
        p1: npt.ArrayLike,
        p2: npt.ArrayLike,
        *,
        pixel_mm: float = 0.5,
        shape: tuple[int, int] = (512, 512),
        center: npt.ArrayLike | None = None,
    ) -> "Plane":
        """Plane through three points: ``u`` along p0 -> p1, `p2` on the side of growing rows.

        Centred on the centroid of the points unless `center` is given.
        """
        a, b, c = (np.asarray(p, dtype=np.float64).reshape(3) for p in (p0, p1, p2))
        u = _unit(b - a, "p1 - p0")
        w = c - a
        if np.linalg.norm(np.cross(u, w)) < _DEGENERATE * max(1.0, float(np.linalg.norm(w))):
            raise ValueError("the three points are collinear: they do not define a plane")
        centre = (a + b + c) / 3 if center is None else np.asarray(center, np.float64)
        return cls(tuple(centre), tuple(u), tuple(w), pixel_mm, shape)  # type: ignore[arg-type]


def _plane_values(sampler: Any, origin: npt.NDArray[np.float64], steps: list[npt.NDArray[np.float64]],
                  rows: int, cols: int, threads: int | None) -> npt.NDArray[np.float32]:
    """Sample a (rows, cols) plane, splitting the rows over `threads`.

    Measured (512 x 512 oblique plane through 512 x 512 x 300 int16, linear,
    2 x 40 interleaved rounds, median): one thread 10.6 ms; two threads with
    the one-thread block size (8192 points, chosen to stay in L2) 13.3 ms,
    because every one of the kernel's short numpy calls hands the GIL over
    to the other thread; two threads with 64k-point blocks
    (:data:`~miss_imaging.spatial._interp.TRI_BLOCK_THREADED`) 9.35-9.5 ms; SimpleITK
    (two threads) 10.2 ms.  But when the other core is busy (another run,
    80 rounds): one thread 10.3 ms, two threads 13.1 ms (35 % more CPU), so
    :func:`reslice` defaults to one thread: lower CPU and steadier latency
    while dragging.  ``map_coordinates`` (orders 0 and 3) holds the GIL, so
    threads do not help there.
    """
    c = np.arange(cols, dtype=np.float64)[None, :]
    threads = _parallel.resolve_workers(threads)
    if threads <= 1 or rows < 64:
        return sampler.grid(origin, steps, [np.arange(rows, dtype=np.float64)[:, None], c])
    out = np.empty((rows, cols), np.float32)
    bounds = np.linspace(0, rows, threads + 1).astype(int)

    def work(k: int) -> None:
        a, b = bounds[k], bounds[k + 1]
        out[a:b] = sampler.grid(origin, steps, [np.arange(a, b, dtype=np.float64)[:, None], c],
                                block=TRI_BLOCK_THREADED)

    _parallel.run(work, range(threads), workers=threads)
    return out


def _slab_offsets(thickness_mm: float, step_mm: float) -> npt.NDArray[np.float64]:
    """Sample offsets (mm along the normal) covering [-T/2, T/2] no coarser than `step_mm`."""
    if thickness_mm <= 0:
        return np.zeros(1)
    n = max(2, int(math.ceil(thickness_mm / step_mm - 1e-9)) + 1)
    return np.linspace(-thickness_mm / 2, thickness_mm / 2, n)


def reslice(
    volume: ImageVolume,
    plane: Plane,
    *,
    order: int = 1,
    thickness_mm: float = 0.0,
    mode: SlabMode = "mip",
    cval: float | None = None,
    sampler: Any = None,
    threads: int | None = 1,
) -> ImageVolume:
    """Sample `volume` on an oblique plane, optionally as a thick slab.

    Parameters
    ----------
    volume : ImageVolume
        A CT-like volume (regular or not: irregular stacks are sampled from
        their true slice positions, order <= 1).
    plane : Plane
        Where to sample (LPS mm), pixel size and image size.
    order : {0, 1, 3}
        Nearest, linear (default) or cubic B-spline interpolation.
    thickness_mm : float
        Slab thickness along the plane normal; 0 for a thin plane.  Samples
        are spaced no farther apart than the volume's finest spacing.
    mode : {"mip", "mean", "minip"}
        Slab projection: maximum (screws, bone), mean (noise reduction),
        minimum (air, canals).  Samples outside the volume are ignored.
    cval : float, optional
        Value where the plane leaves the volume (default the volume minimum).
    sampler : optional
        A cached ``PointSampler`` for the same volume and order, from
        :func:`make_sampler` (saves the minimum scan when following the mouse).
    threads : int or None
        Worker threads (rows are split between them; ``None``: the machine's
        CPUs, :mod:`miss_imaging._parallel`).  Default 1: two
        threads gain ~10 % on an idle machine and lose ~30 % on a busy one
        (measurements in ``_plane_values``).

    Returns
    -------
    ImageVolume
        ``pixels`` float32 of shape ``(1, rows, cols)``; ``affine`` =
        :meth:`Plane.affine` (thickness as the slab axis spacing),
        ``spacing = (thickness or pixel, pixel, pixel)``; other fields copied
        from `volume`; ``metadata["reslice"]`` records plane and slab.

    Examples
    --------
    >>> import numpy as np
    >>> from miss_imaging.model import ImageVolume
    >>> A = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> vol = ImageVolume(np.arange(64, dtype=np.float32).reshape(4, 4, 4), (1, 1, 1), A, "volume")
    >>> img = reslice(vol, Plane.coronal((1.5, 2.0, 1.5), pixel_mm=1.0, shape=(4, 4)))
    >>> img.shape, float(img.pixels[0, 0, 0])   # row 0 = superior (z = 3), col 0 = x 0, y = 2
    ((1, 4, 4), 56.0)
    """
    if mode not in ("mip", "mean", "minip"):
        raise ValueError(f"`mode` must be 'mip', 'mean' or 'minip'; got {mode!r}")
    if thickness_mm < 0 or not math.isfinite(thickness_mm):
        raise ValueError(f"`thickness_mm` must be >= 0 mm; got {thickness_mm!r}")
    if sampler is None or sampler.requested_order != order or (cval is not None and sampler.cval != float(cval)):
        sampler = PointSampler(volume, order, cval)
    fill = sampler.cval
    rows, cols = plane.shape
    px = plane.pixel_mm
    steps = [np.asarray(plane.v) * px, np.asarray(plane.u) * px]
    offsets = _slab_offsets(thickness_mm, min(volume.spacing))
    if len(offsets) == 1:
        out = _plane_values(sampler, plane.origin, steps, rows, cols, threads)
    else:
        sampler_nan = PointSampler.__new__(PointSampler)
        sampler_nan.__dict__.update(sampler.__dict__)
        sampler_nan.cval = np.nan  # outside samples are ignored by fmax / fmin / nanmean
        acc: npt.NDArray[np.float32] | None = None
        count: npt.NDArray[np.float32] | None = None
        for off in offsets:
            s = _plane_values(sampler_nan, plane.origin + off * plane.normal, steps, rows, cols, threads)
            if acc is None:
                acc = s
                if mode == "mean":
                    count = (~np.isnan(s)).astype(np.float32)
                    np.nan_to_num(acc, copy=False, nan=0.0)
                continue
            if mode == "mip":
                np.fmax(acc, s, out=acc)
            elif mode == "minip":
                np.fmin(acc, s, out=acc)
            else:
                ok = ~np.isnan(s)
                count += ok
                acc += np.where(ok, s, 0.0)
        assert acc is not None
        if mode == "mean":
            assert count is not None
            with np.errstate(invalid="ignore", divide="ignore"):
                acc /= count
        out = acc
        out[np.isnan(out)] = fill
    slab = thickness_mm if len(offsets) > 1 else 0.0
    meta = dict(volume.metadata)
    meta["reslice"] = {"center": plane.center, "u": plane.u, "v": plane.v, "pixel_mm": px,
                       "thickness_mm": slab, "mode": mode if slab else "thin", "order": order}
    affine = plane.affine(slab or None)
    return volume.replace(
        pixels=out.reshape(1, rows, cols), spacing=(slab or px, px, px), affine=affine,
        slice_positions=affine[:3, 3][None, :].copy(), regular=True, metadata=meta, warnings=list(volume.warnings),
    )


def make_sampler(volume: ImageVolume, *, order: int = 1, cval: float | None = None, compiled: bool = True) -> Any:
    """Prepare `volume` once for repeated :func:`reslice` calls (live dragging).

    `compiled`: linear sampling of a regular volume uses the optional numba
    kernel when numba is installed (``pip install miss-imaging[fast]``;
    bit-identical to the numpy kernel, about 2-4x faster); False forces numpy.
    """
    return PointSampler(volume, order, cval, compiled)
