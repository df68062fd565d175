"""Planning a pedicle screw from an entry and a target point: length, isthmus width, stock sizes, angles, predicted breach."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume
from miss_imaging.spine._sampling import Array, as_points, bone_centroid_x, require_volume, sample, unit
from miss_imaging.spine.breach import Breach, breach
from miss_imaging.spine.screws import METAL_HU, Screw

__all__ = ["ScrewPlan", "plan_screw", "STOCK_DIAMETERS_MM", "STOCK_LENGTH_STEP_MM"]

#: stock pedicle-screw diameters, mm
STOCK_DIAMETERS_MM = tuple(np.round(np.arange(4.0, 7.51, 0.5), 1))
STOCK_LENGTH_STEP_MM = 5.0
_CORTEX_HU = 400.0  # a pedicle wall is cortical bone (375-1200 HU) however dark its core
_GAP_MM = 2.0  # soft tissue this long outside the cortex: the bone has ended
_SIZING_SOURCE = "diameter ≈ 80 % of the isthmus width (Solitro, IJSS 2019)"


@dataclass(frozen=True)
class ScrewPlan:
    """A planned screw trajectory and the stock screw that fits it.

    Angles: ``medial_angle_deg`` in the axial plane from the sagittal plane,
    positive when the screw points toward the midline as it goes anterior;
    ``caudal_angle_deg`` in the sagittal plane from the axial plane, positive
    when it points caudally as it goes anterior.
    """

    entry_lps: Array
    target_lps: Array
    length_mm: float
    pedicle_width_mm: float
    isthmus_lps: Array
    suggested_diameter_mm: float
    suggested_length_mm: float
    medial_angle_deg: float
    caudal_angle_deg: float
    predicted_breach: Breach
    calibration: str
    definition: str
    flags: tuple[str, ...] = ()


def _isthmus(volume: ImageVolume, entry: Array, axis: Array, length: float, bone_hu: float) -> tuple[float, Array]:
    """Narrowest outer bony width (mm) across the trajectory, in the axial direction perpendicular to it, and where.

    On each side the bone's outer edge is where the profile leaves bone for
    good (below `bone_hu` for ``_GAP_MM``) just outside a cortex (a peak of at
    least ``_CORTEX_HU`` within 2.5 mm), so a cancellous core darker than the
    threshold does not count as the pedicle's edge.  Metal on the trajectory
    (a placed screw and its blooming) is skipped: a screw head in soft tissue
    is not bone, a screw inside the pedicle is.
    """
    across = np.cross([0.0, 0.0, 1.0], axis)
    across = unit(across if np.linalg.norm(across) > 1e-3 else [1.0, 0.0, 0.0], "across")
    t = np.arange(0.0, length + 0.01, 0.5)
    step = 0.1
    s = np.arange(0.0, 15.0, step)
    centres = entry + t[:, None] * axis
    both = np.stack([centres[:, None, :] + sg * s[None, :, None] * across for sg in (1.0, -1.0)], axis=1)
    prof = sample(volume, both)  # (t, side, s)
    idx = np.arange(len(s))
    metal = prof >= METAL_HU
    metal_end = np.where(metal[..., 0], np.argmin(metal, axis=2) + int(1.5 / step), 0)  # + blooming
    bone = (prof >= bone_hu) & (idx > metal_end[..., None])
    gap = int(round(_GAP_MM / step))
    # out[..., j]: samples j .. j+gap-1 all non-bone (NaN = outside the image counts as non-bone)
    run = np.cumsum(np.concatenate([np.zeros(bone.shape[:2] + (1,)), ~bone], axis=2), axis=2)
    out = (run[..., gap:] - run[..., :-gap]) == gap
    cortex = ndimage.maximum_filter1d(np.nan_to_num(prof, nan=-1e4), int(2.5 / step), axis=2,
                                      origin=int(1.25 / step) - 1)[..., :out.shape[2]] >= _CORTEX_HU
    first_bone = np.where(bone.any(axis=2), np.argmax(bone, axis=2), len(s))
    leaves = out & cortex & (idx[:out.shape[2]] > first_bone[..., None])
    exits = np.where(leaves.any(axis=2), np.argmax(leaves, axis=2), -1)
    inside = (first_bone < metal_end + gap).all(axis=1) & ~_near_head(metal.sum(axis=(1, 2)), t)
    ok = inside & (exits > 0).all(axis=1)
    if not ok.any():
        raise MeasurementError("the trajectory never passes through bone enclosed on both sides within 15 mm "
                               "(no pedicle found between entry and target)")
    coarse = np.where(ok, exits.sum(axis=1) * step, np.inf)
    widths = np.full(len(t), np.inf)
    for i in np.flatnonzero(coarse <= coarse.min() + 1.0):  # refine only near the narrowest (a drag is live)
        widths[i] = sum(_edge(prof[i, k], exits[i, k], step) for k in (0, 1))
    best = int(np.argmin(widths))
    return float(widths[best]), centres[best]


def _near_head(metal_samples: npt.NDArray[np.intp], t: Array) -> npt.NDArray[np.bool_]:
    """Positions within 3 mm of a screw head (metal > 1 mm wider than the shank), whose blooming looks like bone.

    `metal_samples` counts the metal samples (0.1 mm) across the trajectory at each position `t`.
    """
    shank = metal_samples[metal_samples > 0]
    if shank.size == 0:
        return np.zeros(len(t), dtype=bool)
    head_t = t[metal_samples > np.median(shank) + 10]
    return np.asarray((np.abs(t[:, None] - head_t[None, :]) <= 3.0).any(axis=1), dtype=bool)


def _edge(p: Array, j: int, step: float) -> float:
    """Half-maximum position (mm) of the bone's outer edge just before sample `j` (the first non-bone one).

    The half level lies between the highest value within 2.5 mm inside (the
    cortex) and the soft tissue outside; the crossing nearest `j` is taken,
    so a cancellous core below that level does not count as the edge.
    """
    k = max(1, int(1.5 / step))
    lo_i = max(0, j - int(2.5 / step))
    half = 0.5 * (float(np.nanmax(p[lo_i:j])) + float(np.nanmin(p[j:j + k])))
    seg = p[lo_i: j + k]
    cross = np.flatnonzero((seg[:-1] >= half) & (seg[1:] < half))
    if cross.size == 0:
        return j * step
    i = lo_i + int(cross[np.argmin(np.abs(lo_i + cross - j))])
    return (i + (p[i] - half) / (p[i] - p[i + 1])) * step


def _angles(axis: Array, entry: Array, midline_x: float) -> tuple[float, float]:
    anterior = -axis[1]
    toward_mid = np.sign(midline_x - entry[0]) or 1.0
    medial = float(np.degrees(np.arctan2(axis[0] * toward_mid, anterior)))
    caudal = float(np.degrees(np.arctan2(-axis[2], anterior)))
    return medial, caudal


def plan_screw(volume: ImageVolume, entry_lps: npt.ArrayLike, target_lps: npt.ArrayLike, *,
               midline_lps: npt.ArrayLike | None = None, bone_hu: float = 150.0) -> ScrewPlan:
    """Plan a screw from `entry_lps` to `target_lps` (LPS mm).

    ``pedicle_width_mm`` is the narrowest bony width across the trajectory
    along its course (half-maximum outer cortex on both sides, measured in
    the axial direction perpendicular to it: the isthmus);
    ``suggested_diameter_mm`` the largest stock diameter (4.0–7.5 mm in 0.5
    steps) ≤ 80 % of that width; ``suggested_length_mm`` the largest multiple
    of 5 mm ≤ the length; ``predicted_breach`` the :func:`breach` of a
    virtual screw of the suggested diameter on this line.

    Raises
    ------
    MeasurementError
        Entry equals target, no pedicle along the line, or the pedicle is
        too narrow for the smallest stock screw.
    """
    require_volume(volume, "plan_screw")
    entry, target = as_points(entry_lps, "entry_lps").reshape(3), as_points(target_lps, "target_lps").reshape(3)
    length = float(np.linalg.norm(target - entry))
    axis = unit(target - entry, "trajectory (entry and target coincide)")
    width, isthmus = _isthmus(volume, entry, axis, length, bone_hu)
    fits = [d for d in STOCK_DIAMETERS_MM if d <= 0.8 * width + 1e-9]
    flags: list[str] = []
    if not fits:
        flags.append(f"isthmus {width:.1f} mm: no stock screw ≤ 80 % of it (smallest 4.0 mm)")
    diameter = float(max(fits)) if fits else float(STOCK_DIAMETERS_MM[0])
    # 0.05 mm of slack: a drag ending at 39.99 mm means a 40 mm screw
    stock_len = float(np.floor((length + 0.05) / STOCK_LENGTH_STEP_MM) * STOCK_LENGTH_STEP_MM)
    mid = (as_points(midline_lps, "midline_lps").reshape(3)[0] if midline_lps is not None
           else bone_centroid_x(volume, 0.5 * (entry + target)))
    medial, caudal = _angles(axis, entry, mid)
    virtual = Screw.from_points(entry, target, diameter, calibration="planned", label="planned screw")
    pred = breach(volume, virtual, midline_lps=[mid, 0.0, 0.0], bone_hu=bone_hu)
    flags.extend(pred.flags)
    return ScrewPlan(entry, target, length, width, isthmus, diameter, stock_len, medial, caudal, pred,
                     volume.calibration, "length entry→target; isthmus = narrowest axial bony width across the "
                     f"trajectory; {_SIZING_SOURCE}", tuple(flags))
