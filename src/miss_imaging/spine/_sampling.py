"""Local sampling of an ImageVolume at patient LPS points, and edge finding on profiles.

Only the bounding box of the requested points is read from ``volume.pixels``
(never the whole volume), so the spine tools stay fast on large CTs and work
on lazy (dask) volumes.  Interpolation is trilinear in index space, which
makes anisotropic and oblique grids exact: points go through
``volume.patient_to_index``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume

Array = npt.NDArray[np.float64]


def as_points(p: npt.ArrayLike, what: str) -> Array:
    """`p` as a float64 ``(3,)`` or ``(N, 3)`` LPS array, or a MeasurementError naming `what`."""
    a = np.asarray(p, dtype=np.float64)
    if a.shape[-1:] != (3,) or a.ndim > 2 or not np.all(np.isfinite(a)):
        raise MeasurementError(f"{what} must be finite LPS mm of shape (3,) or (N, 3); got shape {a.shape}")
    return a


def unit(v: npt.ArrayLike, what: str = "direction") -> Array:
    """`v` normalised to length 1; MeasurementError when it has no length."""
    a = np.asarray(v, dtype=np.float64)
    n = float(np.linalg.norm(a))
    if not np.isfinite(n) or n < 1e-9:
        raise MeasurementError(f"{what} has zero length")
    return a / n


def sample(volume: ImageVolume, points: npt.ArrayLike) -> Array:
    """Trilinear values of `volume` at LPS `points` ``(..., 3)``; NaN outside the volume."""
    pts = np.asarray(points, dtype=np.float64)
    flat = pts.reshape(-1, 3)
    a = volume.affine
    idx = np.linalg.inv(a[:3, :3]) @ (flat - a[:3, 3]).T  # (3, N): volume.patient_to_index, transposed
    shape = np.asarray(volume.shape[:3], dtype=np.float64)[:, None]
    inside = np.all((idx >= -0.5) & (idx <= shape - 0.5), axis=0)
    out = np.full(len(flat), np.nan)
    if not inside.any():
        return out.reshape(pts.shape[:-1])
    sel = idx[:, inside] if not inside.all() else idx
    lo = np.clip(np.floor(sel.min(axis=1)).astype(int) - 1, 0, shape[:, 0].astype(int) - 1)
    hi = np.clip(np.ceil(sel.max(axis=1)).astype(int) + 2, 1, shape[:, 0].astype(int))
    block = np.asarray(volume.pixels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])  # a view: no copy, no conversion
    sel = sel - lo[:, None].astype(np.float64)
    out[inside] = ndimage.map_coordinates(block, sel, output=np.float64, order=1, mode="nearest")
    return out.reshape(pts.shape[:-1])


def require_volume(volume: ImageVolume, what: str) -> None:
    """MeasurementError unless `volume` is a cross-sectional 3-D image (CT), not a projection."""
    if len(volume.shape) != 3 or volume.kind != "volume":
        raise MeasurementError(f"{what} needs a CT volume (patient LPS mm and HU); {volume.label or 'this image'} "
                               f"is a {volume.kind} of shape {volume.shape}")


def falling_edge(profile: Array, step_mm: float, level: float, *, start: int = 0,
                 window_mm: float = 1.5) -> float | None:
    """Position (mm from the profile's first sample) of the first fall below `level` after `start`.

    The crossing is refined to the half-way level between the local plateau
    before it (maximum over `window_mm`) and after it (minimum), the
    half-maximum edge of a blurred step, interpolated linearly between
    samples.  ``None`` when the profile never falls below `level` (or leaves
    the image, NaN, first).
    """
    v = profile
    below = np.flatnonzero(~(v[start:] >= level))  # NaN counts as "not above"
    if below.size == 0:
        return None
    i = start + int(below[0])
    if i == 0 or np.isnan(v[i]):
        return None
    k = max(2, int(round(window_mm / step_mm)))
    hi = float(np.nanmax(v[max(0, i - k):i]))
    lo = float(np.nanmin(v[i:i + k]))
    half = 0.5 * (hi + lo)
    j0, j1 = max(0, i - k), min(len(v) - 1, i + k)
    seg = v[j0:j1 + 1]
    cross = np.flatnonzero((seg[:-1] >= half) & (seg[1:] < half))
    if cross.size == 0:
        return i * step_mm
    j = j0 + int(cross[np.argmin(np.abs(j0 + cross - i))])
    frac = (v[j] - half) / (v[j] - v[j + 1])
    return (j + float(frac)) * step_mm


def perpendicular_basis(axis: Array) -> tuple[Array, Array]:
    """Two unit vectors completing `axis` to a right-handed orthonormal frame."""
    a = unit(axis, "axis")
    ref = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = unit(np.cross(a, ref))
    return e1, np.cross(a, e1)


def bone_centroid_x(volume: ImageVolume, near_lps: Array, *, bone_hu: float = 250.0,
                    half_mm: float = 70.0, slab_mm: float = 12.0) -> float:
    """Patient x (mm) of the bone centroid in an axial slab around `near_lps`: the midline estimate.

    A vertebra is left-right symmetric, so the centroid of its bone in a slab
    through the level is the midsagittal plane; the window (±`half_mm` in x
    and y) covers a whole vertebra from either pedicle.
    """
    key = (id(volume.pixels), volume.affine.tobytes(), tuple(np.round(near_lps / 10.0)), bone_hu)
    if key in _MIDLINES:
        return _MIDLINES[key]
    step = 3.0
    xs = np.arange(-half_mm, half_mm + step, step)
    zs = np.arange(-slab_mm / 2, slab_mm / 2 + step, step)
    gx, gy, gz = np.meshgrid(xs, xs, zs, indexing="ij")
    pts = near_lps + np.stack([gx, gy, gz], axis=-1)
    v = sample(volume, pts)
    bone = v > bone_hu
    if bone.sum() < 10:
        raise MeasurementError(
            f"no bone (> {bone_hu:g} HU) within {half_mm:g} mm of {np.round(near_lps, 1).tolist()} "
            "to find the midline; pass midline_lps")
    if len(_MIDLINES) > 64:
        _MIDLINES.clear()
    _MIDLINES[key] = float(pts[..., 0][bone].mean())
    return _MIDLINES[key]


#: midline estimates by (pixels, affine, 10 mm cell, threshold): a live drag asks again and again
_MIDLINES: dict[tuple, float] = {}


def fall_centroid(profile: Array, step_mm: float, level: float, *, start: int = 0) -> float | None:
    """Position (mm) of the centroid of the descent of the first fall below `level` after `start`.

    The descent runs from the last peak before the fall to where the profile
    bottoms out after it; its centroid (of the negative slope) is a linear
    functional of the profile, so unlike a level crossing it does not lock
    onto the slice grid when a thin bright shell is sampled by thick slices.
    ``None`` when the profile never falls below `level`.
    """
    v = profile
    below = np.flatnonzero(~(v[start:] >= level))
    if below.size == 0:
        return None
    i = start + int(below[0])
    if i == 0 or not np.isfinite(v[i]):
        return None
    k = int(round(2.0 / step_mm))
    seg = v[max(0, i - k): min(len(v), i + k)]
    if not np.isfinite(seg).all():
        return None
    top = int(np.argmax(seg[: i - max(0, i - k) + 1]))
    bot = top + int(np.argmin(seg[top:]))
    g = -np.diff(seg[top: bot + 1])
    g = np.clip(g, 0.0, None)
    if bot - top < 2 or g.sum() <= 0:
        return None
    pos = max(0, i - k) + top + 0.5 + np.arange(len(g))
    return float((pos * g).sum() / g.sum() * step_mm)
