"""Analytic spine phantoms of exactly known anatomy, on anisotropic and oblique CT grids.

Each object is a signed distance ``sd(points)`` (mm, negative inside) painted
with a linear partial-volume ramp ``clip(0.5 - sd / blur, 0, 1)``: the
half-maximum iso-surface of the image is exactly the object's surface, and
the voxel values are the function at the voxel centres (array order k, j, i).
Objects are painted only inside their bounding box, so large grids stay cheap.
"""

from __future__ import annotations

import numpy as np

from miss_imaging.model import ImageVolume


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix (degrees about patient x, then y, then z)."""
    a, b, c = np.radians([rx, ry, rz])
    x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    z = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return z @ y @ x


class Phantom:
    """A CT grid: `spacing` (slice, row, col) mm, rotated by `rot` (degrees about x, y, z), centred at `centre`."""

    def __init__(self, extent_mm, spacing=(1.1, 0.7, 0.55), rot=(8.0, -6.0, 12.0), centre=(0.0, 0.0, 0.0),
                 fill=-1000.0, dtype=np.float32):
        r = rotation(*rot)
        row_dir, col_dir = r[:, 0], r[:, 1]  # IOP row cosines (i grows), column cosines (j grows)
        normal = np.cross(row_dir, col_dir)
        a = np.column_stack([spacing[0] * normal, spacing[1] * col_dir, spacing[2] * row_dir])
        ext = np.abs(np.column_stack([normal, col_dir, row_dir])).T @ np.asarray(extent_mm, float)
        shape = tuple(int(np.ceil(e / s)) + 1 for e, s in zip(ext, spacing))
        self.affine = np.eye(4)
        self.affine[:3, :3] = a
        self.affine[:3, 3] = np.asarray(centre) - a @ ((np.asarray(shape) - 1) / 2)
        self.spacing = tuple(float(s) for s in spacing)
        self.pixels = np.full(shape, fill, dtype=dtype)

    def _box(self, lo, hi):
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        idx = np.linalg.solve(self.affine[:3, :3], (corners - self.affine[:3, 3]).T).T
        a = np.clip(np.floor(idx.min(axis=0)).astype(int) - 1, 0, self.pixels.shape)
        b = np.clip(np.ceil(idx.max(axis=0)).astype(int) + 2, 0, self.pixels.shape)
        return tuple(slice(i, j) for i, j in zip(a, b))

    def paint(self, sd, hu, lo, hi, blur=2.0):
        """Blend `hu` into the voxels by the occupancy of `sd` within the LPS box [lo, hi] (8-slice slabs)."""
        box = self._box(np.asarray(lo, float) - blur, np.asarray(hi, float) + blur)
        j, i = np.meshgrid(np.arange(box[1].start, box[1].stop), np.arange(box[2].start, box[2].stop), indexing="ij")
        a, t = self.affine[:3, :3], self.affine[:3, 3]
        plane = (np.stack([j, i], axis=-1).reshape(-1, 2) @ a[:, 1:].T) + t
        for k0 in range(box[0].start, box[0].stop, 8):
            ks = np.arange(k0, min(k0 + 8, box[0].stop))
            if not plane.size:
                return
            pts = (ks[:, None, None] * a[:, 0] + plane[None]).reshape(-1, 3)
            f = np.clip(0.5 - sd(pts) / blur, 0.0, 1.0).reshape(len(ks), *j.shape).astype(self.pixels.dtype)
            sub = self.pixels[ks[0]:ks[-1] + 1, box[1], box[2]]
            sub += (hu - sub) * f

    def volume(self) -> ImageVolume:
        return ImageVolume(np.round(self.pixels).astype(np.int16), self.spacing, self.affine, "volume", modality="CT")


# --- signed distances (mm, negative inside) -----------------------------------------------------------


def halfspaces(planes):
    """Convex polytope from ``[(point, outward normal), ...]``: max of the plane distances."""
    pts = np.array([p for p, _ in planes], float)
    nrm = np.array([n / np.linalg.norm(n) for _, n in planes], float)

    def sd(x):
        return np.max(np.einsum("mpk,pk->mp", x[:, None, :] - pts[None], nrm), axis=1)
    return sd


def slab_x(half):
    return [((half, 0, 0), (1, 0, 0)), ((-half, 0, 0), (-1, 0, 0))]


def sagittal_body(corners_yz, half_width=18.0):
    """A vertebral body: the sagittal quadrilateral AS, PS, PI, AI (y, z) extruded along x (± half_width)."""
    c = np.asarray(corners_yz, float)
    planes = slab_x(half_width)
    centre = c.mean(axis=0)
    for i in range(4):
        p, q = c[i], c[(i + 1) % 4]
        d = q - p
        n = np.array([d[1], -d[0]])
        if np.dot(n, p - centre) < 0:
            n = -n
        planes.append(((0.0, p[0], p[1]), (0.0, n[0], n[1])))
    return halfspaces(planes)


def cylinder(p0, axis, length, radius):
    """Capped cylinder from `p0` along unit `axis` for `length` mm."""
    p0, axis = np.asarray(p0, float), np.asarray(axis, float) / np.linalg.norm(axis)

    def sd(x):
        d = x - p0
        a = d @ axis
        rho = np.linalg.norm(d - a[:, None] * axis, axis=1)
        return np.maximum.reduce([rho - radius, -a, a - length])
    return sd


def elliptic_cylinder(centre, e1, e2, a, b):
    """Infinite elliptic cylinder: semi-axis `a` along e1, `b` along e2 (iso-surface exact, ramp approximate)."""
    c, e1, e2 = np.asarray(centre, float), np.asarray(e1, float), np.asarray(e2, float)

    def sd(x):
        d = x - c
        return (np.hypot((d @ e1) / a, (d @ e2) / b) - 1.0) * np.sqrt(a * b)
    return sd


def union(*sds):
    return lambda x: np.minimum.reduce([s(x) for s in sds])
