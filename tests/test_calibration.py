"""Projection calibration (PS3.3 10.7.1.3) and user calibration.

Expected values are computed from the standard's definitions (IPS / ERMF,
IPS * SOD / SID), never from the code under test.
"""

from __future__ import annotations

import pytest

from miss_imaging.measurement.calibration import (
    ERMF_SID_SOD_RTOL,
    Calibration,
    format_mm,
    projection_calibration,
    user_calibration,
)
from miss_imaging.errors import CalibrationError, MeasurementError
from miss_imaging.model import ProjectionTags as T

IPS = (0.308, 0.300)  # deliberately non-square: catches a row/col swap


@pytest.mark.parametrize(
    ("tags", "row", "col", "label", "source"),
    [
        pytest.param(T(), None, None, "pixels only", "pixels", id="nothing"),
        pytest.param(T(imager_pixel_spacing=IPS), 0.308, 0.300, "at detector (not corrected)", "detector", id="IPS alone"),
        pytest.param(T(imager_pixel_spacing=IPS, ermf=1.4014), 0.308 / 1.4014, 0.300 / 1.4014,
                     "magnification-corrected (ERMF)", "ermf", id="IPS+ERMF (real XA 1.4014)"),
        pytest.param(T(imager_pixel_spacing=IPS, ermf=1.0), 0.308, 0.300,
                     "at detector (not corrected)", "detector", id="ERMF 1.0 corrects nothing"),
        pytest.param(T(imager_pixel_spacing=IPS, ermf=1.0, sid=1000.0, sod=700.0), 0.308 * 0.7, 0.300 * 0.7,
                     "magnification-corrected (SID/SOD)", "sid_sod", id="ERMF 1.0 placeholder, SID/SOD used"),
        pytest.param(T(imager_pixel_spacing=IPS, sid=1009.0, sod=720.0), 0.308 * 720 / 1009, 0.300 * 720 / 1009,
                     "magnification-corrected (SID/SOD)", "sid_sod", id="IPS+SID+SOD"),
        pytest.param(T(imager_pixel_spacing=IPS, sid=1009.0, sod=720.0, ermf=1.4014), 0.308 / 1.4014, 0.300 / 1.4014,
                     "magnification-corrected (ERMF)", "ermf", id="ERMF before SID/SOD"),
        pytest.param(T(pixel_spacing=(0.2, 0.21), imager_pixel_spacing=IPS, calibration_type="GEOMETRY", ermf=1.5),
                     0.2, 0.21, "calibrated (GEOMETRY)", "calibrated", id="PS GEOMETRY first"),
        pytest.param(T(pixel_spacing=(0.2, 0.21), imager_pixel_spacing=IPS, calibration_type="FIDUCIAL"),
                     0.2, 0.21, "calibrated (FIDUCIAL)", "calibrated", id="PS FIDUCIAL"),
        pytest.param(T(pixel_spacing=(0.2, 0.21), imager_pixel_spacing=IPS), 0.2, 0.21,
                     "calibrated (unspecified)", "calibrated", id="PS != IPS, no type"),
        pytest.param(T(pixel_spacing=IPS, imager_pixel_spacing=IPS), 0.308, 0.300,
                     "at detector (not corrected)", "detector", id="PS == IPS, no type = detector"),
        pytest.param(T(pixel_spacing=IPS, imager_pixel_spacing=IPS, ermf=1.25), 0.308 / 1.25, 0.300 / 1.25,
                     "magnification-corrected (ERMF)", "ermf", id="PS == IPS + ERMF corrected"),
        pytest.param(T(pixel_spacing=(0.2, 0.2)), 0.2, 0.2, "Pixel Spacing (plane not stated)", "calibrated",
                     id="PS alone (old CR)"),
        pytest.param(T(ermf=1.5, sid=1000.0, sod=700.0), None, None, "pixels only", "pixels",
                     id="magnification without any spacing"),
    ],
)
def test_rule_table(tags, row, col, label, source):
    cal = projection_calibration(tags)
    assert cal.label == label and cal.source == source
    if row is None:
        assert cal.row_mm is None and cal.col_mm is None and not cal.has_mm
    else:
        assert cal.row_mm == pytest.approx(row, rel=1e-12) and cal.col_mm == pytest.approx(col, rel=1e-12)


def test_detector_spacing_always_kept():
    for tags in (T(imager_pixel_spacing=IPS, ermf=1.6), T(imager_pixel_spacing=IPS, sid=1000.0, sod=800.0),
                 T(pixel_spacing=(0.2, 0.2), imager_pixel_spacing=IPS, calibration_type="GEOMETRY")):
        cal = projection_calibration(tags)
        assert (cal.detector_row_mm, cal.detector_col_mm) == IPS
        det = cal.detector()
        assert (det.row_mm, det.col_mm, det.label) == (0.308, 0.300, "at detector (not corrected)")
    with pytest.raises(CalibrationError, match=r"\(0018,1164\)"):
        projection_calibration(T(pixel_spacing=(0.2, 0.2))).detector()


def test_ermf_sid_sod_disagreement_warns_with_both_values():
    # SID/SOD = 1000/700 = 1.4286; ERMF 1.30 is 9% off
    cal = projection_calibration(T(imager_pixel_spacing=IPS, ermf=1.30, sid=1000.0, sod=700.0))
    assert cal.source == "ermf"
    (w,) = cal.warnings
    assert "1.3" in w and "1000" in w and "700" in w and "1.4286" in w and "ERMF" in w
    # within 5%: no warning (1.4286 * 1.04)
    agree = projection_calibration(T(imager_pixel_spacing=IPS, ermf=1000 / 700 * (1 + ERMF_SID_SOD_RTOL - 0.01),
                                     sid=1000.0, sod=700.0))
    assert agree.warnings == ()


@pytest.mark.parametrize(
    ("tags", "tag"),
    [
        (T(imager_pixel_spacing=(0.0, 0.3)), "(0018,1164)"),
        (T(imager_pixel_spacing=IPS, ermf=0.0), "(0018,1114)"),
        (T(imager_pixel_spacing=IPS, ermf=-1.2), "(0018,1114)"),
        (T(imager_pixel_spacing=IPS, sid=700.0, sod=1000.0), "(0018,1111)"),
        (T(imager_pixel_spacing=IPS, ermf=0.8), "(0018,1114)"),
        (T(pixel_spacing=(0.2, 0.2), imager_pixel_spacing=IPS, calibration_type="MAGIC"), "(0028,0A02)"),
    ],
)
def test_invalid_values_are_ignored_with_a_warning_naming_the_tag(tags, tag):
    cal = projection_calibration(tags)
    assert any(tag in w for w in cal.warnings)


def test_invalid_ermf_falls_back_to_sid_sod():
    cal = projection_calibration(T(imager_pixel_spacing=IPS, ermf=0.0, sid=1000.0, sod=800.0))
    assert cal.source == "sid_sod" and cal.col_mm == pytest.approx(0.3 * 0.8)


class TestUserCalibration:
    def test_square_pixels(self):
        # a 25.0 mm sphere spanning 100 pixels along a column
        cal = user_calibration((40, 10), (40, 110), 25.0, "sphere")
        assert cal.label == "user-calibrated (sphere, 25.0 mm)" and cal.source == "user"
        assert cal.row_mm == pytest.approx(0.25) and cal.col_mm == pytest.approx(0.25)

    def test_keeps_detector_aspect_and_detector_spacing(self):
        base = projection_calibration(T(imager_pixel_spacing=(0.4, 0.2)))
        # diagonal line: 30 rows, 40 cols -> with aspect 2: length in col units = hypot(60, 40)
        cal = user_calibration((0, 0, 0), (0, 30, 40), 10.0, "screw", base=base)
        assert cal.row_mm / cal.col_mm == pytest.approx(2.0)
        assert cal.col_mm == pytest.approx(10.0 / (60**2 + 40**2) ** 0.5)
        assert (cal.detector_row_mm, cal.detector_col_mm) == (0.4, 0.2)
        assert cal.label == "user-calibrated (screw, 10.0 mm)"

    def test_label_keeps_typed_precision(self):
        assert format_mm(12.7) == "12.7" and format_mm(4.35) == "4.35" and format_mm(25) == "25.0"

    @pytest.mark.parametrize("length", [0.0, -5.0, float("nan"), float("inf"), "abc"])
    def test_bad_typed_length(self, length):
        with pytest.raises(CalibrationError, match="known length"):
            user_calibration((0, 0), (0, 10), length, "sphere")

    def test_zero_length_line(self):
        with pytest.raises(CalibrationError, match="zero length"):
            user_calibration((5, 3, 3), (9, 3, 3), 25.0, "sphere")  # differs only in frame
        assert issubclass(CalibrationError, MeasurementError)


def test_calibration_is_frozen():
    cal = Calibration(0.2, 0.2, "x", "user")
    with pytest.raises(AttributeError):
        cal.row_mm = 0.3  # type: ignore[misc]


# ----------------------------------------------------------------- real files


def _tags(ds) -> T:
    """The tags as the loader reads them (independent of the loader)."""
    def pair(k):
        v = ds.get(k)
        return None if v is None else (float(v[0]), float(v[1]))

    def num(k):
        v = ds.get(k)
        return None if v is None or v == "" else float(v)

    return T(pixel_spacing=pair("PixelSpacing"), imager_pixel_spacing=pair("ImagerPixelSpacing"),
             calibration_type=ds.get("PixelSpacingCalibrationType"),
             ermf=num("EstimatedRadiographicMagnificationFactor"),
             sid=num("DistanceSourceToDetector"), sod=num("DistanceSourceToPatient"))


def test_pydicom_bundled_cr_files_use_detector_spacing():
    """pydicom's CR test files carry ImagerPixelSpacing 0.1 only -> at detector."""
    import pydicom
    from pydicom.data import get_testdata_file

    import miss_imaging

    for name in ("77654033/CR1/6154", "77654033/CR2/6247", "77654033/CR3/6278"):
        ds = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True)
        assert ds.Modality == "CR" and "PixelSpacing" not in ds
        cal = projection_calibration(_tags(ds))
        assert (cal.row_mm, cal.col_mm, cal.source) == (0.1, 0.1, "detector")
        vol = miss_imaging.load(get_testdata_file(name))  # and the loader agrees
        assert vol.calibration == "at detector (not corrected)" and vol.spacing[1:] == (0.1, 0.1)


def test_shared_files(shared_dicom):
    import pydicom

    dx = pydicom.dcmread(shared_dicom / "misc" / "highdicom_dx_image.dcm", stop_before_pixels=True)
    cal = projection_calibration(_tags(dx))
    # PixelSpacing == ImagerPixelSpacing, no calibration type: detector plane (PS3.3 10.7.1.3)
    assert [float(v) for v in dx.PixelSpacing] == [float(v) for v in dx.ImagerPixelSpacing]
    assert cal.source == "detector" and (cal.row_mm, cal.col_mm) == tuple(float(v) for v in dx.PixelSpacing)
    for f in (shared_dicom / "xa_catheter_cine").iterdir():
        if f.suffix.lower() == ".dcm":
            xa = pydicom.dcmread(f, stop_before_pixels=True)
            assert projection_calibration(_tags(xa)).label == "pixels only"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_loader_applies_the_rule(shared_dicom):
    """What miss_imaging.load reports for real files matches the rule table."""
    import miss_imaging

    xa = miss_imaging.load(shared_dicom / "xa_catheter_cine")
    assert xa.kind == "projection" and xa.calibration == "pixels only" and xa.spacing == (1.0, 1.0, 1.0)
    dx = miss_imaging.load(shared_dicom / "misc" / "highdicom_dx_image.dcm")
    assert dx.calibration == "at detector (not corrected)"
    assert dx.spacing[1:] == tuple(dx.projection.imager_pixel_spacing)


def test_phantom_projections_through_the_loader(samples, truth):
    import miss_imaging

    if not (samples / "fluoro").is_dir() or "fluoro" not in truth:
        pytest.skip("sample_dicoms projection phantoms not generated yet")
    fl = miss_imaging.load(samples / "fluoro")
    t = truth["fluoro"]
    assert fl.calibration == "magnification-corrected (ERMF)"
    assert fl.spacing[1:] == pytest.approx(tuple(v / t["ermf"] for v in t["imager_pixel_spacing_mm"]), rel=1e-9)
    cal = projection_calibration(fl.projection)
    assert cal.warnings == ()  # ERMF agrees with SID/SOD
    assert cal.detector_row_mm == t["imager_pixel_spacing_mm"][0]
    dx = miss_imaging.load(samples / "radiograph")
    assert dx.calibration == "calibrated (GEOMETRY)"
    assert dx.spacing[1:] == pytest.approx(tuple(truth["radiograph"]["pixel_spacing_mm"]))
