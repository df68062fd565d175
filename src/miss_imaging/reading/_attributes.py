"""Descriptive attributes of a loaded series: windows, VOI LUTs, projection
tags, technical metadata and (kept apart) patient identifiers."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from miss_imaging.reading.enhanced import find_nested
from miss_imaging.model import ProjectionTags, Window

__all__ = [
    "windows",
    "voi_luts",
    "projection_tags",
    "calibration_tag_warnings",
    "technical_metadata",
    "banner_identifiers",
]

#: Non-identifying technical attributes copied into ``ImageVolume.metadata``.
TECHNICAL_KEYWORDS = (
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "BodyPartExamined",
    "KVP",
    "XRayTubeCurrent",
    "Exposure",
    "ExposureTime",
    "ConvolutionKernel",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImageType",
    "RescaleType",
    "PixelPaddingValue",
    "BitsStored",
    "PixelRepresentation",
    "LossyImageCompression",
    "BurnedInAnnotation",
    "PatientPosition",
    "ViewPosition",
    "ImageLaterality",
    "FieldOfViewShape",
    "RecommendedDisplayFrameRate",
    "CineRate",
    "MagneticFieldStrength",
)

#: Patient/study identifiers: only ever stored in ``ImageVolume.patient``.
PATIENT_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "InstitutionName",
    "StudyDate",
    "StudyDescription",
    "ReferringPhysicianName",
)


def _plain(value: Any) -> Any:
    """pydicom value -> plain Python (str, float, int, tuple)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return None
    if type(value).__name__ == "MultiValue" or isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if type(value).__name__ in ("DSfloat", "DSdecimal"):
        return float(value)
    if type(value).__name__ == "IS":
        return int(value)
    if isinstance(value, (int, float, str)):
        return value
    return str(value)


def _multi(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    if type(v).__name__ == "MultiValue" or isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def windows(ds: Dataset, warnings: list[str] | None = None) -> list[Window]:
    """Every (0028,1050)/(0028,1051) window pair with its (0028,1055) explanation.

    Looks at the top level first, then the functional groups (FrameVOILUTSequence,
    shared then first frame) of enhanced objects.  Pairs that PS3.3
    C.11.2.1.2 does not allow (non-numeric, width < 1 for LINEAR, width <= 0
    otherwise) are left out, each with a message appended to `warnings`; an
    unknown (0028,1056) VOI LUT Function is read as LINEAR, with a message.
    """
    src: Dataset | None = ds if "WindowCenter" in ds else None
    if src is None:
        for seq_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
            seq = ds.get(seq_kw)
            if seq:
                voi = seq[0].get("FrameVOILUTSequence")
                if voi and "WindowCenter" in voi[0]:
                    src = voi[0]
                    break
    if src is None:
        return []
    centers = _multi(src.get("WindowCenter"))
    widths = _multi(src.get("WindowWidth"))
    expl = _multi(src.get("WindowCenterWidthExplanation"))
    function = str(src.get("VOILUTFunction", "") or "LINEAR").strip().upper()
    notes = warnings if warnings is not None else []
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        notes.append(f"(0028,1056) VOILUTFunction {function!r} is not LINEAR, LINEAR_EXACT or SIGMOID: read as LINEAR")
        function = "LINEAR"
    if len(centers) != len(widths):
        notes.append(f"(0028,1050) WindowCenter has {len(centers)} value(s) but (0028,1051) WindowWidth has "
                     f"{len(widths)}: only the first {min(len(centers), len(widths))} pair(s) are used")
    out = []
    for i, (c, w) in enumerate(zip(centers, widths)):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError):
            center = width = float("nan")
        least = 1.0 if function == "LINEAR" else 0.0
        if not (np.isfinite(center) and np.isfinite(width)) or width < least or width == 0:
            notes.append(f"(0028,1050) WindowCenter / (0028,1051) WindowWidth value {i + 1} = {c!r} / {w!r} is not a "
                         f"valid {function} window (width must be {'>= 1' if least else '> 0'}): left out")
            continue
        out.append(Window(center, width, str(expl[i]) if i < len(expl) else "", function))
    return out


def voi_luts(
    ds: Dataset, warnings: list[str] | None = None, *, signed_input: bool = True
) -> list[tuple[tuple[int, int, int], np.ndarray]]:
    """(0028,3010) VOI LUT Sequence items as (descriptor, table).

    The descriptor's first mapped value is in the representation of the VOI
    LUT's input, the Modality LUT's output (C.11.2.1.1): read as signed
    (values above 32767 wrap to negative) when `signed_input`, i.e. when the
    modality values can be negative (CT HU), else as unsigned.  Items whose (0028,3002) LUT Descriptor is not three numbers, or whose
    (0028,3006) LUT Data holds fewer entries than it announces, are left out
    with a message appended to `warnings`.
    """
    out = []
    notes = warnings if warnings is not None else []
    for k, item in enumerate(ds.get("VOILUTSequence", None) or []):
        desc = item.get("LUTDescriptor")
        data = item.get("LUTData")
        if desc is None or data is None:
            continue
        try:
            entries, first, bits = (int(x) for x in _multi(desc))
        except (TypeError, ValueError):
            notes.append(f"(0028,3010) VOILUTSequence item {k + 1}: (0028,3002) LUTDescriptor = {desc!r} is not "
                         "three numbers: left out")
            continue
        if signed_input and first > 32767:  # an SS value read as US
            first -= 65536
        elif not signed_input and first < 0:  # a US value read as SS (PixelRepresentation 1)
            first += 65536
        if isinstance(data, (bytes, bytearray)):
            # OW: one 16-bit word per entry whatever the bits per entry (8 included),
            # in the file's byte order, as pydicom's apply_voi_lut reads it
            order = "<" if _little_endian(ds) else ">"
            table = np.frombuffer(bytes(data[: len(data) // 2 * 2]), dtype=f"{order}u2").astype(np.uint16)
        else:
            table = np.asarray([data] if isinstance(data, int) else list(data))
        if table.size < (entries or 65536):
            notes.append(f"(0028,3010) VOILUTSequence item {k + 1}: (0028,3006) LUTData has {table.size} entries, "
                         f"(0028,3002) LUTDescriptor announces {entries or 65536}: left out")
            continue
        out.append(((entries or 65536, first, bits), table))
    return out


def _little_endian(ds: Dataset) -> bool:
    """Byte order of the data set's values (file meta transfer syntax, else as read)."""
    meta = getattr(ds, "file_meta", None)
    uid = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if uid is not None and uid.is_transfer_syntax:
        return bool(uid.is_little_endian)
    little = getattr(ds, "original_encoding", (None, None))[1]
    return True if little is None else bool(little)


def _floats(v: Any) -> tuple[float, ...] | None:
    vals = _multi(v)
    if not vals:
        return None
    try:
        return tuple(float(x) for x in vals)
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    t = _floats(v)
    return t[0] if t else None


def projection_tags(ds: Dataset, n_frames: int) -> ProjectionTags:
    """Calibration, timing and positioner attributes as read (see ProjectionTags).

    Enhanced XA/XRF keep some of them inside functional groups; those are
    found in the shared group, then the first frame's.  Per-frame positioner
    angles come from each frame's group, or from the cine's
    PositionerPrimaryAngleIncrement (0018,1520) added to the start angle.
    """
    per = ds.get("PerFrameFunctionalGroupsSequence")

    def get(keyword: str) -> Any:
        return _projection_value(ds, keyword)

    def angles(keyword: str, incr_keyword: str) -> tuple[float, ...] | None:
        if per and len(per) == n_frames and find_nested(per[0], keyword) is not None:
            vals = [_float(find_nested(f, keyword)) for f in per]
            if all(v is not None for v in vals):
                return tuple(vals)  # type: ignore[arg-type]
        start = _float(get(keyword))
        incr = _floats(ds.get(incr_keyword))
        if start is not None and incr and len(incr) == n_frames:
            return tuple(float(start + x) for x in np.cumsum(incr))
        return None if start is None else (start,)

    ps = _floats(get("PixelSpacing"))
    ips = _floats(get("ImagerPixelSpacing"))
    ctype = get("PixelSpacingCalibrationType")
    cdesc = get("PixelSpacingCalibrationDescription")
    ftv = _floats(ds.get("FrameTimeVector"))
    return ProjectionTags(
        pixel_spacing=(ps[0], ps[1]) if ps and len(ps) >= 2 else None,
        imager_pixel_spacing=(ips[0], ips[1]) if ips and len(ips) >= 2 else None,
        calibration_type=str(ctype) if ctype else None,
        calibration_description=str(cdesc) if cdesc else None,
        ermf=_float(get("EstimatedRadiographicMagnificationFactor")),
        sid=_float(get("DistanceSourceToDetector")),
        sod=_float(get("DistanceSourceToPatient")),
        frame_time_ms=_float(get("FrameTime")),
        frame_time_vector_ms=ftv,
        primary_angle_deg=angles("PositionerPrimaryAngle", "PositionerPrimaryAngleIncrement"),
        secondary_angle_deg=angles("PositionerSecondaryAngle", "PositionerSecondaryAngleIncrement"),
    )


def _projection_value(ds: Dataset, keyword: str) -> Any:
    """`keyword` at the top level, else in the shared functional group, else in the first frame's."""
    v = ds.get(keyword)
    for seq_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if v is not None:
            break
        seq = ds.get(seq_kw)
        v = find_nested(seq[0] if seq else None, keyword)
    return v


#: Calibration attributes of a projection: keyword -> (tag, number of values needed).
_CALIBRATION_VALUES = {
    "PixelSpacing": ("(0028,0030) PixelSpacing", 2),
    "ImagerPixelSpacing": ("(0018,1164) ImagerPixelSpacing", 2),
    "EstimatedRadiographicMagnificationFactor": ("(0018,1114) EstimatedRadiographicMagnificationFactor", 1),
    "DistanceSourceToDetector": ("(0018,1110) DistanceSourceToDetector", 1),
    "DistanceSourceToPatient": ("(0018,1111) DistanceSourceToPatient", 1),
}


def calibration_tag_warnings(ds: Dataset) -> list[str]:
    """Warnings for calibration attributes present but unreadable (read as absent).

    Without them an unreadable ERMF would silently leave a fluoro image
    measured at the detector plane (1.3-1.6x too large) under a label that
    does not say why.
    """
    out = []
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    for keyword, (tag, count) in _CALIBRATION_VALUES.items():
        v = _projection_value(ds, keyword)
        if v is None or v == "":
            continue
        t = _floats(v)
        if t is None or len(t) < count:
            out.append(f"{tag} = {v!r} is not {count} number(s): ignored, the calibration falls back to "
                       "the next rule (see the calibration label)")
        elif ds.get(keyword) is None and len(per) > 1 and find_nested(per[0], keyword) is not None:
            # a per-frame value (e.g. SID changing as the detector moves during a run)
            values = {_floats(find_nested(f, keyword)) for f in per}
            if len(values) > 1:
                out.append(f"{tag} varies between frames ({len(values)} different values); every frame is "
                           "measured with the first frame's")
    return out


def technical_metadata(ds: Dataset, transfer_syntax: str) -> dict[str, Any]:
    """Small dict of non-identifying technical attributes (keyword -> plain value)."""
    out: dict[str, Any] = {"TransferSyntaxUID": transfer_syntax}
    for kw in TECHNICAL_KEYWORDS:
        try:
            v = _plain(ds.get(kw))
        except Exception:  # an unparseable value is simply not reported
            continue
        if v not in (None, "", ()):
            out[kw] = v
    return out


def banner_identifiers(ds: Dataset) -> dict[str, str]:
    """Patient/study identifiers as strings, for ``ImageVolume.patient`` (the clinician's banner only).

    Not :func:`miss_imaging.sharing.deid.patient_identifiers`, which collects every
    identifier variant to search for during de-identification.
    """
    out = {}
    for kw in PATIENT_KEYWORDS:
        try:
            v = ds.get(kw)
        except Exception:
            continue
        if v not in (None, ""):
            out[kw] = str(v)
    return out
