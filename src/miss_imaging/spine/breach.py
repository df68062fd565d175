"""Pedicle-screw breach: how far a screw's outer surface lies outside the bone's outer cortex.

In cross-sections perpendicular to the screw (every 0.5 mm along the shank)
rays run outward from the screw's surface in 36 directions; every crossing
of the bone's half-maximum level along them is an outline point of the
bone.  Where the screw hides the cortex (it has left the bone), the cortex is
extrapolated by a circle fitted to the visible outline points around it (a
pedicle's cross-section), and the breach is how far the screw's circle
reaches beyond that circle.  An anterior breach is how far the tip reaches
beyond the plane fitted to where bone ends on lines parallel to the axis
just outside the screw.  Grades: modified Gertzbein–Robbins (A none, B < 2 mm,
C 2 to < 4, D 4 to < 6, E ≥ 6; Springer 10.1007/s11701-024-02001-w).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import MeasurementError
from ..model import ImageVolume
from . import norms
from ._sampling import Array, as_points, bone_centroid_x, perpendicular_basis, sample
from .screws import METAL_HU, Screw

__all__ = ["Breach", "breach"]

_ANGLES = np.linspace(0, 2 * np.pi, 36, endpoint=False)
_R_OUT = 8.0  # mm beyond the screw's surface searched for the cortex
_DR = 0.1


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


def _levels(values: Array, bone_hu: float) -> float:
    """Half-way level between the bone plateau and the soft tissue around the screw."""
    v = values[np.isfinite(values) & (values < METAL_HU)]
    bone, soft = v[v >= bone_hu], v[v < bone_hu]
    if bone.size < 20:
        raise MeasurementError(f"no bone (≥ {bone_hu:g} HU) within {_R_OUT:g} mm of the screw")
    return 0.5 * (float(np.percentile(bone, 75)) + (float(np.median(soft)) if soft.size else 0.0))


def _crossings(prof: Array, r: Array, level: float) -> list[Array]:
    """Per ray (rows of `prof`), radii where the profile crosses `level` (linear interpolation)."""
    above = prof >= level
    out = []
    for p, a in zip(prof, above):
        j = np.flatnonzero(a[:-1] != a[1:])
        j = j[np.isfinite(p[j]) & np.isfinite(p[j + 1])]
        out.append(r[j] + (level - p[j]) / (p[j + 1] - p[j]) * (r[1] - r[0]))
    return out


def _fit_circle(x: Array, y: Array) -> tuple[float, float, float, float]:
    """Least-squares (Kasa) circle: centre x, y, radius, rms residual."""
    a = np.column_stack([x, y, np.ones_like(x)])
    sol, *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    r = float(np.sqrt(max(sol[2] + cx * cx + cy * cy, 0.0)))
    res = np.hypot(x - cx, y - cy) - r
    return float(cx), float(cy), r, float(np.sqrt(np.mean(res**2)))


def _section_breach(cross: list[Array], rs: float) -> tuple[float, Array] | None:
    """(breach mm, in-plane direction) in one cross-section, or None where it cannot be judged."""
    xs = np.concatenate([c * np.cos(a) for c, a in zip(cross, _ANGLES)])
    ys = np.concatenate([c * np.sin(a) for c, a in zip(cross, _ANGLES)])
    if xs.size < 6:
        return None
    cx, cy, r, rms = _fit_circle(xs, ys)
    keep = np.abs(np.hypot(xs - cx, ys - cy) - r) < 1.0
    if keep.sum() >= 6 and keep.sum() < xs.size:
        cx, cy, r, rms = _fit_circle(xs[keep], ys[keep])
    if not (1.0 < r < 15.0) or rms > 0.5:
        return None
    off = float(np.hypot(cx, cy))
    d = np.array([-cx, -cy]) / off if off > 1e-9 else np.array([1.0, 0.0])
    return off + rs - r, d


def _radial(volume: ImageVolume, screw: Screw, margin: float, bone_hu: float):
    """Worst radial breach along the shank: (mm, 3-D direction, surface point) or None; and bone contact."""
    e1, e2 = perpendicular_basis(screw.axis)
    rs = screw.diameter_mm / 2
    t = np.arange(0.25, screw.length_mm, 0.5)
    r = np.arange(rs + margin, rs + _R_OUT, _DR)
    dirs = np.outer(np.cos(_ANGLES), e1) + np.outer(np.sin(_ANGLES), e2)
    centres = screw.entry_lps + t[:, None] * screw.axis
    prof = sample(volume, centres[:, None, None, :] + dirs[None, :, None, :] * r[None, None, :, None])
    level = _levels(prof, bone_hu)
    contact = (prof[:, :, 0] >= level).mean(axis=1)
    inside = np.flatnonzero(contact >= 0.25)
    if inside.size == 0:
        return None, False
    best = None
    for i in range(inside[0], len(t)):
        if contact[i] == 1.0:
            continue
        res = _section_breach(_crossings(prof[i], r, level), rs)
        if res is not None and res[0] > 0 and (best is None or res[0] > best[0]):
            d3 = res[1][0] * e1 + res[1][1] * e2
            best = (res[0], d3, centres[i] + rs * d3)
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
        half = 0.5 * (float(np.nanmin(p[:j])) + float(np.nanmax(p[j:j + 40])))
        k = int(np.flatnonzero(p[:j + 40] >= half)[0])
        if k == 0:
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
    margin = 1.0 if np.nan_to_num(axis_hu) > METAL_HU else 0.1  # metal blooms about 1 mm beyond its surface
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
