"""The anatomical lumbar phantom (sample_dicoms/lumbar_ct): loads, matches its truth, and the
truth is consistent with itself and with the analytic model it was computed from."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import ndimage

from miss_imaging.reading.loader import load

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def model(samples):
    sys.path.insert(0, str(samples))
    try:
        import _anatomy
        import _lumbar_truth
    finally:
        sys.path.remove(str(samples))
    return _anatomy, _lumbar_truth, _anatomy.build_spine()


@pytest.fixture(scope="module")
def ct(samples):
    return load(samples / "lumbar_ct")


@pytest.fixture(scope="module")
def t(truth):
    return truth["lumbar_ct"]


def hu_at(ct, pts_lps) -> np.ndarray:
    """Trilinear HU at LPS points, via the volume's own affine."""
    pts = np.atleast_2d(np.asarray(pts_lps, float))
    inv = np.linalg.inv(ct.affine)
    idx = (np.c_[pts, np.ones(len(pts))] @ inv.T)[:, :3]
    return ndimage.map_coordinates(ct.pixels.astype(np.float32), idx.T, order=1)


def in_fov(t, p, margin=3.0) -> bool:
    """Whether the LPS point lies inside the scanned slab (z range) with a margin (mm)."""
    z0 = t["origin_lps_mm"][2]
    z1 = z0 + t["spacing_mm"][0] * (t["n_slices"] - 1)
    return z0 + margin <= p[2] <= z1 - margin


def test_loads_with_the_geometry_of_truth(ct, t):
    assert ct.shape == tuple(t["shape"])
    np.testing.assert_allclose(ct.affine, np.array(t["affine"]), atol=1e-6)
    np.testing.assert_allclose(ct.spacing, t["spacing_mm"])
    assert [p.name for p in ct.files] == t["files_in_array_order"]
    assert ct.frame_of_reference_uid == t["frame_of_reference_uid"]


def test_tissues_are_where_truth_says(ct, t):
    for name, lv in t["levels"].items():
        centre = np.asarray(lv["body_center_lps_mm"])
        if not in_fov(t, centre):
            continue
        assert 100 < hu_at(ct, centre)[0] < 280, name  # cancellous bone
        if lv["canal"]["enclosed"]:
            assert hu_at(ct, lv["canal"]["centroid_lps_mm"])[0] < 100, name  # canal contents
    for lv in t["levels"].values():
        skin = np.asarray(lv["skin_posterior_midline_lps_mm"])
        if not in_fov(t, skin):
            continue
        assert hu_at(ct, skin + [0, 3.0, 0])[0] < -850  # air behind the back
        assert hu_at(ct, skin - [0, 4.0, 0])[0] < 0  # subcutaneous fat under the skin


def test_body_corners_sit_on_the_bone_edges(ct, t):
    for name, lv in t["levels"].items():
        c = np.asarray(lv["corners_lps_mm"])
        centre = c.mean(axis=0)
        for corner in (c for c in c if in_fov(t, c, 5.0)):
            u = (centre - corner) / np.linalg.norm(centre - corner)
            assert hu_at(ct, corner + 2.0 * u)[0] > 300, name  # cortex just inside the corner
            assert hu_at(ct, corner - 3.0 * u)[0] < 250, name  # disc / soft tissue outside


def test_canal_outline_is_bounded_by_bone(ct, t):
    for name, lv in t["levels"].items():
        canal = lv["canal"]
        if not canal["enclosed"] or not in_fov(t, canal["centroid_lps_mm"], 10.0):
            continue
        poly, cen = np.asarray(canal["outline_lps_mm"]), np.asarray(canal["centroid_lps_mm"])
        mids = (poly + np.roll(poly, -1, axis=0)) / 2
        for m in mids:
            out = (m - cen) / np.linalg.norm(m - cen)
            assert hu_at(ct, m - 1.5 * out)[0] < 250, name
            assert hu_at(ct, m + np.linspace(0.5, 3.0, 6)[:, None] * out).max() > 400, name


def test_screws_are_metal_along_their_axis(ct, t):
    for s in t["screws"]:
        e, tip = np.asarray(s["entry_lps_mm"]), np.asarray(s["tip_lps_mm"])
        pts = e[None] + np.linspace(0.1, 0.85, 12)[:, None] * (tip - e)[None]
        assert hu_at(ct, pts).min() > 2500
        np.testing.assert_allclose(np.linalg.norm(tip - e), s["length_mm"], atol=1e-6)
        np.testing.assert_allclose((tip - e) / s["length_mm"], s["axis_lps"], atol=1e-9)


def _inclination(post, ant):
    v = np.asarray(ant) - np.asarray(post)
    return np.degrees(np.arctan2(-v[2], -v[1]))


def test_disc_parameters_follow_from_the_corners(t):
    lv = t["levels"]
    for key, d in t["discs"].items():
        up, lo = key.split("-")
        cu, cl = np.asarray(lv[up]["corners_lps_mm"]), np.asarray(lv[lo]["corners_lps_mm"])
        assert d["anterior_mm"] == pytest.approx(np.linalg.norm(cu[3] - cl[0]), abs=1e-6)
        assert d["posterior_mm"] == pytest.approx(np.linalg.norm(cu[2] - cl[1]), abs=1e-6)
        assert d["middle_mm"] == pytest.approx(np.linalg.norm((cu[2] + cu[3] - cl[0] - cl[1]) / 2), abs=1e-6)
        assert d["disc_angle_deg"] == pytest.approx(_inclination(cl[1], cl[0]) - _inclination(cu[2], cu[3]), abs=1e-6)
        e = (cl[0] - cl[1]) / np.linalg.norm(cl[0] - cl[1])
        pct = (cu[2] - cl[1]) @ e / np.linalg.norm(cl[0] - cl[1]) * 100
        assert d["slip_percent"] == pytest.approx(pct, abs=1e-6)
        grade = "none" if abs(pct) < 1e-6 else "I" if pct <= 25 else "II" if pct <= 50 else "III"
        assert d["slip_grade"] == grade
    slip = t["discs"]["L4-L5"]
    assert slip["slip_grade"] == "I" and 10 < slip["slip_percent"] <= 25
    narrowed = t["discs"]["L5-S1"]
    assert narrowed["posterior_mm"] <= 4.0 and narrowed["likely_root_compression"]


def test_lordosis_is_the_sum_of_disc_angles_and_body_wedges(t):
    lv, discs = t["levels"], t["discs"]
    total = sum(discs[k]["disc_angle_deg"] for k in ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"))
    total += sum(lv[n]["inferior_endplate_inclination_deg"] - lv[n]["superior_endplate_inclination_deg"]
                 for n in ("L1", "L2", "L3", "L4", "L5"))
    assert t["lordosis_deg"]["L1-S1"] == pytest.approx(total, abs=1e-6)
    assert 25 < t["lordosis_deg"]["L1-S1"] < 50  # recumbent range (36.8 +- 13.2 deg)


def near(spine, name: str) -> dict:
    """The level and its neighbours: the only bone that can reach its canal or pedicles."""
    names = list(spine)
    i = names.index(name)
    return {n: spine[n] for n in names[max(i - 1, 0):i + 2]}


def test_canal_area_equals_the_bone_free_region_of_the_model(model, t):
    an, _, spine = model
    for name, lv in t["levels"].items():
        canal = lv["canal"]
        if not canal["enclosed"]:
            continue
        v = spine[name]
        h = 0.05
        xs = np.arange(-20, 20, h)
        ps = np.arange(v.dims["D"] / 2 - 4, v.dims["D"] / 2 + v.dims["ap"] + 4, h)
        gx, gp = np.meshgrid(xs, ps, indexing="ij")
        pts = v.lps(np.stack([gx, gp, np.full_like(gx, v.s_pedicle)], -1))
        free = an.bone_sdf(near(spine, name), pts) >= 0
        lab, _ = ndimage.label(free)
        cen_local = (np.asarray(canal["centroid_lps_mm"]) - v.origin) @ v.rot
        seed = lab[int((cen_local[0] - xs[0]) / h), int((cen_local[1] - ps[0]) / h)]
        region = lab == seed
        assert not (region[0].any() or region[-1].any() or region[:, 0].any() or region[:, -1].any()), name
        assert region.sum() * h * h == pytest.approx(canal["area_mm2"], rel=0.01), name
        ap = np.ptp(gp[region][np.abs(gx[region]) < h])
        assert ap == pytest.approx(canal["ap_mm"], abs=2 * h), name


def _screw_surface(s, n_len=120, n_ang=72):
    e, a = np.asarray(s["entry_lps_mm"]), np.asarray(s["axis_lps"])
    u = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])
    u /= np.linalg.norm(u)
    w = np.cross(a, u)
    tt = np.linspace(3.0, s["length_mm"] - s["tip_taper_mm"], n_len)
    ang = np.linspace(0, 2 * np.pi, n_ang, endpoint=False)
    r = s["diameter_mm"] / 2
    return (e[None, None] + tt[:, None, None] * a + r * (np.cos(ang)[None, :, None] * u + np.sin(ang)[None, :, None] * w)).reshape(-1, 3)


def test_breach_matches_the_screw_against_the_cortex_model(model, t):
    an, lt, spine = model
    for s in t["screws"]:
        surf = _screw_surface(s)
        sdf = an.bone_sdf(spine, surf)
        assert s["gertzbein_robbins"] == lt.gertzbein_robbins(s["breach_mm"])
        if s["breach_mm"] == 0:
            assert (sdf < 0).all(), (s["level"], s["side"])
            continue
        # exact distance outside bone: fine distance transform of the model around the breach
        worst = surf[np.argmax(sdf)]
        h = 0.1
        g = np.arange(-5, 5 + h / 2, h)
        gx, gy, gz = np.meshgrid(g, g, g, indexing="ij")
        grid = worst + np.stack([gx, gy, gz], -1)
        bone = an.bone_sdf(near(spine, s["level"]), grid) < 0
        dist = ndimage.distance_transform_edt(~bone, sampling=h)
        out = surf[np.linalg.norm(surf - worst, axis=1) < 2]
        idx = np.clip(np.rint((out - worst - g[0]) / h).astype(int), 0, len(g) - 1)
        measured = dist[idx[:, 0], idx[:, 1], idx[:, 2]].max()
        assert measured == pytest.approx(s["breach_mm"], abs=0.15)
        assert s["breach_direction"] == "medial" and s["gertzbein_robbins"] == "C"
        # medial: the breach point lies nearer the midline than the pedicle's axis
        ped = t["levels"][s["level"]]["pedicles"][s["side"]]
        assert abs(worst[0]) < abs(ped["isthmus_center_lps_mm"][0])


def test_pedicles_contain_their_axis_and_isthmus_width(model, t):
    an, _, spine = model
    for name, lv in t["levels"].items():
        for side, ped in lv["pedicles"].items():
            c, axis = np.asarray(ped["isthmus_center_lps_mm"]), np.asarray(ped["axis_lps"])
            lateral = np.cross(axis, spine[name].vec([0, 0, 1.0]))
            half = ped["isthmus_width_mm"] / 2
            assert an.bone_sdf(spine, (c + (half - 0.05) * lateral)[None])[0] < 0
            assert an.bone_sdf(spine, (c - (half - 0.05) * lateral)[None])[0] < 0
            # medial wall: just beyond it is the canal (no bone)
            medial = -lateral if np.sign((c + lateral)[0]) == np.sign(c[0]) and abs((c + lateral)[0]) > abs(c[0]) else lateral
            assert an.bone_sdf(spine, (c + (half + 0.05) * medial)[None])[0] > 0, (name, side)
