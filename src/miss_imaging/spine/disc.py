"""Disc heights, disc / segmental angles, lordosis and slip from vertebral corners.

All angles are measured in the sagittal plane of the bodies involved (see
:func:`~miss_imaging.spine.vertebra.sagittal_frame`), so they hold for any
scanner orientation; lengths are 3-D distances between LPS points in mm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from miss_imaging.errors import MeasurementError
from miss_imaging.spine import norms
from miss_imaging.spine._sampling import Array
from miss_imaging.spine.vertebra import AI, AS, PI, PS, Vertebra, sagittal_frame

__all__ = ["DiscHeight", "SpineAngle", "Slip", "disc_height", "disc_angle", "segmental_angle", "lordosis", "slip"]


def _calibration(*verts: Vertebra) -> str:
    labels = sorted({v.calibration for v in verts})
    return labels[0] if len(labels) == 1 else "mixed: " + ", ".join(labels)


@dataclass(frozen=True)
class DiscHeight:
    """Heights of the disc between two bodies, mm.

    ``flags`` lists every value outside its published range (see
    :mod:`~miss_imaging.spine.norms`).
    """

    level: str
    anterior_mm: float
    middle_mm: float
    posterior_mm: float
    calibration: str
    definition: str
    normal: norms.NormalRange = norms.DISC_HEIGHT
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpineAngle:
    """A signed sagittal angle in degrees (``float(angle)`` gives it)."""

    name: str
    degrees: float
    calibration: str
    definition: str
    normal: norms.NormalRange | None = None
    flags: tuple[str, ...] = ()

    def __float__(self) -> float:
        return self.degrees


@dataclass(frozen=True)
class Slip:
    """Translation of the upper body over the lower one (spondylolisthesis)."""

    level: str
    percent: float
    mm: float
    grade: str
    calibration: str
    definition: str
    flags: tuple[str, ...] = ()


def _level(upper: Vertebra, lower: Vertebra) -> str:
    return f"{upper.label}-{lower.label}"


def disc_height(upper: Vertebra, lower: Vertebra) -> DiscHeight:
    """Anterior, middle and posterior height of the disc between `upper` and `lower`.

    Anterior: upper's anterior-inferior to lower's anterior-superior corner;
    posterior likewise; middle: between the midpoints of the two facing
    endplates (Hurxthal).  Flags: middle outside 8.8 ± 2×1.4 mm (Spahn 2024),
    posterior ≤ 4 mm (root compression likely, Hasegawa 1995).
    """
    u, lo = upper.corners, lower.corners
    ant = float(np.linalg.norm(u[AI] - lo[AS]))
    post = float(np.linalg.norm(u[PI] - lo[PS]))
    mid = float(np.linalg.norm((u[AI] + u[PI]) / 2 - (lo[AS] + lo[PS]) / 2))
    if min(ant, post, mid) <= 0:
        raise MeasurementError(f"{_level(upper, lower)}: the facing endplates touch (disc height 0)")
    flags = [f for f in (norms.DISC_HEIGHT.flag(mid),) if f]
    if post <= 4.0:
        flags.append(f"posterior disc height {post:.1f} mm ≤ 4 mm: root compression likely ({norms.POSTERIOR_DISC_HEIGHT.source})")
    return DiscHeight(_level(upper, lower), ant, mid, post, _calibration(upper, lower),
                      "anterior/posterior: facing corners; middle: endplate midpoints (Hurxthal), mm", flags=tuple(flags))


def _tilt(p_post: Array, p_ant: Array, u: Array, v: Array) -> float:
    """Angle (deg) of the posterior-to-anterior line in the sagittal frame: positive when its anterior end is higher."""
    d = p_ant - p_post
    return float(np.degrees(np.arctan2(np.dot(d, v), np.dot(d, u))))


def _angle_between(lines: Sequence[tuple[Array, Array]], verts: Sequence[Vertebra]) -> float:
    _, u, v = sagittal_frame(np.stack([x.corners for x in verts]))
    upper, lower = (_tilt(p, a, u, v) for p, a in lines)
    d = upper - lower
    return float((d + 180.0) % 360.0 - 180.0)


def disc_angle(upper: Vertebra, lower: Vertebra) -> SpineAngle:
    """Angle (deg) between upper's inferior and lower's superior endplate; positive when the disc opens anteriorly."""
    deg = _angle_between([upper.inferior_endplate, lower.superior_endplate], [upper, lower])
    return SpineAngle(f"disc angle {_level(upper, lower)}", deg, _calibration(upper, lower),
                      "between upper's inferior and lower's superior endplate lines, sagittal; + = opens anteriorly")


def segmental_angle(upper: Vertebra, lower: Vertebra) -> SpineAngle:
    """Angle (deg) between upper's superior and lower's inferior endplate; positive lordotic."""
    deg = _angle_between([upper.superior_endplate, lower.inferior_endplate], [upper, lower])
    return SpineAngle(f"segmental angle {_level(upper, lower)}", deg, _calibration(upper, lower),
                      "between upper's superior and lower's inferior endplate lines, sagittal; + = lordotic")


def lordosis(vertebrae: Sequence[Vertebra], upper: str = "L1", lower: str = "S1", *,
             posture: str = "recumbent") -> SpineAngle:
    """Cobb lordosis (deg) between the superior endplates of levels `upper` and `lower`; positive lordotic.

    `posture` picks the norm: ``"recumbent"`` (supine/prone, intraoperative:
    36.8 ± 13.2°) or ``"standing"`` (49.8 ± 11.2°; L4-S1 34.2 ± 8.3°),
    PMC6680033; a prone value is never compared with standing norms.
    """
    by = {v.label.upper(): v for v in vertebrae}
    missing = [n for n in (upper, lower) if n.upper() not in by]
    if missing:
        raise MeasurementError(f"lordosis {upper}-{lower}: no vertebra labelled {', '.join(missing)} "
                               f"(have {', '.join(sorted(by)) or 'none'})")
    a, b = by[upper.upper()], by[lower.upper()]
    deg = _angle_between([a.superior_endplate, b.superior_endplate], [a, b])
    normal = _lordosis_norm(upper.upper(), lower.upper(), posture)
    flag = normal.flag(deg) if normal else None
    return SpineAngle(f"lordosis {a.label}-{b.label}", deg, _calibration(a, b),
                      f"Cobb between superior endplates of {a.label} and {b.label}, sagittal; + = lordotic",
                      normal, (flag,) if flag else ())


def _lordosis_norm(upper: str, lower: str, posture: str) -> norms.NormalRange | None:
    if posture not in ("recumbent", "standing"):
        raise ValueError(f"posture must be 'recumbent' or 'standing'; got {posture!r}")
    if lower != "S1":
        return None
    if upper in ("L1", "T12"):
        return norms.LORDOSIS_L1_S1_RECUMBENT if posture == "recumbent" else norms.LORDOSIS_L1_S1_STANDING
    if upper == "L4" and posture == "standing":
        return norms.LORDOSIS_L4_S1_STANDING
    return None


def slip(upper: Vertebra, lower: Vertebra) -> Slip:
    """Translation of upper's posterior-inferior corner over lower's superior endplate (Meyerding).

    Measured from lower's posterior-superior corner along its superior
    endplate (positive anterior), in mm and in % of that endplate's length.
    """
    ps, as_ = lower.corners[PS], lower.corners[AS]
    length = float(np.linalg.norm(as_ - ps))
    mm = float(np.dot(upper.corners[PI] - ps, (as_ - ps) / length))
    pct = 100.0 * mm / length
    grade = norms.meyerding_grade(pct)
    flags = () if abs(pct) < 1e-9 else (f"{'retrolisthesis' if pct < 0 else 'Meyerding grade ' + grade}: "
                                         f"{pct:.0f} % (Meyerding 1932)",)
    return Slip(_level(upper, lower), pct, mm, grade, _calibration(upper, lower),
                "upper's posterior-inferior corner from lower's posterior-superior corner along lower's "
                "superior endplate, % of its length; + = anterior (Meyerding)", flags)
