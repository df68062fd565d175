"""Geometry of a linked multi-planar (MPR) workspace, in patient LPS mm (no GUI).

A workspace shows one shared point of a volume in an axial, a coronal and a
sagittal viewport, plus an oblique one along a trajectory (entry -> target).
This module makes the decisions; a viewer only draws them:

* :func:`viewport_planes` -- the three standard :class:`~miss_imaging.spatial.reslicing.Plane`
  objects through the point, each covering the whole volume (any orientation
  of the stored slices: the planes are patient-aligned, so a gantry-tilted
  stack is resliced from its true geometry, never shown as stored slices);
* :class:`ViewportFrame` -- the fixed 2-D frame of a viewport: a plane
  through the volume centre whose in-plane position never changes, so that
  moving the point only moves the plane along its normal (``depth`` in mm)
  and the picture does not jump while the user scrolls;
* :func:`crosshair` -- where the other viewports' planes cut this one;
* :func:`trajectory_plane` and :func:`bullseye_plane` -- the oblique views
  along and down a trajectory.

Radiological conventions are those of :class:`~miss_imaging.spatial.reslicing.Plane`:
axial viewed from the feet (patient left on screen right, anterior up),
coronal from the front (superior up, patient left on screen right),
sagittal from the patient's left (superior up, anterior on screen left).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from miss_imaging.model import ImageVolume
from miss_imaging.spatial.reslicing import Plane

__all__ = [
    "ORTHOGONAL",
    "ViewportFrame",
    "volume_corners",
    "volume_center",
    "viewport_frame",
    "viewport_planes",
    "crosshair",
    "trajectory_plane",
    "bullseye_plane",
]

#: the orthogonal viewports, in display order
ORTHOGONAL = ("axial", "coronal", "sagittal")
_PARALLEL = 1e-6


def volume_corners(volume: ImageVolume) -> npt.NDArray[np.float64]:
    """LPS mm of the 8 corner voxel centres, ``(8, 3)``."""
    n = np.array(volume.shape, dtype=np.float64) - 1
    idx = np.array([[a, b, c] for a in (0, n[0]) for b in (0, n[1]) for c in (0, n[2])])
    return np.asarray(volume.index_to_patient(idx), dtype=np.float64)


def volume_center(volume: ImageVolume) -> npt.NDArray[np.float64]:
    """LPS mm of the centre of the volume's voxel-centre box."""
    return volume_corners(volume).mean(axis=0)


@dataclasses.dataclass(frozen=True)
class ViewportFrame:
    """A viewport's fixed frame: ``reference`` is its plane through the volume centre.

    A viewport shows ``reference`` moved by ``depth`` mm along its normal.
    Viewport world coordinates are ``(depth, y, x)`` mm with
    ``LPS = reference.origin + depth * normal + y * v + x * u`` (``y`` grows
    down the screen, ``x`` to the right, both from pixel ``(0, 0)``).
    Depths are multiples of the pixel size, so the plane lies on the
    viewport's own grid.
    """

    name: str
    reference: Plane

    @property
    def pixel_mm(self) -> float:
        return self.reference.pixel_mm

    def depth_of(self, lps: npt.ArrayLike) -> float:
        """Depth (mm, along the normal, a multiple of the pixel size) of the plane nearest `lps`."""
        d = float((np.asarray(lps, dtype=np.float64) - self.reference.origin) @ self.reference.normal)
        return round(d / self.pixel_mm) * self.pixel_mm

    def plane_at(self, depth_mm: float) -> Plane:
        """The viewport's plane at `depth_mm`."""
        return self.reference.replace(center=tuple(np.asarray(self.reference.center) + depth_mm * self.reference.normal))

    def to_world(self, lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """LPS mm ``(..., 3)`` -> viewport world ``(..., 3)`` = (depth, y, x) mm."""
        p = self.reference.to_pixel(lps)
        return np.concatenate([p[..., :1], p[..., 1:] * self.pixel_mm], axis=-1)

    def to_lps(self, world: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Viewport world ``(..., 3)`` = (depth, y, x) mm -> LPS mm ``(..., 3)``."""
        w = np.asarray(world, dtype=np.float64)
        r = self.reference
        return (r.origin + w[..., :1] * r.normal + w[..., 1:2] * np.asarray(r.v)
                + w[..., 2:3] * np.asarray(r.u))


def _covering(center: npt.NDArray[np.float64], u: npt.ArrayLike, v: npt.ArrayLike,
              corners: npt.NDArray[np.float64], pixel_mm: float, max_pixels: int) -> Plane:
    """A plane with directions u, v centred on the projection of the box, covering all corners."""
    d = corners - center
    uu, vv = np.asarray(u, np.float64), np.asarray(v, np.float64)
    size = np.array([np.ptp(d @ vv), np.ptp(d @ uu)])
    px = max(pixel_mm, float(size.max()) / max(max_pixels - 1, 1))
    rows, cols = (int(math.ceil(s / px - 1e-9)) + 1 for s in size)
    mid = center + ((d @ vv).max() + (d @ vv).min()) / 2 * vv + ((d @ uu).max() + (d @ uu).min()) / 2 * uu
    return Plane(tuple(mid), tuple(uu), tuple(vv), px, (rows, cols))  # type: ignore[arg-type]


def viewport_frame(volume: ImageVolume, name: str, *, pixel_mm: float | None = None,
                   max_pixels: int = 1024) -> ViewportFrame:
    """The fixed frame of the ``"axial"``, ``"coronal"`` or ``"sagittal"`` viewport of `volume`.

    Parameters
    ----------
    volume : ImageVolume
        The CT (any slice orientation, tilted or not).
    pixel_mm : float, optional
        Pixel size of the viewport image (default: the finest voxel spacing).
    max_pixels : int
        The longer image side is at most this many pixels (pixel size grows if needed).
    """
    px = float(min(volume.spacing)) if pixel_mm is None else float(pixel_mm)
    std = Plane.standard(name, (0.0, 0.0, 0.0), pixel_mm=px, shape=(1, 1))
    return ViewportFrame(name.lower(), _covering(volume_center(volume), std.u, std.v, volume_corners(volume),
                                                 px, max_pixels))


def viewport_planes(volume: ImageVolume, point_lps: npt.ArrayLike, *, pixel_mm: float | None = None,
                    max_pixels: int = 1024) -> dict[str, Plane]:
    """Axial, coronal and sagittal planes through `point_lps` (LPS mm), each covering `volume`.

    Each plane's normal passes through the point's nearest grid depth of its
    viewport (:meth:`ViewportFrame.depth_of`), so the point lies within half
    a pixel of every plane.
    """
    out = {}
    for name in ORTHOGONAL:
        frame = viewport_frame(volume, name, pixel_mm=pixel_mm, max_pixels=max_pixels)
        out[name] = frame.plane_at(frame.depth_of(point_lps))
    return out


def crosshair(plane: Plane, point_lps: npt.ArrayLike, others: dict[str, Plane]) -> dict[str, tuple]:
    """Where each of `others` cuts `plane`.

    Returns
    -------
    dict
        name -> ``((row, col), (d_row, d_col))``: the pixel position in `plane`
        of the intersection line's point nearest the shared point (the shared
        point itself when the other plane passes through it) and the line's
        unit in-plane direction.  Planes parallel to `plane` are left out.
    """
    p = np.asarray(point_lps, dtype=np.float64)
    n1 = plane.normal
    h1 = float(n1 @ np.asarray(plane.center))
    out = {}
    for name, other in others.items():
        n2 = other.normal
        d = np.cross(n1, n2)
        if np.linalg.norm(d) < _PARALLEL:
            continue
        c = float(n1 @ n2)
        e = np.array([h1 - n1 @ p, float(n2 @ np.asarray(other.center)) - n2 @ p])
        a, b = np.linalg.solve([[1.0, c], [c, 1.0]], e)  # nearest point of the line to p
        _, row, col = plane.to_pixel(p + a * n1 + b * n2)
        dr, dc = float(d @ np.asarray(plane.v)), float(d @ np.asarray(plane.u))
        norm = math.hypot(dr, dc)
        out[name] = ((float(row), float(col)), (dr / norm, dc / norm))
    return out


def trajectory_plane(entry: npt.ArrayLike, target: npt.ArrayLike, *, angle_deg: float = 0.0,
                     pixel_mm: float = 0.5, size_mm: float = 160.0) -> Plane:
    """Square oblique plane containing the trajectory entry -> target (entry at the top).

    See :meth:`Plane.along_line` for the direction conventions; `angle_deg`
    rotates the plane about the trajectory.
    """
    n = int(math.ceil(size_mm / pixel_mm)) + 1
    return Plane.along_line(entry, target, angle_deg=angle_deg, pixel_mm=pixel_mm, shape=(n, n))


def bullseye_plane(entry: npt.ArrayLike, target: npt.ArrayLike, *, at: npt.ArrayLike | None = None,
                   angle_deg: float = 0.0, pixel_mm: float = 0.5, size_mm: float = 80.0) -> Plane:
    """Plane perpendicular to the trajectory ("bull's-eye"), looking from entry toward target.

    Centred where the trajectory line meets the plane through `at` (default:
    the target).  The trajectory pierces the image centre.  ``u`` is the
    ``u`` of :func:`trajectory_plane` at the same angle, so screen right is
    the same direction in both oblique views; the normal is entry -> target.
    """
    e = np.asarray(entry, dtype=np.float64)
    t_pt = np.asarray(target, dtype=np.float64)
    along = trajectory_plane(e, t_pt, angle_deg=angle_deg, pixel_mm=pixel_mm, size_mm=pixel_mm)
    t = np.asarray(along.v)  # unit entry -> target
    p = t_pt if at is None else np.asarray(at, dtype=np.float64)
    center = e + float((p - e) @ t) * t
    u = np.asarray(along.u)
    n = int(math.ceil(size_mm / pixel_mm)) + 1
    return Plane(tuple(center), tuple(u), tuple(np.cross(t, u)), pixel_mm, (n, n))  # type: ignore[arg-type]
