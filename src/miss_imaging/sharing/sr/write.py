"""Measurements -> DICOM Structured Report, TID 1500 "Measurement Report" (highdicom).

Layout of one measurement (one TID 1501 Measurement Group)::

    CONTAINER Measurement Group (125007, DCM)
      TEXT  Tracking Identifier  "miss-imaging:<kind>"
      UIDREF Tracking Unique Identifier
      CODE  Finding = (CORNERSTONEFREETEXT, CST4, "<name>")     the user's name, as OHIF writes it
      IMAGE Source of measurement (group)                        slice / frame(s) measured on
      NUM   Length | Path length | Angle | Cobb angle  value + UCUM mm / deg / {pixels}
        CODE  HAS CONCEPT MOD Measurement Method = what the value rests on (99MISSIMG)
        SCOORD  INFERRED FROM  POLYLINE (column, row) -> IMAGE (SOP instance, frame)   or
        SCOORD3D INFERRED FROM POLYLINE (x, y, z) LPS mm in the Frame of Reference
        TEXT  HAS PROPERTIES Calibration (122505) = the label shown beside the value
        CODE  HAS PROPERTIES Calibration Method (122422) = CID 3452 code, when one fits
        NUM   HAS PROPERTIES Vertical / Horizontal Pixel Spacing (111066 / 111026) mm
        NUM   HAS PROPERTIES detector spacings (99MISSIMG) mm
        TEXT  HAS PROPERTIES Calibration Object (122421); NUM Calibration Object Size (122423) mm
        NUM   HAS PROPERTIES same concept, value at the detector plane, Method = In Detector Plane (113941)

Results of :mod:`miss_imaging.spine` are written as groups of their own
(all their values, definition, source, calibration and points):
:mod:`.spine_groups`.  Anything else is named in a warning and in
``report``, never dropped silently.

SCOORD pixel coordinates follow PS3.3 C.18.6.1.1: the top-left corner of
the top-left pixel is (0, 0), so the centre of pixel (row r, column c) is
(c + 0.5, r + 0.5); miss-imaging index coordinates put 0 at the centre,
hence the +0.5.  Graphic Data is FL (float32): coordinates keep ~7
significant digits (~1e-4 mm at 600 mm from the origin); the values are
exact (NUM, FD FloatingPointValue).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from miss_imaging import __version__
from miss_imaging.errors import SRError, warn_and_log
from miss_imaging.measurement.measure import Measurement
from miss_imaging.model import ImageVolume
from miss_imaging.sharing.sr import _codes as C
from miss_imaging.sharing.sr._refs import ImageRef, Package, evidence_headers, image_refs
from miss_imaging.sharing.sr.spine_groups import is_spine_result, spine_group

__all__ = ["save_sr", "MANUFACTURER"]

MANUFACTURER = "miss-imaging"
_PROPS = hd.sr.RelationshipTypeValues.HAS_PROPERTIES


def _on_one_slice(m: Measurement) -> int | None:
    """The slice index when every point lies exactly on one slice, else None."""
    k = np.asarray(m.points_index)[:, 0]
    r = np.round(k)
    return int(r[0]) if np.all(np.abs(k - r) < 1e-6) and len(set(r.tolist())) == 1 else None


def _image_item(ref: ImageRef, frames: Sequence[int], uid: Callable[[str], str]) -> tuple[str, str, list[int] | None]:
    sop = uid(ref.sop_instance_uid)
    return ref.sop_class_uid, sop, (sorted(set(frames)) if ref.frame_number is not None else None)


def _coordinates(m: Measurement, volume: ImageVolume, refs: list[ImageRef], uid: Callable[[str], str]) -> tuple[Any, list]:
    """(SCOORD or SCOORD3D content item, [(sop class, sop uid, frames)] of the images measured on)."""
    idx = np.asarray(m.points_index, dtype=np.float64)
    ks = sorted(set(int(round(v)) for v in idx[:, 0]))
    if volume.kind == "projection" or _on_one_slice(m) is not None:
        # (column, row) in the image, 0 = top-left corner of the first pixel
        ref = refs[ks[0]]
        frames = [refs[k].frame_number for k in ks if refs[k].frame_number is not None]
        if len(ks) > 1:  # a SCOORD lies in one image plane: (column, row) cannot say which frame each point is on
            raise SRError(f"{m.name or m.kind}: its points lie on frames {ks[0]}..{ks[-1]} of {volume.label}; "
                          "a 2-D SCOORD lies in one frame (measure on one frame)")
        cls, sop, fr = _image_item(ref, frames, uid)  # type: ignore[arg-type]
        data = np.column_stack([idx[:, 2] + 0.5, idx[:, 1] + 0.5]).astype(np.float32)
        item: Any = hd.sr.CoordinatesForMeasurement(
            graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=data,
            source_image=hd.sr.SourceImageForRegion(cls, sop, fr))
        return item, [(cls, sop, fr)]
    if not volume.frame_of_reference_uid or m.points_patient is None:
        raise SRError(f"{m.name or m.kind}: spans slices but {volume.label} has no Frame of Reference UID for SCOORD3D")
    item = hd.sr.CoordinatesForMeasurement3D(
        graphic_type=hd.sr.GraphicTypeValues3D.POLYLINE,
        graphic_data=np.asarray(m.points_patient, dtype=np.float32),
        frame_of_reference_uid=uid(volume.frame_of_reference_uid))
    return item, [_image_item(refs[k], [refs[k].frame_number or 1], uid) for k in (ks[0], ks[-1])]


def _num(name: Any, value: Any, unit: str, rel: Any = _PROPS) -> hd.sr.NumContentItem:
    return hd.sr.NumContentItem(name=name, value=float(value), unit=C.UNITS[unit], relationship_type=rel)


def _calibration_items(m: Measurement) -> list:
    """HAS PROPERTIES children of the value: what its mm rest on (see module docstring)."""
    items: list = [hd.sr.TextContentItem(name=C.CALIBRATION, value=m.calibration[:1024], relationship_type=_PROPS)]
    cal = m.calibration_detail
    if cal is None:
        return items
    std = C.cid3452(C.source_of(cal.source, cal.label), cal.label)
    if std is not None:
        items.append(hd.sr.CodeContentItem(name=C.CALIBRATION_METHOD, value=std, relationship_type=_PROPS))
    if cal.has_mm:
        items += [_num(C.VERTICAL_SPACING, cal.row_mm, "mm"), _num(C.HORIZONTAL_SPACING, cal.col_mm, "mm")]
    if cal.detector_row_mm is not None and cal.detector_col_mm is not None:
        items += [_num(C.DETECTOR_VERTICAL, cal.detector_row_mm, "mm"),
                  _num(C.DETECTOR_HORIZONTAL, cal.detector_col_mm, "mm")]
    if cal.source == "user":
        from miss_imaging.sharing.sr.read import parse_user_label

        parsed = parse_user_label(cal.label)
        if parsed is not None:
            items += [hd.sr.TextContentItem(name=C.CALIBRATION_OBJECT, value=parsed[0], relationship_type=_PROPS),
                      _num(C.CALIBRATION_OBJECT_SIZE, parsed[1], "mm")]
    if m.detector_mm is not None and cal.source != "detector" and m.unit == "mm":
        det = _num(C.CONCEPT[m.kind], m.detector_mm, "mm")
        method: Any = [hd.sr.CodeContentItem(
            name=codes.SCT.MeasurementMethod, value=C.IN_DETECTOR_PLANE,
            relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD)]
        det.ContentSequence = method
        items.append(det)
    return items


def _method(m: Measurement) -> Any:
    cal = m.calibration_detail
    source = C.source_of(cal.source, cal.label) if cal is not None else "geometry"
    code = C.METHODS.get(source, C.METHODS["volume"])
    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


def _group(m: Measurement, name: str, volume: ImageVolume, refs: list[ImageRef], uid: Callable[[str], str]) -> tuple:
    if m.kind not in C.CONCEPT:
        raise SRError(f"measurement kind {m.kind!r} cannot be written to SR (distance, path, angle, cobb)")
    if m.unit not in C.UNITS:
        raise SRError(f"{name or m.kind}: unit {m.unit!r} has no UCUM code here (mm, deg, px)")
    coord, images = _coordinates(m, volume, refs, uid)
    value = hd.sr.Measurement(name=C.CONCEPT[m.kind], value=float(m.value), unit=C.UNITS[m.unit],
                              method=_method(m), referenced_coordinates=[coord])
    value[0].ContentSequence.extend(_calibration_items(m))
    finding = hd.sr.CodedConcept(C.FREE_TEXT[0], C.FREE_TEXT[1], name[:64]) if name else None
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"miss-imaging:{m.kind}"),
        finding_type=finding, measurements=[value],
        source_images=[hd.sr.SourceImageForMeasurementGroup(c, s, f) for c, s, f in images])
    return group, images


def _safe_name(m: Measurement, volume: ImageVolume, deidentified: bool, notes: list[str]) -> str:
    """The user's name, or "" in a de-identified SR when it contains the patient's identifiers."""
    if not deidentified or not m.name:
        return m.name
    from miss_imaging.sharing.deid import find_identifiers, identifier_variants

    if find_identifiers(m.name, identifier_variants(volume.patient or {})):
        notes.append(f"the name of a {m.kind} contained a patient identifier; left out of the de-identified SR")
        return ""
    return m.name


def _check(measurements: Sequence[Any], volume: ImageVolume) -> None:
    if not measurements:
        raise SRError("no measurement to write")
    for m in (m for m in measurements if isinstance(m, Measurement)):
        if m.series_uid and volume.series_uid and m.series_uid != volume.series_uid:
            raise SRError(f"{m.name or m.kind} was made on series {m.series_label or m.series_uid}, "
                          f"not on {volume.label}: write one SR per series")


def _all_groups(items: Sequence[Any], volume: ImageVolume, refs: list[ImageRef], uid: Callable[[str], str],
                deidentified: bool, notes: list[str]) -> tuple[list, list, bool]:
    """(groups, their source images, any SCOORD3D) for measurements and spine results; the rest named in notes."""
    groups, images, is3d = [], [], False
    for m in items:
        try:
            if isinstance(m, Measurement):
                g, im = _group(m, _safe_name(m, volume, deidentified, notes), volume, refs, uid)
                is3d |= _on_one_slice(m) is None and volume.kind != "projection"
            elif is_spine_result(m):
                g, im, with_points = spine_group(m, volume, refs, uid, notes)
                is3d |= with_points
            else:
                notes.append(f"not written: {_described(m)} has no DICOM SR form here (measurements and "
                             "miss_imaging.spine results only)")
                continue
        except SRError as exc:
            notes.append(f"not written: {exc}")
            continue
        groups.append(g)
        images += im
    return groups, images, is3d


def _described(obj: Any) -> str:
    """``Vertebra 'L4'``: the type of an object and its label, if it has one."""
    label = next((getattr(obj, a) for a in ("label", "name", "level") if isinstance(getattr(obj, a, None), str)), "")
    return f"{type(obj).__name__}{f' {label!r}' if label else ''}"


def _procedure(volume: ImageVolume) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure")


def save_sr(
    measurements: Iterable[Any],
    volume: ImageVolume,
    path: str | Path,
    *,
    deidentified: bool = False,
    package: Package | None = None,
    series_number: int = 900,
    report: list[str] | None = None,
) -> Path:
    """Write the measurements of one series as a TID 1500 Comprehensive (3D) SR.

    Parameters
    ----------
    measurements : iterable of Measurement or spine results
        Distances, paths, angles and Cobb angles made on `volume` (index
        points of that volume), and results of :mod:`miss_imaging.spine`
        made on it (DiscHeight, SpineAngle, Slip, Canal, Foramen, Breach,
        Screw, ScrewPlan, AccessPlan; LPS points), each one group with all
        its values (:mod:`.spine_groups`).
    volume : ImageVolume
        The series they were made on, with its source files (their SOP
        instances are referenced).
    path : str or Path
        Output ``.dcm``.
    deidentified : bool
        Write no patient identity and reference the de-identified copy of
        the series (PS3.15 Basic Profile) written into `package`.  Forced on
        in teaching mode (:func:`miss_imaging.get_teaching_mode`).
    package : Package, optional
        The de-identified export this SR belongs to (shared with the SC and
        KOS of the same export).  Default: a new one whose images go to
        ``<path without .dcm>_images/``.
    series_number : int
        Series Number of the SR series.
    report : list of str, optional
        Receives one line per item (or part of one) left out, naming it and
        why; the same lines are warned.

    Returns
    -------
    Path

    Notes
    -----
    Comprehensive 3D SR when a measurement spans CT slices (SCOORD3D in
    patient LPS mm), Comprehensive SR otherwise.  Each measurement is one
    TID 1501 group; see the module docstring for its items and where the
    calibration goes.

    Raises
    ------
    SRError
        No measurement, a measurement from another series, a volume without
        source files, or none that can be written.

    Warns
    -----
    MissImagingWarning
        For each measurement left out (unknown kind or unit, points on
        several frames of a projection), each object that has no SR form
        (named by its type), and each name left out of a de-identified SR
        because it contains a patient identifier.
    """
    from miss_imaging.settings import get_teaching_mode

    items = list(measurements)
    _check(items, volume)
    ms = [m for m in items if isinstance(m, Measurement)]
    path = Path(path)
    deidentified = deidentified or get_teaching_mode() or package is not None
    if deidentified and package is None:
        package = Package(path.with_name(path.stem + "_images"))
    uid = package.uid if package is not None else (lambda u: u)
    refs = image_refs(volume)
    notes: list[str] = []
    groups, images, is3d = _all_groups(items, volume, refs, uid, deidentified, notes)
    if report is not None:
        report.extend(notes)
    if not groups:
        raise SRError("no measurement could be written: " + "; ".join(notes))
    for note in notes:
        warn_and_log(f"{path.name}: {note}")
    # results without points (disc heights, angles, slips) rest on the whole series: all of it is evidence
    sops = {s for _, s, _ in images} or {uid(r.sop_instance_uid) for r in refs}
    evidence = evidence_headers(volume, sops, package)
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=MANUFACTURER, manufacturer_name=MANUFACTURER, model_name=__version__))
    document = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=_procedure(volume), imaging_measurements=groups)
    cls = hd.sr.Comprehensive3DSR if is3d else hd.sr.ComprehensiveSR
    sr = cls(evidence=evidence, content=document[0], series_instance_uid=hd.UID(), series_number=series_number,
             sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
             series_description="miss-imaging measurements", is_complete=True)
    sr.CodingSchemeIdentificationSequence = C.coding_schemes(any(m.name for m in ms))
    sr.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: definitions and names hold →, ≥, ±, ², Ø
    if deidentified:
        _mark_deidentified(sr)
    path.parent.mkdir(parents=True, exist_ok=True)
    sr.save_as(path, enforce_file_format=True)
    return path


def _mark_deidentified(ds: Any) -> None:
    """PatientIdentityRemoved and the method, as in the de-identified image copy."""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "miss-imaging: references a PS3.15 Basic Profile copy"
