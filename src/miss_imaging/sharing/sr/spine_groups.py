"""Spine results (:mod:`miss_imaging.spine`) as TID 1501 measurement groups, and back.

Layout of one result (the fields of each type: :mod:`._spine_spec`)::

    CONTAINER Measurement Group (125007, DCM)
      TEXT  Tracking Identifier  "miss-imaging:spine:<type>"   e.g. miss-imaging:spine:Slip
      UIDREF Tracking Unique Identifier
      CODE  Finding = the result type (99MISSIMG; SCT Screw)
      CODE  Finding Site (363698007, SCT) = disc level / vertebral canal / pedicle, when one fits
      IMAGE Source of measurement (group)   first and last CT slice its points lie on
      NUM   one per value, UCUM mm / % / deg / mm2 (FD FloatingPointValue: exact)
        CODE  HAS CONCEPT MOD Measurement Method = what the mm rest on (99MISSIMG)
        SCOORD3D INFERRED FROM  the points it was measured from, named (LPS mm, Frame of Reference)
      TEXT  label (level, angle or screw name), grades, stenosis, breach direction
      TEXT  Calibration (122505) = the label of what the values rest on
      TEXT  Measurement definition (99MISSIMG); Published normal range (99MISSIMG)
      TEXT  Method Citation (121423) = the publication of the range or grading
      TEXT  one per flag (value outside its published range)

Values read back are the stored FD values (exact); points are FL (float32,
~1e-4 mm).  A polygon outline is closed (first point repeated) as PS3.3
C.18.9.1.2 requires.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from miss_imaging.errors import SRError
from miss_imaging.measurement.measure import GEOMETRY_LABEL
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.sr import _codes as C
from miss_imaging.sharing.sr import _spine_spec as S
from miss_imaging.sharing.sr._refs import ImageRef

__all__ = ["is_spine_result", "spine_group", "is_spine_group", "read_spine_group"]

_CONTAINS = hd.sr.RelationshipTypeValues.CONTAINS
_INFERRED = hd.sr.RelationshipTypeValues.INFERRED_FROM


def is_spine_result(obj: object) -> bool:
    """True for the result types of :mod:`miss_imaging.spine` that an SR carries."""
    return S.kind_of(obj) is not None


def _get(obj: object, path: str) -> Any:
    return functools.reduce(lambda o, name: getattr(o, name, None), path.split("."), obj)


def _method(label: str) -> hd.sr.CodedConcept:
    source = "geometry" if label == GEOMETRY_LABEL else C.source_of("volume", label)
    code = C.METHODS.get(source, C.METHODS["volume"])
    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


def _scoord3d(spec: S.Points, pts: np.ndarray, frame_of_reference: str) -> hd.sr.Scoord3DContentItem:
    data = pts.reshape(-1, 3)
    if spec.graphic == "POLYGON" and not np.array_equal(data[0], data[-1]):
        data = np.vstack([data, data[:1]])  # PS3.3 C.18.9.1.2: a polygon's first and last points are the same
    # float64 here: highdicom checks a polygon is planar to 1e-5 mm, finer than float32 at 100 mm; stored FL
    return hd.sr.Scoord3DContentItem(name=spec.code, graphic_type=hd.sr.GraphicTypeValues3D[spec.graphic],
                                     graphic_data=data, frame_of_reference_uid=frame_of_reference,
                                     relationship_type=_INFERRED)


def _texts(obj: object, kind: S.Kind) -> list[hd.sr.TextContentItem]:
    out = []
    for spec in (f for f in kind.fields + S.COMMON if isinstance(f, S.Text)):
        value = _get(obj, spec.field)
        for text in (value if spec.multi else (value,)) if value is not None else ():
            if str(text):
                out.append(hd.sr.TextContentItem(name=spec.code, value=str(text), relationship_type=_CONTAINS))
    normal = getattr(obj, "normal", None)
    if normal is not None:
        out.append(hd.sr.TextContentItem(name=S.NORMAL, value=normal.text, relationship_type=_CONTAINS))
    citation = normal.source if normal is not None else kind.citation
    if citation:
        out.append(hd.sr.TextContentItem(name=S.METHOD_CITATION, value=citation, relationship_type=_CONTAINS))
    return out


def _source_images(volume: ImageVolume, refs: list[ImageRef], points: list[np.ndarray],
                   uid: Callable[[str], str]) -> list[tuple[str, str, list[int] | None]]:
    """(SOP class, SOP instance, frames) of the first and last slice the points lie on."""
    if not points:
        return []
    from miss_imaging.sharing.sr.read import lps_to_index

    k = lps_to_index(volume, np.vstack([p.reshape(-1, 3) for p in points]))[:, 0]
    ks = np.clip(np.round(k).astype(int), 0, len(refs) - 1)
    out = []
    for i in sorted({int(ks.min()), int(ks.max())}):
        r = refs[i]
        out.append((r.sop_class_uid, uid(r.sop_instance_uid), None if r.frame_number is None else [r.frame_number]))
    return out


def spine_group(obj: object, volume: ImageVolume, refs: list[ImageRef], uid: Callable[[str], str],
                notes: list[str]) -> tuple[Any, list, bool]:
    """(TID 1501 group, source images, has SCOORD3D) for one spine result; notes say what was left out."""
    kind = S.kind_of(obj)
    if kind is None:
        raise SRError(f"{type(obj).__name__} is not a spine result")
    name = type(obj).__name__
    method = _method(str(getattr(obj, "calibration", "")))
    nums: dict[str, Any] = {}
    for num in (f for f in kind.fields if isinstance(f, S.Num)):
        value = _get(obj, num.field)
        if value is None and num.optional:
            continue
        nums[num.field] = hd.sr.Measurement(name=num.code, value=float(value), unit=C.UNITS[num.unit], method=method)
        if num.modifier is not None:
            nums[num.field][0].ContentSequence.append(hd.sr.CodeContentItem(
                name=S.TOPOGRAPHICAL_MODIFIER, value=num.modifier,
                relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD))
    frame = volume.frame_of_reference_uid
    points = []
    for where in (f for f in kind.fields if isinstance(f, S.Points)):
        value = _get(obj, where.field)
        if value is None or where.on not in nums:
            continue
        if not frame:
            notes.append(f"{name}: {where.field} not written ({volume.label} has no Frame of Reference UID for "
                         "SCOORD3D); its values are written")
            continue
        pts = np.asarray(value, dtype=np.float64)
        nums[where.on][0].ContentSequence.append(_scoord3d(where, pts, uid(frame)))
        points.append(pts)
    images = _source_images(volume, refs, points, uid)
    site = S.site_of(obj)
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=S.TRACKING_PREFIX + name),
        finding_type=kind.finding, finding_sites=[hd.sr.FindingSite(site)] if site is not None else None,
        measurements=list(nums.values()),
        source_images=[hd.sr.SourceImageForMeasurementGroup(c, s, f) for c, s, f in images] or None)
    group[0].ContentSequence.extend(_texts(obj, kind))
    return group, images, bool(points)


# -- reading ----------------------------------------------------------------------------------------------------------


def _code(item: Dataset, attr: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    seq = item.get(attr)
    return (str(seq[0].get("CodeValue", "")), str(seq[0].get("CodingSchemeDesignator", ""))) if seq else ("", "")


def _key(code: Any) -> tuple[str, str]:
    return (str(code.value), str(code.scheme_designator))


def _modifier(num: Dataset) -> tuple[str, str] | None:
    """The Topographical modifier (106233006, SCT) of a NUM, None without one."""
    mods = [_code(c, "ConceptCodeSequence") for c in num.get("ContentSequence", [])
            if c.ValueType == "CODE" and _code(c) == _key(S.TOPOGRAPHICAL_MODIFIER)]
    return mods[0] if mods else None


def is_spine_group(tracking: str) -> bool:
    """True when a group's Tracking Identifier marks a miss-imaging spine result."""
    return tracking.startswith(S.TRACKING_PREFIX)


def _read_items(group: Dataset, kind: S.Kind, label: str) -> tuple[dict[str, Any], str | None]:
    """{field path: value} of a group's NUM, SCOORD3D and TEXT items, and the normal-range text."""
    fields = kind.fields + S.COMMON
    by_code: dict[tuple, Any] = {(_key(f.code), type(f)): f for f in fields if not isinstance(f, S.Num)}
    by_code |= {(_key(f.code), f.modifier and _key(f.modifier), S.Num): f for f in fields if isinstance(f, S.Num)}
    values: dict[str, Any] = {f.field: [] for f in fields if isinstance(f, S.Text) and f.multi}
    normal = None
    for item in group.get("ContentSequence", []):
        code = _code(item)
        if item.ValueType == "TEXT":
            spec = by_code.get((code, S.Text))
            if spec is not None and spec.multi:
                values[spec.field].append(str(item.TextValue))
            elif spec is not None:
                values[spec.field] = str(item.TextValue)
            elif code == _key(S.NORMAL):
                normal = str(item.TextValue)
        elif item.ValueType == "NUM":
            spec = by_code.get((code, _modifier(item), S.Num))
            if spec is None:
                continue
            mv = item.MeasuredValueSequence[0]
            unit = _code(mv, "MeasurementUnitsCodeSequence")
            if unit != _key(C.UNITS[spec.unit]):
                raise SRError(f"{label}: {spec.field} is in {unit[0]!r}, not {spec.unit!r}; skipped")
            values[spec.field] = float(mv.FloatingPointValue) if "FloatingPointValue" in mv else float(mv.NumericValue)
            for sub in item.get("ContentSequence", []):
                pspec = by_code.get((_code(sub), S.Points)) if sub.ValueType == "SCOORD3D" else None
                if pspec is not None:
                    pts = np.asarray(sub.GraphicData, dtype=np.float64).reshape(-1, 3)
                    values[pspec.field] = pts[0] if pspec.graphic == "POINT" else pts
    return values, normal


def _normal_range(text: str | None) -> Any:
    """The published range of :mod:`miss_imaging.spine.norms` whose text was stored, else None."""
    from miss_imaging.spine import norms

    ranges = [v for v in vars(norms).values() if isinstance(v, norms.NormalRange)]
    return next((r for r in ranges if r.text == text), None)


def read_spine_group(group: Dataset, tracking: str, label: str) -> object:
    """The spine result a group written by :func:`spine_group` stores (SRError naming what is missing)."""
    kind = S.KINDS.get(tracking[len(S.TRACKING_PREFIX):])
    if kind is None:
        raise SRError(f"{label}: unknown spine result type {tracking!r}; skipped")
    values, normal = _read_items(group, kind, label)
    for spec in kind.fields + S.COMMON:
        if isinstance(spec, S.Text) and spec.multi:
            values[spec.field] = tuple(values[spec.field])
        elif spec.field not in values and (spec.optional or isinstance(spec, S.Text)):
            values[spec.field] = None if spec.optional else ""  # absent: None, or an empty text
    kwargs = {k: v for k, v in values.items() if "." not in k}
    for prefix, cls in kind.nested:
        sub = {k.split(".", 1)[1]: v for k, v in values.items() if k.startswith(prefix + ".")}
        kwargs[prefix] = _build(cls, sub, label)
    if hasattr(kind.cls, "__dataclass_fields__") and "normal" in kind.cls.__dataclass_fields__:
        found = _normal_range(normal)
        if found is not None or kind.cls.__dataclass_fields__["normal"].default is None:
            kwargs["normal"] = found
    if kind.cls.__name__ == "Screw" and "entry_lps" in kwargs and "tip_lps" in kwargs:
        d = kwargs["tip_lps"] - kwargs["entry_lps"]
        kwargs["axis"] = d / np.linalg.norm(d)
    return _build(kind.cls, kwargs, label)


def _build(cls: type, kwargs: dict[str, Any], label: str) -> object:
    known = set(getattr(cls, "__dataclass_fields__", {}))
    try:
        return cls(**{k: v for k, v in kwargs.items() if k in known})
    except TypeError as exc:  # a required value is not in the group
        raise SRError(f"{label}: incomplete {cls.__name__} ({exc}); skipped") from None
