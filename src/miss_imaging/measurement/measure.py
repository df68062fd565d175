"""Distances, paths, angles, Cobb angles and intensity profiles, in mm, with their calibration.

Every point is given in **array-index coordinates** ``(axis0, axis1, axis2)``
of an :class:`~miss_imaging.model.ImageVolume` (``(slice, row, col)`` for
volumes, ``(frame, row, col)`` for projections), fractions allowed, index 0 =
centre of the first voxel.

* Volumes (CT, oblique reslice planes): points are mapped to patient LPS mm
  through the volume's affine (or, for an irregular stack, through the
  recorded slice positions), so a line between two slices gives the 3-D length
  and a reslice plane is measured in its own plane.
* Projections (fluoroscopy, radiographs): axis 0 counts frames and carries no
  length; distances are in-plane, using the row/column spacing of a
  :class:`~miss_imaging.measurement.calibration.Calibration` (by default the volume's own
  spacing and label; a user or detector-plane calibration may be passed).
  Without a physical spacing, values are in pixels and labelled "pixels only".

Each function returns a :class:`Measurement` that states the value, its unit,
the calibration label and the points in index and physical coordinates, so
that it can be reproduced (see :mod:`miss_imaging.measurement.measurements_io`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from miss_imaging.measurement.calibration import PIXELS_ONLY, Calibration, CalibrationSource, MagnificationRange, magnification_range, projection_calibration
from miss_imaging.errors import MeasurementError
from miss_imaging.model import ImageVolume

__all__ = [
    "Measurement",
    "Profile",
    "volume_calibration",
    "calibrated_volume",
    "measure_distance",
    "measure_path",
    "measure_angle",
    "measure_cobb",
    "intensity_profile",
    "remeasure",
    "MIN_LENGTH_PX",
    "as_point",
]

#: lines shorter than this (in index units) are "zero length"
MIN_LENGTH_PX = 1e-6

#: label of cross-sectional geometry (same string as ImageVolume.calibration's default)
GEOMETRY_LABEL = "patient geometry (CT)"


@dataclass(frozen=True)
class Measurement:
    """One measurement, reproducible from what it stores.

    Attributes
    ----------
    kind : {"distance", "path", "angle", "cobb"}
    value : float
        In `unit`: mm when a physical spacing exists, else px; degrees for angles.
    unit : {"mm", "px", "deg"}
    calibration : str
        Label of what the value rests on, e.g. ``"magnification-corrected (ERMF)"``.
    points_index : tuple of (3,) tuples of float
        The points in array-index coordinates ``(axis0, axis1, axis2)``.
    points_patient : tuple of (3,) tuples of float, or None
        Volumes: LPS ``(x, y, z)`` mm.  Projections: image-plane mm ``(x along
        columns, y along rows, z = frame)`` under `calibration`; ``None`` when
        pixels only.
    frame_indices : tuple of int
        Axis-0 index (slice or frame) of each point, rounded.
    series_uid : str
    series_label : str
        Display name of the series (never patient identifiers).
    name : str
        User-given name ("" until renamed).
    mm : float or None
        Length in mm (distance/path), ``None`` without physical spacing or for angles.
    pixels : float or None
        Length in index units (in-plane for projections), ``None`` for angles.
    calibration_detail : Calibration or None
        The full calibration used for a projection (spacings, source), so a
        user calibration can be restored on reload.
    coordinate_frame : {"LPS", "image plane", "pixels"}
    detector_mm : float or None
        Projections with ImagerPixelSpacing: the same length at the detector
        plane (not magnification-corrected), kept for comparison.
    warnings : tuple of str
    magnification_range : (2,) tuple of float or None
        Magnification-corrected projection lengths: ``(depth_mm, sod_mm)`` of
        :class:`~miss_imaging.measurement.calibration.MagnificationRange` (the true size
        spans ``value * (1 ± depth/sod)`` for an object within ±depth mm of
        the isocentre plane); ``None`` elsewhere.
    """

    kind: str
    value: float
    unit: str
    calibration: str
    points_index: tuple[tuple[float, float, float], ...]
    points_patient: tuple[tuple[float, float, float], ...] | None
    frame_indices: tuple[int, ...]
    series_uid: str = ""
    series_label: str = ""
    name: str = ""
    mm: float | None = None
    pixels: float | None = None
    calibration_detail: Calibration | None = None
    coordinate_frame: str = "LPS"
    detector_mm: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    magnification_range: tuple[float, float] | None = None

    @property
    def frame(self) -> int | None:
        """Axis-0 index shared by all points, else ``None`` (spans slices/frames)."""
        return self.frame_indices[0] if len(set(self.frame_indices)) == 1 else None

    @property
    def text(self) -> str:
        """Short display text, e.g. ``"25.4 mm magnification-corrected (ERMF)"``."""
        if self.unit == "deg":
            return f"{self.value:.1f}° {self.calibration}"
        text = f"{self.value:.1f} {self.unit} {self.calibration}"
        if self.magnification_range is not None:
            text += ", " + MagnificationRange(*self.magnification_range).label
        return text

    def renamed(self, name: str) -> Measurement:
        """A copy with another name."""
        return replace(self, name=name)


class Profile(tuple):  # (distances, values), unpacks as a pair
    """Intensity profile along a line: ``distances, values = profile``.

    Attributes
    ----------
    distances : (n,) ndarray of float64
        Distance of each sample from the first point, in `unit`.
    values : (n,) ndarray of float64
        Linearly interpolated modality values (HU for CT).
    unit : {"mm", "px"}
    calibration : str
    """

    unit: str
    calibration: str

    def __new__(
        cls, distances: npt.NDArray[np.float64], values: npt.NDArray[np.float64], unit: str, calibration: str
    ) -> Profile:
        self = super().__new__(cls, (distances, values))
        self.unit = unit
        self.calibration = calibration
        return self

    @property
    def distances(self) -> npt.NDArray[np.float64]:
        return self[0]

    @property
    def values(self) -> npt.NDArray[np.float64]:
        return self[1]


def volume_calibration(volume: ImageVolume) -> Calibration:
    """The in-plane calibration a volume's spacing rests on.

    For projections: ``spacing[1:]`` with the volume's label (``None`` spacing
    when labelled "pixels only"), and the detector spacing from its tags.
    For cross-sectional volumes: the geometry (source ``"geometry"``).
    """
    if volume.kind != "projection":
        return Calibration(volume.spacing[1], volume.spacing[2], volume.calibration or GEOMETRY_LABEL,
                           CalibrationSource.GEOMETRY)
    tags = volume.projection
    det = tags.imager_pixel_spacing if tags is not None else None
    det_r, det_c = (float(det[0]), float(det[1])) if det is not None else (None, None)
    if volume.calibration == PIXELS_ONLY.label:
        return Calibration(None, None, PIXELS_ONLY.label, CalibrationSource.PIXELS, det_r, det_c)
    return Calibration(volume.spacing[1], volume.spacing[2], volume.calibration, CalibrationSource.VOLUME, det_r, det_c)


def calibrated_volume(volume: ImageVolume, calibration: Calibration | None) -> ImageVolume:
    """The projection as drawn under `calibration` (e.g. a user calibration): its in-plane spacing and label.

    Pictures (snapshot, cine GIF) draw their scale bar from the volume's
    spacing and name its calibration; this makes both those of the
    calibration in force.  The pixels are shared, not copied.  Volumes other
    than projections, ``None`` and calibrations without mm come back unchanged.

    Parameters
    ----------
    volume : ImageVolume
    calibration : Calibration or None
        In-plane mm per row and column step.
    """
    if volume.kind != "projection" or calibration is None or not calibration.has_mm:
        return volume
    row, col = float(calibration.row_mm), float(calibration.col_mm)  # type: ignore[arg-type]
    affine = np.array(volume.affine, dtype=np.float64)
    for axis, new in ((1, row), (2, col)):  # keep the directions, change the step lengths
        old = float(np.linalg.norm(affine[:3, axis]))
        if old > 0:
            affine[:3, axis] *= new / old
    return volume.replace(spacing=(volume.spacing[0], row, col), affine=affine, calibration=calibration.label)


# --------------------------------------------------------------------------- helpers


def _points(volume: ImageVolume, points: Sequence[npt.ArrayLike], what: str) -> npt.NDArray[np.float64]:
    """Validate points as (n, 3) index coordinates inside the image (voxel edges included)."""
    shape = volume.shape
    out = []
    for k, p in enumerate(points):
        a = np.asarray(p, dtype=np.float64).ravel()
        if a.size == 2 and len(shape) == 3 and shape[0] == 1:
            a = np.concatenate([[0.0], a])  # a 2-D point on a single-plane volume
        if a.size != 3:
            raise MeasurementError(f"{what}: point {k} = {np.asarray(p).tolist()} must have 3 index coordinates (axis0, axis1, axis2)")
        if not np.isfinite(a).all():
            raise MeasurementError(f"{what}: point {k} = {a.tolist()} is not finite")
        lo, hi = -0.5, np.asarray(shape[:3], dtype=np.float64) - 0.5
        if (a < lo - 1e-9).any() or (a > hi + 1e-9).any():
            raise MeasurementError(
                f"{what}: point {k} = ({', '.join(f'{v:.2f}' for v in a)}) is outside the image "
                f"(index ranges -0.5..{', -0.5..'.join(f'{h:g}' for h in hi)} for shape {tuple(shape)})"
            )
        out.append(a)
    return np.array(out, dtype=np.float64).reshape(-1, 3)


def _index_to_patient(volume: ImageVolume, idx: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """(n, 3) indices -> (n, 3) LPS mm; irregular stacks use the recorded slice positions."""
    sp = volume.slice_positions
    if volume.regular or sp is None or len(sp) != volume.shape[0] or volume.shape[0] < 2:
        return volume.index_to_patient(idx)
    # position of fractional slice k interpolated between its neighbours' IPPs
    k = np.clip(idx[:, 0], 0, len(sp) - 1)
    k0 = np.minimum(np.floor(k).astype(int), len(sp) - 2)
    f = (k - k0)[:, None]
    origin = sp[k0] * (1 - f) + sp[k0 + 1] * f
    return origin + idx[:, 1:2] * volume.affine[:3, 1] + idx[:, 2:3] * volume.affine[:3, 2]


@dataclass
class _Frame:
    """Physical positions of validated points under one calibration."""

    idx: npt.NDArray[np.float64]  # (n, 3) index
    phys: npt.NDArray[np.float64] | None  # (n, d) mm used for lengths/angles, None = pixels only
    pix: npt.NDArray[np.float64]  # (n, d) index coords used for pixel lengths
    patient: npt.NDArray[np.float64] | None  # (n, 3) stored coordinates
    label: str
    detail: Calibration | None
    coordinate_frame: str


def _frame(volume: ImageVolume, idx: npt.NDArray[np.float64], calibration: Calibration | None) -> _Frame:
    if volume.kind != "projection":
        if calibration is not None and calibration.source not in ("geometry", "volume"):
            raise MeasurementError(
                f"calibration {calibration.label!r} applies to projection images; the spacing of "
                f"{volume.label} comes from its patient geometry"
            )
        lps = _index_to_patient(volume, idx)
        return _Frame(idx, lps, idx, lps, volume.calibration or GEOMETRY_LABEL, None, "LPS")
    cal = calibration if calibration is not None else volume_calibration(volume)
    inplane = idx[:, 1:]
    if not cal.has_mm:
        return _Frame(idx, None, inplane, None, cal.label, cal, "pixels")
    mm = inplane * np.array([cal.row_mm, cal.col_mm])
    # image-plane frame of model.py: x along columns, y along rows, z = frame
    plane = np.column_stack([mm[:, 1], mm[:, 0], idx[:, 0]])
    return _Frame(idx, mm, inplane, plane, cal.label, cal, "image plane")


def as_point(p: npt.ArrayLike) -> tuple[float, float, float]:
    """One point as three floats (array indices (z, y, x) or LPS mm, as given)."""
    a, b, c = (float(v) for v in np.asarray(p, dtype=np.float64).reshape(3))
    return (a, b, c)


def _tuples(a: npt.NDArray[np.float64] | None) -> tuple[tuple[float, float, float], ...] | None:
    return None if a is None else tuple(as_point(row) for row in a)


def _detector_mm(fr: _Frame) -> float | None:
    """Polyline length at the detector plane (ImagerPixelSpacing), for projections that have it."""
    d = fr.detail
    if d is None or d.detector_row_mm is None or d.detector_col_mm is None:
        return None
    return float(_segment_lengths(fr.pix * np.array([d.detector_row_mm, d.detector_col_mm])).sum())


def _make(volume: ImageVolume, kind: str, fr: _Frame, value: float, unit: str, mm: float | None,
          pixels: float | None, warnings: Sequence[str] = (), name: str = "") -> Measurement:
    return Measurement(
        kind=kind,
        value=float(value),
        unit=unit,
        calibration=fr.label,
        points_index=_tuples(fr.idx),  # type: ignore[arg-type]
        points_patient=_tuples(fr.patient),
        frame_indices=tuple(int(round(v)) for v in fr.idx[:, 0]),
        series_uid=volume.series_uid,
        series_label=volume.label,
        name=name,
        mm=mm,
        pixels=pixels,
        calibration_detail=fr.detail,
        coordinate_frame=fr.coordinate_frame,
        detector_mm=_detector_mm(fr) if kind in ("distance", "path") else None,
        warnings=tuple(warnings),
        magnification_range=_off_isocentre(volume, fr) if kind in ("distance", "path") and unit == "mm" else None,
    )


def _off_isocentre(volume: ImageVolume, fr: _Frame) -> tuple[float, float] | None:
    """(depth, SOD) of the off-isocentre range for a magnification-corrected projection length."""
    d = fr.detail
    if volume.kind != "projection" or d is None or volume.projection is None:
        return None
    source = d.source
    if source == "volume":  # the volume's own spacing: what the tags gave it
        own = projection_calibration(volume.projection)
        source = own.source if own.label == d.label else source
    r = magnification_range(volume.projection, source)
    return None if r is None else (r.depth_mm, r.sod_mm)


def _segment_lengths(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.linalg.norm(np.diff(a, axis=0), axis=1)


def _check_nonzero(pix: npt.NDArray[np.float64], what: str) -> None:
    seg = _segment_lengths(pix)
    if (seg < MIN_LENGTH_PX).any():
        k = int(np.argmax(seg < MIN_LENGTH_PX))
        raise MeasurementError(f"{what}: segment {k} has zero length (its two points coincide in the image plane)")


def _angle_deg(u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]) -> float:
    """Angle between two vectors in degrees, 0..180 (atan2 form: exact near 0 and 180)."""
    if u.size == 2:
        u, v = np.append(u, 0.0), np.append(v, 0.0)
    return math.degrees(math.atan2(float(np.linalg.norm(np.cross(u, v))), float(np.dot(u, v))))


def _pixels_warning(fr: _Frame) -> list[str]:
    return ["no physical spacing: angle computed on the pixel grid, assuming square pixels"] if fr.phys is None else []


# --------------------------------------------------------------------------- public


def measure_distance(
    volume: ImageVolume, p0: npt.ArrayLike, p1: npt.ArrayLike, *, calibration: Calibration | None = None, name: str = ""
) -> Measurement:
    """Straight-line distance between two points.

    Parameters
    ----------
    volume : ImageVolume
    p0, p1 : (3,) array-like of float
        Array-index coordinates ``(axis0, axis1, axis2)``, sub-voxel; for a
        single-plane volume ``(row, col)`` is accepted.
    calibration : Calibration, optional
        Projections only: the in-plane calibration to use (user, detector...);
        default the volume's own.
    name : str, optional

    Returns
    -------
    Measurement
        ``kind="distance"``; ``.mm`` (None when pixels only), ``.pixels``
        (Euclidean length in index units; in-plane for projections).

    Raises
    ------
    MeasurementError
        Points outside the image, or the same point twice.

    Examples
    --------
    Axial CT, 2 mm slices, 0.5 mm pixels (affine columns: slice, row, col steps):

    >>> affine = np.array([[0, 0, 0.5, 0], [0, 0.5, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 1]])
    >>> vol = ImageVolume(np.zeros((10, 20, 20), np.int16), (2.0, 0.5, 0.5), affine, "volume")
    >>> m = measure_distance(vol, (0, 0, 0), (3, 0, 16))  # 6 mm along z, 8 mm along x
    >>> m.mm, m.unit, m.calibration
    (10.0, 'mm', 'patient geometry (CT)')
    """
    idx = _points(volume, [p0, p1], "distance")
    fr = _frame(volume, idx, calibration)
    pixels = float(_segment_lengths(fr.pix)[0])
    if pixels < MIN_LENGTH_PX:
        what = "in the image plane" if volume.kind == "projection" else "in the volume"
        raise MeasurementError(f"distance: zero-length line (both ends at the same point {what})")
    if fr.phys is None:
        return _make(volume, "distance", fr, pixels, "px", None, pixels, name=name)
    mm = float(_segment_lengths(fr.phys)[0])
    return _make(volume, "distance", fr, mm, "mm", mm, pixels, name=name)


def measure_path(
    volume: ImageVolume, points: Sequence[npt.ArrayLike], *, calibration: Calibration | None = None, name: str = ""
) -> Measurement:
    """Length of a polyline through two or more points (sum of its segments).

    Parameters as :func:`measure_distance`; `points` is a sequence of
    index-coordinate points.  Zero-length segments (repeated points) are
    allowed; a path of total length zero is not.
    """
    if len(points) < 2:
        raise MeasurementError(f"path: needs at least 2 points, got {len(points)}")
    idx = _points(volume, points, "path")
    fr = _frame(volume, idx, calibration)
    pixels = float(_segment_lengths(fr.pix).sum())
    if pixels < MIN_LENGTH_PX:
        raise MeasurementError("path: zero total length (all points coincide)")
    if fr.phys is None:
        return _make(volume, "path", fr, pixels, "px", None, pixels, name=name)
    mm = float(_segment_lengths(fr.phys).sum())
    return _make(volume, "path", fr, mm, "mm", mm, pixels, name=name)


def measure_angle(
    volume: ImageVolume, a: npt.ArrayLike, vertex: npt.ArrayLike, b: npt.ArrayLike, *,
    calibration: Calibration | None = None, name: str = "",
) -> Measurement:
    """Angle a-vertex-b in degrees (0..180), computed in physical space.

    Anisotropic spacing changes angles, so they are computed in mm (LPS for
    volumes, the calibrated image plane for projections); without spacing, on
    the pixel grid with a warning.

    Raises
    ------
    MeasurementError
        A point outside the image, or an arm of zero length.
    """
    idx = _points(volume, [a, vertex, b], "angle")
    fr = _frame(volume, idx, calibration)
    _check_nonzero(fr.pix, "angle")
    pos = fr.phys if fr.phys is not None else fr.pix
    deg = _angle_deg(pos[0] - pos[1], pos[2] - pos[1])
    return _make(volume, "angle", fr, deg, "deg", None, None, _pixels_warning(fr), name=name)


def measure_cobb(
    volume: ImageVolume, line1: Sequence[npt.ArrayLike], line2: Sequence[npt.ArrayLike], *,
    calibration: Calibration | None = None, name: str = "",
) -> Measurement:
    """Cobb angle between two lines (e.g. two endplates), in degrees, 0..90.

    The lines are undirected (drawing order does not matter), so the angle is
    the acute angle between them.  On a volume it is the 3-D angle between
    the lines in LPS space (draw both on one slice for the angle in that
    plane).

    Parameters
    ----------
    line1, line2 : pair of (3,) array-like of float
        End points in index coordinates.

    Raises
    ------
    MeasurementError
        A point outside the image, or a line of zero length.
    """
    if len(line1) != 2 or len(line2) != 2:
        raise MeasurementError("Cobb angle: each line needs exactly 2 points")
    idx = _points(volume, [*line1, *line2], "Cobb angle")
    fr = _frame(volume, idx, calibration)
    for k, (i, j) in enumerate(((0, 1), (2, 3))):
        if np.linalg.norm(fr.pix[j] - fr.pix[i]) < MIN_LENGTH_PX:
            raise MeasurementError(f"Cobb angle: line {k + 1} has zero length")
    pos = fr.phys if fr.phys is not None else fr.pix
    deg = _angle_deg(pos[1] - pos[0], pos[3] - pos[2])
    deg = min(deg, 180.0 - deg)
    return _make(volume, "cobb", fr, deg, "deg", None, None, _pixels_warning(fr), name=name)


def intensity_profile(
    volume: ImageVolume, p0: npt.ArrayLike, p1: npt.ArrayLike, *, step_mm: float | None = None,
    calibration: Calibration | None = None,
) -> Profile:
    """Values along the line p0 -> p1, linearly interpolated, against distance.

    Parameters
    ----------
    volume : ImageVolume
    p0, p1 : (3,) array-like of float
        Index coordinates; for projections both must lie on the same frame.
    step_mm : float, optional
        Sample spacing along the line in mm (in px when pixels only).
        Default: one sample per index step of the longest axis.
    calibration : Calibration, optional
        Projections only (see :func:`measure_distance`).

    Returns
    -------
    Profile
        ``distances, values = profile``; ``profile.unit`` is ``"mm"`` or
        ``"px"``, ``profile.calibration`` the label.  Only the bounding box of
        the line is read (lazy volumes are not decoded in full).  On an
        irregular stack (``regular=False``) samples are equally spaced in
        index space and each distance comes from the sample's position
        through ``slice_positions`` (so they are not equally spaced in mm).
    """
    m = measure_distance(volume, p0, p1, calibration=calibration)
    a, b = np.asarray(m.points_index)
    if volume.kind == "projection" and m.frame is None:
        raise MeasurementError("intensity profile: both points must lie on the same frame")
    length = m.mm if m.mm is not None else float(m.pixels)  # type: ignore[arg-type]
    if step_mm is None:
        n = int(math.ceil(float(np.abs(b - a).max()))) + 1
    else:
        if not (math.isfinite(step_mm) and step_mm > 0):
            raise MeasurementError(f"intensity profile: step_mm must be > 0; got {step_mm!r}")
        n = int(math.floor(length / step_mm + 1e-9)) + 1
    n = max(n, 2)
    t = np.linspace(0.0, 1.0, n) if step_mm is None else np.arange(n) * (step_mm / length)
    pts = a[None, :] + t[:, None] * (b - a)[None, :]
    shape = np.asarray(volume.shape[:3])
    lo = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, shape - 1)
    hi = np.clip(np.ceil(pts.max(axis=0)).astype(int) + 1, 1, shape)
    block = np.asarray(volume.pixels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]], dtype=np.float64)
    from scipy.ndimage import map_coordinates  # local: scipy import is slow

    values = map_coordinates(block, (pts - lo).T, order=1, mode="nearest")
    distances = t * length
    if volume.kind != "projection" and not volume.regular:
        # irregular stack (gap, non-uniform steps): equal index steps are unequal mm steps,
        # so each sample's distance is measured from its own patient position
        lps = _index_to_patient(volume, pts)
        distances = np.linalg.norm(lps - lps[0], axis=1)
    return Profile(np.asarray(distances, dtype=np.float64), values, m.unit, m.calibration)


def remeasure(volume: ImageVolume, m: Measurement, *, calibration: Calibration | None = None) -> Measurement:
    """Recompute a measurement from its index points (e.g. after a user calibration)."""
    pts = list(m.points_index)
    funcs: dict[str, Any] = {
        "distance": lambda: measure_distance(volume, pts[0], pts[1], calibration=calibration),
        "path": lambda: measure_path(volume, pts, calibration=calibration),
        "angle": lambda: measure_angle(volume, pts[0], pts[1], pts[2], calibration=calibration),
        "cobb": lambda: measure_cobb(volume, pts[:2], pts[2:], calibration=calibration),
    }
    if m.kind not in funcs:
        raise MeasurementError(f"unknown measurement kind {m.kind!r}")
    return funcs[m.kind]().renamed(m.name)

