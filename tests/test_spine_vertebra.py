"""Vertebral corners, snapping, disc heights, angles, lordosis and slip on an analytic lumbar phantom.

The phantom: L3, L4, L5 bodies (350 HU, 2 mm partial-volume ramp) in soft tissue (40 HU), sagittal
quadrilaterals extruded ±18 mm in x, on an oblique grid with anisotropic
spacing (1.1 x 0.7 x 0.55 mm).  Endplate tilts, wedges, disc angles and the
L4 slip are construction inputs, so the expected values are known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import spine_phantom as P
from miss_imaging.errors import MeasurementError
from miss_imaging.spine import (Vertebra, disc_angle, disc_height, lordosis, segmental_angle, slip,
                                snap_corners)

DEPTH = 34.0


def _dir(theta):
    """Unit (y, z) of a posterior->anterior line tilted `theta` deg (anterior end up = +)."""
    t = np.radians(theta)
    return np.array([-np.cos(t), np.sin(t)])



def _normal_up(theta):
    """Unit (y, z) perpendicular to the endplate, pointing superior."""
    d = _dir(theta)
    n = np.array([-d[1], d[0]])
    return n if n[1] > 0 else -n


def _body(pi, theta_i, h_post, theta_s):
    ps = pi + np.array([0.0, h_post])
    return np.array([ps + DEPTH * _dir(theta_s), ps, pi, pi + DEPTH * _dir(theta_i)])


TILT = {"L5s": -15.0, "L5i": -25.0}
TILT["L4i"] = TILT["L5s"] + 8.0   # L4-L5 disc angle 8 deg
TILT["L4s"] = TILT["L4i"] + 3.0   # L4 body wedge
TILT["L3i"] = TILT["L4s"] + 6.0   # L3-L4 disc angle 6 deg
TILT["L3s"] = TILT["L3i"] + 2.0
SLIP_MM = 4.0


def _corners():
    ps5 = np.array([0.0, -20.0])
    l5 = np.array([ps5 + DEPTH * _dir(TILT["L5s"]), ps5, ps5 - [0, 25.0], ps5 - [0, 25.0] + DEPTH * _dir(TILT["L5i"])])
    pi4 = ps5 + SLIP_MM * _dir(TILT["L5s"]) + 6.0 * _normal_up(TILT["L5s"])
    l4 = _body(pi4, TILT["L4i"], 26.0, TILT["L4s"])
    pi3 = l4[1] + 7.0 * _normal_up(TILT["L4s"])
    l3 = _body(pi3, TILT["L3i"], 27.0, TILT["L3s"])
    return {name: np.column_stack([np.zeros(4), c]) for name, c in (("L3", l3), ("L4", l4), ("L5", l5))}


@pytest.fixture(scope="module")
def spine():
    corners = _corners()
    ph = P.Phantom((50, 70, 140), centre=(0.0, -15.0, 0.0), fill=40.0)
    for c in corners.values():
        yz = c[:, 1:]
        lo = np.array([-18.0, yz[:, 0].min(), yz[:, 1].min()])
        hi = np.array([18.0, yz[:, 0].max(), yz[:, 1].max()])
        ph.paint(P.sagittal_body(yz), 350.0, lo, hi)
    return ph.volume(), corners


def _clicks(c, rng):
    off = rng.normal(size=(4, 3))
    off[:, 1:] *= 2.0 / np.linalg.norm(off[:, 1:], axis=1, keepdims=True) * rng.uniform(0.8, 1.0, (4, 1))
    off[:, 0] = rng.uniform(-0.5, 0.5, 4)
    return c + off


def test_snap_moves_clicks_2mm_off_to_within_half_mm(spine):
    vol, corners = spine
    rng = np.random.default_rng(3)
    for name, c in corners.items():
        for _ in range(3):
            got = snap_corners(vol, _clicks(c, rng))
            err = np.linalg.norm((got - c)[:, 1:], axis=1)  # x is free along the extruded body
            assert err.max() < 0.5, (name, err)


def test_two_users_get_the_same_numbers(spine):
    vol, corners = spine
    rng = np.random.default_rng(11)
    a = [snap_corners(vol, Vertebra(n, _clicks(c, rng))) for n, c in corners.items()]
    b = [snap_corners(vol, Vertebra(n, _clicks(c, rng))) for n, c in corners.items()]
    assert a[0].snapped and a[0].label == "L3" and a[0].calibration == vol.calibration
    for (u1, l1), (u2, l2) in (((a[0], a[1]), (b[0], b[1])), ((a[1], a[2]), (b[1], b[2]))):
        h1, h2 = disc_height(u1, l1), disc_height(u2, l2)
        assert abs(h1.middle_mm - h2.middle_mm) < 0.3
        assert abs(disc_angle(u1, l1).degrees - disc_angle(u2, l2).degrees) < 0.7


def test_disc_heights_and_angles_from_snapped_corners(spine):
    vol, corners = spine
    rng = np.random.default_rng(5)
    v = {n: snap_corners(vol, Vertebra(n, _clicks(c, rng))) for n, c in corners.items()}
    for up, lo, disc in (("L3", "L4", 6.0), ("L4", "L5", 8.0)):
        cu, cl = corners[up], corners[lo]
        h = disc_height(v[up], v[lo])
        assert h.anterior_mm == pytest.approx(np.linalg.norm(cu[3] - cl[0]), abs=0.5)
        assert h.posterior_mm == pytest.approx(np.linalg.norm(cu[2] - cl[1]), abs=0.5)
        mid = np.linalg.norm((cu[2] + cu[3]) / 2 - (cl[0] + cl[1]) / 2)
        assert h.middle_mm == pytest.approx(mid, abs=0.5)
        assert disc_angle(v[up], v[lo]).degrees == pytest.approx(disc, abs=1.0)
    seg = TILT["L3s"] - TILT["L4i"]
    assert segmental_angle(v["L3"], v["L4"]).degrees == pytest.approx(seg, abs=1.0)
    lord = lordosis(list(v.values()), "L3", "L5")
    assert lord.degrees == pytest.approx(TILT["L3s"] - TILT["L5s"], abs=1.0)
    assert lord.normal is None  # no published L3-L5 norm: no flag
    s = slip(v["L4"], v["L5"])
    assert s.percent == pytest.approx(100 * SLIP_MM / DEPTH, abs=1.5) and s.grade == "I"


def test_angle_signs_and_definitions_on_hand_built_corners():
    # parallel endplates 10 mm apart, upper shifted 30 % posteriorly (retrolisthesis)
    upper = Vertebra("L4", [[0, -30, 40], [0, 0, 40], [0, 0, 10], [0, -30, 10]])
    lower = Vertebra("L5", [[0, -30, 0], [0, 0, 0], [0, 0, -25], [0, -30, -25]])
    h = disc_height(upper, lower)
    assert (h.anterior_mm, h.middle_mm, h.posterior_mm) == pytest.approx((10, 10, 10))
    assert disc_angle(upper, lower).degrees == pytest.approx(0.0, abs=1e-9)
    # open the disc anteriorly: lower the anterior-superior corner of L5 -> lordotic, positive
    wedge = Vertebra("L5", [[0, -30, -30 * np.tan(np.radians(10))], [0, 0, 0], [0, 0, -25], [0, -30, -25]])
    assert disc_angle(upper, wedge).degrees == pytest.approx(10.0)
    assert lordosis([upper, wedge], "L4", "L5").degrees == pytest.approx(10.0)
    back = Vertebra("L4", upper.corners + [0, 9, 0])
    s = slip(back, lower)
    assert s.percent == pytest.approx(-30.0) and s.grade == "retrolisthesis"
    fwd = slip(Vertebra("L4", upper.corners + [0, -16, 0]), lower)
    assert fwd.grade == "III" and fwd.percent == pytest.approx(53.33, abs=0.01)
    # the same numbers in any orientation: rotate everything about an oblique axis
    r = P.rotation(20, -35, 50)
    ru, rl = Vertebra("L4", upper.corners @ r.T), Vertebra("L5", wedge.corners @ r.T)
    assert disc_angle(ru, rl).degrees == pytest.approx(10.0)
    assert disc_height(ru, rl).posterior_mm == pytest.approx(10.0)


def test_flags_and_norms():
    upper = Vertebra("L4", [[0, -30, 33.5], [0, 0, 33.5], [0, 0, 3.5], [0, -30, 3.5]])
    lower = Vertebra("L5", [[0, -30, 0], [0, 0, 0], [0, 0, -25], [0, -30, -25]])
    h = disc_height(upper, lower)
    assert any("root compression" in f for f in h.flags) and any("below normal" in f for f in h.flags)
    assert "Hurxthal" in h.definition and "Spahn" in h.normal.source
    t35 = 30 * np.tan(np.radians(35))
    l1 = Vertebra("L1", [[0, -30, t35], [0, 0, 0], [0, 0, -25], [0, -30, -25]])
    s1 = Vertebra("S1", [[0, -30, -200 - t35], [0, 0, -200], [0, 0, -225], [0, -30, -250]])
    lord = lordosis([l1, s1])
    assert lord.degrees == pytest.approx(70.0)
    assert lord.normal.name.endswith("recumbent") and lord.flags  # 70 > 36.8 + 2 x 13.2
    assert not lordosis([l1, s1], posture="standing").flags  # within 49.8 +- 2 x 11.2


def test_bad_input_says_what_is_wrong(spine):
    vol, corners = spine
    with pytest.raises(MeasurementError, match="order"):
        Vertebra("L4", corners["L4"][[1, 0, 3, 2]])
    with pytest.raises(MeasurementError, match="4 corners"):
        Vertebra("L4", corners["L4"][:3])
    with pytest.raises(MeasurementError, match="no vertebra labelled L1, S1"):
        lordosis([Vertebra("L4", corners["L4"])])
    with pytest.raises(MeasurementError, match="edge|click"):
        snap_corners(vol, corners["L4"] + [0, 0, 60.0])  # clicks in empty soft tissue above the spine


def test_snap_and_disc_height_on_a_lateral_fluoroscopy_frame():
    """A projection: image-plane mm (x along columns = posterior here, y along rows = inferior), ERMF-calibrated."""
    from miss_imaging.model import ImageVolume

    sp = 0.28  # mm per pixel after magnification correction
    rows, cols = 300, 260
    yy, xx = np.mgrid[0:rows, 0:cols] * sp
    pts = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)
    upper = np.array([[12.0, 10.0, 0], [46.0, 12.0, 0], [46.0, 38.0, 0], [12.0, 36.0, 0]])  # AS, PS, PI, AI
    lower = np.array([[12.0, 46.0, 0], [46.0, 45.0, 0], [46.0, 71.0, 0], [12.0, 72.0, 0]])
    img = np.full(xx.size, 3000.0)
    for c in (upper, lower):
        centre = c.mean(axis=0)
        planes = []
        for i in range(4):
            p, q = c[i], c[(i + 1) % 4]
            n = np.array([q[1] - p[1], -(q[0] - p[0]), 0.0])
            planes.append((p, n if np.dot(n, p - centre) > 0 else -n))
        f = np.clip(0.5 - P.halfspaces(planes)(pts) / 1.5, 0, 1)
        img -= 1800.0 * f  # bone attenuates: darker on the frame
    affine = np.eye(4)
    affine[:3, :3] = np.array([[0, 0, sp], [0, sp, 0], [1.0, 0, 0]])  # (frame, row, col) -> (x, y, z)
    vol = ImageVolume(np.round(img).astype(np.float32).reshape(1, rows, cols), (1.0, sp, sp), affine,
                      "projection", modality="XA", calibration="magnification-corrected (ERMF)")
    rng = np.random.default_rng(4)
    off = rng.uniform(-1.4, 1.4, (4, 3)) * [1, 1, 0]
    u = snap_corners(vol, Vertebra("L4", upper + off, vol.calibration))
    lo = snap_corners(vol, Vertebra("L5", lower - off, vol.calibration))
    assert np.abs(u.corners - upper).max() < 0.5 and np.abs(lo.corners - lower).max() < 0.5
    h = disc_height(u, lo)
    assert h.posterior_mm == pytest.approx(7.0, abs=0.5) and h.anterior_mm == pytest.approx(10.0, abs=0.5)
    assert h.calibration == "magnification-corrected (ERMF)"
