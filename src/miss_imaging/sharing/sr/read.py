"""DICOM SR (TID 1500 Measurement Report) -> measurements, placed on the open series.

Reads the miss-imaging layout (:mod:`.write`) and, as far as their items
allow, TID 1500 reports of other tools (OHIF/dcmjs lengths, angles and Cobb
angles; TID 1410 planar ROI groups whose region is a polyline): every
measurement group whose value is a length or an angle in a known UCUM unit
and that has coordinates.  Everything else is skipped with a message naming
the group and the reason.

Placement: a SCOORD names an image (SOP Instance UID, frame number); it is
placed on the slice/frame of an open volume that holds that image.  A
SCOORD3D is placed on an open cross-sectional volume of the same Frame of
Reference through its LPS coordinates.  The value is the one stored in the
SR; the measurement is recomputed on the open image with the stored
calibration, and a difference is reported in its ``warnings``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from miss_imaging.measurement.calibration import PIXELS_ONLY, Calibration, CalibrationSource
from miss_imaging.errors import MissImagingError, SRError
from miss_imaging.measurement.measure import Measurement, measure_angle, measure_cobb, measure_distance, measure_path
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.sr import _codes as C
from miss_imaging.sharing.sr._refs import image_refs
from miss_imaging.sharing.sr.spine_groups import is_spine_group, read_spine_group

__all__ = ["load_sr", "SRMeasurements", "parse_user_label", "lps_to_index"]

_USER = re.compile(r"^user-calibrated \((.*), ([0-9.eE+-]+) mm\)$")
_SR_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
_LENGTH_CODES = {("410668003", "SCT"), ("G-D7FE", "SRT"), ("121206", "DCM"), ("121227", "DCM"),
                 ("121211", "DCM")}
_ANGLE_CODES = {("1483009", "SCT"), ("110859", "DCM"), ("285285000", "SCT")}


def parse_user_label(label: str) -> tuple[str, float] | None:
    """``"user-calibrated (sphere, 25.0 mm)"`` -> ``("sphere", 25.0)``; None for other labels."""
    m = _USER.match(label.strip())
    return (m.group(1), float(m.group(2))) if m else None


class SRMeasurements(list):  # list[Measurement]
    """The measurements read from an SR, in document order.

    Attributes
    ----------
    skipped : list of str
        One message per measurement group not read or not placed, naming
        the group (tracking identifier / name) and why.
    title : str
        The document title (Concept Name of the root).
    spine : list
        The :mod:`miss_imaging.spine` results the SR carries (DiscHeight,
        Slip, Canal, Screw, ...), rebuilt with their stored values, labels,
        definitions, calibration labels, flags and LPS points
        (:mod:`.spine_groups`); they need no open image.
    """

    def __init__(self, items: Iterable[Measurement] = (), skipped: list[str] | None = None, title: str = ""):
        super().__init__(items)
        self.skipped: list[str] = list(skipped or [])
        self.title = title
        self.spine: list[Any] = []


@dataclass
class _Group:
    """What one measurement group says, before placement."""

    label: str
    name: str
    kind: str
    value: float
    unit: str
    coords: np.ndarray  # (n, 2) column,row  or (n, 3) LPS mm
    sop_uid: str | None = None
    frames: list[int] | None = None
    frame_of_reference: str | None = None
    calibration: Calibration | None = None
    calibration_label: str = ""
    detector_mm: float | None = None
    sources: set[str] = field(default_factory=set)  # SOP Instance UIDs of the group's source images


def _code(item: Dataset, attr: str = "ConceptNameCodeSequence") -> tuple[str, str, str]:
    seq = item.get(attr)
    if not seq:
        return ("", "", "")
    c = seq[0]
    value = c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue") or ""
    return (str(value), str(c.get("CodingSchemeDesignator", "")), str(c.get("CodeMeaning", "")))


def _children(item: Dataset) -> list[Dataset]:
    return list(item.get("ContentSequence", []))


def _num_value(item: Dataset) -> tuple[float, tuple[str, str, str]]:
    mv = item.MeasuredValueSequence[0]
    value = float(mv.FloatingPointValue) if "FloatingPointValue" in mv else float(mv.NumericValue)
    return value, _code(mv, "MeasurementUnitsCodeSequence")


def _graphic(item: Dataset) -> tuple[np.ndarray, str | None, list[int] | None, str | None]:
    data = np.asarray(item.GraphicData, dtype=np.float64)
    if item.ValueType == "SCOORD3D":
        return data.reshape(-1, 3), None, None, str(item.get("ReferencedFrameOfReferenceUID", ""))
    sop, frames = None, None
    for ch in _children(item):
        if ch.ValueType == "IMAGE" and ch.get("ReferencedSOPSequence"):
            ref = ch.ReferencedSOPSequence[0]
            sop = str(ref.ReferencedSOPInstanceUID)
            if "ReferencedFrameNumber" in ref:
                v = ref.ReferencedFrameNumber
                frames = [int(x) for x in (v if isinstance(v, (list, pydicom.multival.MultiValue)) else [v])]
    return data.reshape(-1, 2), sop, frames, None


def _kind(concept: tuple[str, str, str], n_points: int, tracking: str) -> str | None:
    if tracking.startswith("miss-imaging:") and tracking.split(":", 1)[1] in C.CONCEPT:
        return tracking.split(":", 1)[1]
    key = concept[:2]
    if key == ("285285000", "SCT"):
        return "cobb"
    if key in _ANGLE_CODES:
        return "cobb" if n_points == 4 else "angle"
    if key in _LENGTH_CODES:
        return "path" if key == ("121211", "DCM") or n_points > 2 else "distance"
    return None


def _calibration(num: Dataset, label: str) -> tuple[Calibration | None, float | None]:
    """The Calibration stored under the value, and the detector-plane value."""
    method = next((_code(ch, "ConceptCodeSequence") for ch in _children(num)
                   if ch.ValueType == "CODE" and _code(ch)[0] == "370129005"), ("", "", ""))
    props: dict[str, float] = {}
    detector = None
    for ch in _children(num):
        if ch.ValueType != "NUM" or ch.RelationshipType != "HAS PROPERTIES":
            continue
        value, _unit = _num_value(ch)
        sub = [_code(x, "ConceptCodeSequence")[0] for x in _children(ch) if x.ValueType == "CODE"]
        if C.IN_DETECTOR_PLANE.value in sub:
            detector = value
        else:
            props[_code(ch)[0]] = value
    if method[1] != C.SCHEME:
        return None, detector
    source = CalibrationSource(C.SOURCE_OF_METHOD.get(method[0], "volume"))
    if source == "geometry":
        return None, detector
    row, col = props.get(C.VERTICAL_SPACING.value), props.get(C.HORIZONTAL_SPACING.value)
    cal = Calibration(row, col, label or method[2], source, props.get(C.DETECTOR_VERTICAL.value),
                      props.get(C.DETECTOR_HORIZONTAL.value))
    if source == "pixels":
        cal = dataclasses.replace(PIXELS_ONLY, detector_row_mm=cal.detector_row_mm,
                                  detector_col_mm=cal.detector_col_mm, label=cal.label)
    return cal, detector


def _unit(value: float, unit: tuple[str, str, str], kind: str, where: str) -> tuple[float, str]:
    code = unit[0]
    if kind in ("angle", "cobb"):
        if code in C.ANGLE_UNITS:
            return value * C.ANGLE_UNITS[code], "deg"
    elif code in C.LENGTH_UNITS:
        return value * C.LENGTH_UNITS[code], "mm"
    elif code in ("{pixels}", "{pixel}", "px", "{px}"):
        return value, "px"
    raise SRError(f"{where}: unit {code!r} ({unit[2]}) is not a known {'angle' if kind in ('angle', 'cobb') else 'length'} "
                  "unit; skipped")


def _tracking(group: Dataset) -> str:
    """The group's Tracking Identifier (112039, DCM) text, "" without one."""
    return next((str(i.TextValue) for i in _children(group) if i.ValueType == "TEXT" and _code(i)[0] == "112039"), "")


def _parse_group(group: Dataset, k: int) -> _Group:
    items = _children(group)
    tracking = _tracking(group)
    finding = next((_code(i, "ConceptCodeSequence")[2] for i in items if i.ValueType == "CODE"
                    and _code(i)[0] == "121071"), "")
    label = f"group {k + 1}" + (f" ({finding or tracking})" if finding or tracking else "")
    nums = [i for i in items if i.ValueType == "NUM"]
    if not nums:
        raise SRError(f"{label}: no numeric measurement; skipped")
    num = nums[0]
    coords = [c for c in _children(num) if c.ValueType in ("SCOORD", "SCOORD3D")]
    coords += [c for c in items if c.ValueType in ("SCOORD", "SCOORD3D")]  # TID 1410 image region
    if not coords:
        raise SRError(f"{label}: {_code(num)[2]} has no SCOORD/SCOORD3D coordinates; skipped")
    data, sop, frames, frame_of_reference = _graphic(coords[0])
    concept = _code(num)
    kind = _kind(concept, len(data), tracking)
    if kind is None:
        raise SRError(f"{label}: measurement {concept[2]!r} ({concept[1]} {concept[0]}) is not a length or an angle; skipped")
    raw, unit_code = _num_value(num)
    value, unit = _unit(raw, unit_code, kind, label)
    cal_label = next((str(c.TextValue) for c in _children(num) if c.ValueType == "TEXT"
                      and _code(c)[0] == C.CALIBRATION.value), "")
    cal, detector = _calibration(num, cal_label)
    name = finding if finding and not finding.startswith("miss-imaging:") else ""
    sources = {str(i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID) for i in items
               if i.ValueType == "IMAGE" and i.get("ReferencedSOPSequence")}
    return _Group(label, name, kind, value, unit, data, sop, frames, frame_of_reference, cal, cal_label, detector,
                  sources)


def _groups(ds: Dataset) -> Iterable[Dataset]:
    for item in _children(ds):
        if item.ValueType == "CONTAINER" and _code(item)[0] == "126010":  # Imaging Measurements
            for g in _children(item):
                if g.ValueType == "CONTAINER" and _code(g)[0] == "125007":  # Measurement Group
                    yield g


def _check_tid1500(ds: Dataset, path: Path) -> None:
    sop = str(ds.get("SOPClassUID", ""))
    if not sop.startswith(_SR_PREFIX):
        what = getattr(pydicom.uid.UID(sop), "name", sop) if sop else "no SOP Class UID"
        raise SRError(f"not a DICOM Structured Report ({what})", path=path)
    tpl = ds.get("ContentTemplateSequence")
    tid = str(tpl[0].get("TemplateIdentifier", "")) if tpl else ""
    title = _code(ds)
    if tid != "1500" and title[:2] != ("126000", "DCM"):
        raise SRError(f"not a TID 1500 Measurement Report: template {tid or 'not stated'}, title "
                      f"{title[2]!r}; only TID 1500 measurement reports are read", path=path)


def lps_to_index(vol: ImageVolume, lps: np.ndarray) -> np.ndarray:
    """LPS mm -> fractional indices; irregular stacks through their recorded slice positions.

    The inverse of the measurement's mapping (:mod:`miss_imaging.measurement.measure`):
    the slice index is interpolated from the slice positions along the
    normal, the origin of that fractional slice from its neighbours' IPPs,
    then row and column are solved in the slice plane.
    """
    sp = vol.slice_positions
    if vol.regular or sp is None or len(sp) != vol.shape[0] or len(sp) < 2:
        return np.asarray(vol.patient_to_index(lps))
    row, col = vol.affine[:3, 1], vol.affine[:3, 2]
    normal = np.cross(col, row)
    normal /= np.linalg.norm(normal)
    d = np.asarray(sp) @ normal
    order = np.argsort(d)
    k = np.interp(lps @ normal, d[order], np.arange(len(sp), dtype=np.float64)[order])
    k0 = np.clip(np.floor(k).astype(int), 0, len(sp) - 2)
    f = (k - k0)[:, None]
    origin = sp[k0] * (1 - f) + sp[k0 + 1] * f
    rc = np.linalg.lstsq(np.column_stack([row, col]), (lps - origin).T, rcond=None)[0].T
    return np.column_stack([k, rc])


def _place(g: _Group, volumes: Sequence[ImageVolume], index: dict[tuple[str, int | None], tuple[ImageVolume, int]]) -> tuple[ImageVolume, np.ndarray]:
    """(volume, (n, 3) index points) for a group, or SRError naming what is not open."""
    if g.coords.shape[1] == 3:
        same = [v for v in volumes if v.kind != "projection" and v.frame_of_reference_uid == g.frame_of_reference]
        # the series measured on (its source images are open) before another of the same frame of reference
        same.sort(key=lambda v: not any(index.get((s, f), (None,))[0] is v for s, f in index if s in g.sources))
        for vol in same:
            return vol, lps_to_index(vol, g.coords)
        raise SRError(f"{g.label}: SCOORD3D in Frame of Reference {g.frame_of_reference}, which no open CT shares; not placed")
    frames = g.frames or [None]  # type: ignore[list-item]
    hit = index.get((g.sop_uid or "", frames[0]))
    if hit is None:
        where = f"image {g.sop_uid}" + (f" frame {frames[0]}" if frames[0] is not None else "")
        raise SRError(f"{g.label}: references {where}, which is not open; not placed")
    vol, k = hit
    idx = np.column_stack([np.full(len(g.coords), float(k)), g.coords[:, 1] - 0.5, g.coords[:, 0] - 0.5])
    return vol, idx


def _measure(g: _Group, vol: ImageVolume, idx: np.ndarray) -> Measurement:
    """Recompute on the open image with the stored calibration; keep the stored value."""
    cal = g.calibration if vol.kind == "projection" else None
    if g.unit == "mm" and cal is not None and not cal.has_mm:
        cal = None
    pts = [tuple(p) for p in idx]
    funcs = {"distance": lambda: measure_distance(vol, pts[0], pts[-1], calibration=cal),
             "path": lambda: measure_path(vol, pts, calibration=cal),
             "angle": lambda: measure_angle(vol, pts[0], pts[1], pts[2], calibration=cal),
             "cobb": lambda: measure_cobb(vol, pts[:2], pts[2:4], calibration=cal)}
    if (g.kind == "distance" and len(pts) != 2) or (g.kind == "angle" and len(pts) != 3) or (g.kind == "cobb" and len(pts) != 4):
        raise SRError(f"{g.label}: a {g.kind} needs {dict(distance=2, angle=3, cobb=4)[g.kind]} points, "
                      f"the SR gives {len(pts)}; skipped")
    try:
        m = funcs[g.kind]()
    except MissImagingError as exc:
        raise SRError(f"{g.label}: {exc}") from None
    warnings = list(m.warnings)
    if m.unit != g.unit or abs(m.value - g.value) > 1e-3 * max(1.0, abs(g.value)):
        warnings.append(f"stored {g.value:.4g} {g.unit}; on the open image it measures {m.value:.4g} {m.unit}")
    changes: dict[str, Any] = {"value": g.value, "unit": g.unit, "name": g.name, "warnings": tuple(warnings)}
    if g.unit == "mm" and m.kind in ("distance", "path"):
        changes["mm"] = g.value
    if g.calibration_label:
        changes["calibration"] = g.calibration_label
    if g.detector_mm is not None:
        changes["detector_mm"] = g.detector_mm
    return dataclasses.replace(m, **changes)


def _index(volumes: Sequence[ImageVolume], skipped: list[str]) -> dict[tuple[str, int | None], tuple[ImageVolume, int]]:
    out: dict[tuple[str, int | None], tuple[ImageVolume, int]] = {}
    for vol in volumes:
        try:
            refs = image_refs(vol)
        except MissImagingError as exc:
            skipped.append(f"{vol.label}: {exc}")
            continue
        for k, r in enumerate(refs):
            out.setdefault((r.sop_instance_uid, r.frame_number), (vol, k))
    return out


def load_sr(path: str | Path, volumes: Iterable[ImageVolume] = ()) -> SRMeasurements:
    """Read the measurements of a TID 1500 SR and place them on the open volumes.

    Parameters
    ----------
    path : str or Path
        A DICOM SR file (ours or another tool's).
    volumes : iterable of ImageVolume
        The open series.  Each measurement is placed on the slice/frame
        holding the image it references (matched by SOP Instance UID and
        frame number) or, for SCOORD3D, on a CT of the same Frame of
        Reference.

    Returns
    -------
    SRMeasurements
        A list of :class:`~miss_imaging.measurement.measure.Measurement` (index points on
        their volume, the stored value, name and calibration) with
        ``skipped``: one message per group not read (unknown unit or
        concept, no coordinates) or not placed (image not open).

    Raises
    ------
    SRError
        The file is not DICOM, not an SR, or not a TID 1500 Measurement Report.
    """
    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise SRError(f"cannot read as DICOM: {exc}", path=path) from None
    _check_tid1500(ds, path)
    vols = list(volumes)
    out = SRMeasurements(title=_code(ds)[2])
    skipped = out.skipped
    index = _index(vols, skipped)
    for k, group in enumerate(_groups(ds)):
        try:
            tracking = _tracking(group)
            if is_spine_group(tracking):
                out.spine.append(read_spine_group(group, tracking, f"group {k + 1} ({tracking})"))
                continue
            g = _parse_group(group, k)
            vol, idx = _place(g, vols, index)
            out.append(_measure(g, vol, idx))
        except SRError as exc:
            skipped.append(str(exc))
    if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES" and any("is not open" in t for t in skipped):
        skipped.append("this SR is de-identified: it references the de-identified copy of the images written with "
                       "it (e.g. <sr name>_images/), not the originals; open that copy to place it")
    return out
