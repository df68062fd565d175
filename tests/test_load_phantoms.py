"""load() on the committed phantoms, against truth.json and pydicom's own decoding."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from _simpleitk import assert_matches_simpleitk

from miss_imaging import scan
from miss_imaging.reading.loader import load

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def ct(samples):
    if not (samples / "spine_ct").is_dir():
        pytest.skip("sample_dicoms/spine_ct not generated yet")
    return load(samples / "spine_ct")


def _pydicom_hu(path):
    ds = pydicom.dcmread(path)
    return pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)


def test_spine_ct_geometry(ct, truth):
    t = truth["spine_ct"]
    assert ct.shape == tuple(t["shape"])
    np.testing.assert_allclose(ct.affine, np.array(t["affine"]), atol=1e-6)
    np.testing.assert_allclose(ct.spacing, t["spacing_mm"], atol=1e-6)
    np.testing.assert_allclose(ct.origin, t["origin_lps_mm"], atol=1e-6)
    np.testing.assert_allclose(ct.slice_positions[[0, -1]], t["ipp_first_last_lps_mm"], atol=1e-6)
    assert [p.name for p in ct.files] == t["files_in_array_order"]
    assert ct.regular and ct.frame_of_reference_uid == t["frame_of_reference_uid"]
    assert [(w.explanation, w.center, w.width) for w in ct.windows] == [
        (w["explanation"], w["center"], w["width"]) for w in t["windows"]
    ]


def test_spine_ct_every_voxel_equals_pydicom(ct):
    assert ct.pixels.dtype == np.int16  # uint16 stored, HU range checked per slice, fits
    for k, f in enumerate(ct.files):
        np.testing.assert_array_equal(ct.pixels[k], _pydicom_hu(f))


def test_spine_ct_patient_apart(ct, truth):
    assert ct.patient["PatientName"] == truth["patient"]["PatientName"]
    blob = repr(ct.metadata) + ct.label + ct.series_description
    for key, v in truth["patient"].items():
        if len(str(v)) >= 6:  # sex "F" or age "068Y" would match unrelated text
            assert str(v) not in blob, key


def test_spine_ct_matches_simpleitk_geometry(ct, samples):
    assert_matches_simpleitk(ct, samples / "spine_ct", atol=1e-6, pixels=True)


def test_enhanced_ct_equals_series(ct, samples, truth):
    t = truth["spine_ct_enhanced"]
    vol = load(samples / t["folder"] / t["file"])
    np.testing.assert_allclose(vol.affine, np.array(t["affine"]), atol=1e-6)
    np.testing.assert_array_equal(vol.pixels, ct.pixels)
    np.testing.assert_allclose(vol.slice_positions, ct.slice_positions, atol=1e-6)
    assert vol.regular


def test_fluoro_projection(samples, truth):
    t = truth["fluoro"]
    vol = load(samples / t["folder"] / t["file"])
    assert vol.kind == "projection" and vol.shape == tuple(t["shape"])
    assert vol.pixels.dtype == np.int16
    np.testing.assert_array_equal(vol.pixels, pydicom.dcmread(samples / t["folder"] / t["file"]).pixel_array)
    np.testing.assert_allclose(vol.spacing, [1.0, *t["pixel_spacing_at_isocenter_mm"]], atol=1e-6)
    assert "ERMF" in vol.calibration
    assert vol.projection.frame_time_ms == pytest.approx(t["frame_time_ms"])
    assert vol.projection.imager_pixel_spacing == pytest.approx(tuple(t["imager_pixel_spacing_mm"]))
    assert vol.projection.sid == pytest.approx(t["sid_mm"]) and vol.projection.sod == pytest.approx(t["sod_mm"])


def test_radiograph_monochrome1_calibrated(samples, truth):
    t = truth["radiograph"]
    vol = load(samples / t["folder"] / t["file"])
    assert vol.photometric == "MONOCHROME1"
    raw = pydicom.dcmread(samples / t["folder"] / t["file"])
    np.testing.assert_array_equal(vol.pixels[0], pydicom.pixels.apply_modality_lut(raw.pixel_array, raw))
    np.testing.assert_allclose(vol.spacing, [1.0, *t["pixel_spacing_mm"]], atol=1e-9)
    assert vol.calibration == "calibrated (GEOMETRY)"
    assert vol.projection.calibration_type == "GEOMETRY"


def test_compressed_copies_identical(samples, truth):
    t = truth["compressed"]
    src = load(samples / t["source"])
    for name, c in t["copies"].items():
        vol = load(samples / c["file"])
        assert vol.metadata["TransferSyntaxUID"] == c["transfer_syntax_uid"], name
        np.testing.assert_array_equal(vol.pixels, src.pixels, err_msg=name)
        lazy = load(samples / c["file"], lazy=True)
        np.testing.assert_array_equal(lazy.pixels[[0, -1]].compute(), src.pixels[[0, -1]], err_msg=name)


def test_scan_whole_sample_folder(samples):
    res = scan(samples)
    kinds = {s.label: s.kind for s in res}
    assert sum(1 for s in res if s.kind == "volume") >= 2
    assert sum(1 for s in res if s.kind == "projection") >= 2
    assert res[0].n_frames * res[0].rows * res[0].columns >= res[-1].n_frames * res[-1].rows * res[-1].columns
    assert kinds
