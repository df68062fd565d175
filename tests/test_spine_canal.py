"""Canal and foramen on analytic phantoms: elliptic canals of known axes in a bone ring, oblique anisotropic grids."""

from __future__ import annotations

import numpy as np
import pytest

import spine_phantom as P
from miss_imaging.errors import MeasurementError
from miss_imaging.spine import canal, foramen


def _ring_volume(a, b, axis=(0.0, 0.0, 1.0), gap=False, rot=(8.0, -6.0, 12.0)):
    """Bone (700 HU) elliptic ring around a canal (20 HU) of semi-axes `a` (AP) and `b` (LR), in 40 HU tissue."""
    n = np.asarray(axis, float) / np.linalg.norm(axis)
    e1 = np.array([0.0, 1.0, 0.0]) - n[1] * n
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    ph = P.Phantom((70, 60, 50), rot=rot, fill=40.0)
    lo, hi = [-35, -30, -25], [35, 30, 25]
    ph.paint(P.elliptic_cylinder((0, 0, 0), e1, e2, a + 8, b + 8), 700.0, lo, hi)
    ph.paint(P.elliptic_cylinder((0, 0, 0), e1, e2, a, b), 20.0, lo, hi)
    if gap:  # an open ring: a soft-tissue channel through the posterior bone
        ph.paint(P.halfspaces([((3, 0, 0), (1, 0, 0)), ((-3, 0, 0), (-1, 0, 0)), ((0, 2, 0), (0, -1, 0))]), 40.0,
                 [-3, 0, -25], [3, 30, 25])
    return ph.volume(), e1


@pytest.mark.parametrize("a, b, stenosis", [(7.5, 11.0, "none"), (5.5, 9.0, "relative"), (4.5, 8.0, "absolute")])
def test_canal_ap_area_and_stenosis(a, b, stenosis):
    vol, _ = _ring_volume(a, b)
    c = canal(vol, [1.0, -1.5, 3.0])  # seed off-centre
    assert c.ap_mm == pytest.approx(2 * a, abs=0.5)
    assert c.width_mm == pytest.approx(2 * b, abs=0.5)
    assert c.area_mm2 == pytest.approx(np.pi * a * b, rel=0.05)
    assert c.stenosis == stenosis
    assert bool(c.flags) == (stenosis != "none") and "PMC3775665" in c.normal.source
    assert c.calibration == vol.calibration and "centroid" in c.definition
    # the outline lies in the axial plane through the seed, on the ellipse
    o = c.outline_lps
    assert np.allclose(o[:, 2], 3.0, atol=1e-6)
    r = np.hypot(o[:, 1] / a, o[:, 0] / b)
    assert np.abs(r - 1).max() < 0.06
    assert np.allclose(c.centroid_lps[:2], 0.0, atol=0.2)


def test_canal_in_an_oblique_plane():
    axis = (0.0, np.sin(np.radians(20)), np.cos(np.radians(20)))
    vol, e1 = _ring_volume(6.0, 10.0, axis=axis)
    c = canal(vol, [0.5, 0.0, 0.0], normal=axis)
    assert c.ap_mm == pytest.approx(12.0, abs=0.5)
    assert c.area_mm2 == pytest.approx(np.pi * 60.0, rel=0.05)
    # the axial plane cuts the tilted canal obliquely: longer AP by 1/cos(20)
    ax = canal(vol, [0.5, 0.0, 0.0])
    assert ax.ap_mm == pytest.approx(12.0 / np.cos(np.radians(20)), abs=0.5)


def test_canal_says_when_the_image_cannot_answer():
    vol, _ = _ring_volume(7.0, 10.0, gap=True)
    with pytest.raises(MeasurementError, match="not enclosed"):
        canal(vol, [0.0, 0.0, 0.0])
    vol, _ = _ring_volume(7.0, 10.0)
    with pytest.raises(MeasurementError, match="in bone"):
        canal(vol, [0.0, 10.0, 0.0])
    ph = P.Phantom((40, 40, 20), fill=40.0)
    with pytest.raises(MeasurementError, match="no bone"):
        canal(ph.volume(), [0.0, 0.0, 0.0])


@pytest.mark.parametrize("half_height, flagged", [(9.0, False), (7.0, True)])
def test_foramen_height_on_a_parasagittal_plane(half_height, flagged):
    ph = P.Phantom((40, 50, 60), fill=40.0)
    ph.paint(P.halfspaces(P.slab_x(15) + [((0, 20, 0), (0, 1, 0)), ((0, -20, 0), (0, -1, 0)),
                                          ((0, 0, 25), (0, 0, 1)), ((0, 0, -25), (0, 0, -1))]),
             600.0, [-15, -20, -25], [15, 20, 25])
    # the foramen: an elliptic tunnel along x, height along z, width along y
    ph.paint(P.elliptic_cylinder((0, 2, 1), (0, 0, 1), (0, 1, 0), half_height, 4.0), 30.0,
             [-15, -20, -25], [15, 20, 25])
    f = foramen(ph.volume(), [12.0, 2.5, 0.0])
    assert f.height_mm == pytest.approx(2 * half_height, abs=0.5)
    assert f.width_mm == pytest.approx(8.0, abs=0.5)
    assert f.area_mm2 == pytest.approx(np.pi * half_height * 4.0, rel=0.05)
    assert bool(f.flags) == flagged and "Hasegawa" in f.normal.source
