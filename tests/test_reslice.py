"""reslice / Plane against phantoms of known LPS geometry (synthetic and sample_dicoms)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from miss_imaging.model import ImageVolume
from miss_imaging.spatial.reslicing import Plane, make_sampler, reslice
from miss_imaging.spatial.resampling import resample, to_patient_grid
from test_resample import axial_affine, beads, make_volume, positions, ramp, rotation, sheared_stack

# An asymmetric phantom: one bead toward each of patient left (+x), anterior (-y), superior (+z)
CENTRE = np.array([0.0, 0.0, 0.0])
LEFT, ANTERIOR, SUPERIOR = np.array([12.0, 0, 0]), np.array([0, -9.0, 0]), np.array([0, 0, 7.0])


@pytest.fixture(scope="module")
def asym() -> ImageVolume:
    A = axial_affine((0.8, 0.6, 0.6), origin=(-20.0, -20.0, -16.0), R=rotation("x", 6) @ rotation("z", -4))
    return make_volume(lambda p: beads(p, [CENTRE, LEFT, ANTERIOR, SUPERIOR], sigma=1.2) - 1000.0, (40, 68, 68), A)


def image_centroid(img: ImageVolume, near, radius=4.0):
    """(row, col) intensity centroid of the pixels within `radius` mm of LPS `near`."""
    p = positions(img.affine, img.shape)[0]
    m = np.linalg.norm(p - near, axis=-1) < radius
    w = img.pixels[0][m].astype(np.float64)
    w -= w.min()
    rows, cols = np.nonzero(m)
    return np.array([(rows * w).sum(), (cols * w).sum()]) / w.sum()


# ---------------------------------------------------------------- orientation


def test_standard_planes_are_right_handed_and_radiological():
    for name in ("axial", "coronal", "sagittal"):
        pl = Plane.standard(name, CENTRE)
        assert np.linalg.det(np.stack([pl.u, pl.v, pl.normal])) == pytest.approx(1.0)
    # screen right / screen down in LPS
    assert Plane.axial(CENTRE).u == (1.0, 0.0, 0.0) and Plane.axial(CENTRE).v == (0.0, 1.0, 0.0)
    assert Plane.coronal(CENTRE).v == (0.0, 0.0, -1.0) and Plane.sagittal(CENTRE).u == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("name", "bead", "expect"),
    [
        ("axial", LEFT, "right"),  # patient left on screen right
        ("axial", ANTERIOR, "up"),  # anterior up
        ("coronal", LEFT, "right"),
        ("coronal", SUPERIOR, "up"),
        ("sagittal", ANTERIOR, "left"),  # anterior on screen left
        ("sagittal", SUPERIOR, "up"),
    ],
)
def test_orientation_not_mirrored(asym, name, bead, expect):
    pl = Plane.standard(name, CENTRE, pixel_mm=0.5, shape=(81, 81))
    img = reslice(asym, pl)
    r, c = image_centroid(img, bead)
    r0, c0 = image_centroid(img, CENTRE)
    dist = np.linalg.norm(bead) / 0.5  # pixels
    want = {"right": (0, dist), "left": (0, -dist), "up": (-dist, 0)}[expect]
    np.testing.assert_allclose([r - r0, c - c0], want, atol=0.2)


def test_affine_maps_pixels_to_lps(asym):
    pl = Plane.through_points(CENTRE, LEFT, SUPERIOR, pixel_mm=0.4, shape=(90, 100))
    img = reslice(asym, pl)
    assert img.shape == (1, 90, 100) and img.pixels.dtype == np.float32
    for bead in (CENTRE, LEFT, SUPERIOR):
        r, c = image_centroid(img, bead)
        lps = img.affine[:3, :3] @ [0, r, c] + img.affine[:3, 3]
        assert np.linalg.norm(lps - bead) < 0.05
    # through_points: p0 -> p1 runs along +col; p2 lies at larger row
    r0, c0 = image_centroid(img, CENTRE)
    r1, c1 = image_centroid(img, LEFT)
    r2, _ = image_centroid(img, SUPERIOR)
    assert c1 > c0 and abs(r1 - r0) < 0.05 and r2 > r0


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("order", [1, 3])
def test_agrees_with_map_coordinates(order):
    rng = np.random.default_rng(11)
    data = rng.normal(size=(30, 34, 38)).astype(np.float32)
    A = axial_affine((1.1, 0.7, 0.6), origin=(-5.0, 3.0, 2.0), R=rotation("y", 9))
    vol = ImageVolume(data, (1.1, 0.7, 0.6), A, "volume")
    pl = Plane((6.0, 14.0, 18.0), (0.8, 0.3, 0.5), (-0.2, 0.9, 0.1), pixel_mm=0.45, shape=(40, 44))
    img = reslice(vol, pl, order=order)
    idx = (positions(img.affine, img.shape)[0] - A[:3, 3]) @ np.linalg.inv(A[:3, :3]).T
    inside = np.all((idx >= 0) & (idx <= np.array(data.shape) - 1), axis=-1)
    assert inside.mean() > 0.5
    ref = ndimage.map_coordinates(data.astype(np.float64), np.moveaxis(idx, -1, 0), order=order, mode="mirror")
    np.testing.assert_allclose(img.pixels[0][inside], ref[inside], atol=1e-4)
    assert np.all(img.pixels[0][~np.all((idx >= -0.5) & (idx <= np.array(data.shape) - 0.5), axis=-1)] == data.min())


@pytest.mark.parametrize("shape", [(30, 34, 38), (1, 34, 38)])
def test_linear_edges_blocks_and_int16_match_map_coordinates(shape):
    """The linear kernel (blocks of rows, skipped outside spans, int16 gather) equals map_coordinates
    mode "nearest" inside the footprint [-0.5, n - 0.5] (edge half-voxels clamped) and cval outside."""
    rng = np.random.default_rng(5)
    data = rng.integers(-1024, 3000, size=shape).astype(np.int16)
    A = axial_affine((1.1, 0.7, 0.6), origin=(-5.0, 3.0, 2.0), R=rotation("y", 9))
    vol = ImageVolume(data, (1.1, 0.7, 0.6), A, "volume")
    centre = A[:3, :3] @ ((np.array(shape) - 1) / 2) + A[:3, 3]
    if shape[0] == 1:  # in the single slice's plane
        pl = Plane(tuple(centre), tuple(A[:3, 2]), tuple(A[:3, 1]), pixel_mm=0.23, shape=(130, 170))
    else:
        pl = Plane(tuple(centre + [3.0, -2.0, 1.0]), (0.8, 0.3, 0.5), (-0.2, 0.9, 0.1), pixel_mm=0.23,
                   shape=(130, 170))  # 130 rows of 170: several blocks, corners outside the volume
    img = reslice(vol, pl, order=1)
    idx = (positions(img.affine, img.shape)[0] - A[:3, 3]) @ np.linalg.inv(A[:3, :3]).T
    foot = np.all((idx >= -0.5 - 1e-9) & (idx <= np.array(shape) - 0.5 + 1e-9), axis=-1)
    assert 0.3 < foot.mean() < 1.0
    ref = ndimage.map_coordinates(data.astype(np.float64), np.moveaxis(idx, -1, 0), order=1, mode="nearest")
    np.testing.assert_allclose(img.pixels[0][foot], ref[foot], rtol=0, atol=2e-3)  # float32 of values ~1e3
    assert np.all(img.pixels[0][~foot] == data.min())


def test_linear_ramp_exact_on_oblique_plane():
    A = axial_affine((1.0, 0.7, 0.7), R=rotation("x", 13))
    vol = make_volume(ramp, (30, 40, 40), A, dtype=np.float64)
    pl = Plane.along_line((5, 8, 4), (20, 18, 20), angle_deg=33, pixel_mm=0.3, shape=(30, 30))
    img = reslice(vol, pl)
    np.testing.assert_allclose(img.pixels[0], ramp(positions(img.affine, img.shape)[0]), atol=2e-3)


def test_thick_slab_modes():
    A = axial_affine((0.5, 0.5, 0.5), origin=(-10.0, -10.0, -10.0))
    # a bead 3 mm above the plane z = 0, on a z ramp background
    bead = np.array([1.0, -2.0, 3.0])
    vol = make_volume(lambda p: beads(p, [bead], sigma=0.8) + 10.0 * p[..., 2], (41, 41, 41), A, dtype=np.float64)
    pl = Plane.axial((0.0, 0.0, 0.0), pixel_mm=0.5, shape=(21, 21))
    thin = reslice(vol, pl)
    mip = reslice(vol, pl, thickness_mm=8.0, mode="mip")
    mean = reslice(vol, pl, thickness_mm=8.0, mode="mean")
    minip = reslice(vol, pl, thickness_mm=8.0, mode="minip")
    r, c = 6, 12  # pixel under the bead: x = 1, y = -2 -> col 12, row 6 (origin -5, -5)
    assert thin.pixels[0, r, c] < 20  # the thin plane misses the bead
    assert mip.pixels[0, r, c] > 900  # the slab shows it
    # away from the bead: mean of a z ramp over [-4, 4] mm = value at z 0; minip = value at z -4
    assert mean.pixels[0, 0, 0] == pytest.approx(0.0, abs=1e-3)
    assert minip.pixels[0, 0, 0] == pytest.approx(-40.0, abs=1e-3)
    assert mip.spacing == (8.0, 0.5, 0.5) and mip.metadata["reslice"]["mode"] == "mip"
    np.testing.assert_allclose(mip.affine[:3, 0], [0, 0, 8.0])


def test_slab_ignores_samples_outside_the_volume():
    A = axial_affine((1.0, 1.0, 1.0))
    vol = make_volume(lambda p: 100.0 + p[..., 2], (5, 10, 10), A)
    pl = Plane.axial((4.5, 4.5, 0.0), pixel_mm=1.0, shape=(10, 10))  # slab half outside below z = 0
    minip = reslice(vol, pl, thickness_mm=4.0, mode="minip")
    np.testing.assert_allclose(minip.pixels, 100.0, atol=1e-4)
    far = reslice(vol, pl.replace(center=(4.5, 4.5, -50.0)), thickness_mm=4.0, mode="mean")
    assert np.all(far.pixels == 100.0)  # nothing inside: cval = the volume minimum


def test_irregular_stack_reslice():
    centre = np.array([-1.3, 8.2, 37.4])
    vol = sheared_stack(centres=[centre])
    img = reslice(vol, Plane.coronal(centre, pixel_mm=0.3, shape=(41, 41)))
    r, c = image_centroid(img, centre, radius=3.0)
    lps = img.affine[:3, :3] @ [0, r, c] + img.affine[:3, 3]
    assert np.linalg.norm(lps - centre) < 0.1


def test_cached_sampler_gives_same_result(asym):
    pl = Plane.sagittal((1.0, 2.0, 3.0), pixel_mm=0.7, shape=(33, 35))
    np.testing.assert_array_equal(reslice(asym, pl, sampler=make_sampler(asym)).pixels, reslice(asym, pl).pixels)


# ---------------------------------------------------------------- Plane helpers


def test_along_line_geometry():
    entry, target = np.array([10.0, 40.0, 5.0]), np.array([2.0, 10.0, 0.0])
    t = (target - entry) / np.linalg.norm(target - entry)
    p0 = Plane.along_line(entry, target, pixel_mm=0.5, shape=(101, 101))
    np.testing.assert_allclose(p0.v, t)  # line runs down the image
    np.testing.assert_allclose(p0.center, (entry + target) / 2)
    assert abs(np.dot(p0.u, t)) < 1e-12 and p0.u[0] > 0.9  # angle 0: u ~ patient left
    p90 = Plane.along_line(entry, target, angle_deg=90)
    np.testing.assert_allclose(p90.u, np.cross(t, p0.u), atol=1e-12)  # right-handed about entry -> target
    np.testing.assert_allclose(p90.normal @ p0.normal, 0.0, atol=1e-12)
    row, col = p0.to_pixel(entry)[1:]
    assert col == pytest.approx(50.0) and row == pytest.approx(50 - np.linalg.norm(target - entry) / 2 / 0.5)


def test_plane_validation():
    with pytest.raises(ValueError, match="collinear"):
        Plane.through_points((0, 0, 0), (1, 1, 1), (2, 2, 2))
    with pytest.raises(ValueError, match="parallel"):
        Plane((0, 0, 0), (1, 0, 0), (2, 0, 0))
    with pytest.raises(ValueError, match="pixel_mm"):
        Plane((0, 0, 0), (1, 0, 0), (0, 1, 0), pixel_mm=0)
    pl = Plane((0, 0, 0), (2, 0, 0), (1, 3, 0))  # orthonormalised
    assert pl.u == (1.0, 0.0, 0.0) and pl.v == (0.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="mode"):
        reslice(make_volume(ramp, (3, 3, 3), axial_affine((1, 1, 1))), pl, mode="max")  # type: ignore[arg-type]


# ---------------------------------------------------------------- the committed phantom


@pytest.fixture(scope="module")
def phantom(samples):
    if not (samples / "truth.json").is_file() or not (samples / "spine_ct").is_dir():
        pytest.skip("sample_dicoms/spine_ct not generated yet")
    from miss_imaging.reading.loader import load

    return load(samples / "spine_ct")


def _bead_centroid_2d(img, near, background=45.0, radius=3.0):
    p = positions(img.affine, img.shape)[0]
    m = np.linalg.norm(p - near, axis=-1) < radius
    w = np.clip(img.pixels[0][m].astype(np.float64) - background, 0, None)
    return (p[m] * w[:, None]).sum(0) / w.sum()


def test_phantom_inch_pair_in_plane(phantom, truth):
    lm = {k: np.array(v) for k, v in truth["spine_ct"]["landmarks_lps_mm"].items()}
    a, b = lm["inch_a"], lm["inch_b"]
    third = truth["spine_ct"]["anatomy"]["origin_lps_mm"]
    img = reslice(phantom, Plane.through_points(a, b, third, pixel_mm=0.2, shape=(300, 300), center=(a + b) / 2))
    ca, cb = _bead_centroid_2d(img, a), _bead_centroid_2d(img, b)
    assert np.linalg.norm(ca - cb) == pytest.approx(truth["spine_ct"]["distances_mm"]["inch_a-inch_b"], abs=0.1)
    assert np.linalg.norm(ca - a) < 0.1 and np.linalg.norm(cb - b) < 0.1


@pytest.mark.parametrize("angle", [0.0, 90.0])
def test_phantom_screw_along_image_axis(phantom, truth, angle):
    screw = truth["spine_ct"]["screw"]
    entry, tip = np.array(screw["entry_lps_mm"]), np.array(screw["tip_lps_mm"])
    px = 0.25
    pl = Plane.along_line(entry, tip, angle_deg=angle, pixel_mm=px, shape=(240, 120))
    img = reslice(phantom, pl).pixels[0]
    metal = img > 2500  # screw 4000 HU; bone <= 1150 HU
    rows = np.nonzero(metal.any(axis=1))[0]
    # the shaft (entry .. tip - taper) is centred on the middle column in every row
    r_entry, r_tip = (pl.to_pixel(p)[1] for p in (entry, tip))
    shaft = [r for r in rows if r_entry + 4 < r < r_tip - 4 / px - 2]
    assert len(shaft) > 100
    cols = np.arange(img.shape[1])
    centres = [(cols * metal[r]).sum() / metal[r].sum() for r in shaft]
    assert np.ptp(centres) * px < 0.3 and abs(np.mean(centres) - (img.shape[1] - 1) / 2) * px < 0.1
    widths = [metal[r].sum() * px for r in shaft]
    assert np.median(widths) == pytest.approx(screw["diameter_mm"], abs=0.5)
    assert abs(rows.max() - r_tip) * px < 1.0  # tip where the truth says


def test_phantom_isotropic_bead_centroids(phantom, truth):
    iso = resample(phantom, 0.6)
    for name in ("inch_a", "inch_b", "half_a", "half_b"):
        lm = np.array(truth["spine_ct"]["landmarks_lps_mm"][name])
        p = positions(iso.affine, iso.shape)
        m = np.linalg.norm(p - lm, axis=-1) < 3.0
        w = np.clip(iso.pixels[m].astype(np.float64) - 45.0, 0, None)
        c = (p[m] * w[:, None]).sum(0) / w.sum()
        assert np.linalg.norm(c - lm) < 0.05, name


def test_phantom_to_patient_grid_landmarks(phantom, truth):
    grid = to_patient_grid(phantom)
    M = grid.affine[:3, :3]
    assert np.count_nonzero(np.abs(M) > 1e-12) == 3 and M[0, 2] > 0 and M[1, 1] > 0 and M[2, 0] > 0
    assert "tilted" in grid.warnings[-1]
    p = positions(grid.affine, grid.shape)
    for name, lm in truth["spine_ct"]["landmarks_lps_mm"].items():
        lm = np.array(lm)
        m = np.linalg.norm(p - lm, axis=-1) < 3.0
        w = np.clip(grid.pixels[m].astype(np.float64) - 45.0, 0, None)
        c = (p[m] * w[:, None]).sum(0) / w.sum()
        assert np.linalg.norm(c - lm) < 0.1, name


def test_lazy_volume(asym):
    da = pytest.importorskip("dask.array")
    lazy = ImageVolume(da.from_array(asym.pixels, chunks=(4, 68, 68)), asym.spacing, asym.affine, "volume")
    pl = Plane.coronal((0.5, 0.0, 1.0), pixel_mm=0.6, shape=(40, 50))
    np.testing.assert_array_equal(reslice(lazy, pl).pixels, reslice(asym, pl).pixels)
    np.testing.assert_array_equal(to_patient_grid(lazy).pixels, to_patient_grid(asym).pixels)


def test_two_threads_give_the_same_plane(asym):
    """Rows split over two threads (larger kernel blocks) give exactly the one-thread image."""
    pl = Plane((1.0, -2.0, 3.0), (0.9, 0.3, 0.2), (-0.1, 0.4, 0.9), pixel_mm=0.3, shape=(150, 131))
    one = reslice(asym, pl, threads=1).pixels
    two = reslice(asym, pl, threads=2).pixels
    np.testing.assert_array_equal(one, two)
    assert np.ptp(one) > 100  # the plane crosses the beads and leaves the volume
