"""A vertebral body from its four sagittal corners, and snapping clicked corners onto the image's edges."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ..errors import MeasurementError
from ..model import ImageVolume
from ..measure import GEOMETRY_LABEL
from ._sampling import Array, as_points, falling_edge, sample, unit

__all__ = ["Vertebra", "snap_corners", "CORNER_NAMES", "sagittal_frame"]

#: corner order of :class:`Vertebra`
CORNER_NAMES = ("anterior-superior", "posterior-superior", "posterior-inferior", "anterior-inferior")
AS, PS, PI, AI = range(4)


@dataclass(frozen=True)
class Vertebra:
    """A vertebral body in a sagittal plane.

    Parameters
    ----------
    label : str
        The level, e.g. ``"L4"``.
    corners : (4, 3) array-like
        Patient LPS mm of the corners in the order anterior-superior,
        posterior-superior, posterior-inferior, anterior-inferior.
    calibration : str
        What the coordinates rest on (the image's calibration label).
    """

    label: str
    corners: Array
    calibration: str = "patient geometry (CT)"
    snapped: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        c = np.array(as_points(self.corners, f"corners of {self.label}"), dtype=np.float64)
        if c.shape != (4, 3):
            raise MeasurementError(f"{self.label}: a Vertebra needs 4 corners (AS, PS, PI, AI); got shape {c.shape}")
        c.setflags(write=False)
        object.__setattr__(self, "corners", c)
        _check_shape(self.label, c, self.calibration)

    @property
    def superior_endplate(self) -> tuple[Array, Array]:
        """(posterior, anterior) ends of the superior endplate."""
        return self.corners[PS], self.corners[AS]

    @property
    def inferior_endplate(self) -> tuple[Array, Array]:
        """(posterior, anterior) ends of the inferior endplate."""
        return self.corners[PI], self.corners[AI]


def _check_shape(label: str, c: Array, calibration: str) -> None:
    """Reject corners that cannot be a body: coincident, crossed, or (on CT) anterior/superior reversed."""
    for i in range(4):
        for j in range(i + 1, 4):
            if np.linalg.norm(c[i] - c[j]) < 1e-6:
                raise MeasurementError(f"{label}: corners {CORNER_NAMES[i]} and {CORNER_NAMES[j]} coincide")
    order = ("corners are not in the order anterior-superior, posterior-superior, posterior-inferior, "
             "anterior-inferior")
    ant = (c[AS] - c[PS]) + (c[AI] - c[PI])
    sup = (c[AS] - c[AI]) + (c[PS] - c[PI])
    normal = np.cross(ant, sup)
    if np.linalg.norm(normal) < 1e-9:
        raise MeasurementError(f"{label}: {order}")
    turns = [np.dot(np.cross(c[(i + 1) % 4] - c[i], c[(i + 2) % 4] - c[(i + 1) % 4]), normal) for i in range(4)]
    if not (all(t > 0 for t in turns) or all(t < 0 for t in turns)):
        raise MeasurementError(f"{label}: {order} (the outline crosses itself)")
    if calibration == GEOMETRY_LABEL:  # patient LPS: anterior is -y, superior +z
        a, s = ant / np.linalg.norm(ant), sup / np.linalg.norm(sup)
        if a[1] > 0.5 or s[2] < -0.5:
            raise MeasurementError(f"{label}: {order} (the 'anterior' corners lie posterior or the 'superior' "
                                   "ones inferior in patient coordinates)")


def sagittal_frame(corners: Array) -> tuple[Array, Array, Array]:
    """(origin, u, v) of the plane of `corners` (M, 4, 3 or 4, 3): u anterior, v superior, orthonormal.

    The axes are the bodies' own: u the mean posterior-to-anterior endplate
    direction, v the mean inferior-to-superior wall direction made
    orthogonal to u.  Angles measured in (u, v) are anatomical: positive
    counter-clockwise from anterior toward superior.
    """
    c = np.asarray(corners, dtype=np.float64).reshape(-1, 4, 3)
    ant = unit(((c[:, AS] - c[:, PS]) + (c[:, AI] - c[:, PI])).sum(axis=0), "anterior direction")
    sup = ((c[:, AS] - c[:, AI]) + (c[:, PS] - c[:, PI])).sum(axis=0)
    v = unit(sup - np.dot(sup, ant) * ant, "superior direction")
    return c.reshape(-1, 3).mean(axis=0), ant, v


def _edge_line(volume: ImageVolume, o: Array, u: Array, v: Array, corner: Array, along: int, sign_along: float,
               sign_across: float, radius_mm: float) -> tuple[float, float]:
    """Fit the body's edge near `corner` (in-plane coords) as ``x_across = a + b * x_along``.

    Profiles run across the edge (from inside the body outward, sign
    `sign_across`) at several distances inward along it, away from the
    rounded corner; each gives the half-maximum edge.
    """
    axes = (u, v)
    e_along, e_across = axes[along], axes[1 - along]
    c_along, c_across = corner[along], corner[1 - along]
    step = 0.1
    inner, outer = radius_mm + 3.0, radius_mm + 1.0
    s = np.arange(-inner, outer + step / 2, step)
    offsets = np.linspace(radius_mm, radius_mm + 4.0, 9)
    al, ac = [], []
    for t in offsets:
        pos_along = c_along - sign_along * t
        pos_across = c_across + sign_across * s
        pts = o + pos_along * e_along + np.outer(pos_across, e_across)
        prof = sample(volume, pts)
        inside = float(np.nanmedian(prof[: int(2.0 / step)]))
        level = 0.5 * (inside + float(np.nanmin(prof)))
        d = falling_edge(prof, step, level, start=1)
        if d is not None and np.isfinite(inside):
            al.append(pos_along)
            ac.append(c_across + sign_across * (-inner + d))
    if len(al) < 4:
        raise MeasurementError("no body edge found near the corner within "
                               f"{radius_mm:g} mm: click closer to the corner or on a bone window")
    b, a = np.polyfit(np.asarray(al), np.asarray(ac), 1)
    return float(a), float(b)


def _snap_one(volume: ImageVolume, o: Array, u: Array, v: Array, corner2: Array, su: float, sv: float,
              radius_mm: float) -> Array:
    """Snap one corner (in-plane coords) to the intersection of its endplate and wall edges."""
    a_e, b_e = _edge_line(volume, o, u, v, corner2, 0, su, sv, radius_mm)  # endplate: v = a + b u
    a_w, b_w = _edge_line(volume, o, u, v, corner2, 1, sv, su, radius_mm)  # wall: u = a + b v
    den = 1.0 - b_w * b_e
    if abs(den) < 1e-6:
        raise MeasurementError("the endplate and wall edges near the corner are parallel")
    cu = (a_w + b_w * a_e) / den
    cv = a_e + b_e * cu
    snapped = np.array([cu, cv])
    if np.linalg.norm(snapped - corner2) > radius_mm + 1.0:
        raise MeasurementError(f"the body's corner is {np.linalg.norm(snapped - corner2):.1f} mm from the click "
                               f"(more than radius_mm={radius_mm:g} mm): click closer")
    return o + cu * u + cv * v


def snap_corners(volume: ImageVolume, corners: npt.ArrayLike | Vertebra, *,
                 radius_mm: float = 3.0) -> Vertebra | Array:
    """Move four clicked corners onto the vertebral body's edges in the image.

    Near each corner the endplate edge and the wall edge are each found as
    the half-maximum bone edge on profiles across them (sampled at 0.1 mm in
    the plane of the four corners, inward of the rounded corner), fitted as
    lines, and intersected.  Two users clicking roughly the same corners get
    the same corners.

    Parameters
    ----------
    volume : ImageVolume
    corners : (4, 3) array-like or Vertebra
        LPS mm, order anterior-superior, posterior-superior,
        posterior-inferior, anterior-inferior.
    radius_mm : float
        How far (mm) the true corner may be from the click.

    Returns
    -------
    Vertebra (when given one, with ``snapped=True``) or (4, 3) ndarray of LPS mm.

    Raises
    ------
    MeasurementError
        When no edge is found near a corner, or the edges found lie farther
        than `radius_mm` + 1 mm from the click.
    """
    vert = corners if isinstance(corners, Vertebra) else Vertebra("?", corners, volume.calibration)
    c = vert.corners
    o, u, v = sagittal_frame(c)
    signs = ((1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0))  # (anterior?, superior?) of AS, PS, PI, AI
    out = np.array([_snap_one(volume, o, u, v, np.array([np.dot(p - o, u), np.dot(p - o, v)]), su, sv, radius_mm)
                    for p, (su, sv) in zip(c, signs)])
    if isinstance(corners, Vertebra):
        return replace(vert, corners=out, calibration=volume.calibration, snapped=True)
    return out
