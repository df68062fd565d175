"""Pedicle-screw breach: how far a screw's outer surface lies outside the bone's outer cortex.

In cross-sections perpendicular to the screw (every 1 mm along the shank)
rays run outward from the screw's surface in 24 directions; every crossing
of the bone's half-maximum level along them is an outline point of the
bone.  Where the screw hides the cortex (it has left the bone), the cortex is
extrapolated by an oval (ellipse) fitted to the visible outline points around it (a
pedicle's cross-section), and the breach is how far the screw's circle
reaches beyond that oval (an ellipse fit).  An anterior breach is how far the tip reaches
beyond the plane fitted to where bone ends on lines parallel to the axis
just outside the screw.  Grades: modified Gertzbein–Robbins (A none, B < 2 mm,
C 2 to < 4, D 4 to < 6, E ≥ 6; Springer 10.1007/s11701-024-02001-w).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume
from miss_imaging.spine import norms
from miss_imaging.spine._sampling import Array, as_points, bone_centroid_x, perpendicular_basis, sample
from miss_imaging.spine.screws import METAL_HU, Screw

__all__ = ["Breach", "breach"]

_ANGLES = np.linspace(0, 2 * np.pi, 24, endpoint=False)
_R_OUT = 8.0  # mm beyond the screw's surface searched for the cortex
_DR = 0.2  # mm; crossings are interpolated linearly between samples
_OVAL_ARC_DEG = 185.0  # an outline seen over less than this fits a circle: an ellipse on a short arc is unstable


@dataclass(frozen=True)
class Breach:
    """A screw's breach of the cortex (modified Gertzbein–Robbins).

    ``direction`` is "medial" (toward the canal), "lateral", "superior",
    "inferior", "anterior", or None without breach; ``at_lps`` the point of
    the screw's surface farthest outside.
    """

    distance_mm: float
    direction: str | None
    grade: str
    at_lps: Array | None
    calibration: str
    definition: str
    flags: tuple[str, ...] = ()


def _levels(prof: Array, bone_hu: float) -> Array:
    """Per cross-section (first axis of `prof`): half-way between its bone plateau and soft tissue.

    The plateau is the 90th percentile of its bone samples (≥ `bone_hu`,
    below metal), so a dense pedicle and a lighter body each get their own
    half-maximum edge; NaN where a section has no bone.
    """
    v = prof.reshape(len(prof), -1)
    is_bone = (v >= bone_hu) & (v < METAL_HU)
    is_soft = v < bone_hu  # NaN is neither
    plateau = _row_quantile(np.where(is_bone, v, np.inf), is_bone.sum(axis=1), 0.9)
    floor = np.nan_to_num(_row_quantile(np.where(is_soft, v, np.inf), is_soft.sum(axis=1), 0.5), nan=0.0)
    return np.where(is_bone.sum(axis=1) >= 10, 0.5 * (plateau + floor), np.nan)


def _row_quantile(v: Array, n: Array, q: float) -> Array:
    """Quantile `q` of the first `n` finite values of each row (the rest padded with +inf); NaN where n = 0."""
    srt = np.sort(v, axis=1)
    k = np.clip(np.floor(q * (n - 1)).astype(int), 0, v.shape[1] - 1)
    out = srt[np.arange(len(v)), k]
    return np.where(n > 0, out, np.nan)


def _crossings(prof: Array, r: Array, level: float) -> tuple[Array, Array]:
    """In-plane (x, y) of the outer bone edge on each ray (rows of `prof`, at `_ANGLES`): its last fall below
    `level` (so a cancellous core inside the cortex is not taken for the outline), interpolated linearly."""
    above = prof >= level
    fall = above[:, :-1] & ~above[:, 1:] & np.isfinite(prof[:, 1:])
    has = fall.any(axis=1)
    ray = np.flatnonzero(has)
    j = fall.shape[1] - 1 - np.argmax(fall[has][:, ::-1], axis=1)
    p0, p1 = prof[ray, j], prof[ray, j + 1]
    rad = r[j] + (p0 - level) / (p0 - p1) * (r[1] - r[0])
    return rad * np.cos(_ANGLES[ray]), rad * np.sin(_ANGLES[ray])


def _fit_circle(x: Array, y: Array) -> tuple[float, float, float, float]:
    """Least-squares (Kasa) circle: centre x, y, radius, rms residual."""
    a = np.column_stack([x, y, np.ones_like(x)])
    sol, *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    r = float(np.sqrt(max(sol[2] + cx * cx + cy * cy, 0.0)))
    res = np.hypot(x - cx, y - cy) - r
    return float(cx), float(cy), r, float(np.sqrt(np.mean(res**2)))


def _fit_ellipse(x: Array, y: Array) -> tuple[float, float, float, float] | None:
    """Least-squares ellipse with axes along the section's (x, y) (``A x² + B y² + C x + D y = 1``).

    Returns centre x, y and semi-axes along x and y, or None when the conic is
    not an ellipse.  A pedicle's cross-section is an oval whose long axis is
    its height: with the section's x horizontal (``perpendicular_basis``),
    its axes are the section's.
    """
    x0, y0 = float(x.mean()), float(y.mean())  # the conic's constant term stays away from 0
    u, v = x - x0, y - y0
    sol, *_ = np.linalg.lstsq(np.column_stack([u * u, v * v, u, v]), np.ones_like(u), rcond=None)
    A, B, C, D = sol
    if A <= 0 or B <= 0:
        return None
    cx, cy = -C / (2 * A), -D / (2 * B)
    k = 1 + A * cx * cx + B * cy * cy
    return float(cx + x0), float(cy + y0), float(np.sqrt(k / A)), float(np.sqrt(k / B))


def _outside(px: Array, py: Array, ell: tuple[float, float, float, float]) -> Array:
    """Radial distance (mm) of points beyond the ellipse, along the ray from its centre (negative inside)."""
    cx, cy, a, b = ell
    dx, dy = px - cx, py - cy
    rho = np.hypot(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        edge = 1.0 / np.sqrt((dx / rho / a) ** 2 + (dy / rho / b) ** 2)
    return rho - edge


def _section_breach(cross: tuple[Array, Array], rs: float) -> tuple[float, Array] | None:
    """(breach mm, in-plane direction) in one cross-section, or None where it cannot be judged.

    Judged only when the outline points fit one oval (an ellipse with the
    section's axes; rms < 0.3 mm, semi-axes 1-15 mm) seen over at least 120°
    around its centre: a pedicle.  The breach is how far the screw's circle
    reaches beyond that oval (a circle fit read the 2.6 mm medial breach
    of a 12.5 x 14.5 mm pedicle as 1.8 mm).
    """
    xs, ys = cross
    if xs.size < 6:
        return None
    cx, cy, r, _ = _fit_circle(xs, ys)
    keep = np.abs(np.hypot(xs - cx, ys - cy) - r) < 1.0
    if keep.sum() < 0.8 * xs.size:
        return None  # not one outline (a pedicle meeting the body's wall): cannot be judged here
    if not keep.all():
        xs, ys = xs[keep], ys[keep]
        cx, cy, r, _ = _fit_circle(xs, ys)
    seen = np.sort(np.arctan2(ys - cy, xs - cx))
    cover = 2 * np.pi - np.diff(np.concatenate([seen, seen[:1] + 2 * np.pi])).max()
    ell = _fit_ellipse(xs, ys) if cover > np.radians(_OVAL_ARC_DEG) else None
    if ell is None or not 0.7 < ell[2] / ell[3] < 1.4:  # too short an arc to tell an oval: the circle
        ell = (cx, cy, r, r)
    if not (1.0 < min(ell[2:]) and max(ell[2:]) < 15.0):
        return None
    res = _outside(xs, ys, ell)
    seen = np.sort(np.arctan2(ys - ell[1], xs - ell[0]))
    gaps = np.diff(np.concatenate([seen, seen[:1] + 2 * np.pi]))
    if float(np.sqrt(np.mean(res**2))) > 0.3 or 2 * np.pi - gaps.max() < np.radians(120):
        return None
    th = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    out = _outside(rs * np.cos(th), rs * np.sin(th), ell)
    k = int(np.argmax(out))
    d = np.array([rs * np.cos(th[k]) - ell[0], rs * np.sin(th[k]) - ell[1]])
    return float(out[k]), d / max(float(np.linalg.norm(d)), 1e-9)


def _radial(volume: ImageVolume, screw: Screw, margin: float, bone_hu: float):
    """Worst radial breach along the shank: (mm, 3-D direction, surface point) or None; and bone contact."""
    e1, e2 = perpendicular_basis(screw.axis)
    rs = screw.diameter_mm / 2
    t = np.arange(0.5, screw.length_mm, 1.0)
    r = np.arange(rs + margin, rs + _R_OUT, _DR)
    dirs = np.outer(np.cos(_ANGLES), e1) + np.outer(np.sin(_ANGLES), e2)
    centres = screw.entry_lps + t[:, None] * screw.axis
    prof = sample(volume, centres[:, None, None, :] + dirs[None, :, None, :] * r[None, None, :, None])
    levels = _levels(prof, bone_hu)
    if not np.isfinite(levels).any():
        return None, False
    with np.errstate(invalid="ignore"):
        contact = (prof[:, :, 0] >= bone_hu).mean(axis=1)  # cancellous bone touches the screw too
    inside = np.flatnonzero(contact >= 0.25)
    if inside.size == 0:
        return None, False
    per: list = [None] * len(t)  # (mm, 3-D direction) per judged section
    for i in range(inside[0], len(t)):
        if np.isfinite(levels[i]):
            res = _section_breach(_crossings(prof[i], r, levels[i]), rs)
            if res is not None:
                per[i] = (res[0], res[1][0] * e1 + res[1][1] * e2)
            elif contact[i] == 1.0:
                per[i] = (0.0, e1)  # bone all round and no single outline: inside the body
    best = None
    for i in range(len(t) - 1):  # a breach must persist over two neighbouring sections (2 mm of shank)
        if per[i] is None or per[i + 1] is None:
            continue
        k = i if per[i][0] <= per[i + 1][0] else i + 1
        if per[k][0] > 0 and (best is None or per[k][0] > best[0]):
            best = (per[k][0], per[k][1], centres[k] + rs * per[k][1])
    return best, True


def _anterior(volume: ImageVolume, screw: Screw, bone_hu: float):
    """How far the tip reaches beyond the anterior cortex (mm), or None when the tip is in bone or unclear."""
    e1, e2 = perpendicular_basis(screw.axis)
    off = screw.diameter_mm / 2 + 1.5
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    starts = screw.tip_lps + 4.0 * screw.axis + off * (np.outer(np.cos(ang), e1) + np.outer(np.sin(ang), e2))
    s = np.arange(0.0, 20.0, 0.05)
    prof = sample(volume, starts[:, None, :] - s[None, :, None] * screw.axis)
    ends = []
    for st, p in zip(starts, prof):
        hit = np.flatnonzero(p >= bone_hu)
        if hit.size == 0:
            continue
        if hit[0] == 0:
            return None  # bone beyond the tip: the tip is contained
        j = int(hit[0])
        if not np.isfinite(p[:j]).any():
            continue  # the line starts outside the image
        half = 0.5 * (float(np.nanmin(p[:j])) + float(np.nanmax(p[j:j + 40])))
        k = int(np.flatnonzero(p[:j + 40] >= half)[0])
        if k == 0 or not np.isfinite(p[k - 1]):
            continue
        frac = (half - p[k - 1]) / (p[k] - p[k - 1])
        ends.append(st - (s[k - 1] + frac * 0.05) * screw.axis)
    if len(ends) < 6:
        return None
    pts = np.asarray(ends)
    c = pts.mean(axis=0)
    n = np.linalg.svd(pts - c)[2][2]
    n = n if np.dot(n, screw.axis) > 0 else -n
    lateral = n - np.dot(n, screw.axis) * screw.axis
    dist = float(np.dot(screw.tip_lps - c, n) + screw.diameter_mm / 2 * np.linalg.norm(lateral))
    return (dist, screw.tip_lps) if dist > 0 else None


def _direction(d3: Array, at: Array, midline_x: float) -> str:
    if abs(d3[0]) >= abs(d3[2]):
        return "medial" if d3[0] * (midline_x - at[0]) > 0 else "lateral"
    return "superior" if d3[2] > 0 else "inferior"


def breach(volume: ImageVolume, screw: Screw, *, midline_lps: npt.ArrayLike | None = None,
           bone_hu: float = 150.0) -> Breach:
    """How far `screw`'s outer surface lies outside the bone's outer cortex, its direction and grade.

    Parameters
    ----------
    volume : ImageVolume
        The CT (HU).
    screw : Screw
        A screw from :func:`find_screws`, or a virtual one (``Screw.from_points``).
    midline_lps : (3,) array-like, optional
        A point on the midsagittal plane, which tells medial from lateral;
        by default the centroid of the bone in an axial slab around the screw.
    bone_hu : float
        Density (HU) above which a sample counts as bone (cancellous ≥ 135 HU).

    Raises
    ------
    MeasurementError
        No bone around the screw.
    """
    axis_hu = sample(volume, screw.entry_lps + 0.5 * screw.length_mm * screw.axis)
    margin = 1.5 if np.nan_to_num(axis_hu) > METAL_HU else 0.1  # metal blooms 1-1.5 mm beyond its surface
    radial, touches = _radial(volume, screw, margin, bone_hu)
    if not touches:
        raise MeasurementError(f"{screw.label or 'screw'}: no bone around the screw anywhere along its "
                               f"{screw.length_mm:.0f} mm shank; it cannot be graded")
    ant = _anterior(volume, screw, bone_hu)
    definition = ("distance of the screw's outer surface beyond the outer cortex (extrapolated where the screw "
                  "hides it); modified Gertzbein-Robbins A 0, B < 2, C 2 to < 4, D 4 to < 6, E ≥ 6 mm")
    cands = []
    if radial is not None:
        mid = (as_points(midline_lps, "midline_lps").reshape(3)[0] if midline_lps is not None
               else bone_centroid_x(volume, screw.entry_lps + 0.5 * screw.length_mm * screw.axis))
        cands.append((radial[0], _direction(radial[1], radial[2], mid), radial[2]))
    if ant is not None:
        cands.append((ant[0], "anterior", ant[1]))
    if not cands:
        return Breach(0.0, None, "A", None, screw.calibration if screw.calibration != "planned" else volume.calibration,
                      definition)
    dist, direction, at = max(cands, key=lambda c: c[0])
    grade = norms.gertzbein_robbins_grade(dist)
    return Breach(dist, direction, grade, at, volume.calibration, definition,
                  (f"{direction} breach {dist:.1f} mm: Gertzbein-Robbins {grade}",))
