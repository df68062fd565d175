"""find_screws, breach, plan_screw and access_plan on the analytic screw phantom (see spine_screw_phantom)."""

from __future__ import annotations

import numpy as np
import pytest

import spine_phantom as P
import spine_screw_phantom as S
from miss_imaging.errors import MeasurementError, MissImagingWarning
from miss_imaging.spine import Screw, access_plan, breach, find_screws, plan_screw


@pytest.fixture(scope="module")
def vol():
    return S.build()


def _match(found, truth):
    """The found screw whose tip is nearest the true tip."""
    return min(found, key=lambda s: np.linalg.norm(s.tip_lps - truth["tip"]))


def test_every_screw_found_with_its_length_and_diameter(vol):
    found = find_screws(vol)
    truth = S.screws()
    assert len(found) == len(truth)
    for t in truth:
        s = _match(found, t)
        assert np.linalg.norm(s.tip_lps - t["tip"]) < 1.0
        assert np.linalg.norm(s.entry_lps - t["entry"]) < 1.0  # the shank's posterior end, not the head's
        assert s.length_mm == pytest.approx(t["length"], abs=1.0)
        assert s.diameter_mm == pytest.approx(2 * S.RS, abs=0.3)
        assert np.degrees(np.arccos(min(1.0, abs(np.dot(s.axis, t["axis"]))))) < 1.0
        assert np.dot(s.axis, t["axis"]) > 0  # entry -> tip
        assert s.head_lps is not None and s.calibration == vol.calibration
    assert [s.label for s in found] == [f"screw {i}" for i in range(1, 5)]


def test_breach_distance_direction_and_grade(vol):
    found = find_screws(vol)
    for t in S.screws():
        grade, direction, dist = t["expect"]
        b = breach(vol, _match(found, t))
        assert b.grade == grade, (t["expect"], b)
        assert b.direction == direction
        assert b.distance_mm == pytest.approx(dist, abs=0.5)
        assert "Gertzbein" in b.definition


def test_breach_of_exact_virtual_screws_in_any_direction(vol):
    """Virtual screws (no metal) shifted from the empty pedicle's axis by known amounts."""
    p0, d = S.pedicle_axis(1.0, S.LEVELS[2])
    e1 = np.cross(d, [0.0, 0.0, 1.0])
    e1 /= np.linalg.norm(e1)  # horizontal, perpendicular: toward the midline for the left pedicle?
    medial = e1 if e1[0] < 0 else -e1
    for shift, direction in ((medial, "medial"), (-medial, "lateral"), (np.array([0, 0, 1.0]), "superior"),
                             (np.array([0, 0, -1.0]), "inferior")):
        for off in (2.0, 4.5):
            s = Screw.from_points(p0 + off * shift, p0 + off * shift + 38 * d, 5.0)
            b = breach(vol, s)
            assert b.distance_mm == pytest.approx(off + 2.5 - S.R_PED, abs=0.5), (direction, off, b)
            assert b.direction == direction
    inside = breach(vol, Screw.from_points(p0, p0 + 38 * d, 6.0))
    assert inside.grade == "A" and inside.distance_mm == 0.0 and inside.direction is None


def test_plan_screw_width_sizes_angles_and_predicted_breach(vol):
    p0, d = S.pedicle_axis(1.0, S.LEVELS[2])
    plan = plan_screw(vol, p0, p0 + 42.0 * d)
    assert plan.length_mm == pytest.approx(42.0)
    assert plan.pedicle_width_mm == pytest.approx(2 * S.R_PED, abs=0.5)
    # largest stock diameter <= 80 % of the measured width (8 mm -> 6.0, 8.2 mm -> 6.5)
    assert plan.suggested_diameter_mm == max(d for d in (4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5)
                                             if d <= 0.8 * plan.pedicle_width_mm)
    assert plan.suggested_diameter_mm in (6.0, 6.5) and plan.suggested_length_mm == 40.0
    assert plan.medial_angle_deg == pytest.approx(10.0, abs=0.2)
    assert plan.caudal_angle_deg == pytest.approx(0.0, abs=0.2)
    assert plan.predicted_breach.grade == "A"
    # right pedicle, 15 deg caudal: angles in the axial and sagittal planes
    p0r, dr = S.pedicle_axis(-1.0, S.LEVELS[2])
    pr = plan_screw(vol, p0r, p0r + 40.0 * dr)
    assert pr.medial_angle_deg == pytest.approx(10.0, abs=0.2)
    assert pr.caudal_angle_deg == pytest.approx(np.degrees(np.arctan2(-dr[2], -dr[1])), abs=0.2)
    assert pr.pedicle_width_mm == pytest.approx(2 * S.R_PED, abs=0.5)
    # aimed 3.5 mm medially: the 6 mm screw would breach medially by 3.5 + 3 - 4 = 2.5 mm
    m = np.array([-1.0, 0, 0]) - np.dot([-1.0, 0, 0], d) * d
    m /= np.linalg.norm(m)
    off = plan_screw(vol, p0 + 3.5 * m, p0 + 3.5 * m + 42.0 * d)
    assert off.predicted_breach.direction == "medial"
    assert off.predicted_breach.distance_mm == pytest.approx(2.5, abs=0.5) and off.predicted_breach.grade == "C"


def test_access_plan_depth_tube_and_angles(vol):
    target = np.array([15.0, 32.0, S.LEVELS[2]])
    a = access_plan(vol, target, target + [0, 10.0, 0])
    assert a.depth_mm == pytest.approx(S.SKIN_Y - 32.0, abs=0.5)
    assert a.skin_entry_lps[1] == pytest.approx(S.SKIN_Y, abs=0.5)
    assert a.tube_length_mm == 40.0 and a.incision_mm == 20.0
    assert a.angle_from_vertical_deg == pytest.approx(0.0, abs=0.1) and a.cranial_angle_deg == pytest.approx(0.0)
    tilt = np.radians(25.0)
    b = access_plan(vol, target, target + [np.sin(tilt), np.cos(tilt), 0.0], tube_diameter_mm=22.0, margin_mm=1.0)
    assert b.depth_mm == pytest.approx(38.0 / np.cos(tilt), abs=0.5)
    assert b.angle_from_vertical_deg == pytest.approx(25.0, abs=0.1)
    assert b.tube_length_mm == 50.0 and b.incision_mm == 23.0
    c = access_plan(vol, target, target + [0.0, np.cos(tilt), np.sin(tilt)])
    assert c.cranial_angle_deg == pytest.approx(25.0, abs=0.1)


def test_access_plan_beyond_the_longest_tube_warns_and_says_none(vol):
    target = np.array([0.0, -25.0, S.LEVELS[0]])
    with pytest.warns(MissImagingWarning, match="longest stock"):
        a = access_plan(vol, target, target + [0, 1.0, 0])
    assert a.tube_length_mm is None and a.depth_mm == pytest.approx(95.0, abs=0.5)


def test_clear_errors_where_the_image_cannot_answer(vol):
    target = np.array([15.0, 30.0, S.LEVELS[2]])
    with pytest.raises(MeasurementError, match="never leaves the body"):
        access_plan(vol, target, target + [0, 0, 1.0])  # along z the body fills the image
    with pytest.raises(MeasurementError, match="in air"):
        access_plan(vol, [0.0, 74.0, 0.0], [0.0, 80.0, 0.0])
    empty = P.Phantom((40, 40, 40), fill=40.0).volume()
    from miss_imaging.model import ImageVolume

    xa = ImageVolume(np.zeros((2, 20, 20), np.uint16), (1.0, 0.3, 0.3), np.eye(4), "projection", modality="XA")
    with pytest.raises(MeasurementError, match="needs a CT volume"):
        find_screws(xa)
    with pytest.raises(MeasurementError, match="no metal"):
        find_screws(empty)
    with pytest.raises(MeasurementError, match="no bone"):
        breach(empty, Screw.from_points([0, 10, 0], [0, -10, 0], 6.0))
    with pytest.raises(MeasurementError, match="pedicle"):
        plan_screw(vol, [40.0, 50.0, 0.0], [40.0, 20.0, 0.0])  # soft tissue only
    with pytest.raises(MeasurementError, match="coincide"):
        plan_screw(vol, target, target)
