"""DICOM SR / SC / KOS of measurements: validity (dciodvfy, highdicom), round trip, de-identification, bad input.

Geometry is checked against the DICOM definitions and the phantoms' truth
(PS3.3 C.18.6.1.1 pixel coordinates: the top-left corner of the first pixel
is (0, 0); SCOORD3D in LPS mm from the truth affine), not against our own
output.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

import miss_imaging as mi
from miss_imaging.errors import SRError
from miss_imaging.settings import set_teaching_mode
from miss_imaging.sharing.sr import Package, load_sr, save_annotated_sc, save_key_objects, save_sr

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(autouse=True)
def _clinician_mode():
    set_teaching_mode(False)  # identified objects unless a test asks; teaching mode is tested explicitly
    yield


@pytest.fixture(scope="module")
def ct(samples):
    return mi.load(samples / "spine_ct")


@pytest.fixture(scope="module")
def fl(samples):
    return mi.load(samples / "fluoro" / "FLUORO_XA.dcm")


@pytest.fixture(scope="module")
def dx(samples):
    return mi.load(samples / "radiograph" / "DX_LSPINE_AP.dcm")


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True)
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]


def _items(ds, code=None, vt=None):
    """Every content item (depth first) with concept code value `code` and/or value type `vt`."""
    for it in ds.get("ContentSequence", []):
        c = it.ConceptNameCodeSequence[0] if "ConceptNameCodeSequence" in it else None
        cv = (c.get("CodeValue") or c.get("LongCodeValue")) if c is not None else None
        if (code is None or cv == code) and (vt is None or it.ValueType == vt):
            yield it
        yield from _items(it, code, vt)


def _ct_set(ct):
    return [
        mi.measure_distance(ct, (20, 30, 40), (20, 90, 70), name="canal"),
        mi.measure_path(ct, [(20, 30, 40), (20, 60, 50), (20, 90, 80)], name="curve"),
        mi.measure_angle(ct, (20, 30, 40), (20, 60, 60), (20, 30, 90), name="vertex"),
        mi.measure_cobb(ct, [(20, 30, 40), (20, 40, 90)], [(20, 100, 40), (20, 90, 90)], name="endplates"),
        mi.measure_distance(ct, (5, 30, 40), (50, 90, 70), name="across slices"),
        mi.measure_cobb(ct, [(5, 30, 40), (5, 40, 90)], [(50, 100, 40), (50, 90, 90)]),
    ]


def _proj_set(vol, frame, cal=None):
    return [
        mi.measure_distance(vol, (frame, 40.2, 50.7), (frame, 120.4, 160.1), name="bead", calibration=cal),
        mi.measure_path(vol, [(frame, 40, 50), (frame, 80, 90), (frame, 100, 160)], name="rod", calibration=cal),
        mi.measure_angle(vol, (frame, 40, 50), (frame, 100, 100), (frame, 40, 150), name="", calibration=cal),
        mi.measure_cobb(vol, [(frame, 60, 40), (frame, 70, 200)], [(frame, 200, 40), (frame, 180, 200)],
                        name="Cobb L1-L5", calibration=cal),
    ]


def _assert_same(orig, back):
    assert len(back) == len(orig), back.skipped
    for a, b in zip(orig, back):
        assert (b.kind, b.name, b.unit, b.calibration) == (a.kind, a.name, a.unit, a.calibration)
        assert b.value == pytest.approx(a.value, abs=1e-6)
        # Graphic Data is FL (float32): points keep ~7 significant digits
        np.testing.assert_allclose(b.points_index, a.points_index, atol=2e-4)
        assert b.frame_indices == a.frame_indices
        if a.detector_mm is None or a.calibration_detail.source == "detector":
            assert b.detector_mm is None or b.detector_mm == pytest.approx(a.detector_mm, abs=1e-6)
        else:
            assert b.detector_mm == pytest.approx(a.detector_mm, abs=1e-6)
        if a.calibration_detail is not None:
            ca, cb = a.calibration_detail, b.calibration_detail
            assert cb.label == ca.label
            for f in ("row_mm", "col_mm", "detector_row_mm", "detector_col_mm"):
                va, vb = getattr(ca, f), getattr(cb, f)
                assert (va is None and vb is None) or vb == pytest.approx(va, rel=1e-12)
        assert b.warnings == a.warnings  # nothing added on reload (no disagreement)


# --------------------------------------------------------------------------- round trips


def test_ct_round_trip_scoord_on_slice_and_scoord3d_in_lps(ct, truth, samples, tmp_path):
    ms = _ct_set(ct)
    path = save_sr(ms, ct, tmp_path / "ct.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR (points span slices)
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    _assert_same(ms, load_sr(path, [ct]))
    # the spanning distance: SCOORD3D = LPS mm from the truth affine, in the CT's frame of reference
    aff = np.array(truth["spine_ct"]["affine"])
    s3 = [it for it in _items(ds, vt="SCOORD3D")]
    assert len(s3) == 2
    np.testing.assert_allclose(np.asarray(s3[0].GraphicData).reshape(-1, 3),
                               (aff @ np.array([[5, 30, 40, 1], [50, 90, 70, 1]]).T).T[:, :3], atol=1e-3)
    assert s3[0].ReferencedFrameOfReferenceUID == truth["spine_ct"]["frame_of_reference_uid"]
    # the slice measurement: SCOORD (column + 0.5, row + 0.5) on the file of slice 20
    sc = next(_items(ds, vt="SCOORD"))
    np.testing.assert_allclose(sc.GraphicData, [40.5, 30.5, 70.5, 90.5])
    sop = sc.ContentSequence[0].ReferencedSOPSequence[0]
    expected = pydicom.dcmread(samples / truth["spine_ct"]["folder"] / truth["spine_ct"]["files_in_array_order"][20],
                               stop_before_pixels=True)
    assert sop.ReferencedSOPInstanceUID == expected.SOPInstanceUID
    assert "ReferencedFrameNumber" not in sop  # single-frame CT: no frame number


def test_ct_distance_value_matches_truth_geometry(ct, truth, tmp_path):
    aff = np.array(truth["spine_ct"]["affine"])
    p = (aff @ np.array([[5, 30, 40, 1], [50, 90, 70, 1]]).T).T[:, :3]
    m = mi.measure_distance(ct, (5, 30, 40), (50, 90, 70))
    back = load_sr(save_sr([m], ct, tmp_path / "d.dcm"), [ct])
    assert back[0].value == pytest.approx(np.linalg.norm(p[1] - p[0]), abs=1e-6)


def test_fluoro_frame_round_trip_with_detector_value(fl, truth, tmp_path):
    lm = truth["fluoro"]["landmarks_px"]
    a, b = lm["bead_a"], lm["bead_b"]
    ms = [mi.measure_distance(fl, a, b, name="bead a-b")] + _proj_set(fl, 3)
    path = save_sr(ms, fl, tmp_path / "xa.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    _assert_same(ms, load_sr(path, [fl]))
    nums = [it for it in _items(ds, code="410668003", vt="NUM")]
    values = [float(n.MeasuredValueSequence[0].NumericValue) for n in nums]
    # the phantom's truth: 25.4 mm at the isocentre, 35.28 mm at the detector (ERMF 1.389)
    assert values[0] == pytest.approx(truth["fluoro"]["distances_mm"]["bead_a-bead_b"], abs=0.05)
    assert values[1] == pytest.approx(truth["fluoro"]["distances_mm_at_detector"]["bead_a-bead_b"], abs=0.07)
    assert nums[0].MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "mm"
    method = next(_items(nums[0], code="370129005"))
    assert method.ConceptCodeSequence[0].CodeMeaning == "magnification-corrected (ERMF)"
    detector = next(_items(nums[1], code="370129005"))
    assert detector.ConceptCodeSequence[0].CodeValue == "113941"  # In Detector Plane
    cal_method = next(_items(nums[0], code="122422"))
    assert cal_method.ConceptCodeSequence[0].CodeValue == "122486"  # Geometric Isocenter (CID 3452)
    vs = next(_items(nums[0], code="111066"))
    assert float(vs.MeasuredValueSequence[0].NumericValue) == pytest.approx(0.432)
    ref = next(_items(ds, vt="SCOORD")).ContentSequence[0].ReferencedSOPSequence[0]
    assert int(ref.ReferencedFrameNumber) == int(a[0]) + 1  # 1-based frame number
    assert ref.ReferencedSOPInstanceUID == pydicom.dcmread(fl.files[0], stop_before_pixels=True).SOPInstanceUID


def test_radiograph_round_trip_calibrated(dx, tmp_path):
    ms = _proj_set(dx, 0)
    assert ms[0].calibration == "calibrated (GEOMETRY)"
    back = load_sr(save_sr(ms, dx, tmp_path / "dx.dcm"), [dx])
    _assert_same(ms, back)
    ds = pydicom.dcmread(tmp_path / "dx.dcm")
    assert "ReferencedFrameNumber" not in next(_items(ds, vt="SCOORD")).ContentSequence[0].ReferencedSOPSequence[0]
    assert float(next(_items(ds, code="111026")).MeasuredValueSequence[0].NumericValue) == pytest.approx(0.425)


def test_user_and_pixel_calibrations_round_trip(fl, tmp_path):
    user = mi.user_calibration((3, 10, 10), (3, 10, 70), 25.0, "calibration sphere",
                               base=mi.measurement.measure.volume_calibration(fl))
    ms = _proj_set(fl, 5, user)
    back = load_sr(save_sr(ms, fl, tmp_path / "u.dcm"), [fl])
    _assert_same(ms, back)
    assert back[0].calibration_detail.source == "user"
    ds = pydicom.dcmread(tmp_path / "u.dcm")
    assert next(_items(ds, code="122421")).TextValue == "calibration sphere"
    assert float(next(_items(ds, code="122423")).MeasuredValueSequence[0].NumericValue) == 25.0
    from miss_imaging.measurement.calibration import PIXELS_ONLY

    px = _proj_set(fl, 2, PIXELS_ONLY)
    back = load_sr(save_sr(px, fl, tmp_path / "px.dcm"), [fl])
    _assert_same(px, back)
    assert back[0].unit == "px"


# --------------------------------------------------------------------------- validity


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_every_object_passes_dciodvfy_and_highdicom_reads_it(ct, fl, dx, tmp_path):
    paths = [
        save_sr(_ct_set(ct), ct, tmp_path / "ct.dcm"),
        save_sr(_proj_set(fl, 3), fl, tmp_path / "xa.dcm"),
        save_sr(_proj_set(dx, 0), dx, tmp_path / "dx.dcm"),
        save_annotated_sc(fl, tmp_path / "sc.dcm", measurements=_proj_set(fl, 3)),
        save_annotated_sc(fl, tmp_path / "cine.dcm", measurements=_proj_set(fl, 3), frames=range(10)),
        save_annotated_sc(ct, tmp_path / "ct_sc.dcm", measurements=_ct_set(ct)[:1]),
        save_key_objects(fl, tmp_path / "ko.dcm", frames=[3], note="tip at the pedicle",
                         also=[tmp_path / "xa.dcm", tmp_path / "sc.dcm"]),
    ]
    from miss_imaging.measurement.calibration import PIXELS_ONLY

    user = mi.user_calibration((3, 10, 10), (3, 10, 70), 25.0, "sphere", base=mi.measurement.measure.volume_calibration(fl))
    enh = mi.load(Path(ct.files[0]).parents[1] / "spine_ct_enhanced")
    paths += [save_sr(_proj_set(fl, 5, user), fl, tmp_path / "user.dcm"),
              save_sr(_proj_set(fl, 2, PIXELS_ONLY), fl, tmp_path / "px.dcm"),
              save_sr([mi.measure_distance(enh, (20, 30, 40), (20, 90, 70))], enh, tmp_path / "enh.dcm"),
              save_key_objects(ct, tmp_path / "ko_ct.dcm", frames=[10, 20], title="Of Interest")]
    pkg = Package(tmp_path / "pkg")
    paths += [save_sr(_proj_set(fl, 3), fl, tmp_path / "pkg" / "sr.dcm", package=pkg),
              save_annotated_sc(fl, tmp_path / "pkg" / "sc.dcm", package=pkg),
              save_key_objects(fl, tmp_path / "pkg" / "ko.dcm", package=pkg)]
    for p in paths:
        assert dciodvfy_errors(p) == [], p.name
    for p, n in zip(paths[:3], (6, 4, 4)):
        sr = hd.sr.srread(p)
        groups = sr.content.get_image_measurement_groups()
        assert len(groups) == n
        assert groups[0].get_measurements()[0].unit.value in ("mm", "deg")
    cine = pydicom.dcmread(paths[4])
    assert cine.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4" and int(cine.NumberOfFrames) == 10
    assert cine.pixel_array.shape[0] == 10 and cine.pixel_array.shape[-1] == 3
    assert [float(v) for v in cine.FrameTimeVector[:2]] == [0.0, 66.7]
    ko = hd.ko.KeyObjectSelectionDocument.from_dataset(pydicom.dcmread(paths[6]))
    assert len(ko.content.get_references()) == 3
    assert pydicom.dcmread(paths[6]).ConceptNameCodeSequence[0].CodeValue == "113004"  # For Teaching


# --------------------------------------------------------------------------- teaching


def _identifiers(truth):
    p = truth["patient"]
    return [p[k] for k in ("PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber", "InstitutionName",
                           "PatientBirthDate", "StudyID", "ReferringPhysicianName")] + ["SPINEPHANTOM"]


def test_deidentified_package_has_no_identity_and_references_the_copy(fl, truth, tmp_path):
    pkg = Package(tmp_path / "pkg")
    ms = _proj_set(fl, 3)
    named = ms[0].renamed("SPINEPHANTOM bead")  # a name typed with the patient's name
    with pytest.warns(mi.MissImagingWarning, match="contained a patient identifier; left out"):
        sr = save_sr([named] + ms[1:], fl, tmp_path / "pkg" / "sr.dcm", package=pkg)
    sc = save_annotated_sc(fl, tmp_path / "pkg" / "sc.dcm", measurements=ms, frames=range(10), package=pkg)
    ko = save_key_objects(fl, tmp_path / "pkg" / "ko.dcm", package=pkg, also=[sr, sc], note="tip")
    files = sorted((tmp_path / "pkg").rglob("*.dcm"))
    assert len(files) == 4
    for f in files:
        raw = f.read_bytes().upper()
        for ident in _identifiers(truth):
            assert ident.upper().encode() not in raw, (f.name, ident)
    copy = pydicom.dcmread(pkg.copies[fl.series_uid][0], stop_before_pixels=True)
    for f in (sr, sc, ko):
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        assert ds.StudyInstanceUID == copy.StudyInstanceUID != pydicom.dcmread(fl.files[0]).StudyInstanceUID
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.PatientName) == ""
    ref = next(_items(pydicom.dcmread(sr), vt="SCOORD")).ContentSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == copy.SOPInstanceUID
    assert pydicom.dcmread(sc).SourceImageSequence[0].ReferencedSOPInstanceUID == copy.SOPInstanceUID
    # the package opens consistently: the SR's measurements land on the de-identified copy
    opened = mi.load(pkg.copies[fl.series_uid][0])
    back = load_sr(sr, [opened])
    assert [m.name for m in back] == ["", "rod", "", "Cobb L1-L5"]
    assert back[0].value == pytest.approx(ms[0].value, abs=1e-6)
    # ... and not on the original (other UIDs), with a message
    on_original = load_sr(sr, [fl])
    assert on_original == [] and "not open" in on_original.skipped[0]
    assert "this SR is de-identified" in on_original.skipped[-1]


def test_teaching_mode_forces_deidentified(fl, truth, tmp_path):
    set_teaching_mode(True)
    path = save_sr(_proj_set(fl, 3), fl, tmp_path / "t" / "sr.dcm")
    ds = pydicom.dcmread(path)
    assert ds.PatientIdentityRemoved == "YES"
    assert (tmp_path / "t" / "sr_images").is_dir()
    for ident in _identifiers(truth):
        assert ident.upper().encode() not in path.read_bytes().upper()


# --------------------------------------------------------------------------- bad input and other tools


def test_not_an_sr_and_not_tid1500(fl, ct, tmp_path):
    with pytest.raises(SRError, match="not a DICOM Structured Report"):
        load_sr(ct.files[0])
    ko = save_key_objects(fl, tmp_path / "ko.dcm", frames=[0])
    with pytest.raises(SRError, match="not a DICOM Structured Report|not a TID 1500"):
        load_sr(ko)
    ds = pydicom.dcmread(save_sr(_proj_set(fl, 3), fl, tmp_path / "sr.dcm"))
    ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"
    ds.ConceptNameCodeSequence[0].CodeValue = "11528-7"
    ds.ConceptNameCodeSequence[0].CodingSchemeDesignator = "LN"
    ds.ConceptNameCodeSequence[0].CodeMeaning = "Radiology Report"
    ds.save_as(tmp_path / "basic.dcm")
    with pytest.raises(SRError, match="not a TID 1500 Measurement Report: template 2000, title 'Radiology Report'"):
        load_sr(tmp_path / "basic.dcm")
    with pytest.raises(SRError, match="cannot read"):
        load_sr(tmp_path / "missing.dcm")


def test_unknown_unit_and_images_not_open_are_named(fl, dx, tmp_path):
    path = save_sr(_proj_set(fl, 3), fl, tmp_path / "sr.dcm")
    ds = pydicom.dcmread(path)
    unit = next(_items(ds, code="410668003", vt="NUM")).MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0]
    unit.CodeValue, unit.CodeMeaning = "[furlong_i]", "furlong"
    ds.save_as(tmp_path / "furlong.dcm")
    back = load_sr(tmp_path / "furlong.dcm", [fl])
    assert len(back) == 3
    assert back.skipped == ["group 1 (bead): unit '[furlong_i]' (furlong) is not a known length unit; skipped"]
    other = load_sr(path, [dx])
    assert len(other) == 0 and len(other.skipped) == 4
    assert all("which is not open; not placed" in s and "frame 4" in s for s in other.skipped)


def test_write_refuses_measurements_of_another_series(fl, dx, tmp_path):
    with pytest.raises(SRError, match="one SR per series"):
        save_sr(_proj_set(dx, 0), fl, tmp_path / "x.dcm")
    with pytest.raises(SRError, match="no measurement"):
        save_sr([], fl, tmp_path / "x.dcm")


def test_reads_another_tools_tid1500(fl, tmp_path):
    """An OHIF-like report: Length in cm with its SCOORD, an Area group (skipped), a group without coordinates."""
    src = pydicom.dcmread(fl.files[0], stop_before_pixels=True)

    def group(name, value, unit, points):
        coords = [] if points is None else [hd.sr.CoordinatesForMeasurement(
            graphic_type="POLYLINE", graphic_data=np.array(points, dtype=np.float32),
            source_image=hd.sr.SourceImageForRegion(src.SOPClassUID, src.SOPInstanceUID, [2]))]
        m = hd.sr.Measurement(name=name, value=value, unit=unit, referenced_coordinates=coords or None)
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="Cornerstone3DTools@^0.1.0:Length"),
            measurements=[m])

    groups = [group(pydicom.sr.codedict.codes.SCT.Length, 2.5, pydicom.sr.codedict.codes.UCUM.Centimeter,
                    [[10.5, 20.5], [70.5, 100.5]]),
              group(pydicom.sr.codedict.codes.SCT.Area, 3.0, pydicom.sr.coding.Code("mm2", "UCUM", "mm2"),
                    [[10.5, 20.5], [70.5, 100.5], [10.5, 100.5], [10.5, 20.5]]),
              group(pydicom.sr.codedict.codes.SCT.Angle, 30.0, pydicom.sr.codedict.codes.UCUM.Degree, None)]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(),
        procedure_reported=hd.sr.CodedConcept("363679005", "SCT", "Imaging procedure"), imaging_measurements=groups)
    sr = hd.sr.ComprehensiveSR(evidence=[src], content=report[0], series_instance_uid=hd.UID(), series_number=5,
                               sop_instance_uid=hd.UID(), instance_number=1, manufacturer="other")
    sr.save_as(tmp_path / "other.dcm")
    back = load_sr(tmp_path / "other.dcm", [fl])
    assert len(back) == 1
    m = back[0]
    assert (m.kind, m.unit, m.value) == ("distance", "mm", pytest.approx(25.0))
    np.testing.assert_allclose(m.points_index, [(1, 20, 10), (1, 100, 70)])  # frame 2 -> index 1; -0.5 px
    assert m.calibration == "magnification-corrected (ERMF)"  # the open image's own calibration
    assert "stored 25 mm; on the open image it measures" in m.warnings[0]
    assert any("'Area'" in s and "not a length or an angle" in s for s in back.skipped)
    assert any("no SCOORD/SCOORD3D coordinates" in s for s in back.skipped)


def test_demo_writes_sr_beside_png(tmp_path, truth):
    from miss_imaging.demo import demo_scene
    from miss_imaging.demo.sr import write_demo_sr

    items = demo_scene()
    png = tmp_path / "demo.png"
    for _ in range(2):  # a second run replaces its own previous output
        assert "de-identified" in write_demo_sr(items, png)
    srs = sorted((tmp_path / "demo_sr").glob("*_sr.dcm"))
    assert [p.name for p in srs] == ["lumbar_ct_sr.dcm", "lumbar_lateral_sr.dcm"]
    for it in items:
        sr = tmp_path / "demo_sr" / f"{it.key}_sr.dcm"
        copy = mi.load(sorted((tmp_path / "demo_sr").glob("images_*"))[items.index(it)])
        back = load_sr(sr, [copy])
        assert [m.value for m in back] == pytest.approx([m.value for m in it.measurements], abs=1e-6)
    (tmp_path / "demo_sr" / "mine.txt").write_text("x")
    assert "not written" in write_demo_sr(items, png)


def test_enhanced_ct_frames_by_position(samples, truth, ct, tmp_path):
    """Enhanced CT: the SCOORD names the stored frame holding the slice (stored order differs from array order)."""
    enh = mi.load(samples / "spine_ct_enhanced")
    ms = [mi.measure_distance(enh, (20, 30, 40), (20, 90, 70), name="on slice"),
          mi.measure_distance(enh, (5, 30, 40), (50, 90, 70), name="across")]
    path = save_sr(ms, enh, tmp_path / "enh.dcm")
    ref = next(_items(pydicom.dcmread(path), vt="SCOORD")).ContentSequence[0].ReferencedSOPSequence[0]
    stored = truth["spine_ct_enhanced"]["stored_frame_to_array_index"]
    assert stored[int(ref.ReferencedFrameNumber) - 1] == 20
    back = load_sr(path, [ct, enh])  # same frame of reference: the SCOORD3D goes to the series measured on
    _assert_same(ms, back)
    assert all(m.series_uid == enh.series_uid for m in back)


def test_measurements_that_cannot_be_written_are_left_out_with_a_warning(fl, tmp_path):
    spanning = mi.measure_distance(fl, (2, 40, 50), (6, 120, 160), name="two frames")
    good = mi.measure_distance(fl, (3, 40, 50), (3, 120, 160), name="one frame")
    with pytest.warns(mi.MissImagingWarning, match="two frames: its points lie on frames 2..6 .*measure on one frame"):
        path = save_sr([spanning, good], fl, tmp_path / "sr.dcm")
    assert [m.name for m in load_sr(path, [fl])] == ["one frame"]
    with pytest.raises(SRError, match="no measurement could be written"):
        save_sr([spanning], fl, tmp_path / "none.dcm")


def test_irregular_stack_scoord3d_round_trip(samples, tmp_path):
    """A series with a missing slice: SCOORD3D points go back through the true slice positions."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gap = mi.load(samples / "hostile" / "gap")
    assert not gap.regular
    ms = [mi.measure_distance(gap, (0.5, 10, 10), (gap.shape[0] - 1.25, 20, 25), name="across the gap"),
          mi.measure_path(gap, [(0, 5, 5), (2.5, 10, 20), (gap.shape[0] - 1, 30, 30)])]
    _assert_same(ms, load_sr(save_sr(ms, gap, tmp_path / "gap.dcm"), [gap]))
