"""Spine results as :class:`~miss_imaging.measurement.measure.Measurement` records for the measurement table and its exports.

Each record is an ordinary distance or Cobb measurement between the points
the result rests on (so it reloads as a ruler or Cobb shape), named for what
it is, with the spine result's value, and its flags as warnings.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import numpy.typing as npt

from miss_imaging.measurement.measure import Measurement, measure_cobb, measure_distance
from miss_imaging.model import ImageVolume
from miss_imaging.spine.access import AccessPlan
from miss_imaging.spine.breach import Breach
from miss_imaging.spine.canal import Canal, Foramen
from miss_imaging.spine.disc import disc_angle, disc_height, segmental_angle, slip
from miss_imaging.spine.plan import ScrewPlan
from miss_imaging.spine.screws import Screw
from miss_imaging.spine.vertebra import AI, AS, PI, PS, Vertebra

__all__ = ["level_records", "screw_records", "plan_records", "access_records", "canal_records"]


def _idx(volume: ImageVolume, p: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return volume.patient_to_index(np.asarray(p, dtype=np.float64))


def _dist(volume: ImageVolume, a: npt.ArrayLike, b: npt.ArrayLike, name: str, flags: Sequence[str] = ()) -> Measurement:
    m = measure_distance(volume, _idx(volume, a), _idx(volume, b), name=name)
    return replace(m, warnings=tuple(m.warnings) + tuple(flags))


def level_records(volume: ImageVolume, upper: Vertebra, lower: Vertebra) -> list[Measurement]:
    """Disc heights (distances) and the disc angle (a Cobb, signed: + opens anteriorly) of one level, with slip."""
    u, lo = upper.corners, lower.corners
    h, sl = disc_height(upper, lower), slip(upper, lower)
    lvl = h.level
    out = [
        _dist(volume, u[AI], lo[AS], f"{lvl} disc anterior height"),
        _dist(volume, (u[AI] + u[PI]) / 2, (lo[AS] + lo[PS]) / 2, f"{lvl} disc middle height", h.flags),
        _dist(volume, u[PI], lo[PS], f"{lvl} disc posterior height"),
        _dist(volume, u[PI], lo[PS] + sl.mm * (lo[AS] - lo[PS]) / np.linalg.norm(lo[AS] - lo[PS]),
              f"{lvl} slip {sl.percent:.0f} % ({sl.grade})", sl.flags),
    ]
    for fn, (a, b) in ((disc_angle, ((u[PI], u[AI]), (lo[PS], lo[AS]))),
                       (segmental_angle, ((u[PS], u[AS]), (lo[PI], lo[AI])))):
        ang = fn(upper, lower)
        m = measure_cobb(volume, [_idx(volume, p) for p in a], [_idx(volume, p) for p in b], name=ang.name)
        out.append(replace(m, value=ang.degrees, warnings=tuple(m.warnings) + ang.flags))
    return out


def screw_records(volume: ImageVolume, screw: Screw, result: Breach | None = None) -> list[Measurement]:
    """The screw's length (entry to tip) named with its diameter and breach grade."""
    grade = "" if result is None else (f"; Gertzbein-Robbins {result.grade}" + (
        f" {result.direction} {result.distance_mm:.1f} mm" if result.direction else ""))
    name = f"{screw.label or 'screw'} length (Ø {screw.diameter_mm:.1f} mm{grade})"
    return [_dist(volume, screw.entry_lps, screw.tip_lps, name, () if result is None else result.flags)]


def plan_records(volume: ImageVolume, plan: ScrewPlan) -> list[Measurement]:
    """The planned trajectory (entry to target) named with the suggested screw and its predicted grade."""
    name = (f"planned screw {plan.suggested_diameter_mm:.1f} x {plan.suggested_length_mm:.0f} mm "
            f"(isthmus {plan.pedicle_width_mm:.1f} mm; predicted {plan.predicted_breach.grade})")
    return [_dist(volume, plan.entry_lps, plan.target_lps, name, plan.flags)]


def access_records(volume: ImageVolume, plan: AccessPlan) -> list[Measurement]:
    """Skin-to-target depth named with the tube and incision."""
    tube = "no stock tube" if plan.tube_length_mm is None else f"tube {plan.tube_length_mm:.0f} mm"
    name = f"access depth ({tube}, Ø {plan.tube_diameter_mm:.0f} mm, incision {plan.incision_mm:.0f} mm)"
    return [_dist(volume, plan.skin_entry_lps, plan.target_lps, name, plan.flags)]


def canal_records(volume: ImageVolume, result: Canal | Foramen, name: str = "") -> list[Measurement]:
    """Canal AP (or foraminal height) as the distance between its two edge points."""
    if isinstance(result, Canal):
        a, b = result.ap_points_lps
        return [_dist(volume, a, b, name or f"canal AP (area {result.area_mm2:.0f} mm², stenosis {result.stenosis})",
                      result.flags)]
    a, b = result.height_points_lps
    return [_dist(volume, a, b, name or "foraminal height", result.flags)]
