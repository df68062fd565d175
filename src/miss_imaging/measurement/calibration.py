"""What a projection image's in-plane spacing rests on (PS3.3 10.7.1.3).

A fluoroscopy or radiograph pixel has no single physical size: the
ImagerPixelSpacing (0018,1164) is measured at the detector, and an object
between source and detector is magnified by M = SID / SOD.  Viewers that read
the detector spacing as if it were the patient's report a 10 mm object as
14-16 mm.  This module picks the most trustworthy spacing available and
labels it, so that every measurement says what it rests on.

Rule, in order (first that applies wins)
----------------------------------------
=====================================================  =======================================  ===========
tags present                                           spacing used (mm/pixel)                  label / source
=====================================================  =======================================  ===========
PixelSpacing + PixelSpacingCalibrationType              PixelSpacing                             "calibrated (GEOMETRY)" / "calibrated (FIDUCIAL)"; calibrated
PixelSpacing != ImagerPixelSpacing, no type             PixelSpacing                             "calibrated (unspecified)"; calibrated
PixelSpacing, no ImagerPixelSpacing, no type            PixelSpacing                             "Pixel Spacing (plane not stated)"; calibrated
PixelSpacing == ImagerPixelSpacing, no type             treated as ImagerPixelSpacing, go on     (below)
ImagerPixelSpacing + ERMF > 1                           IPS / ERMF                               "magnification-corrected (ERMF)"; ermf
ImagerPixelSpacing + SID + SOD (0 < SOD <= SID)         IPS * SOD / SID                          "magnification-corrected (SID/SOD)"; sid_sod
ImagerPixelSpacing alone                                IPS                                      "at detector (not corrected)"; detector
nothing                                                 None (pixels)                            "pixels only"; pixels
=====================================================  =======================================  ===========

Decisions where the standard leaves room (and why):

* A PixelSpacing that differs from ImagerPixelSpacing was written by a device
  that changed the detector value on purpose, so it is the patient-plane
  calibration (Cornerstone3D also trusts it); its method is unknown, hence
  "(unspecified)".
* PixelSpacing without ImagerPixelSpacing is common in old CR files, where it
  held the *detector* spacing: its plane is unknown, and the label says so.
* PixelSpacing equal to ImagerPixelSpacing without a type carries no
  calibration: it is the detector value, which ERMF or SID/SOD can correct.
* ERMF <= 1 is not used (with a warning), as in Cornerstone3D: 1.0 states no
  magnification (often a device that does not estimate, while SID/SOD show
  one), and a point source cannot shrink an object.  The spacing then comes
  from SID/SOD, or stays at the detector and is labelled so, never
  "magnification-corrected".
* ERMF and SID/SOD both present and disagreeing by more than
  :data:`ERMF_SID_SOD_RTOL` gives a warning naming both; ERMF is used, as the
  modality's estimate at the region of interest.

The detector-plane spacing (ImagerPixelSpacing) is always kept in
``detector_row_mm`` / ``detector_col_mm`` so that a detector-plane reading
stays available.

References
----------
DICOM PS3.3 10.7.1.3 "Pixel Spacing Value Order and Valid Values"; C.8.11.4
(ERMF, SID, SOD); Cornerstone3D ``getPixelSpacingInformation``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from miss_imaging.errors import CalibrationError
from miss_imaging.model import ProjectionTags

__all__ = [
    "Calibration",
    "CalibrationSource",
    "projection_calibration",
    "user_calibration",
    "format_mm",
    "ERMF_SID_SOD_RTOL",
    "PIXELS_ONLY",
    "MagnificationRange",
    "magnification_range",
    "DEFAULT_OFF_ISOCENTRE_MM",
    "get_off_isocentre_mm",
    "set_off_isocentre_mm",
]

#: relative disagreement between ERMF and SID/SOD above which a warning is given
ERMF_SID_SOD_RTOL = 0.05

_PS = "(0028,0030) PixelSpacing"
_IPS = "(0018,1164) ImagerPixelSpacing"
_ERMF = "(0018,1114) EstimatedRadiographicMagnificationFactor"
_SID = "(0018,1110) DistanceSourceToDetector"
_SOD = "(0018,1111) DistanceSourceToPatient"
_TYPE = "(0028,0A02) PixelSpacingCalibrationType"


class CalibrationSource(StrEnum):
    """What a calibration's mm rest on.  A ``str`` enum: members equal their
    string values, which sessions, JSON and SR carry unchanged."""

    CALIBRATED = "calibrated"  #: PixelSpacing calibrated at the patient plane
    ERMF = "ermf"  #: ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor
    SID_SOD = "sid_sod"  #: ImagerPixelSpacing x SOD / SID
    DETECTOR = "detector"  #: ImagerPixelSpacing, not corrected for magnification
    USER = "user"  #: a line drawn across an object of known size
    PIXELS = "pixels"  #: no physical spacing
    GEOMETRY = "geometry"  #: cross-sectional patient geometry (CT)
    VOLUME = "volume"  #: a projection's own spacing as loaded (see ``measure.volume_calibration``)


@dataclass(frozen=True)
class Calibration:
    """The in-plane spacing of a projection and what it rests on.

    Attributes
    ----------
    row_mm, col_mm : float or None
        mm per row step (axis 1) and per column step (axis 2); ``None`` when
        there is no physical spacing (pixels only).
    label : str
        Shown beside every value, e.g. ``"magnification-corrected (ERMF)"``.
    source : CalibrationSource
        ``"calibrated" | "ermf" | "sid_sod" | "detector" | "user" | "pixels" |
        "geometry"`` (CT) ``| "volume"``; plain strings are accepted and converted.
    detector_row_mm, detector_col_mm : float or None
        ImagerPixelSpacing (detector plane), kept whatever was chosen.
    warnings : tuple of str
        Problems found in the tags (ignored values, disagreements).
    """

    row_mm: float | None
    col_mm: float | None
    label: str
    source: CalibrationSource
    detector_row_mm: float | None = None
    detector_col_mm: float | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", CalibrationSource(self.source))  # frozen: set once here

    @property
    def has_mm(self) -> bool:
        """True when distances in mm can be given."""
        return self.row_mm is not None and self.col_mm is not None

    def detector(self) -> Calibration:
        """The detector-plane calibration (ImagerPixelSpacing, not corrected).

        Raises
        ------
        CalibrationError
            When the image has no ImagerPixelSpacing.
        """
        if self.detector_row_mm is None or self.detector_col_mm is None:
            raise CalibrationError(f"no detector-plane spacing: {_IPS} is absent", tag=_IPS)
        return Calibration(
            self.detector_row_mm,
            self.detector_col_mm,
            "at detector (not corrected)",
            CalibrationSource.DETECTOR,
            self.detector_row_mm,
            self.detector_col_mm,
        )


PIXELS_ONLY = Calibration(None, None, "pixels only", CalibrationSource.PIXELS)


def format_mm(value: float) -> str:
    """Format a typed length for a label: one decimal when exact, else up to 6 digits.

    >>> format_mm(25.0), format_mm(12.7), format_mm(3.25)
    ('25.0', '12.7', '3.25')
    """
    s = f"{value:.1f}"
    return s if float(s) == value else f"{value:.6g}"


def _valid_pair(value: Sequence[float] | None, tag: str, warnings: list[str]) -> tuple[float, float] | None:
    """Return a (row, col) spacing if both are finite and > 0, else None with a warning."""
    if value is None:
        return None
    try:
        r, c = (float(v) for v in value)
    except (TypeError, ValueError):
        warnings.append(f"{tag} = {value!r} is not two numbers; ignored")
        return None
    if not (math.isfinite(r) and math.isfinite(c) and r > 0 and c > 0):
        warnings.append(f"{tag} = [{r}, {c}] is not positive; ignored")
        return None
    return r, c


def _valid_positive(value: float | None, tag: str, warnings: list[str]) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        warnings.append(f"{tag} = {value!r} is not positive; ignored")
        return None
    return v


def projection_calibration(tags: ProjectionTags) -> Calibration:
    """Choose the in-plane spacing of a projection image (PS3.3 10.7.1.3).

    Parameters
    ----------
    tags : ProjectionTags
        The calibration tags as read; spacings are (row, col) in mm.

    Returns
    -------
    Calibration
        The most trustworthy spacing with its label (see the module's rule
        table); ``detector_*`` always holds ImagerPixelSpacing when present.

    Examples
    --------
    >>> cal = projection_calibration(ProjectionTags(imager_pixel_spacing=(0.3, 0.3), ermf=1.5))
    >>> round(cal.row_mm, 6), cal.label
    (0.2, 'magnification-corrected (ERMF)')
    """
    warnings: list[str] = []
    ps = _valid_pair(tags.pixel_spacing, _PS, warnings)
    ips = _valid_pair(tags.imager_pixel_spacing, _IPS, warnings)
    ermf = _valid_positive(tags.ermf, _ERMF, warnings)
    sid = _valid_positive(tags.sid, _SID, warnings)
    sod = _valid_positive(tags.sod, _SOD, warnings)
    det_r, det_c = ips if ips is not None else (None, None)
    ctype = (tags.calibration_type or "").strip().upper()

    if ermf is not None and ermf <= 1.0:
        # 1.0 corrects nothing (a placeholder on many devices); < 1 is impossible for a point source
        warnings.append(f"{_ERMF} = {ermf:g} <= 1 states no magnification; not used (SID/SOD or the detector "
                        "plane apply instead)")
        ermf = None
    # geometric magnification SID/SOD; an object cannot sit behind the detector
    m_geom: float | None = None
    if sid is not None and sod is not None:
        if sod > sid:
            warnings.append(f"{_SOD} = {sod} mm exceeds {_SID} = {sid} mm (magnification < 1); SID/SOD ignored")
        else:
            m_geom = sid / sod
    if ermf is not None and m_geom is not None and abs(ermf - m_geom) > ERMF_SID_SOD_RTOL * m_geom:
        warnings.append(
            f"{_ERMF} = {ermf:g} disagrees with {_SID}/{_SOD} = {sid:g}/{sod:g} = {m_geom:.4f} "
            f"by {100 * abs(ermf - m_geom) / m_geom:.1f}% (> {100 * ERMF_SID_SOD_RTOL:.0f}%); using ERMF"
        )

    def done(row: float | None, col: float | None, label: str, source: CalibrationSource) -> Calibration:
        return Calibration(row, col, label, source, det_r, det_c, tuple(warnings))

    if ps is not None:
        if ctype:
            if ctype not in ("GEOMETRY", "FIDUCIAL"):
                warnings.append(f"{_TYPE} = {ctype!r} is not GEOMETRY or FIDUCIAL (PS3.3 C.7.6.3.1.7)")
            return done(ps[0], ps[1], f"calibrated ({ctype})", CalibrationSource.CALIBRATED)
        if ips is None:
            warnings.append(
                f"{_PS} without {_IPS} or {_TYPE} on a projection: whether it is at the detector "
                "or at the patient is not stated"
            )
            return done(ps[0], ps[1], "Pixel Spacing (plane not stated)", CalibrationSource.CALIBRATED)
        if not np.allclose(ps, ips, rtol=1e-6, atol=0.0):
            warnings.append(f"{_PS} = {list(ps)} differs from {_IPS} = {list(ips)} without {_TYPE}")
            return done(ps[0], ps[1], "calibrated (unspecified)", CalibrationSource.CALIBRATED)
        # PixelSpacing == ImagerPixelSpacing: the detector value; correct it below
    if ips is None:
        return done(None, None, "pixels only", CalibrationSource.PIXELS)
    if ermf is not None:
        return done(ips[0] / ermf, ips[1] / ermf, "magnification-corrected (ERMF)", CalibrationSource.ERMF)
    if m_geom is not None:
        return done(ips[0] / m_geom, ips[1] / m_geom, "magnification-corrected (SID/SOD)", CalibrationSource.SID_SOD)
    return done(ips[0], ips[1], "at detector (not corrected)", CalibrationSource.DETECTOR)


def user_calibration(
    p0: npt.ArrayLike,
    p1: npt.ArrayLike,
    known_mm: float,
    object_name: str,
    *,
    base: Calibration | None = None,
) -> Calibration:
    """Calibrate from a line drawn across an object of known size.

    Parameters
    ----------
    p0, p1 : (2,) or (3,) array-like of float
        Ends of the line in array-index coordinates ``(row, col)`` or
        ``(frame, row, col)``; only row and column count (in-plane).
    known_mm : float
        True length of the object in mm (> 0).
    object_name : str
        What was measured, e.g. ``"sphere"``; goes into the label.
    base : Calibration, optional
        The current calibration.  Its row/col aspect ratio (or the detector's)
        is kept; without any spacing, pixels are taken as square.

    Returns
    -------
    Calibration
        ``source="user"``, label ``"user-calibrated (<object>, <length> mm)"``;
        the detector spacing of `base` is kept.

    Raises
    ------
    CalibrationError
        Zero-length line, or `known_mm` not a positive finite number.
    """
    try:
        known = float(known_mm)
    except (TypeError, ValueError):
        raise CalibrationError(f"known length {known_mm!r} is not a number") from None
    if not (math.isfinite(known) and known > 0):
        raise CalibrationError(f"known length must be > 0 mm; got {known_mm!r}")
    a = np.asarray(p0, dtype=np.float64)[-2:]
    b = np.asarray(p1, dtype=np.float64)[-2:]
    d_row, d_col = np.abs(b - a)
    if not np.isfinite([d_row, d_col]).all():
        raise CalibrationError("calibration line has non-finite points")
    # keep the aspect ratio the image already has (detector pixels may be non-square)
    aspect = 1.0
    det_r = det_c = None
    if base is not None:
        det_r, det_c = base.detector_row_mm, base.detector_col_mm
        if base.has_mm:
            aspect = float(base.row_mm) / float(base.col_mm)  # type: ignore[arg-type]
        elif det_r is not None and det_c is not None:
            aspect = det_r / det_c
    length_in_col_units = math.hypot(d_row * aspect, d_col)  # in units of col_mm
    if length_in_col_units < 1e-6:
        raise CalibrationError("calibration line has zero length: draw it across the object's full size")
    col_mm = known / length_in_col_units
    name = (object_name or "").strip() or "object"
    return Calibration(
        col_mm * aspect,
        col_mm,
        f"user-calibrated ({name}, {format_mm(known)} mm)",
        CalibrationSource.USER,
        det_r,
        det_c,
    )


# --------------------------------------------------------------------------- magnification uncertainty

#: default depth (mm) either side of the isocentre plane within which the object may lie
DEFAULT_OFF_ISOCENTRE_MM = 50.0
_off_isocentre_mm = DEFAULT_OFF_ISOCENTRE_MM


def get_off_isocentre_mm() -> float:
    """The current ±d (mm) used for magnification ranges (default :data:`DEFAULT_OFF_ISOCENTRE_MM`)."""
    return _off_isocentre_mm


def set_off_isocentre_mm(depth_mm: float) -> None:
    """Set ±d (mm) for magnification ranges of new measurements; 0 turns the range off.

    Raises
    ------
    CalibrationError
        Negative or non-finite `depth_mm`.
    """
    global _off_isocentre_mm
    d = float(depth_mm)
    if not (math.isfinite(d) and d >= 0):
        raise CalibrationError(f"off-isocentre depth must be >= 0 mm; got {depth_mm!r}")
    _off_isocentre_mm = d


@dataclass(frozen=True)
class MagnificationRange:
    """Where the true size of a magnification-corrected length lies for an object off the isocentre plane.

    A length corrected with M = SID/SOD is exact only in the isocentre
    plane.  An object ``d`` mm nearer the source is magnified SID/(SOD - d),
    so the corrected value overstates it by SOD/(SOD - d); ``d`` mm farther
    understates it by SOD/(SOD + d).  Its true size therefore spans
    ``value * (SOD - d) / SOD`` to ``value * (SOD + d) / SOD``: ±d/SOD.

    Attributes
    ----------
    depth_mm : float
        d, mm either side of the isocentre plane.
    sod_mm : float
        Source-to-isocentre distance used (SOD, or SID / ERMF).
    """

    depth_mm: float
    sod_mm: float

    @property
    def relative(self) -> float:
        """d / SOD: the half-width of the range as a fraction of the value."""
        return self.depth_mm / self.sod_mm

    def bounds(self, value: float) -> tuple[float, float]:
        """(smallest, largest) true size for a measured, magnification-corrected `value`."""
        return value * (1.0 - self.relative), value * (1.0 + self.relative)

    @property
    def label(self) -> str:
        """E.g. ``"±6.7 % for ±50 mm off isocentre"``."""
        return f"±{100 * self.relative:.1f} % for ±{format_mm(self.depth_mm).removesuffix('.0')} mm off isocentre"


def magnification_range(tags: ProjectionTags | None, source: str, depth_mm: float | None = None) -> MagnificationRange | None:
    """The off-isocentre range of a projection length, or ``None`` where it does not apply.

    Parameters
    ----------
    tags : ProjectionTags or None
        The projection's tags (SOD, or SID with ERMF, give the distance).
    source : str
        The calibration's source: only ``"ermf"`` and ``"sid_sod"`` (corrected
        to the isocentre plane) get a range; detector-plane, user, fiducial
        and pixel values do not.
    depth_mm : float, optional
        ±d in mm; default :func:`get_off_isocentre_mm`.  0 gives ``None``.

    Examples
    --------
    >>> r = magnification_range(ProjectionTags(sid=1000, sod=750, ermf=1000 / 750), "ermf", 50)
    >>> r.label, [round(v, 2) for v in r.bounds(25.4)]
    ('±6.7 % for ±50 mm off isocentre', [23.71, 27.09])
    """
    if tags is None or source not in ("ermf", "sid_sod"):
        return None
    d = get_off_isocentre_mm() if depth_mm is None else float(depth_mm)
    if not d > 0:
        return None
    # the distance the correction assumed: SID / ERMF when ERMF was used, else SOD
    sod = tags.sid / tags.ermf if source == "ermf" and tags.sid and tags.ermf else tags.sod
    if sod is None or not (math.isfinite(sod) and sod > d):
        return None
    return MagnificationRange(d, float(sod))
