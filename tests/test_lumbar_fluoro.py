"""C-arm shots of the lumbar phantom (sample_dicoms/lumbar_fluoro): tags, calibration,
projection truth, the needle in the cine, and screw lengths against the CT."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from scipy.ndimage import gaussian_filter, map_coordinates

from miss_imaging import CArm
from miss_imaging.reading.loader import load

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def shots(truth):
    return truth["lumbar_fluoro"]["shots"]


def _file(samples, shot):
    return samples / "lumbar_fluoro" / shot["file"]


def test_xa_tags_and_calibration(samples, shots):
    for shot in shots.values():
        ds = pydicom.dcmread(_file(samples, shot))
        assert ds.SOPClassUID == shot["sop_class_uid"] and ds.Modality == "XA"
        assert float(ds.DistanceSourceToDetector) == shot["sid_mm"]
        assert float(ds.DistanceSourceToPatient) == shot["sod_mm"]
        assert float(ds.EstimatedRadiographicMagnificationFactor) == pytest.approx(shot["sid_mm"] / shot["sod_mm"])
        assert [float(v) for v in ds.ImagerPixelSpacing] == shot["imager_pixel_spacing_mm"]
        assert float(ds.PositionerPrimaryAngle) == shot["positioner_primary_angle_deg"]
        r0, r1, c0, c1 = shot["collimation_px"]
        assert (ds.CollimatorLeftVerticalEdge, ds.CollimatorRightVerticalEdge) == (c0 + 1, c1)
        assert (ds.CollimatorUpperHorizontalEdge, ds.CollimatorLowerHorizontalEdge) == (r0 + 1, r1)
        px = ds.pixel_array.reshape(shot["shape"])
        assert (px[:, :r0] == 0).all() and (px[:, :, c1:] == 0).all()  # nothing outside the collimation
        assert ds.BurnedInAnnotation == "YES"
        vol = load(_file(samples, shot))
        assert vol.kind == "projection" and vol.shape == tuple(shot["shape"])
        np.testing.assert_allclose(vol.spacing, shot["spacing_mm"], rtol=1e-9)
    cine = pydicom.dcmread(_file(samples, shots["needle_cine"]))
    assert float(cine.FrameTime) == shots["needle_cine"]["frame_time_ms"] and cine.NumberOfFrames == 12


def test_truth_projection_agrees_with_the_c_arm_and_the_conventions(shots):
    for shot in shots.values():
        carm = CArm(sid=shot["sid_mm"], sod=shot["sod_mm"], primary_deg=shot["positioner_primary_angle_deg"],
                    secondary_deg=shot["positioner_secondary_angle_deg"], isocenter=tuple(shot["isocenter_lps_mm"]),
                    rows=shot["rows"], cols=shot["columns"], pixel_mm=tuple(shot["imager_pixel_spacing_mm"]))
        iso = np.asarray(shot["isocenter_lps_mm"])
        assert carm.project(iso[None])[0] == pytest.approx(shot["principal_point_px"], abs=1e-9)
        left = carm.project((iso + [30.0, 0, 0])[None])[0]
        if shot["positioner_primary_angle_deg"] == 0:  # AP: patient's left on screen right
            assert left[1] > shot["principal_point_px"][1] + 10
        else:  # LAO 90: posterior (the spine's back) on screen right
            back = carm.project((iso + [0, 30.0, 0])[None])[0]
            assert back[1] > shot["principal_point_px"][1] + 10
        head = carm.project((iso + [0, 0, 30.0])[None])[0]
        assert head[0] < shot["principal_point_px"][0] - 10  # head up


def test_screw_truth_projects_with_the_c_arm(truth, shots):
    ct_screws = truth["lumbar_ct"]["screws"]
    for shot in shots.values():
        carm = CArm(sid=shot["sid_mm"], sod=shot["sod_mm"], primary_deg=shot["positioner_primary_angle_deg"],
                    isocenter=tuple(shot["isocenter_lps_mm"]), rows=shot["rows"], cols=shot["columns"],
                    pixel_mm=tuple(shot["imager_pixel_spacing_mm"]))
        for s, c in zip(shot["screws"], ct_screws):
            got = carm.project(np.array([c["entry_lps_mm"], c["tip_lps_mm"]]))
            np.testing.assert_allclose(got, [s["entry_px"], s["tip_px"]], atol=1e-6)


def test_needle_tip_in_the_cine_is_where_truth_says(samples, shots):
    cine = shots["needle_cine"]
    px = pydicom.dcmread(_file(samples, cine)).pixel_array.astype(float)
    tips = np.asarray(cine["needle"]["tip_px"])
    u = (tips[-1] - tips[0]) / np.linalg.norm(tips[-1] - tips[0])
    v = np.array([-u[1], u[0]])
    t = np.arange(-10.0, np.linalg.norm(tips[-1] - tips[0]) + 10, 0.25)
    for f in range(1, len(px)):
        # the needle added since frame 0 darkens the image along its projected path: fit a
        # step (dark from tip 0 to the end, background beyond) to the profile along it
        diff = gaussian_filter(px[0] - px[f], 1.0)
        prof = np.mean([map_coordinates(diff, (tips[0][:, None] + np.outer(u, t) + w * v[:, None]), order=1)
                        for w in (-1.0, -0.5, 0.0, 0.5, 1.0)], axis=0)
        assert _step_end(t, prof) == pytest.approx(np.linalg.norm(tips[f] - tips[0]), abs=1.5), f


def _step_end(t: np.ndarray, prof: np.ndarray) -> float:
    """End of the plateau starting at t = 0: least-squares two-level step fit over a fixed window."""
    best, end = np.inf, 0.0
    window = (t >= 0) & (t <= t[-1] - 2)
    for e in t[(t > 0.5) & (t < t[-1] - 5)]:
        a, b = prof[window & (t <= e)], prof[window & (t > e)]
        cost = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        if cost < best:
            best, end = cost, e
    return float(end)


def test_screw_on_the_lateral_shot_agrees_with_the_ct(samples, shots, truth):
    lat = shots["lateral"]
    px = pydicom.dcmread(_file(samples, lat)).pixel_array.astype(float)
    m = lat["sid_mm"] / lat["sod_mm"]
    for s in lat["screws"]:
        e, tip = np.asarray(s["entry_px"]), np.asarray(s["tip_px"])
        u = (tip - e) / np.linalg.norm(tip - e)
        v = np.array([-u[1], u[0]])
        t = np.arange(-24.0, 10.01, 0.25)  # from the full shank, through the 5 mm taper, beyond the tip
        smooth = gaussian_filter(px, 1.5)
        prof = np.mean([map_coordinates(smooth, tip[:, None] + np.outer(u, t) + w * v[:, None], order=1)
                        for w in (-1.0, 0.0, 1.0)], axis=0)
        lo, hi = prof[0], prof[-1]
        end = t[np.nonzero(prof > hi - 0.15 * (hi - lo))[0].min()]
        # the dark metal ends at the truth tip (within 1.5 mm at the isocentre: the taper to a
        # 1 mm radius fades into the bone, and the screws of both sides overlap on a lateral)
        assert abs(end) * lat["imager_pixel_spacing_mm"][0] / m <= 1.5, (s["level"], s["side"], end)
        # ERMF-corrected length = the CT length in the detector plane, up to the magnification
        # of the screw's own depth (exact) and never outside the off-isocentre range
        corrected = s["length_ermf_corrected_mm"]
        assert corrected == pytest.approx(np.linalg.norm(tip - e) * lat["imager_pixel_spacing_mm"][0] / m)
        ideal = s["ct_length_in_detector_plane_mm"]
        d = abs(s["midpoint_depth_from_isocenter_plane_mm"]) + 30  # + half the screw's own depth span
        assert ideal * lat["sod_mm"] / (lat["sod_mm"] + d) <= corrected <= ideal * lat["sod_mm"] / (lat["sod_mm"] - d)
        assert corrected == pytest.approx(ideal, rel=0.06)
