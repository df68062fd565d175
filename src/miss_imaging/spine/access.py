"""Planning a MISS access: skin entry, depth, tubular retractor length and incision."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from miss_imaging.errors import MeasurementError, warn_and_log
from miss_imaging.model import ImageVolume
from miss_imaging.spine._sampling import Array, as_points, require_volume, sample, unit

__all__ = ["AccessPlan", "access_plan", "TUBE_LENGTHS_MM"]

#: stock tubular retractor lengths, mm
TUBE_LENGTHS_MM = (30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)
_AIR_HU = -500.0  # skin: half-way between soft tissue (~0 HU) and air (-1000 HU)


@dataclass(frozen=True)
class AccessPlan:
    """A tubular access from the skin to a target.

    ``angle_from_vertical_deg``: the trajectory (target → skin) against the
    patient's anterior-posterior axis in the axial plane, positive when the
    skin entry lies to the patient's left of the target; ``cranial_angle_deg``:
    in the sagittal plane, positive when the skin entry lies cranial to it.
    """

    target_lps: Array
    skin_entry_lps: Array
    depth_mm: float
    tube_length_mm: float | None
    tube_diameter_mm: float
    incision_mm: float
    angle_from_vertical_deg: float
    cranial_angle_deg: float
    calibration: str
    definition: str
    flags: tuple[str, ...] = ()


def _skin(volume: ImageVolume, target: Array, d: Array) -> Array:
    """Where the ray from `target` along `d` last leaves tissue (> -500 HU) for air, before the image ends."""
    step = 0.1
    reach = float(np.linalg.norm(np.asarray(volume.shape[:3]) * np.asarray(volume.spacing))) + 1.0
    s = np.arange(0.0, reach, step)
    prof = sample(volume, target + np.outer(s, d))
    valid = np.flatnonzero(np.isfinite(prof))
    if valid.size == 0 or valid[0] != 0:
        raise MeasurementError(f"the target {np.round(target, 1).tolist()} lies outside the image")
    prof = prof[: valid[-1] + 1]
    tissue = np.flatnonzero(prof > _AIR_HU)
    if tissue.size == 0 or prof[0] <= _AIR_HU:
        raise MeasurementError("the target lies in air: place it in the body")
    j = int(tissue[-1])
    if j >= len(prof) - 1:
        raise MeasurementError("the line from the target never leaves the body within the image (no skin found "
                               "before the image edge); choose a direction toward the skin")
    lo, hi = float(np.nanmin(prof[j + 1: j + 30])), float(np.nanmax(prof[max(0, j - 30): j + 1]))
    half = 0.5 * (lo + hi)
    k = j + int(np.flatnonzero(prof[j:j + 30] < half)[0])
    frac = (prof[k - 1] - half) / (prof[k - 1] - prof[k]) if k > 0 else 0.0
    return target + (k - 1 + frac) * step * d


def access_plan(volume: ImageVolume, target_lps: npt.ArrayLike, toward_lps: npt.ArrayLike, *,
                tube_diameter_mm: float = 18.0, margin_mm: float = 2.0) -> AccessPlan:
    """Plan a tubular access to `target_lps` along the line through `toward_lps` (LPS mm).

    The skin entry is where that line, beyond the target, last leaves tissue
    for air (half-way between the tissue and air levels); ``depth_mm`` skin to
    target; ``tube_length_mm`` the shortest stock retractor (30–90 mm in 10 mm
    steps) ≥ the depth (None, with a warning, beyond 90 mm); ``incision_mm``
    the tube's diameter + `margin_mm` (incisions of 12–25 mm for 14–26 mm tubes).

    Raises
    ------
    MeasurementError
        The target is outside the image or in air, or the line never leaves the body.
    """
    require_volume(volume, "access_plan")
    target = as_points(target_lps, "target_lps").reshape(3)
    d = unit(as_points(toward_lps, "toward_lps").reshape(3) - target, "direction (target and toward coincide)")
    if not (tube_diameter_mm > 0 and margin_mm >= 0):
        raise MeasurementError(f"tube_diameter_mm must be > 0 and margin_mm ≥ 0; got {tube_diameter_mm}, {margin_mm}")
    skin = _skin(volume, target, d)
    depth = float(np.linalg.norm(skin - target))
    tube = next((t for t in TUBE_LENGTHS_MM if t >= depth), None)
    flags: tuple[str, ...] = ()
    if tube is None:
        msg = f"target depth {depth:.0f} mm exceeds the longest stock tubular retractor ({TUBE_LENGTHS_MM[-1]:.0f} mm)"
        warn_and_log(msg)
        flags = (msg,)
    ap = d[1] if abs(d[1]) > 1e-9 else 1e-9
    horiz = float(np.degrees(np.arctan2(d[0], abs(ap))))
    cranial = float(np.degrees(np.arctan2(d[2], abs(ap))))
    return AccessPlan(target, skin, depth, tube, float(tube_diameter_mm), float(tube_diameter_mm + margin_mm),
                      horiz, cranial, volume.calibration,
                      "skin = where the line leaves tissue for air (half level); depth skin→target; smallest stock "
                      "tube (30-90 mm) ≥ depth; incision = tube diameter + margin", flags)
