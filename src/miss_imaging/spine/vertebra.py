"""A vertebral body from its four sagittal corners, and snapping clicked corners onto the image's edges."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume
from miss_imaging.measurement.measure import GEOMETRY_LABEL
from miss_imaging.spine._sampling import Array, as_points, fall_centroid, sample, unit
from miss_imaging.spine.screws import METAL_HU

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


def _edge_points(volume: ImageVolume, o: Array, u: Array, v: Array, corner: Array, along: Array, out: Array,
                 radius_mm: float, reach_mm: float) -> Array:
    """Edge points (in-plane coords) of the body's edge that leaves `corner` along `along`.

    Profiles run across the edge along `out` (from inside the body outward),
    every 0.5 mm from `radius_mm` to `radius_mm` + `reach_mm` from the click
    along the edge (away from the rounded corner).  On each, the cortex is
    the first rise half-way from the body's inside to the profile's peak and
    the edge is the centroid of its outer descent (:func:`fall_centroid`).
    Profiles that do not start in bone (the click too far out), that start
    outside the image (all NaN there: no bone on that profile) or that cross
    metal are skipped.
    """
    step = 0.1
    inner, outer = radius_mm + 3.0, radius_mm + 1.0
    s = np.arange(-inner, outer + step / 2, step)
    found = []
    for t in np.linspace(radius_mm, radius_mm + reach_mm, int(reach_mm * 2) + 1):
        line = corner + t * along + np.outer(s, out)
        prof = sample(volume, o + np.outer(line[:, 0], u) + np.outer(line[:, 1], v))
        if not np.isfinite(prof[: int(2.0 / step)]).all():
            continue  # the profile starts outside the image (NaN): no bone on it to find an edge of
        if volume.kind == "volume" and np.nanmax(prof) >= METAL_HU:
            continue  # a screw in the body: its blooming is no bone edge
        tail = prof[-int(1.0 / step):]
        if (volume.kind != "volume" and np.isfinite(tail).any()
                and np.median(prof[: int(2.0 / step)]) < np.nanmedian(tail)):
            prof = -prof  # bone darker than its surroundings (a fluoroscopy frame): same edge, other polarity
        head = prof[: int(2.0 / step)]
        inside = float(np.median(head))
        # the edge: the first fall below half-way between the peak (a cortex, or the body's inside) and the
        # outside, after the profile first reaches that level: a noise dip in cancellous bone is not an edge
        lo = float(np.nanmin(prof))
        level = 0.5 * (float(np.nanmax(prof)) + lo)
        rise = np.flatnonzero(prof >= level)
        if not np.all(head >= 0.5 * (inside + lo)) or rise.size == 0:
            continue
        d = fall_centroid(prof, step, level, start=int(rise[0]))
        if d is not None:
            found.append(line[0] + d * out)
    if len(found) < 5:
        raise MeasurementError("no body edge found near the corner within "
                               f"{radius_mm:g} mm (or the corner is outside the image): click closer to the "
                               "corner")
    return np.asarray(found)


def _fit_line(pts: Array) -> tuple[Array, Array]:
    """Total-least-squares line (point, unit direction), refitted without outliers (> 2 mm, then > 0.5 mm off)."""
    for cut in (2.0, 0.5, 0.5):
        c = pts.mean(axis=0)
        d = np.linalg.svd(pts - c)[2][0]
        off = np.abs((pts - c) @ np.array([-d[1], d[0]]))
        if (off < cut).sum() < 5 or (off < cut).all():
            continue
        pts = pts[off < cut]
    c = pts.mean(axis=0)
    return c, np.linalg.svd(pts - c)[2][0]


def _perp_out(e: Array, away: Array) -> Array:
    n = np.array([-e[1], e[0]])
    return n if np.dot(n, away) > 0 else -n


#: the body's four edges as (corner, corner, a corner off the edge: the inside): endplates, then walls
_EDGES = ((AS, PS, AI), (AI, PI, AS), (AS, AI, PS), (PS, PI, AS))
_STRETCH_MM = 12.0  # edge profiles from radius_mm to radius_mm + this from each corner (at most half the edge)


def _edge_line(volume: ImageVolume, o: Array, u: Array, v: Array, c2: Array, edge: tuple[int, int, int],
               radius_mm: float) -> tuple[Array, Array]:
    """One line (point, direction; in-plane coords) through the edge points found near both ends of an edge.

    Fitting the whole edge at once, rather than a few mm next to each corner,
    averages the slice staircase of a tilted endplate on thick slices (its
    half-maximum edge jumps by up to 1 mm as it crosses a slice boundary) and
    gets the line's angle from its full length.
    """
    i, j, k = edge
    e = unit(c2[j] - c2[i])
    out = _perp_out(e, c2[i] - c2[k])
    reach = min(_STRETCH_MM, max(float(np.linalg.norm(c2[j] - c2[i])) / 2 - radius_mm, 1.0))
    pts = np.vstack([_edge_points(volume, o, u, v, c2[a], d, out, radius_mm, reach)
                     for a, d in ((i, e), (j, -e))])
    return _fit_line(pts)


def _intersect(line_a: tuple[Array, Array], line_b: tuple[Array, Array]) -> Array:
    (pa, da), (pb, db) = line_a, line_b
    m = np.column_stack([da, -db])
    if abs(np.linalg.det(m)) < 1e-3:
        raise MeasurementError("the endplate and wall edges near the corner are parallel")
    return pa + np.linalg.solve(m, pb - pa)[0] * da


def snap_corners(volume: ImageVolume, corners: npt.ArrayLike | Vertebra, *,
                 radius_mm: float = 3.0) -> Vertebra | Array:
    """Move four clicked corners onto the vertebral body's edges in the image.

    Near each corner the endplate edge and the wall edge are each found as
    the half-maximum bone edge on profiles across them (sampled at 0.1 mm in
    the plane of the four corners, inward of the rounded corner), fitted as
    lines, and intersected.  Bone may be brighter (CT) or darker (a
    fluoroscopy frame) than its surroundings; on a projection the corners
    are image-plane mm (x along columns, y along rows, z = frame).  Two users clicking roughly the same corners get
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
    vert = corners if isinstance(corners, Vertebra) else Vertebra("?", as_points(corners, "corners"), volume.calibration)
    c = vert.corners
    o, u, v = sagittal_frame(c)
    c2 = np.column_stack([(c - o) @ u, (c - o) @ v])
    sup, inf, ant, post = (_edge_line(volume, o, u, v, c2, edge, radius_mm) for edge in _EDGES)
    snapped = np.array([_intersect(sup, ant), _intersect(sup, post), _intersect(inf, post), _intersect(inf, ant)])
    far = np.linalg.norm(snapped - c2, axis=1)
    if far.max() > radius_mm + 1.0:
        raise MeasurementError(f"the body's {CORNER_NAMES[int(np.argmax(far))]} corner is {far.max():.1f} mm from the "
                               f"click (more than radius_mm={radius_mm:g} mm): click closer")
    out = o + np.outer(snapped[:, 0], u) + np.outer(snapped[:, 1], v)
    if isinstance(corners, Vertebra):
        return replace(vert, corners=out, calibration=volume.calibration, snapped=True)
    return out
