"""Spine results in the DICOM SR (field problem: save_sr dropped them without a word).

Every result type of :mod:`miss_imaging.spine`, measured on the anatomical phantom
``sample_dicoms/lumbar_ct``, is written by ``save_sr`` as one TID 1501 group and read back by
``load_sr`` as the same object (values exact, points to float32).  The items are checked against
PS3.16 / UCUM codes, PS3.3 (closed polygons, Frame of Reference), dciodvfy and highdicom's reader;
an object with no SR form is named in a warning and in the report, never dropped silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest

from miss_imaging.errors import MissImagingWarning, SRError
from miss_imaging.measurement.measure import measure_distance
from miss_imaging.reading.loader import load
from miss_imaging.settings import set_teaching_mode
from miss_imaging.sharing.sr import load_sr, save_sr
from miss_imaging.spine import (AccessPlan, Breach, Canal, DiscHeight, Screw, ScrewPlan, Slip, SpineAngle, Vertebra,
                                access_plan, breach, canal, disc_angle, disc_height, find_screws, lordosis, norms,
                                plan_screw, slip)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture(autouse=True)
def _clinician_mode():
    set_teaching_mode(False)  # identified SR: the de-identified copy is tested in test_sr.py
    yield


@pytest.fixture(scope="module")
def ct(samples):
    return load(samples / "lumbar_ct")


@pytest.fixture(scope="module")
def results(ct, truth):
    """One of each spine result type, on the phantom's truth corners, canal, screws and pedicles."""
    t = truth["lumbar_ct"]
    v = {n: Vertebra(n, t["levels"][n]["corners_lps_mm"]) for n in ("L1", "L3", "L4", "L5", "S1")}
    c = t["levels"]["L3"]["canal"]
    screw = next(s for s in find_screws(ct) if breach(ct, s).direction)  # the medially breaching L4 left screw
    p = t["levels"]["L3"]["pedicles"]["left"]
    mid, ax = np.array(p["isthmus_center_lps_mm"]), np.array(p["axis_lps"])
    return [disc_height(v["L4"], v["L5"]), slip(v["L4"], v["L5"]), disc_angle(v["L4"], v["L5"]),
            lordosis(list(v.values()), "L1", "S1"), canal(ct, c["centroid_lps_mm"], normal=c["plane_normal_lps"]),
            screw, breach(ct, screw), plan_screw(ct, mid - 20.0 * ax, mid + 25.0 * ax),
            access_plan(ct, mid + 25.0 * ax, mid - 20.0 * ax)]


def _items(ds, code=None, vt=None):
    for it in ds.get("ContentSequence", []):
        c = it.ConceptNameCodeSequence[0] if "ConceptNameCodeSequence" in it else None
        if (code is None or (c is not None and (c.CodeValue, c.CodingSchemeDesignator) == code)) and \
                (vt is None or it.ValueType == vt):
            yield it
        yield from _items(it, code, vt)


def _same(a, b, path=""):
    """Field-by-field equality: floats exact to 1e-6, LPS points to float32 (1e-3 mm), nested results alike."""
    assert type(a) is type(b), path
    for f in a.__dataclass_fields__:
        va, vb = getattr(a, f), getattr(b, f)
        if isinstance(va, float):
            assert vb == pytest.approx(va, abs=1e-6), f"{path}{f}"
        elif isinstance(va, np.ndarray):
            assert vb.shape == va.shape, f"{path}{f}"
            np.testing.assert_allclose(vb, va, atol=1e-3, err_msg=f"{path}{f}")
        elif hasattr(va, "__dataclass_fields__") and not isinstance(va, norms.NormalRange):
            _same(va, vb, f"{path}{f}.")
        else:
            assert vb == va, f"{path}{f}"


def test_every_spine_result_round_trips(ct, results, tmp_path):
    report: list[str] = []
    path = save_sr(results, ct, tmp_path / "spine.dcm", report=report)
    assert report == []
    back = load_sr(path, [ct])
    assert back.skipped == [] and list(back) == []  # spine results are not rulers
    assert [type(r).__name__ for r in back.spine] == [type(r).__name__ for r in results]
    for a, b in zip(results, back.spine):
        _same(a, b)
    # the flags and published ranges come back: the L4-L5 slip is flagged (Meyerding I), L1-S1 lordosis has a range
    assert back.spine[1].flags and back.spine[1].grade == "I"
    assert back.spine[3].normal is norms.LORDOSIS_L1_S1_RECUMBENT
    assert back.spine[6].direction == "medial" and back.spine[6].grade in "BCDE"


def test_items_use_standard_codes_and_ucum_units(ct, results, tmp_path):
    ds = pydicom.dcmread(save_sr(results, ct, tmp_path / "spine.dcm"))
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR: SCOORD3D points
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    units = {(n.ConceptNameCodeSequence[0].CodeMeaning, n.MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0]
              .CodeValue) for n in _items(ds, vt="NUM")}
    canal_ = results[4]
    # SCT Width (103355008) and Area (42798000) in UCUM mm / mm2; slip % (UCUM "%"); angles UCUM "deg"
    assert ("Width", "mm") in units and ("Area", "mm2") in units and ("Angle", "deg") in units
    assert ("Slip, percent of endplate length", "%") in units
    area = next(_items(ds, ("42798000", "SCT"), "NUM"))
    assert float(area.MeasuredValueSequence[0].FloatingPointValue) == canal_.area_mm2
    # disc heights: DCM Height (121207) with SCT Topographical modifier Anterior / Central / Posterior, in order
    heights = [n for n in _items(ds, ("121207", "DCM"), "NUM")]
    mods = [next(_items(n, ("106233006", "SCT"), "CODE")).ConceptCodeSequence[0].CodeValue for n in heights]
    assert mods == ["255549009", "26216008", "255551008"]
    assert [float(n.MeasuredValueSequence[0].FloatingPointValue) for n in heights] == \
        [results[0].anterior_mm, results[0].middle_mm, results[0].posterior_mm]
    # the disc level is the SCT finding site "Level of L4/L5 intervertebral disc" (243923001)
    sites = [it.ConceptCodeSequence[0].CodeValue for it in _items(ds, ("363698007", "SCT"), "CODE")]
    assert "243923001" in sites and "61853006" in sites  # ... and the vertebral canal
    # the canal outline: a closed POLYGON (PS3.3 C.18.9.1.2) in the CT's Frame of Reference, on the outline
    poly = next(it for it in _items(ds, vt="SCOORD3D") if it.GraphicType == "POLYGON")
    assert poly.ReferencedFrameOfReferenceUID == ct.frame_of_reference_uid
    pts = np.asarray(poly.GraphicData).reshape(-1, 3)
    np.testing.assert_array_equal(pts[0], pts[-1])
    np.testing.assert_allclose(pts, canal_.outline_lps, atol=1e-3)
    # definition, source and calibration are stated
    texts = {it.ConceptNameCodeSequence[0].CodeMeaning: it.TextValue for it in _items(ds, vt="TEXT")}
    assert texts["Calibration"] == "patient geometry (CT)"
    assert "Method Citation" in texts and "Measurement definition" in texts
    assert ds.SpecificCharacterSet == "ISO_IR 192" and "≥" in "".join(  # UTF-8: the definitions' symbols survive
        it.TextValue for it in _items(ds, vt="TEXT"))


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_spine_sr_passes_dciodvfy_and_highdicom_reads_it(ct, results, tmp_path):
    path = save_sr(results + [measure_distance(ct, (20, 100, 100), (20, 120, 130), name="ruler")], ct,
                   tmp_path / "spine.dcm")
    out = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True)
    assert [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")] == []
    groups = hd.sr.srread(path).content.get_image_measurement_groups()
    assert len(groups) == len(results) + 1
    slip_group = groups[1]
    assert slip_group.tracking_identifier == "miss-imaging:spine:Slip"
    assert [m.unit.value for m in slip_group.get_measurements()] == ["%", "mm"]


def test_what_has_no_sr_form_is_named_not_dropped(ct, results, tmp_path):
    report: list[str] = []
    vert = Vertebra("L4", [[0, -10, 10], [0, 20, 10], [0, 20, -10], [0, -10, -10]])
    with pytest.warns(MissImagingWarning, match="Vertebra 'L4'"):
        path = save_sr([results[1], vert], ct, tmp_path / "mixed.dcm", report=report)
    assert len(report) == 1 and "Vertebra 'L4'" in report[0] and "not written" in report[0]
    assert [type(r) for r in load_sr(path, [ct]).spine] == [Slip]
    with pytest.raises(SRError, match="Vertebra"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        save_sr([vert], ct, tmp_path / "none.dcm")


def test_measurements_and_spine_results_in_one_sr(ct, results, tmp_path):
    ruler = measure_distance(ct, (20, 100, 100), (20, 120, 130), name="ruler")
    back = load_sr(save_sr([ruler, results[0]], ct, tmp_path / "both.dcm"), [ct])
    assert [m.name for m in back] == ["ruler"] and back[0].value == pytest.approx(ruler.value, abs=1e-6)
    assert len(back.spine) == 1 and isinstance(back.spine[0], DiscHeight)
    assert back.spine[0].middle_mm == results[0].middle_mm


def test_result_types_cover_the_spine_package():
    """Every public result dataclass of miss_imaging.spine has an SR form (a new one must be added)."""
    from miss_imaging.sharing.sr._spine_spec import KINDS

    assert set(KINDS) == {c.__name__ for c in (AccessPlan, Breach, Canal, DiscHeight, Screw, ScrewPlan, Slip,
                                               SpineAngle)} | {"Foramen"}
    assert json.dumps(sorted(KINDS))  # names are plain strings (tracking identifiers)


def test_foramen_round_trips(ct, tmp_path):
    """A foramen measured on the analytic tunnel phantom of test_spine_canal (9 mm half height, flagged when
    <= 15 mm), carried by an SR of the CT (the format test: its points are plain LPS mm)."""
    import spine_phantom as P

    from miss_imaging.spine import Foramen, foramen

    ph = P.Phantom((40, 50, 60), fill=40.0)
    ph.paint(P.halfspaces(P.slab_x(15) + [((0, 20, 0), (0, 1, 0)), ((0, -20, 0), (0, -1, 0)),
                                          ((0, 0, 25), (0, 0, 1)), ((0, 0, -25), (0, 0, -1))]),
             600.0, [-15, -20, -25], [15, 20, 25])
    ph.paint(P.elliptic_cylinder((0, 2, 1), (0, 0, 1), (0, 1, 0), 7.0, 4.0), 30.0, [-15, -20, -25], [15, 20, 25])
    f = foramen(ph.volume(), [12.0, 2.5, 0.0])
    assert f.flags  # 14 mm: root compression likely (Hasegawa 1995)
    back = load_sr(save_sr([f], ct, tmp_path / "foramen.dcm"), [ct]).spine
    assert len(back) == 1 and isinstance(back[0], Foramen)
    _same(f, back[0])
    assert back[0].normal is norms.FORAMINAL_HEIGHT


def test_deidentified_spine_sr_references_the_copy(ct, results, tmp_path):
    """Teaching: the group's images and Frame of Reference are the de-identified copy's, values unchanged."""
    path = save_sr(results[4:6], ct, tmp_path / "teach" / "sr.dcm", deidentified=True)
    ds = pydicom.dcmread(path)
    assert ds.PatientIdentityRemoved == "YES"
    frames = {it.ReferencedFrameOfReferenceUID for it in _items(ds, vt="SCOORD3D")}
    assert len(frames) == 1 and ct.frame_of_reference_uid not in frames
    copy = load(tmp_path / "teach" / "sr_images" / "images_1")
    assert frames == {copy.frame_of_reference_uid}
    sops = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in copy.files}
    refs = {it.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for it in _items(ds, vt="IMAGE")}
    assert refs and refs <= sops
    back = load_sr(path, [copy]).spine
    _same(results[4], back[0])
    _same(results[5], back[1])
