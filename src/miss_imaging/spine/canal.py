"""The bony spinal canal (axial plane) and the neural foramen (parasagittal plane), found from the image.

Both are the low-density region around a seed point that bone encloses in a
plane: the plane is sampled at 0.2 mm (trilinear, so any grid orientation
and spacing), the region's edge is the half-way level between the seed's
density and the surrounding bone's, the outline is that iso-contour, the
area its polygon area, and a diameter the distance between the two
crossings of that level on a line through the region's centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from skimage import measure as skmeasure

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume
from miss_imaging.spine import norms
from miss_imaging.spine.screws import METAL_HU
from miss_imaging.spine._sampling import Array, as_points, require_volume, sample, unit

__all__ = ["Canal", "Foramen", "canal", "foramen"]

_STEP = 0.2


@dataclass(frozen=True)
class Canal:
    """The bony canal in one plane.  ``stenosis``: "none", "relative" (AP < 12 mm) or "absolute" (< 10 mm)."""

    ap_mm: float
    width_mm: float
    area_mm2: float
    outline_lps: Array
    centroid_lps: Array
    ap_points_lps: Array  # (2, 3): the posterior and anterior edge points of the AP line
    stenosis: str
    calibration: str
    definition: str
    normal: norms.NormalRange = norms.CANAL_AP
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Foramen:
    """The neural foramen in one parasagittal plane; flagged when its height is ≤ 15 mm (Hasegawa 1995)."""

    height_mm: float
    width_mm: float
    area_mm2: float
    outline_lps: Array
    centroid_lps: Array
    height_points_lps: Array  # (2, 3): the superior and inferior edge points
    calibration: str
    definition: str
    normal: norms.NormalRange = norms.FORAMINAL_HEIGHT
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Region:
    outline: Array  # (M, 3) LPS
    centroid: Array
    area: float
    level: float


def _plane_axes(normal: Array, first: Array) -> tuple[Array, Array]:
    """Unit `first` projected into the plane, and normal × it."""
    a = unit(first - np.dot(first, normal) * normal, "the measuring direction (parallel to the plane normal)")
    return a, np.cross(normal, a)


def _region(volume: ImageVolume, seed: Array, normal: Array, a: Array, b: Array, half_mm: float,
            what: str) -> _Region:
    """The low-density region around `seed` in the plane (a, b), enclosed by bone within ±`half_mm`."""
    s = np.arange(-half_mm, half_mm + _STEP / 2, _STEP)
    n = len(s)
    grid = seed + s[:, None, None] * a + s[None, :, None] * b
    img = sample(volume, grid)
    c = n // 2
    inside = float(np.nanmedian(img[c - 5:c + 6, c - 5:c + 6]))
    if inside >= 300.0:
        raise MeasurementError(f"{what}: the seed {np.round(seed, 1).tolist()} lies in bone ({inside:.0f} HU); "
                               "place it in the low-density space")
    ring = img[np.isfinite(img) & (img > inside + 150.0) & (img < METAL_HU)]  # bone, not screws
    if ring.size < 50:
        raise MeasurementError(f"{what}: no bone around the seed {np.round(seed, 1).tolist()} within "
                               f"{half_mm:g} mm (nothing 150 HU denser than the seed's {inside:.0f})")
    level = 0.5 * (inside + float(np.percentile(ring, 75)))
    comp = _component(img, level, c, seed, what)
    # refine: half-way between the region's own low (epidural fat or CSF next to the wall) and the peak of the
    # bone walls just around it, i.e. the walls' half-maximum edge, not a level set by all the bone in the plane
    walls = img[ndimage.binary_dilation(comp, iterations=int(round(2.0 / _STEP))) & ~comp]
    walls = walls[np.isfinite(walls) & (walls < METAL_HU)]
    if walls.size:
        level = 0.5 * (float(np.percentile(img[comp], 5)) + float(np.percentile(walls, 95)))
        comp = _component(img, level, c, seed, what)
    if comp[0].any() or comp[-1].any() or comp[:, 0].any() or comp[:, -1].any():
        raise MeasurementError(f"{what}: the low-density region around the seed is not enclosed by bone within "
                               f"{half_mm:g} mm (open canal, or the seed is outside the spine)")
    field = np.where(ndimage.binary_dilation(comp, iterations=3), np.nan_to_num(img, nan=level + 1), level + 1)
    contours = [q for q in skmeasure.find_contours(field, level) if len(q) > 8]
    contour = max(contours, key=lambda q: _shoelace(q)) if contours else None
    if contour is None:
        raise MeasurementError(f"{what}: no closed outline found around the seed")
    rows, cols = (contour[:, 0] - c) * _STEP, (contour[:, 1] - c) * _STEP
    area = _shoelace(contour) * _STEP**2
    outline = seed + rows[:, None] * a + cols[:, None] * b
    ca, cb = _polygon_centroid(rows, cols)
    return _Region(outline, seed + ca * a + cb * b, area, level)


def _component(img: Array, level: float, c: int, seed: Array, what: str) -> npt.NDArray[np.bool_]:
    """The connected region below `level` containing the plane's centre pixel `c`."""
    lab, _ = ndimage.label(np.isfinite(img) & (img < level))
    if lab[c, c] == 0:
        raise MeasurementError(f"{what}: the seed {np.round(seed, 1).tolist()} lies in bone; place it in the "
                               "low-density space")
    return lab == lab[c, c]


def _shoelace(q: npt.NDArray[np.float64]) -> float:
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _polygon_centroid(x: Array, y: Array) -> tuple[float, float]:
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    a = cross.sum() / 2
    if abs(a) < 1e-12:
        return float(x.mean()), float(y.mean())
    return float(((x + np.roll(x, -1)) * cross).sum() / (6 * a)), float(((y + np.roll(y, -1)) * cross).sum() / (6 * a))


def _diameter(volume: ImageVolume, centre: Array, d: Array, level: float, half_mm: float,
              what: str) -> tuple[float, Array]:
    """Distance between the first rises above `level` on either side of `centre` along `d`, and the two edge points."""
    step = 0.05
    t = np.arange(0.0, half_mm, step)
    ends = []
    for sgn in (1.0, -1.0):
        prof = sample(volume, centre + sgn * np.outer(t, d))
        up = np.flatnonzero(~(prof < level))
        if up.size == 0 or up[0] == 0:
            raise MeasurementError(f"{what}: no bone edge along the measuring line within {half_mm:g} mm")
        j = int(up[0]) - 1
        ends.append(centre + sgn * (j + (level - prof[j]) / (prof[j + 1] - prof[j])) * step * d)
    return float(np.linalg.norm(ends[0] - ends[1])), np.array(ends)


def _apex(reg: _Region, end: Array, a: Array, b: Array) -> Array:
    """`end` (an AP end point, LPS) moved to where the walls either side of it meet, if they meet at an apex.

    The laminae meet the midline at a corner that the scanner's blur rounds
    off (~0.5 mm lost at a 120° apex); the two walls' outline 0.8-4 mm back
    from the end, each fitted as a line, meet at the bony apex.  A flat or
    rounded end (the body's posterior wall) is kept.
    """
    d = unit(end - reg.centroid)
    along = (reg.outline - reg.centroid) @ d
    side = (reg.outline - reg.centroid) @ np.cross(np.cross(a, b), d)
    tip = float((end - reg.centroid) @ d)
    near = (along > tip - 4.0) & (along < tip - 0.8)
    lines = []
    for sgn in (1.0, -1.0):
        pts = np.column_stack([along, side])[near & (sgn * side > 0.3)]
        if len(pts) < 5:
            return end
        c = pts.mean(axis=0)
        lines.append((c, np.linalg.svd(pts - c)[2][0]))
    (p1, d1), (p2, d2) = lines
    m = np.column_stack([d1, -d2])
    if abs(np.linalg.det(m)) < np.sin(np.radians(20)):
        return end  # the walls are (nearly) parallel: no apex
    x = p1 + np.linalg.solve(m, p2 - p1)[0] * d1
    if not (tip <= x[0] <= tip + 2.0 and abs(x[1]) < 2.0):
        return end
    return reg.centroid + x[0] * d


def _plane(seed_lps: npt.ArrayLike, normal: npt.ArrayLike | None, default: tuple[float, float, float]) -> tuple[Array, Array]:
    seed = as_points(seed_lps, "seed_lps").reshape(3)
    n = unit(default if normal is None else np.asarray(normal, dtype=np.float64).reshape(3), "normal")
    return seed, n


def canal(volume: ImageVolume, seed_lps: npt.ArrayLike, *, normal: npt.ArrayLike | None = None,
          half_mm: float = 30.0) -> Canal:
    """The bony canal around `seed_lps` in the plane through it (axial unless `normal` is given).

    ``ap_mm`` is measured through the region's centroid along the patient's
    anterior-posterior axis projected into the plane; ``width_mm`` along the
    perpendicular in-plane direction.  Stenosis: bony AP < 12 mm relative,
    < 10 mm absolute (Framingham CT study, PMC3775665).

    Raises
    ------
    MeasurementError
        No bone around the seed, seed in bone, or the region not enclosed.
    """
    require_volume(volume, "canal")
    seed, n = _plane(seed_lps, normal, (0.0, 0.0, 1.0))
    a, b = _plane_axes(n, np.array([0.0, 1.0, 0.0]))
    reg = _region(volume, seed, n, a, b, half_mm, "canal")
    ap, ap_pts = _diameter(volume, reg.centroid, a, reg.level, half_mm, "canal")
    ap_pts = np.array([_apex(reg, end, a, b) for end in ap_pts])
    ap = float(np.linalg.norm(ap_pts[1] - ap_pts[0]))
    width, _ = _diameter(volume, reg.centroid, b, reg.level, half_mm, "canal")
    flag = norms.CANAL_AP.flag(ap)
    return Canal(ap, width, reg.area, reg.outline, reg.centroid, ap_pts, norms.stenosis_grade(ap), volume.calibration,
                 "bony canal: low-density region enclosed by bone (half-maximum edge) in the plane; AP through "
                 "its centroid along the patient's AP axis, mm", flags=(flag,) if flag else ())


def foramen(volume: ImageVolume, seed_lps: npt.ArrayLike, *, normal: npt.ArrayLike | None = None,
            half_mm: float = 20.0) -> Foramen:
    """The neural foramen around `seed_lps` in a parasagittal plane (normal = patient x unless given).

    ``height_mm`` is measured through the region's centroid along the
    patient's superior axis projected into the plane (pedicle to pedicle);
    ``width_mm`` along the anterior-posterior direction.  Flag: height ≤ 15 mm
    (root compression likely, Hasegawa 1995).
    """
    require_volume(volume, "foramen")
    seed, n = _plane(seed_lps, normal, (1.0, 0.0, 0.0))
    a, b = _plane_axes(n, np.array([0.0, 0.0, 1.0]))
    reg = _region(volume, seed, n, a, b, half_mm, "foramen")
    height, h_pts = _diameter(volume, reg.centroid, a, reg.level, half_mm, "foramen")
    width, _ = _diameter(volume, reg.centroid, b, reg.level, half_mm, "foramen")
    flags = (f"foraminal height {height:.1f} mm ≤ 15 mm: root compression likely ({norms.FORAMINAL_HEIGHT.source})",) \
        if height <= 15.0 else ()
    return Foramen(height, width, reg.area, reg.outline, reg.centroid, h_pts, volume.calibration,
                   "neural foramen: low-density region enclosed by bone in the parasagittal plane; height through "
                   "its centroid along the patient's superior axis, mm", flags=flags)
