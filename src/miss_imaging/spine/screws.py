"""Finding metal screws in a CT: threshold, connected components, principal axis, half-maximum ends and radius."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume
from miss_imaging.spine._sampling import Array, as_points, falling_edge, perpendicular_basis, require_volume, sample, unit

__all__ = ["Screw", "find_screws", "METAL_HU"]

#: titanium and steel reconstruct far above cortical bone (375-1200 HU)
METAL_HU = 2000.0
_SURROUND_HU = 400.0


@dataclass(frozen=True)
class Screw:
    """A screw's shank as a cylinder.

    Attributes
    ----------
    entry_lps, tip_lps : (3,) ndarray
        LPS mm of the shank's posterior end (where a head, if any, begins) and
        of its tip.
    axis : (3,) ndarray
        Unit vector from entry to tip.
    length_mm : float
        Shank length (entry to tip), excluding the head.
    diameter_mm : float
        Outer (thread) diameter.
    head_lps : (3,) ndarray or None
        Centre of the head found beyond the entry, if any.
    """

    entry_lps: Array
    tip_lps: Array
    axis: Array
    length_mm: float
    diameter_mm: float
    calibration: str = "patient geometry (CT)"
    definition: str = "metal > 2000 HU, connected; axis by principal components; ends and radius at half maximum"
    head_lps: Array | None = None
    label: str = ""

    @classmethod
    def from_points(cls, entry_lps: npt.ArrayLike, tip_lps: npt.ArrayLike, diameter_mm: float, *,
                    calibration: str = "planned", label: str = "") -> Screw:
        """A virtual screw from its entry and tip (LPS mm) and diameter (mm)."""
        e, t = as_points(entry_lps, "entry_lps").reshape(3), as_points(tip_lps, "tip_lps").reshape(3)
        if not diameter_mm > 0:
            raise MeasurementError(f"screw diameter must be > 0 mm; got {diameter_mm}")
        length = float(np.linalg.norm(t - e))
        return cls(e, t, unit(t - e, "screw (entry and tip coincide)"), length, float(diameter_mm), calibration,
                   "virtual screw: cylinder from entry to tip", None, label)


def _metal_mask(volume: ImageVolume, metal_hu: float) -> tuple[npt.NDArray[np.bool_], Array] | None:
    """(mask of voxels above `metal_hu` inside the metal's bounding box, index of the box's corner), or None.

    One thresholded pass in 32-slice slabs finds the bounding box (no
    volume-sized temporary); only the box is thresholded again and labelled.
    """
    n = volume.shape[0]
    k_any = np.zeros(n, bool)
    j_any = np.zeros(volume.shape[1], bool)
    i_any = np.zeros(volume.shape[2], bool)
    buf = None
    for k0 in range(0, n, 32):
        slab = np.asarray(volume.pixels[k0:k0 + 32])
        if buf is None or buf.shape != slab.shape:
            buf = np.empty(slab.shape, bool)
        np.greater(slab, metal_hu, out=buf)
        rows = np.asarray(buf.any(axis=2))
        k_any[k0:k0 + len(slab)] = rows.any(axis=1)
        if k_any[k0:k0 + len(slab)].any():
            j_any |= rows.any(axis=0)
            i_any |= buf.any(axis=(0, 1))
    if not k_any.any():
        return None
    lo = np.array([np.argmax(a) for a in (k_any, j_any, i_any)])
    hi = np.array([len(a) - np.argmax(a[::-1]) for a in (k_any, j_any, i_any)])
    box = np.asarray(volume.pixels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]) > metal_hu
    return box, lo.astype(np.float64)


def _components(box: npt.NDArray[np.bool_], min_voxels: int) -> list[npt.NDArray[np.intp]]:
    """Index sets (within `box`) of its 26-connected components, largest first."""
    lab, _ = ndimage.label(box, structure=np.ones((3, 3, 3), dtype=bool))
    idx = np.argwhere(lab > 0)
    labels = lab[tuple(idx.T)]
    order = np.argsort(labels, kind="stable")
    groups = np.split(idx[order], np.flatnonzero(np.diff(labels[order])) + 1)
    return sorted((g for g in groups if len(g) >= min_voxels), key=len, reverse=True)


def _radius_profile(volume: ImageVolume, centre: Array, axis: Array, t: Array, r_max: float) -> Array:
    """Half-maximum radius (mm) of the metal around the axis at each position `t` (median of 12 directions)."""
    e1, e2 = perpendicular_basis(axis)
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    dirs = np.outer(np.cos(ang), e1) + np.outer(np.sin(ang), e2)
    step = 0.1
    r = np.arange(0.0, r_max, step)
    pts = centre + t[:, None, None, None] * axis + dirs[None, :, None, :] * r[None, None, :, None]
    prof = sample(volume, pts)
    # half-way between the metal and what surrounds it where it meets the surface, assumed bone (~400 HU):
    # a snug pedicle's cortex hides in the metal's blur, so the profile's own low end would be soft tissue
    level = 0.5 * (prof[..., 0] + _SURROUND_HU)
    below = prof < level[..., None]
    first = np.where(below.any(axis=-1), np.argmax(below, axis=-1), 0)
    j = np.clip(first, 1, len(r) - 1)
    p1 = np.take_along_axis(prof, j[..., None] - 1, -1)[..., 0]
    p2 = np.take_along_axis(prof, j[..., None], -1)[..., 0]
    radii = np.where(first > 0, (j - 1 + (p1 - level) / (p1 - p2)) * step, np.nan)
    ok = np.isfinite(radii).sum(axis=1) >= 6
    return np.where(ok, np.nanmedian(np.where(ok[:, None], radii, 0.0), axis=1), np.nan)


def _shank_radius(volume: ImageVolume, centre: Array, axis: Array, t: Array) -> float | None:
    """Half-maximum radius (mm) of the shank's mean radial profile at positions `t`, None if unclear.

    The profile is averaged over 24 directions and along the shank (noise and
    threads average out); the level is half-way between the metal plateau and
    the surroundings measured 2-3.5 mm outside a first estimate (cancellous
    bone or soft tissue, not an assumed value: a fixed 400 HU read a 6.5 mm
    screw in 180 HU bone 0.3 mm thin).
    """
    e1, e2 = perpendicular_basis(axis)
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    dirs = np.outer(np.cos(ang), e1) + np.outer(np.sin(ang), e2)
    r = np.arange(0.0, 9.0, 0.1)
    t = t[::2]  # every 2 mm: the profile is averaged anyway
    m = np.nanmean(sample(volume, centre + t[:, None, None, None] * axis + dirs[None, :, None, :] * r[None, None, :, None]),
                   axis=(0, 1))

    def crossing(level: float) -> float:  # first fall below `level`, interpolated linearly
        i = int(np.argmax(~(m >= level)))
        if i == 0 or not np.isfinite(m[i]):
            return float("nan")
        return float(r[i - 1] + (m[i - 1] - level) / (m[i - 1] - m[i]) * (r[1] - r[0]))

    peak = float(np.nanmax(m[:10]))
    first = crossing(0.5 * (peak + _SURROUND_HU))
    if not np.isfinite(first):
        return None
    bg = float(np.nanmedian(m[(r > first + 2.0) & (r < first + 3.5)]))
    r_half = crossing(0.5 * (peak + bg))
    return r_half if np.isfinite(r_half) else None


def _ends(volume: ImageVolume, centre: Array, axis: Array, half_len: float) -> tuple[float, float]:
    """Half-maximum positions (mm along `axis` from `centre`) of the metal's two ends."""
    step = 0.05
    t = np.arange(0.0, half_len + 6.0, step)
    ends = []
    for sgn in (1.0, -1.0):
        prof = sample(volume, centre + sgn * np.outer(t, axis))
        d = falling_edge(prof, step, 0.5 * (prof[0] + np.nanmin(prof)), start=1)
        if d is None:
            raise MeasurementError("a screw runs out of the image: its end is not visible")
        ends.append(sgn * d)
    return ends[0], ends[1]


def _measure(volume: ImageVolume, pts: Array, label: str) -> Screw:
    centre = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - centre, full_matrices=False)
    axis = vt[0]
    proj = (pts - centre) @ axis
    t_plus, t_minus = _ends(volume, centre, axis, float(np.abs(proj).max()))
    t = np.arange(t_minus + 1.0, t_plus - 1.0, 1.0)
    radius = _radius_profile(volume, centre, axis, t, 10.0)
    core = radius[len(t) // 4: 3 * len(t) // 4]
    shank_r = float(np.nanmedian(core)) if np.isfinite(core).any() else float("nan")
    if not np.isfinite(shank_r):
        raise MeasurementError(f"{label}: no radius found for the metal object")
    outer_r = _shank_radius(volume, centre, axis, t[len(t) // 4: 3 * len(t) // 4])
    head = np.isfinite(radius) & (radius > shank_r + 1.0)
    if head[len(t) // 2:].sum() > head[: len(t) // 2].sum():  # head at the plus end: make +axis point to the tip
        axis, t_plus, t_minus, t, head = -axis, -t_minus, -t_plus, -t[::-1], head[::-1]
    head_lps = None
    if head[: len(t) // 2].any():
        last_head = t[np.flatnonzero(head[: len(t) // 2])[-1]]
        entry_t = _head_face(volume, centre, axis, shank_r, last_head, t_plus)
        head_lps = centre + 0.5 * (t_minus + entry_t) * axis
    else:
        entry_t = t_minus
        if np.dot(axis, [0.0, 1.0, 0.0]) > 0:  # no head: the posterior end is the entry
            axis, entry_t, t_plus = -axis, -t_plus, -t_minus
    entry, tip = centre + entry_t * axis, centre + t_plus * axis
    return Screw(entry, tip, axis, float(t_plus - entry_t), 2.0 * (outer_r or shank_r), volume.calibration,
                 head_lps=head_lps,
                 label=label)


def _head_face(volume: ImageVolume, centre: Array, axis: Array, shank_r: float, t0: float, t1: float) -> float:
    """Position along the axis where the head ends and the shank begins (half maximum on a ring outside the shank)."""
    e1, e2 = perpendicular_basis(axis)
    ang = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    ring = (shank_r + 1.0) * (np.outer(np.cos(ang), e1) + np.outer(np.sin(ang), e2))
    step = 0.05
    t = np.arange(t0 - 1.0, t1, step)
    prof = np.nanmean(sample(volume, centre + t[:, None, None] * axis + ring[None]), axis=1)
    d = falling_edge(prof, step, 0.5 * (np.nanmax(prof) + np.nanmin(prof)), start=1)
    return t0 - 1.0 + (d if d is not None else 1.0)


def find_screws(volume: ImageVolume, *, metal_hu: float = METAL_HU, min_volume_mm3: float = 20.0) -> list[Screw]:
    """Every metal screw in a CT, by threshold, connected components and principal axis.

    Metal is every voxel above `metal_hu` (HU); 26-connected components
    smaller than `min_volume_mm3` are noise.  Each component's axis is its
    first principal component; its ends are the half-maximum points on the
    axis; its diameter twice the median half-maximum radius of the middle
    half; a wider part (> radius + 1 mm) at one end is the head, excluded
    from ``length_mm``.  Without a head, the posterior end is the entry.

    Raises
    ------
    MeasurementError
        No metal in the image.
    """
    require_volume(volume, "find_screws")
    found = _metal_mask(volume, metal_hu)
    voxel_mm3 = float(np.prod(volume.spacing))
    comps = _components(found[0], max(4, int(min_volume_mm3 / voxel_mm3))) if found is not None else []
    if not comps or found is None:
        raise MeasurementError(f"no metal (> {metal_hu:g} HU, ≥ {min_volume_mm3:g} mm³) in {volume.label}")
    corner = found[1]
    screws = [_measure(volume, volume.index_to_patient(c + corner), f"metal object {i + 1}")
              for i, c in enumerate(comps)]
    screws.sort(key=lambda s: (-s.entry_lps[2], s.entry_lps[0]))  # head to foot, then right to left
    return [replace(s, label=f"screw {i + 1}") for i, s in enumerate(screws)]
