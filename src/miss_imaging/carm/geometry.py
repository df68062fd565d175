"""C-arm geometry: where the source and the detector are, for DICOM positioner angles.

Conventions (the same for :func:`~miss_imaging.carm.drr`, the napari widget and the tests)
------------------------------------------------------------------------------------------
* Patient coordinates are DICOM LPS mm (+x left, +y posterior, +z head).
* Positioner angles follow the XA Positioner module (PS3.3 C.8.7.5.1.2),
  relative to the patient: at Primary = Secondary = 0 the detector (image
  intensifier) faces the patient's chest, so the beam runs posterior ->
  anterior (source posterior).  Primary Angle is measured in the transverse
  plane about the cranio-caudal axis, +90 = LAO (detector on the patient's
  left), -90 = RAO.  Secondary Angle tilts the beam in the sagittal plane,
  +90 = cranial (detector toward the head), -90 = caudal.  The secondary
  (orbital) tilt is applied first, then the primary (propeller) rotation about
  the patient's long axis, as a C-arm's mechanics compose them.  The unit
  vector from the isocentre to the detector centre is therefore::

      d = (sin P cos S, -cos P cos S, sin S)          (LPS)

* Detector pixel ``(row, col)``: row 0 at the top, column 0 at the left of the
  image as radiographs are read, i.e. as seen from the detector side looking
  at the source, head up.  Column direction (col grows) ``u = (cos P, sin P, 0)``;
  row direction (row grows) ``v = (sin P sin S, -cos P sin S, -cos S)``.  At
  0/0 the patient's left is on screen right and the head up; at LAO 90 the
  spine (posterior) is on screen right.
* The source lies at ``iso - SOD * d``, the detector centre at
  ``iso + (SID - SOD) * d``, and the isocentre projects to the detector
  centre ``((rows - 1) / 2, (cols - 1) / 2)`` (index 0 = centre of the first
  pixel, as everywhere in miss-imaging).
* An object in the isocentre plane is magnified by exactly ``SID / SOD``;
  that is the Estimated Radiographic Magnification Factor a DRR carries.

Optional image-intensifier pincushion distortion (``pincushion`` > 0, for
teaching; flat panels have none): a point at radius ``r`` mm from the
detector centre in the ideal cone-beam image is shown at
``r * (1 + k * (r / R)**2)``, ``R`` the detector's half diagonal, so ``k`` is
the relative stretch at the corners.  :meth:`CArm.project` includes it and
:meth:`CArm.ray` inverts it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["CArm", "PRESETS"]


@dataclass(frozen=True)
class CArm:
    """A C-arm pose and detector.

    Parameters
    ----------
    sid : float
        Source-to-detector distance, mm ((0018,1110) DistanceSourceToDetector).
    sod : float
        Source-to-isocentre distance, mm ((0018,1111) DistanceSourceToPatient);
        ``0 < sod < sid``.
    primary_deg : float
        (0018,1510) Positioner Primary Angle, degrees: + LAO, - RAO.
    secondary_deg : float
        (0018,1511) Positioner Secondary Angle, degrees: + cranial, - caudal.
    isocenter : (3,) tuple of float
        Isocentre in patient LPS mm.
    rows, cols : int
        Detector size in pixels.
    pixel_mm : (2,) tuple of float
        Detector pixel size (row spacing, column spacing) in mm at the detector
        plane ((0018,1164) ImagerPixelSpacing order).
    collimation : (4,) tuple of int, optional
        Exposed rectangle ``(row_start, row_stop, col_start, col_stop)`` in
        detector pixels, 0-based, stop excluded (numpy slice); outside it no
        radiation reaches the detector.  ``None``: the whole detector.
    pincushion : float
        Relative radial stretch at the detector corners (0 = none).

    Examples
    --------
    >>> c = CArm(sid=1000, sod=750, rows=5, cols=5, pixel_mm=(1.0, 1.0))
    >>> c.project([[0.0, 0.0, 0.0]]).round(6).tolist()   # the isocentre -> detector centre
    [[2.0, 2.0]]
    """

    sid: float = 1000.0
    sod: float = 750.0
    primary_deg: float = 0.0
    secondary_deg: float = 0.0
    isocenter: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rows: int = 512
    cols: int = 512
    pixel_mm: tuple[float, float] = (0.4, 0.4)
    collimation: tuple[int, int, int, int] | None = None
    pincushion: float = 0.0
    _basis: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sid, sod = float(self.sid), float(self.sod)
        if not (math.isfinite(sid) and math.isfinite(sod) and 0 < sod < sid):
            raise ValueError(f"C-arm needs 0 < SOD < SID (mm); got SID={self.sid!r}, SOD={self.sod!r}")
        if int(self.rows) < 1 or int(self.cols) < 1:
            raise ValueError(f"detector must have at least 1 x 1 pixels; got {self.rows} x {self.cols}")
        pr, pc = (float(v) for v in self.pixel_mm)
        if not (pr > 0 and pc > 0 and math.isfinite(pr) and math.isfinite(pc)):
            raise ValueError(f"detector pixel size must be > 0 mm; got {self.pixel_mm!r}")
        iso = tuple(float(v) for v in self.isocenter)
        if len(iso) != 3 or not all(math.isfinite(v) for v in iso):
            raise ValueError(f"isocenter must be 3 finite LPS mm values; got {self.isocenter!r}")
        for name, v in (("primary_deg", self.primary_deg), ("secondary_deg", self.secondary_deg)):
            if not math.isfinite(float(v)):
                raise ValueError(f"{name} must be finite degrees; got {v!r}")
        if not (math.isfinite(float(self.pincushion)) and float(self.pincushion) > -0.5):
            raise ValueError(f"pincushion must be a relative stretch > -0.5; got {self.pincushion!r}")
        if self.collimation is not None:
            r0, r1, c0, c1 = (int(v) for v in self.collimation)
            if not (0 <= r0 < r1 <= int(self.rows) and 0 <= c0 < c1 <= int(self.cols)):
                raise ValueError(
                    f"collimation {self.collimation!r} must be (row_start, row_stop, col_start, col_stop) "
                    f"inside the {self.rows} x {self.cols} detector with start < stop"
                )
            object.__setattr__(self, "collimation", (r0, r1, c0, c1))
        for name, v in (("sid", sid), ("sod", sod), ("primary_deg", float(self.primary_deg)),
                        ("secondary_deg", float(self.secondary_deg)), ("pincushion", float(self.pincushion)),
                        ("rows", int(self.rows)), ("cols", int(self.cols))):
            object.__setattr__(self, name, v)
        object.__setattr__(self, "isocenter", iso)
        object.__setattr__(self, "pixel_mm", (pr, pc))
        object.__setattr__(self, "_basis", _basis(self.primary_deg, self.secondary_deg))

    # ------------------------------------------------------------------ frame

    @property
    def magnification(self) -> float:
        """SID / SOD: the magnification of an object in the isocentre plane (the ERMF)."""
        return self.sid / self.sod

    @property
    def beam(self) -> npt.NDArray[np.float64]:
        """Unit vector from source to detector (isocentre to detector centre), LPS."""
        return self._basis[0].copy()

    @property
    def col_dir(self) -> npt.NDArray[np.float64]:
        """Unit LPS vector along which the column index grows (screen right)."""
        return self._basis[1].copy()

    @property
    def row_dir(self) -> npt.NDArray[np.float64]:
        """Unit LPS vector along which the row index grows (screen down)."""
        return self._basis[2].copy()

    @property
    def source(self) -> npt.NDArray[np.float64]:
        """Focal spot position, LPS mm."""
        return np.asarray(self.isocenter) - self.sod * self._basis[0]

    @property
    def detector_center(self) -> npt.NDArray[np.float64]:
        """Centre of the detector plane, LPS mm."""
        return np.asarray(self.isocenter) + (self.sid - self.sod) * self._basis[0]

    @property
    def center_px(self) -> tuple[float, float]:
        """(row, col) of the detector centre: where the isocentre projects."""
        return ((self.rows - 1) / 2.0, (self.cols - 1) / 2.0)

    def pixel_to_detector(self, rc: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``(..., 2)`` (row, col) -> ``(..., 3)`` LPS mm of those points on the detector plane (no distortion)."""
        rc = np.asarray(rc, dtype=np.float64)
        dr = (rc[..., 0] - self.center_px[0]) * self.pixel_mm[0]
        dc = (rc[..., 1] - self.center_px[1]) * self.pixel_mm[1]
        return self.detector_center + dr[..., None] * self._basis[2] + dc[..., None] * self._basis[1]

    # ------------------------------------------------------------------ projection

    def project(self, points_lps: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Project LPS points onto the detector.

        Parameters
        ----------
        points_lps : (..., 3) array-like of float
            Patient LPS mm.

        Returns
        -------
        (..., 2) ndarray of float64
            Detector ``(row, col)`` in the projection's pixel convention
            (fractional; index 0 = centre of the first pixel), pincushion
            included.  Points at or behind the source give NaN.
        """
        p = np.asarray(points_lps, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f"points must have 3 LPS coordinates in the last axis; got shape {p.shape}")
        rel = p - self.source
        depth = rel @ self._basis[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(depth > 0, self.sid / depth, np.nan)
        x_mm = (rel @ self._basis[2]) * scale  # along rows
        y_mm = (rel @ self._basis[1]) * scale  # along columns
        x_mm, y_mm = self._distort(x_mm, y_mm)
        return np.stack([x_mm / self.pixel_mm[0] + self.center_px[0], y_mm / self.pixel_mm[1] + self.center_px[1]], -1)

    def ray(self, row: npt.ArrayLike, col: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The X-ray that reaches detector pixel ``(row, col)``.

        Parameters
        ----------
        row, col : float or array-like
            Detector pixel coordinates (fractional allowed, broadcast together).

        Returns
        -------
        source : (3,) ndarray
            Focal spot, LPS mm (the same for every ray).
        direction : (..., 3) ndarray
            Unit direction from the source toward that pixel, LPS (pincushion
            undone, so ``project(source + t * direction)`` gives back ``(row, col)``).
        """
        r, c = np.broadcast_arrays(np.asarray(row, dtype=np.float64), np.asarray(col, dtype=np.float64))
        x_mm, y_mm = self._undistort((r - self.center_px[0]) * self.pixel_mm[0], (c - self.center_px[1]) * self.pixel_mm[1])
        q = self.detector_center + x_mm[..., None] * self._basis[2] + y_mm[..., None] * self._basis[1]
        d = q - self.source
        return self.source, d / np.linalg.norm(d, axis=-1, keepdims=True)

    def _half_diagonal(self) -> float:
        return 0.5 * math.hypot(self.rows * self.pixel_mm[0], self.cols * self.pixel_mm[1])

    def _distort(self, x: Any, y: Any) -> tuple[Any, Any]:
        if self.pincushion == 0.0:
            return x, y
        f = 1.0 + self.pincushion * (x * x + y * y) / self._half_diagonal() ** 2
        return x * f, y * f

    def _undistort(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Invert r_d = r (1 + k r^2 / R^2) by Newton's method (monotone for k > -1/3)."""
        if self.pincushion == 0.0:
            return x, y
        k, rr = self.pincushion, self._half_diagonal() ** 2
        rd = np.hypot(x, y)
        r = rd.copy()
        for _ in range(8):
            r -= (r + k * r**3 / rr - rd) / (1.0 + 3 * k * r * r / rr)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(rd > 0, r / rd, 1.0)
        return x * s, y * s

    # ------------------------------------------------------------------ variants

    def with_pose(self, **changes: Any) -> CArm:
        """A copy with some fields changed (e.g. ``primary_deg=30``)."""
        return replace(self, **changes)

    def binned(self, factor: int) -> CArm:
        """The same field of view on a detector binned ``factor`` x ``factor`` (a coarse preview)."""
        f = int(factor)
        if f < 1:
            raise ValueError(f"binning factor must be >= 1; got {factor!r}")
        if f == 1:
            return self
        rows, cols = max(1, self.rows // f), max(1, self.cols // f)
        pix = (self.pixel_mm[0] * self.rows / rows, self.pixel_mm[1] * self.cols / cols)
        col = None
        if self.collimation is not None:
            r0, r1, c0, c1 = self.collimation
            col = (r0 // f, max(r0 // f + 1, min(rows, -(-r1 // f))), c0 // f, max(c0 // f + 1, min(cols, -(-c1 // f))))
        return replace(self, rows=rows, cols=cols, pixel_mm=pix, collimation=col)

    def shutter_edges(self) -> dict[str, int] | None:
        """The collimation as DICOM RECTANGULAR shutter edges (PS3.3 C.7.6.11), 1-based pixel positions.

        Returns
        -------
        dict or None
            ``ShutterLeftVerticalEdge`` (0018,1602), ``ShutterRightVerticalEdge``
            (0018,1604) as columns, ``ShutterUpperHorizontalEdge`` (0018,1606),
            ``ShutterLowerHorizontalEdge`` (0018,1608) as rows, of the first and
            last exposed pixels; ``None`` without collimation.
        """
        if self.collimation is None:
            return None
        r0, r1, c0, c1 = self.collimation
        return {"ShutterLeftVerticalEdge": c0 + 1, "ShutterRightVerticalEdge": c1,
                "ShutterUpperHorizontalEdge": r0 + 1, "ShutterLowerHorizontalEdge": r1}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for sessions and DICOM metadata)."""
        d = asdict(self)
        d.pop("_basis", None)
        d["isocenter"] = list(self.isocenter)
        d["pixel_mm"] = list(self.pixel_mm)
        d["collimation"] = None if self.collimation is None else list(self.collimation)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CArm:
        """Inverse of :meth:`to_dict` (unknown keys are an error)."""
        known = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
        extra = set(d) - known
        if extra:
            raise ValueError(f"unknown C-arm fields {sorted(extra)}; expected some of {sorted(known)}")
        kw = dict(d)
        for key in ("isocenter", "pixel_mm", "collimation"):
            if kw.get(key) is not None:
                kw[key] = tuple(kw[key])
        return cls(**kw)


def _basis(primary_deg: float, secondary_deg: float) -> npt.NDArray[np.float64]:
    """Rows: beam (iso -> detector), column direction, row direction; LPS unit vectors."""
    p, s = math.radians(primary_deg), math.radians(secondary_deg)
    cp, sp, cs, ss = math.cos(p), math.sin(p), math.cos(s), math.sin(s)
    return np.array(
        [
            [sp * cs, -cp * cs, ss],
            [cp, sp, 0.0],
            [sp * ss, -cp * ss, -cs],
        ]
    )


#: named poses: (primary, secondary) in degrees, PS3.3 C.8.7.5.1.2 signs
PRESETS: dict[str, tuple[float, float]] = {
    "AP": (0.0, 0.0),
    "Lateral (LAO 90)": (90.0, 0.0),
    "Lateral (RAO 90)": (-90.0, 0.0),
    "Oblique LAO 30": (30.0, 0.0),
    "Oblique LAO 45": (45.0, 0.0),
    "Oblique RAO 30": (-30.0, 0.0),
    "Oblique RAO 45": (-45.0, 0.0),
    "AP cranial 15 (square an endplate)": (0.0, 15.0),
    "AP caudal 15": (0.0, -15.0),
}
