"""DICOM SR / SC / KOS from the napari widgets: save, reopen where they were, report what cannot be placed."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

import miss_imaging as mi
from miss_imaging.settings import set_teaching_mode

DCIODVFY = shutil.which("dciodvfy")


@pytest.fixture
def viewer(make_napari_viewer):
    set_teaching_mode(False)
    return make_napari_viewer()


def _open(viewer, path):
    from miss_imaging_napari._layers import layer_data

    data, kwargs, _ = layer_data(mi.load(path))
    return viewer.add_image(data, **kwargs)


def _values(widget):
    return sorted(round(m.value, 6) for m in widget.measurements())


def test_save_and_open_sr_on_resampled_ct_and_fluoro(viewer, samples, tmp_path):
    from miss_imaging_napari import _measure_layers
    from miss_imaging_napari._layers import SOURCE_KEY
    from miss_imaging_napari._measure_widget import MeasureWidget

    ct = _open(viewer, samples / "spine_ct")
    assert SOURCE_KEY in ct.metadata  # the tilted phantom is shown on a resampled grid
    xa = _open(viewer, samples / "fluoro" / "FLUORO_XA.dcm")
    w = MeasureWidget(viewer)
    w.add_measurement("distance", [(20, 30, 40), (20, 90, 70)], name="canal", image_layer=ct)
    w.add_measurement("angle", [(20, 30, 40), (20, 60, 60), (20, 30, 90)], image_layer=ct)
    w.add_measurement("distance", [(3, 40, 50), (3, 120, 160)], name="bead", image_layer=xa)
    w.add_measurement("cobb", [(3, 60, 40), (3, 70, 200), (3, 200, 40), (3, 180, 200)], image_layer=xa)
    before, names = _values(w), sorted(m.name for m in w.measurements())
    w.image_combo.setCurrentIndex(w._combo_layers.index(ct))
    assert "wrote 2 measurement(s)" in w.save_sr(tmp_path / "ct_sr.dcm")
    w.image_combo.setCurrentIndex(w._combo_layers.index(xa))
    w.save_sr(tmp_path / "xa_sr.dcm")
    for lay in list(_measure_layers.tool_layers(viewer)):
        viewer.layers.remove(lay)
    assert w.measurements() == []
    assert w.open_sr(tmp_path / "ct_sr.dcm").startswith("placed 2 of 2")
    assert w.open_sr(tmp_path / "xa_sr.dcm").startswith("placed 2 of 2")
    np.testing.assert_allclose(_values(w), before, atol=1e-4)  # re-measured on the shown grid (float32 points)
    assert sorted(m.name for m in w.measurements()) == names


def test_open_sr_names_what_is_not_open(viewer, samples, tmp_path):
    from miss_imaging_napari._measure_widget import MeasureWidget

    dx = mi.load(samples / "radiograph" / "DX_LSPINE_AP.dcm")
    sr = mi.save_sr([mi.measure_distance(dx, (0, 20, 30), (0, 60, 70), name="L1")], dx, tmp_path / "dx.dcm")
    _open(viewer, samples / "fluoro" / "FLUORO_XA.dcm")
    w = MeasureWidget(viewer)
    report = w.open_sr(sr)
    assert report.startswith("placed 0 of 1") and "which is not open; not placed" in report
    assert "not a DICOM Structured Report" in _safe(w, "open_sr", dx.files[0])


def _safe(widget, method, *args):
    try:
        getattr(widget, method)(*args)
    except mi.MissImagingError as exc:
        return str(exc)
    return ""


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (dicom3tools) is not installed")
def test_teaching_widget_capture_and_flag(viewer, samples, truth, tmp_path):
    from miss_imaging_napari._measure_widget import MeasureWidget
    from miss_imaging_napari._teaching_widget import TeachingWidget

    xa = _open(viewer, samples / "fluoro" / "FLUORO_XA.dcm")
    MeasureWidget(viewer).add_measurement("distance", [(3, 40, 50), (3, 120, 160)], name="bead", image_layer=xa)
    viewer.layers.selection.active = xa
    set_teaching_mode(True)
    t = TeachingWidget(viewer)
    assert "10 frame(s)" in t.save_annotated_dicom(tmp_path / "sc.dcm")
    viewer.dims.set_point(0, 3)
    assert "slice/frame 3 flagged" in t.flag_for_teaching(tmp_path / "ko.dcm", note="instrument at the pedicle")
    for name in ("sc.dcm", "ko.dcm"):
        out = subprocess.run([DCIODVFY, str(tmp_path / name)], capture_output=True, text=True)
        assert not [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
        ds = pydicom.dcmread(tmp_path / name)
        assert ds.PatientIdentityRemoved == "YES"  # teaching mode: de-identified
        raw = (tmp_path / name).read_bytes()
        assert truth["patient"]["PatientID"].encode() not in raw and b"SPINEPHANTOM" not in raw
    assert int(pydicom.dcmread(tmp_path / "sc.dcm").NumberOfFrames) == 10


def test_spine_results_reach_the_sr(viewer, samples, truth, tmp_path):
    """The Measurements widget's SR dropped the Spine widget's results without a word; now it carries them."""
    from miss_imaging.spine import Breach, DiscHeight, Screw, Slip, SpineAngle
    from miss_imaging_napari import _spine
    from miss_imaging_napari._measure_widget import MeasureWidget
    from miss_imaging_napari._spine_widget import SpineWidget

    ct = _open(viewer, samples / "lumbar_ct")
    spine = SpineWidget(viewer)
    assert len(spine.find()) == 4  # the phantom's four screws, graded
    corners = [truth["lumbar_ct"]["levels"][n]["corners_lps_mm"] for n in ("L4", "L5")]
    spine.vertebrae = [mi.spine.Vertebra(n, c) for n, c in zip(("L4", "L5"), corners)]
    spine.publish()
    assert len(ct.metadata[_spine.RESULTS_KEY]) == 4 + 4 + 4  # one level (4 results), 4 screws, 4 breach grades
    w = MeasureWidget(viewer)
    w.add_measurement("distance", [(20, 100, 100), (20, 120, 130)], name="ruler", image_layer=ct)
    w.image_combo.setCurrentIndex(w._combo_layers.index(ct))
    report = w.save_sr(tmp_path / "spine_sr.dcm")
    assert "wrote 1 measurement(s) and 12 spine result(s)" in report and "not written" not in report
    back = mi.load_sr(tmp_path / "spine_sr.dcm", [mi.load(samples / "lumbar_ct")])
    assert [type(r) for r in back.spine] == [DiscHeight, Slip, SpineAngle, SpineAngle] + [Screw] * 4 + [Breach] * 4
    assert [m.name for m in back] == ["ruler"]
    if DCIODVFY:
        out = subprocess.run([DCIODVFY, str(tmp_path / "spine_sr.dcm")], capture_output=True, text=True)
        assert not [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]
