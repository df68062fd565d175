"""load() on real scanner files from ../shared/dicom (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from _simpleitk import assert_matches_simpleitk

from miss_imaging.errors import MissImagingWarning, MissingTagError
from miss_imaging.reading.loader import load

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _hu(path):
    ds = pydicom.dcmread(path, force=True)
    return pydicom.pixels.apply_modality_lut(ds.pixel_array, ds)


def test_gantry_tilt_sheared(shared_dicom):
    folder = shared_dicom / "ct_gantry_tilt"
    with pytest.warns(MissImagingWarning, match=r"gantry tilt \d+\.\d\d degrees"):
        vol = load(folder)
    assert not vol.regular
    for k, f in enumerate(vol.files):  # the sheared affine puts every slice at its own IPP
        ipp = np.array(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, float)
        np.testing.assert_allclose(vol.index_to_patient([k, 0, 0]), ipp, atol=1e-6)
    iop = np.array(pydicom.dcmread(vol.files[0], stop_before_pixels=True).ImageOrientationPatient, float)
    n = np.cross(iop[:3], iop[3:])
    step = vol.affine[:3, 0]
    tilt = np.degrees(np.arccos(abs(step @ n) / np.linalg.norm(step)))
    assert f"{tilt:.2f} degrees" in " ".join(vol.warnings)
    assert tilt > 1


def test_missing_slice_positions_kept(shared_dicom):
    with pytest.warns(MissImagingWarning, match="gap: "):
        vol = load(shared_dicom / "ct_missing_slice")
    assert not vol.regular
    ipps = [pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient for f in vol.files]
    np.testing.assert_allclose(vol.slice_positions, np.array(ipps, float), atol=1e-9)


def test_ge_head_numeric_names_jpeg_lossless(shared_dicom):
    vol = load(shared_dicom / "ct_head_ge_5mm")
    assert vol.shape == (34, 512, 512) and vol.regular
    d = [np.cross(*np.reshape(pydicom.dcmread(f, stop_before_pixels=True).ImageOrientationPatient, (2, 3)))
         @ np.array(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient, float) for f in vol.files]
    assert np.all(np.diff(d) > 0)  # ascending along the normal, whatever the names say
    for k in (0, 17, 33):
        np.testing.assert_array_equal(vol.pixels[k], _hu(vol.files[k]))
    assert vol.spacing == pytest.approx((5.0, 0.48828125, 0.48828125), abs=1e-6)


def test_ge_head_matches_simpleitk(shared_dicom):
    folder = shared_dicom / "ct_head_ge_5mm"
    assert_matches_simpleitk(load(folder), folder, atol=1e-5)


@pytest.mark.parametrize(
    "name",
    [
        "CTImage_BigEndianExplicit.dcm",
        "CTImage_DeflatedExplicitVRLittleEndian.dcm",
        "CTImage_JPEG2000LosslessOnly.dcm",
        "CTImage_JPEGLSLossless.dcm",
        "CTImage_JPEGProcess14SV1.dcm",
        "CTImage_RLELossless.dcm",
    ],
)
def test_lossless_codecs_identical_to_original(shared_dicom, name):
    folder = shared_dicom / "ct_slice_codecs"
    ref = load(folder / "CTImage.dcm")
    vol = load(folder / name)
    np.testing.assert_array_equal(vol.pixels, ref.pixels)
    np.testing.assert_allclose(vol.affine, ref.affine)


def test_jpeg_baseline_lossy_matches_pydicom(shared_dicom):
    f = shared_dicom / "ct_slice_codecs" / "CTImage_JPEGProcess1.dcm"
    vol = load(f)
    np.testing.assert_array_equal(vol.pixels[0], _hu(f).astype(vol.pixels.dtype))


def test_xa_cine_pixels_only(shared_dicom):
    vol = load(shared_dicom / "xa_catheter_cine")
    assert vol.kind == "projection" and vol.shape == (12, 512, 512)
    assert vol.spacing == (1.0, 1.0, 1.0) and vol.calibration == "pixels only"
    assert vol.projection.frame_time_ms == pytest.approx(33.0, abs=0.5)
    f = vol.files[0]
    np.testing.assert_array_equal(vol.pixels, pydicom.dcmread(f).pixel_array)


def test_cr_monochrome1_without_meta(shared_dicom):
    vol = load(shared_dicom / "cr_mono1_chest")
    assert vol.photometric == "MONOCHROME1" and vol.kind == "projection"
    assert "MONOCHROME1" in vol.metadata["PhotometricNote"]
    ds = pydicom.dcmread(vol.files[0], force=True)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian  # pydicom needs to be told
    np.testing.assert_array_equal(vol.pixels[0], ds.pixel_array)  # stored values kept (not inverted)


def test_dx_nonsquare_spacing(shared_dicom):
    vol = load(shared_dicom / "misc" / "highdicom_dx_image.dcm")
    ds = pydicom.dcmread(vol.files[0], stop_before_pixels=True)
    assert vol.projection.pixel_spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))
    assert vol.spacing[1] == pytest.approx(float(ds.PixelSpacing[0]))  # row spacing first
    assert vol.spacing[2] == pytest.approx(float(ds.PixelSpacing[1]))


def test_enhanced_mr_without_functional_groups(shared_dicom):
    with pytest.raises(MissingTagError, match=r"\(0020,0032\) ImagePositionPatient missing for .* 10 frames"):
        load(shared_dicom / "misc" / "emri_small_enhanced_mr.dcm")
