"""Slice geometry: ImageOrientationPatient / ImagePositionPatient to affines.

Everything here follows PS3.3 C.7.6.2.1.1 (see ``shared/REFERENCE.md`` §1):
the first IOP triplet is the direction in which the *column index* grows
(along a row), the second the direction in which the *row index* grows;
PixelSpacing is ``(row spacing, column spacing)``.  Arrays are indexed
``(slice, row, col)`` and affines map ``(slice, row, col, 1)`` to LPS mm.

Tolerances are named constants (mm or degrees) so that tests and callers use
the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ORIENTATION_ATOL",
    "POSITION_ATOL_MM",
    "SPACING_RTOL",
    "DUPLICATE_ATOL_MM",
    "GAP_FACTOR",
    "TILT_ATOL_DEG",
    "IOP_VALID_ATOL",
    "StackGeometry",
    "orientation_axes",
    "valid_orientation",
    "same_orientation",
    "plane_affine",
    "stack_geometry",
]

#: Two IOPs are the same orientation when every cosine differs by less than this
#: (unitless; 1e-4 is about 0.006 degrees, well below scanner rounding of IOP).
ORIENTATION_ATOL = 1e-4
#: A slice sits "at" its place when its IPP is within this distance (mm) of
#: where the affine puts it.  Real scanners write IPP with ~1e-5 mm rounding.
POSITION_ATOL_MM = 0.01
#: ...or within this fraction of the slice step (relative), whichever is larger.
SPACING_RTOL = 0.01
#: Two slices whose planes lie closer than this (mm) along the normal are duplicates.
DUPLICATE_ATOL_MM = 1e-3
#: A step larger than GAP_FACTOR x the median step is reported as missing slices.
GAP_FACTOR = 1.5
#: A stack whose step vector leans more than this (degrees) from the slice
#: normal is sheared (gantry tilt).
TILT_ATOL_DEG = 0.01


def orientation_axes(iop: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], ...]:
    """Unit row direction, column direction and slice normal from an IOP.

    Parameters
    ----------
    iop : (6,) array-like of float
        (0020,0037) ImageOrientationPatient: row cosines then column cosines.

    Returns
    -------
    row_dir, col_dir, normal : (3,) ndarray of float64
        ``row_dir`` is the LPS direction of increasing column index, ``col_dir``
        of increasing row index, ``normal = row_dir x col_dir``.
    """
    v = np.asarray(iop, dtype=np.float64).reshape(2, 3)
    row_dir = v[0] / np.linalg.norm(v[0])
    col_dir = v[1] / np.linalg.norm(v[1])
    return row_dir, col_dir, np.cross(row_dir, col_dir)


#: An IOP is usable when each cosine triplet has unit length and the two are
#: perpendicular, both within this tolerance (unitless; scanners write 1e-6).
IOP_VALID_ATOL = 1e-2


def valid_orientation(iop: npt.ArrayLike) -> bool:
    """True when an IOP is six finite cosines: two unit vectors at right angles.

    A zero, non-finite, non-unit or oblique pair has no plane to place pixels
    in (the normal would be NaN or the affine skewed); such a value is treated
    as malformed rather than normalised into a guess.
    """
    v = np.asarray(iop, dtype=np.float64).ravel()
    if v.size != 6 or not np.isfinite(v).all():
        return False
    x, y = v[:3], v[3:]
    return (
        abs(float(np.linalg.norm(x)) - 1.0) <= IOP_VALID_ATOL
        and abs(float(np.linalg.norm(y)) - 1.0) <= IOP_VALID_ATOL
        and abs(float(x @ y)) <= IOP_VALID_ATOL
    )


def same_orientation(a: npt.ArrayLike, b: npt.ArrayLike, atol: float = ORIENTATION_ATOL) -> bool:
    """True when two IOPs describe the same plane orientation (within `atol`)."""
    # plain Python: called once per file while scanning, where numpy's overhead dominates
    return len(a) == len(b) and all(abs(float(x) - float(y)) <= atol for x, y in zip(a, b))  # type: ignore[arg-type]


def plane_affine(
    iop: npt.ArrayLike, ipp: npt.ArrayLike, pixel_spacing: npt.ArrayLike, step: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """4x4 affine ``(slice, row, col, 1) -> LPS mm``.

    Parameters
    ----------
    iop : (6,) array-like
        ImageOrientationPatient of the slices.
    ipp : (3,) array-like
        ImagePositionPatient (mm) of slice 0: the centre of its first pixel.
    pixel_spacing : (2,) array-like
        (0028,0030) PixelSpacing in mm, *row spacing first* (PS3.3 10.7.1.3).
    step : (3,) array-like
        LPS vector (mm) from one slice to the next (column 0 of the affine).
    """
    row_dir, col_dir, _ = orientation_axes(iop)
    drow, dcol = (float(s) for s in np.asarray(pixel_spacing, dtype=np.float64).reshape(-1)[:2])
    aff = np.eye(4)
    aff[:3, 0] = np.asarray(step, dtype=np.float64)
    aff[:3, 1] = drow * col_dir  # row index j moves along the column direction
    aff[:3, 2] = dcol * row_dir  # column index i moves along the row direction
    aff[:3, 3] = np.asarray(ipp, dtype=np.float64)
    return aff


@dataclass(frozen=True)
class StackGeometry:
    """Geometry of slices already sorted by position along the normal.

    Attributes
    ----------
    step : (3,) ndarray
        (IPP_last - IPP_first) / (N - 1) in LPS mm; the normal times the slice
        thickness for a single slice.
    positions : (N,) ndarray
        n . IPP of each slice (mm along the normal).
    residual_mm : float
        Largest distance between a slice's IPP and where ``IPP_0 + k*step`` puts it.
    regular : bool
        True when every slice is within tolerance of ``IPP_0 + k*step`` *and*
        the step is along the normal (no shear).
    tilt_deg : float
        Angle between ``step`` and the slice normal (gantry tilt), degrees.
    gaps : list of (int, float)
        ``(k, step_mm)`` for each step from slice k to k+1 larger than
        GAP_FACTOR x the median step.
    """

    step: npt.NDArray[np.float64]
    positions: npt.NDArray[np.float64]
    residual_mm: float
    regular: bool
    tilt_deg: float
    median_step_mm: float
    gaps: list[tuple[int, float]]


def stack_geometry(
    ipps: npt.ArrayLike, iop: npt.ArrayLike, single_slice_step_mm: float = 1.0
) -> StackGeometry:
    """Step vector, regularity, tilt and gaps of a sorted stack of slices.

    Parameters
    ----------
    ipps : (N, 3) array-like
        ImagePositionPatient of each slice (mm), sorted by ``n . IPP``.
    iop : (6,) array-like
        The common ImageOrientationPatient.
    single_slice_step_mm : float
        Step along the normal used when N == 1 (e.g. SliceThickness); it only
        gives axis 0 a length, there is nothing to place.
    """
    p = np.asarray(ipps, dtype=np.float64).reshape(-1, 3)
    _, _, normal = orientation_axes(iop)
    d = p @ normal
    n = len(p)
    if n == 1:
        step = normal * float(single_slice_step_mm or 1.0)
        return StackGeometry(step, d, 0.0, True, 0.0, float(np.linalg.norm(step)), [])
    step = (p[-1] - p[0]) / (n - 1)
    predicted = p[0] + np.arange(n)[:, None] * step
    residual = float(np.max(np.linalg.norm(p - predicted, axis=1)))
    step_len = float(np.linalg.norm(step))
    cosang = abs(float(step @ normal)) / step_len if step_len > 0 else 1.0
    tilt = float(np.degrees(np.arccos(min(1.0, cosang))))
    dd = np.diff(d)
    median = float(np.median(dd))
    gaps = [(int(k), float(s)) for k, s in enumerate(dd) if s > GAP_FACTOR * median]
    tol = max(POSITION_ATOL_MM, SPACING_RTOL * step_len)
    regular = residual <= tol and tilt <= TILT_ATOL_DEG
    return StackGeometry(step, d, residual, regular, tilt, median, gaps)
