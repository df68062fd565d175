"""The image model: what a loaded DICOM series is, in physical terms.

Conventions (the same everywhere in miss-imaging)
-------------------------------------------------
* Array axis order is numpy's: ``(slice, row, col)`` = ``(z, y, x)`` for
  volumes and ``(frame, row, col)`` for projections (fluoroscopy, radiographs).
  Index 0 is the *centre* of the first voxel.
* Patient coordinates are DICOM LPS in mm (PS3.3 C.7.6.2.1.1): +x toward the
  patient's left, +y toward posterior, +z toward the head.
* ``affine`` is 4x4 and maps ``(axis0, axis1, axis2, 1)`` indices to
  ``(x, y, z, 1)`` LPS mm.  Its columns are the step vectors of the three
  array axes; for a volume sorted by position along the slice normal,
  column 0 = (IPP_last - IPP_first) / (N - 1), column 1 = PixelSpacing[0] *
  column cosines, column 2 = PixelSpacing[1] * row cosines,
  translation = IPP of the first slice.
* ``spacing`` is the length in mm of one index step along each array axis
  (the column norms of the affine).  For projections, axis 0 counts frames:
  its spacing is 1.0 and carries no unit, and axis 1/2 hold the in-plane
  spacing chosen by :func:`miss_imaging.measurement.calibration.projection_calibration`
  (see ``calibration``).  Projections have no patient position: their affine
  maps to an image-plane frame (x along columns, y along rows, z = frame).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the model does not import the reading stage at run time
    from miss_imaging.reading.series import StackPlan

__all__ = ["Kind", "Window", "ProjectionTags", "ImageVolume", "SeriesInfo", "ScanResult", "contrast_limits"]


class Kind(StrEnum):
    """What a series is.  A ``str`` enum: ``Kind.VOLUME == "volume"``, and JSON,
    sessions and SR carry the plain string value."""

    VOLUME = "volume"  #: cross-sectional stack (CT): axis 0 steps through the patient
    PROJECTION = "projection"  #: fluoroscopy / radiograph frames: axis 0 counts frames
    OTHER = "other"  #: localizers and non-image objects (only in :class:`SeriesInfo`)


def contrast_limits(center: float, width: float, function: str = "LINEAR") -> tuple[float, float]:
    """Input values that map to the bottom and top of a VOI window's output range.

    LINEAR (PS3.3 C.11.2.1.2.1): ymin at x <= c - 0.5 - (w - 1)/2, ymax above
    c - 0.5 + (w - 1)/2.  LINEAR_EXACT and SIGMOID: c -/+ w/2.  Units: those
    of the window (modality units, HU for CT).
    """
    if function.upper() == "LINEAR":
        half = (width - 1.0) / 2.0
        return (center - 0.5 - half, center - 0.5 + half)
    return (center - width / 2.0, center + width / 2.0)


def _frozen_array(a: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A read-only float64 copy: the caller's array stays its own, and ours cannot be edited."""
    out = np.array(a, dtype=np.float64, copy=True)
    out.flags.writeable = False
    return out


def series_label(modality: str, description: str, number: int | None) -> str:
    """``"CT INTRAOP LSPINE #3"``: modality, series description, series number; never patient identifiers."""
    parts = [modality or "?"]
    if description:
        parts.append(description)
    if number is not None:
        parts.append(f"#{number}")
    return " ".join(parts)


@dataclass(frozen=True)
class Window:
    """One VOI window (PS3.3 C.11.2.1.2) in modality units (HU for CT).

    Attributes
    ----------
    center, width : float
        (0028,1050) Window Center and (0028,1051) Window Width.
    explanation : str
        (0028,1055) Window Center & Width Explanation, or the preset's name.
    function : str
        (0028,1056) VOI LUT Function: ``LINEAR``, ``LINEAR_EXACT`` or ``SIGMOID``.
    """

    center: float
    width: float
    explanation: str = ""
    function: str = "LINEAR"

    @property
    def contrast_limits(self) -> tuple[float, float]:
        """Input values that map to the bottom and top of the output range.

        LINEAR (C.11.2.1.2.1): ymin at x <= c - 0.5 - (w - 1)/2, ymax above
        c - 0.5 + (w - 1)/2.  LINEAR_EXACT and SIGMOID: c -/+ w/2.
        """
        return contrast_limits(self.center, self.width, self.function)


@dataclass(frozen=True)
class ProjectionTags:
    """Calibration and timing attributes of a projection image, as read.

    Spacings are ``(row spacing, column spacing)`` in mm, in the file's own
    order (PS3.3 10.7.1.3): row spacing first.  ``None`` where absent.
    """

    pixel_spacing: tuple[float, float] | None = None  # (0028,0030)
    imager_pixel_spacing: tuple[float, float] | None = None  # (0018,1164)
    calibration_type: str | None = None  # (0028,0A02) GEOMETRY | FIDUCIAL
    calibration_description: str | None = None  # (0028,0A04)
    ermf: float | None = None  # (0018,1114) EstimatedRadiographicMagnificationFactor
    sid: float | None = None  # (0018,1110) DistanceSourceToDetector, mm
    sod: float | None = None  # (0018,1111) DistanceSourceToPatient, mm
    frame_time_ms: float | None = None  # (0018,1063)
    frame_time_vector_ms: tuple[float, ...] | None = None  # (0018,1065)
    primary_angle_deg: tuple[float, ...] | None = None  # (0018,1510) per frame if it varies
    secondary_angle_deg: tuple[float, ...] | None = None  # (0018,1511)


@dataclass(frozen=True, eq=False, repr=False)
class ImageVolume:
    """One loaded series in physical units.

    Frozen: no attribute can be reassigned, and ``affine`` and
    ``slice_positions`` are read-only arrays, so the geometry cannot change
    under a measurement.  Derive a changed volume with :meth:`replace`.

    Attributes
    ----------
    pixels : (N, rows, cols) ndarray or dask array
        Modality values: HU for CT (Rescale Slope/Intercept applied, per
        slice/frame), stored values otherwise.  int16 where every value is an
        exact integer that fits, float32 otherwise.
    spacing : (3,) tuple of float
        mm per index step in array order (see module docstring for projections).
    affine : (4, 4) ndarray of float64, read-only
        Index ``(axis0, axis1, axis2, 1)`` -> patient LPS ``(x, y, z, 1)`` mm.
    kind : Kind
        ``Kind.VOLUME`` or ``Kind.PROJECTION`` (equal to the strings
        ``"volume"`` / ``"projection"``, which are accepted too).
    modality : str
        (0008,0060), e.g. ``CT``, ``XA``, ``RF``, ``DX``, ``CR``.
    photometric : str
        (0028,0004); ``MONOCHROME1`` displays the minimum as white.
    windows : list of Window
        Every VOI window in the file, with its explanation.
    voi_lut : list of (descriptor, table) tuples
        (0028,3010) VOI LUT Sequence items: descriptor = (entries, first
        mapped input value, bits), table = ndarray of output values.
    projection : ProjectionTags or None
        Calibration and timing tags as read (projections only).
    calibration : str
        What the in-plane spacing rests on: ``"patient geometry (CT)"`` for
        cross-sectional images, otherwise one of the projection labels of
        :mod:`miss_imaging.measurement.calibration` (``"pixels only"`` if none).
    series_uid, study_uid, frame_of_reference_uid, sop_class_uid : str
    series_description : str
    series_number : int or None
    metadata : dict
        Small dict of non-identifying technical attributes (device, kVp...).
    patient : dict
        Patient/study identifiers (name, ID, birth date, accession, institution,
        study date) for the clinician's banner only.  Never put into layer
        names, exports or the teaching display.
    warnings : list of str
        Every problem found while loading, in words that name file and tag.
    files : list of Path
        Source files in array order (one per slice, or one for multi-frame).
    slice_positions : (N, 3) ndarray or None, read-only
        LPS mm of each slice's first pixel (IPP) in array order, for volumes.
    regular : bool
        True when ``affine`` places every slice at its IPP within tolerance;
        False for non-uniform spacing or sheared (gantry-tilt) stacks, which
        :func:`miss_imaging.resample` can regrid using ``slice_positions``.
    """

    pixels: Any
    spacing: tuple[float, float, float]
    affine: npt.NDArray[np.float64]
    kind: Kind
    modality: str = ""
    photometric: str = "MONOCHROME2"
    windows: list[Window] = field(default_factory=list)
    voi_lut: list[tuple[tuple[int, int, int], npt.NDArray[Any]]] = field(default_factory=list)
    projection: ProjectionTags | None = None
    calibration: str = "patient geometry (CT)"
    series_uid: str = ""
    study_uid: str = ""
    frame_of_reference_uid: str = ""
    sop_class_uid: str = ""
    series_description: str = ""
    series_number: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    patient: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    slice_positions: npt.NDArray[np.float64] | None = None
    regular: bool = True

    def __post_init__(self) -> None:
        # frozen: the normalised values are set once, here, with object.__setattr__
        affine = _frozen_array(self.affine)
        if affine.shape != (4, 4) or not np.allclose(affine[3], [0, 0, 0, 1]):
            raise ValueError(f"`affine` must be 4x4 with last row [0, 0, 0, 1]; got {affine!r}")
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3:
            raise ValueError(f"`spacing` must have 3 values (axis order of `pixels`); got {spacing}")
        kind = Kind(self.kind)
        if kind is Kind.OTHER:
            raise ValueError("`kind` of an ImageVolume is Kind.VOLUME or Kind.PROJECTION, not 'other'")
        object.__setattr__(self, "affine", affine)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "kind", kind)
        if self.slice_positions is not None:
            object.__setattr__(self, "slice_positions", _frozen_array(self.slice_positions))

    def replace(self, **changes: Any) -> ImageVolume:
        """A new volume with `changes` applied (:func:`dataclasses.replace`); this one is unchanged.

        The new volume is validated like any other (4x4 affine, 3 spacings,
        a known kind).  Arrays not named in `changes` are shared.
        """
        return dataclasses.replace(self, **changes)

    @property
    def origin(self) -> npt.NDArray[np.float64]:
        """LPS mm of the centre of voxel (0, 0, 0)."""
        return self.affine[:3, 3].copy()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    @property
    def burned_in_annotation(self) -> bool:
        """True when (0028,0301) BurnedInAnnotation is YES: the pixels may show patient text."""
        return str((self.metadata or {}).get("BurnedInAnnotation", "")).upper() == "YES"

    @property
    def is_lazy(self) -> bool:
        """True when ``pixels`` is a dask array (decoded on demand)."""
        return not isinstance(self.pixels, np.ndarray)

    @property
    def label(self) -> str:
        """Display name without patient identifiers: modality, description, series number."""
        return series_label(self.modality, self.series_description, self.series_number)

    def index_to_patient(self, index: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(..., 3)`` array indices (fractions allowed) to LPS mm."""
        idx = np.asarray(index, dtype=np.float64)
        return idx @ self.affine[:3, :3].T + self.affine[:3, 3]

    def patient_to_index(self, point: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map ``(..., 3)`` LPS mm points to fractional array indices."""
        p = np.asarray(point, dtype=np.float64) - self.affine[:3, 3]
        idx = np.linalg.solve(self.affine[:3, :3], p.reshape(-1, 3).T).T.reshape(p.shape)
        return np.asarray(idx, dtype=np.float64)

    def __repr__(self) -> str:
        return (
            f"ImageVolume({self.label!r}, kind={self.kind.value!r}, shape={self.shape}, "
            f"dtype={self.pixels.dtype}, spacing={tuple(round(s, 6) for s in self.spacing)}, "
            f"calibration={self.calibration!r}, warnings={len(self.warnings)})"
        )


@dataclass(eq=False)
class SeriesInfo:
    """Header-only description of one series found by :func:`miss_imaging.scan`.

    ``rows`` x ``columns`` is the in-plane size; ``n_frames`` the total number
    of frames over ``n_files`` files.  ``kind`` is a :class:`Kind`:
    ``"volume"``, ``"projection"`` or ``"other"`` (localizers, non-image objects).
    ``plan`` is how :func:`miss_imaging.load` builds it: the files in array
    order, their orientation and stack geometry, and what assembly decided
    (:class:`miss_imaging.reading.series.StackPlan`); None for a SeriesInfo
    made by hand, whose files are then re-read and assembled when loaded.
    """

    series_uid: str
    modality: str
    sop_class_uid: str
    description: str
    series_number: int | None
    n_files: int
    n_frames: int
    rows: int
    columns: int
    kind: Kind
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    headers: list[Any] = field(default_factory=list, repr=False)  # pydicom datasets without pixels
    plan: StackPlan | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = Kind(self.kind)

    @property
    def label(self) -> str:
        """Display name without patient identifiers."""
        return series_label(self.modality, self.description, self.series_number)


class ScanResult(list):  # list[SeriesInfo]
    """The series found by :func:`miss_imaging.scan`, largest first.

    ``skipped`` lists ``(path, reason)`` for every file that is not a usable
    DICOM image (not DICOM, truncated, no pixel data...); ``errors`` maps
    each of those paths to the specific exception, so that loading that one
    file can raise it.
    """

    def __init__(self, series: list[SeriesInfo] = (), skipped: list[tuple[Path, str]] | None = None):  # type: ignore[assignment]
        super().__init__(series)
        self.skipped: list[tuple[Path, str]] = list(skipped or [])
        self.errors: dict[Path, Exception] = {}
