"""The spine tools on the realistic anatomical phantom `sample_dicoms/lumbar_ct` against its exact truth.

1.0 x 1.0 mm pixels, 1.5 mm slices, a 0.5 mm Gaussian point spread, correlated 18 HU noise,
1.5 mm cortices over 180 HU cancellous bone, titanium screws (4000 HU) with heads, a medially
breaching L4 left screw (truth.json "lumbar_ct", computed from the analytic model, never from
pixels).  T12 is excluded: only its lower half is in the scan (its pedicles lie outside it).
"""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.errors import MeasurementError
from miss_imaging.reading.loader import load
from miss_imaging.spine import (STOCK_DIAMETERS_MM, Vertebra, breach, canal, disc_angle, disc_height, find_screws,
                                plan_screw, segmental_angle, snap_corners)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

LEVELS = ("L1", "L2", "L3", "L4", "L5", "S1")


@pytest.fixture(scope="module")
def ct(samples):
    return load(samples / "lumbar_ct")


@pytest.fixture(scope="module")
def t(truth):
    return truth["lumbar_ct"]


def _perturbed(t, seed: int) -> dict[str, np.ndarray]:
    """Truth corners moved in the sagittal plane by random offsets of up to 2 mm (seeded)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in LEVELS:
        c = np.array(t["levels"][name]["corners_lps_mm"])
        d = rng.normal(size=(4, 2))
        d *= rng.uniform(0.0, 2.0, (4, 1)) / np.linalg.norm(d, axis=1)[:, None]
        out[name] = c + np.c_[np.zeros(4), d]
    return out


def _snapped(ct, t, seed: int) -> dict[str, Vertebra]:
    return {name: snap_corners(ct, Vertebra(name, c)) for name, c in _perturbed(t, seed).items()}


@pytest.fixture(scope="module")
def snapped(ct, t):
    return [_snapped(ct, t, seed) for seed in (0, 1, 2)]


def test_exact_clicks_stay_on_the_corners(ct, t):
    """The old snapping moved exact clicks 0.3-1.7 mm into the discs and failed at S1; now <= 0.7 mm."""
    for name in LEVELS:
        c = np.array(t["levels"][name]["corners_lps_mm"])
        err = np.linalg.norm(snap_corners(ct, Vertebra(name, c)).corners - c, axis=1)
        # S1's inferior corners sit on the fused S1-S2 junction: no endplate edge to snap to
        assert err[:2 if name == "S1" else 4].max() < 0.75, (name, err)


def test_clicks_2mm_off_snap_near_the_corners(t, snapped):
    for vs in snapped:
        for name, v in vs.items():
            err = np.linalg.norm(v.corners - np.array(t["levels"][name]["corners_lps_mm"]), axis=1)
            assert err[:2 if name == "S1" else 4].max() < 1.0, (name, err)


def test_disc_heights_and_angles_from_snapped_corners(t, snapped):
    """Verified: heights within 1.2 mm, angles within 2° (the issue's 0.5 mm / 1° is the xfail below)."""
    for vs in snapped:
        for upper, lower in zip(LEVELS, LEVELS[1:]):
            truth = t["discs"][f"{upper}-{lower}"]
            h = disc_height(vs[upper], vs[lower])
            for part in ("anterior_mm", "middle_mm", "posterior_mm"):
                assert getattr(h, part) == pytest.approx(truth[part], abs=1.2), (upper, lower, part)
            assert disc_angle(vs[upper], vs[lower]).degrees == pytest.approx(truth["disc_angle_deg"], abs=2.0)


@pytest.mark.xfail(strict=True, reason="endplates across 1.5 mm slices: the edge found locks onto the slice grid "
                   "(a sawtooth of up to ±0.5 mm along a tilted endplate), so disc heights are off by up to 1.1 mm")
def test_disc_heights_within_half_a_millimetre_goal(t, snapped):
    for vs in snapped:
        for upper, lower in zip(LEVELS, LEVELS[1:]):
            truth = t["discs"][f"{upper}-{lower}"]
            h = disc_height(vs[upper], vs[lower])
            for part in ("anterior_mm", "middle_mm", "posterior_mm"):
                assert getattr(h, part) == pytest.approx(truth[part], abs=0.5)
            assert disc_angle(vs[upper], vs[lower]).degrees == pytest.approx(truth["disc_angle_deg"], abs=1.0)
            if lower != "S1":  # S1's inferior endplate is the fused S1-S2 junction
                assert segmental_angle(vs[upper], vs[lower]).degrees == pytest.approx(
                    truth["segmental_angle_deg"], abs=1.0)


def test_every_screw_found_sized_and_graded(ct, t):
    found = find_screws(ct)
    assert len(found) == len(t["screws"]) == 4
    for truth in t["screws"]:
        s = min(found, key=lambda q: np.linalg.norm(q.tip_lps - truth["tip_lps_mm"]))
        assert np.linalg.norm(s.tip_lps - truth["tip_lps_mm"]) < 1.0
        assert np.linalg.norm(s.entry_lps - truth["entry_lps_mm"]) < 1.0
        assert s.length_mm == pytest.approx(truth["length_mm"], abs=1.0)
        # the phantom's shank is a smooth cylinder of the outer (thread) diameter: like for like
        assert s.diameter_mm == pytest.approx(truth["diameter_mm"], abs=0.3)
        b = breach(ct, s)
        assert b.distance_mm == pytest.approx(truth["breach_mm"], abs=0.5), (truth["level"], truth["side"], b)
        assert b.direction == truth["breach_direction"]
        assert b.grade == truth["gertzbein_robbins"]


@pytest.mark.parametrize("level,side", [(lv, sd) for lv in ("L1", "L2", "L3", "L5") for sd in ("left", "right")]
                         + [("L4", "right")])
def test_pedicle_width_is_the_outer_cortical_width(ct, t, level, side):
    """Along the pedicle axis, from 20 mm behind the isthmus to 25 mm in front of it (through L5's screws).

    L4 left is left out: the breaching screw runs through its medial wall.
    """
    p = t["levels"][level]["pedicles"][side]
    c, ax = np.array(p["isthmus_center_lps_mm"]), np.array(p["axis_lps"])
    plan = plan_screw(ct, c - 20.0 * ax, c + 25.0 * ax)
    assert plan.pedicle_width_mm == pytest.approx(p["isthmus_width_mm"], abs=0.5)
    assert plan.suggested_diameter_mm == max(d for d in STOCK_DIAMETERS_MM if d <= 0.8 * plan.pedicle_width_mm)
    assert plan.medial_angle_deg == pytest.approx(p["medial_angle_deg"], abs=0.5)
    assert plan.caudal_angle_deg == pytest.approx(p["caudal_angle_deg"], abs=0.5)


def test_sacral_pedicle_runs_into_the_ala(ct, t):
    """S1's pedicle merges with the ala: no lateral wall in reach, so no width is given (not a wrong one)."""
    p = t["levels"]["S1"]["pedicles"]["left"]
    c, ax = np.array(p["isthmus_center_lps_mm"]), np.array(p["axis_lps"])
    with pytest.raises(MeasurementError, match="enclosed on both sides"):
        plan_screw(ct, c - 20.0 * ax, c + 25.0 * ax)


@pytest.mark.parametrize("level", ["L1", "L2", "L3", "L5", "S1"])
def test_canal_in_the_vertebra_plane(ct, t, level):
    """Truth gives the canal in each vertebra's own (tilted) axial plane: measured in that plane."""
    truth = t["levels"][level]["canal"]
    c = canal(ct, truth["centroid_lps_mm"], normal=truth["plane_normal_lps"])
    assert c.ap_mm == pytest.approx(truth["ap_mm"], abs=0.5)
    assert c.area_mm2 == pytest.approx(truth["area_mm2"], rel=0.05)
    assert c.stenosis == truth["stenosis"]


def test_laminectomy_level_has_no_enclosed_canal(ct, t):
    truth = t["levels"]["L4"]
    assert not truth["canal"]["enclosed"]
    body = np.array(truth["body_center_lps_mm"])
    seed = body + [0.0, 0.5 * truth["dimensions_mm"]["D"] + 6.0, 0.0]  # behind the body's wall, in the open canal
    with pytest.raises(MeasurementError, match="not enclosed"):
        canal(ct, seed)


def test_snapping_at_the_scan_edge_warns_nothing(ct, t):
    """Profiles that leave the scan (T12 is cut by it) are "no bone", not an All-NaN RuntimeWarning on stderr."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, c in _perturbed(t, 2).items():
            snap_corners(ct, Vertebra(name, c))
        t12 = np.array(t["levels"]["T12"]["corners_lps_mm"])
        with pytest.raises(MeasurementError, match="no body edge found"):
            snap_corners(ct, Vertebra("T12", t12))
