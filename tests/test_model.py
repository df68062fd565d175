"""ImageVolume: geometry that cannot change under a measurement, coded values as str enums."""

import dataclasses
import json

import numpy as np
import pytest

from miss_imaging.display.window import window_to_contrast_limits
from miss_imaging.measurement.calibration import Calibration, CalibrationSource
from miss_imaging.model import ImageVolume, Kind, SeriesInfo, Window

AXIAL = np.array([[0, 0, 0.7, -100], [0, 0.7, 0, -120], [2.5, 0, 0, 30], [0, 0, 0, 1.0]])  # (z, y, x) -> LPS


def _vol(**kw):
    return ImageVolume(np.zeros((3, 4, 5), np.int16), (2.5, 0.7, 0.7), AXIAL, "volume", **kw)


def test_geometry_cannot_be_reassigned_or_edited_in_place():
    vol = _vol(slice_positions=np.array([[-100, -120, 30 + 2.5 * k] for k in range(3)]))
    for name, value in (("affine", np.eye(4)), ("spacing", (1, 1, 1)), ("kind", "projection"), ("regular", False)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(vol, name, value)
    with pytest.raises(ValueError, match="read-only"):
        vol.affine[0, 3] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        vol.slice_positions[1, 2] = 0.0
    origin = vol.origin
    origin[0] = 999.0  # a copy: the volume is unchanged
    assert vol.index_to_patient([0, 0, 0]) == pytest.approx([-100, -120, 30])


def test_the_callers_affine_is_copied_not_frozen():
    a = AXIAL.copy()
    vol = ImageVolume(np.zeros((3, 4, 5)), (2.5, 0.7, 0.7), a, "volume")
    a[0, 3] = 0.0  # the caller's array stays writable and is not the volume's
    assert a.flags.writeable and vol.affine[0, 3] == -100


def test_replace_derives_a_validated_new_volume():
    vol = _vol()
    shifted = AXIAL.copy()
    shifted[0, 3] += 10.0  # 10 mm toward the patient's left
    moved = vol.replace(affine=shifted)
    assert moved.affine[0, 3] == -90 and vol.affine[0, 3] == -100
    assert not moved.affine.flags.writeable and moved.pixels is vol.pixels
    with pytest.raises(ValueError, match="4x4"):
        vol.replace(affine=np.eye(3))
    with pytest.raises(ValueError, match="'bogus' is not a valid Kind"):
        vol.replace(kind="bogus")


def test_kind_is_a_str_enum_that_serialises_as_its_value():
    vol = _vol()
    assert vol.kind is Kind.VOLUME and vol.kind == "volume"
    assert json.dumps({"kind": vol.kind}) == '{"kind": "volume"}' and f"{vol.kind}" == "volume"
    assert "kind='volume'" in repr(vol)
    info = SeriesInfo("1.2", "CT", "", "", None, 1, 1, 4, 5, "other")
    assert info.kind is Kind.OTHER
    with pytest.raises(ValueError, match="not 'other'"):
        vol.replace(kind=Kind.OTHER)


def test_calibration_source_is_a_str_enum():
    cal = Calibration(0.2, 0.2, "user-calibrated (ball, 25 mm)", "user")
    assert cal.source is CalibrationSource.USER and cal.source == "user"
    assert json.dumps(dataclasses.asdict(cal)["source"]) == '"user"'
    with pytest.raises(ValueError):
        Calibration(0.2, 0.2, "x", "guess")


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
def test_one_contrast_limit_formula(function):
    # PS3.3 C.11.2.1.2.1: LINEAR c - 0.5 -/+ (w - 1)/2; the others c -/+ w/2
    expect = (40 - 0.5 - 199.5, 40 - 0.5 + 199.5) if function == "LINEAR" else (-160.0, 240.0)
    assert Window(40, 400, function=function).contrast_limits == pytest.approx(expect)
    assert window_to_contrast_limits(40, 400, function) == pytest.approx(expect)


def test_burned_in_annotation_flag():
    assert _vol(metadata={"BurnedInAnnotation": "YES"}).burned_in_annotation
    assert not _vol(metadata={"BurnedInAnnotation": "NO"}).burned_in_annotation
    assert not _vol().burned_in_annotation
