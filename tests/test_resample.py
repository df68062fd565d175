"""resample / to_patient_grid against analytic phantoms of known LPS geometry.

Every phantom is an analytic function of the LPS position sampled at the
voxel centres that the affine (PS3.3 C.7.6.2.1.1) defines, so the expected
value at any output voxel is the same function at the output affine's
position: no test compares the code with itself.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import ndimage

from miss_imaging.model import ImageVolume, Window
from miss_imaging.spatial.resampling import resample, to_patient_grid

BEAD_SIGMA_MM = 1.6  # anti-aliased Gaussian bead; >> 0.7 mm voxels, so its sampled centroid is exact to ~1e-9


def rotation(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    i, j = {"x": (1, 2), "y": (2, 0), "z": (0, 1)}[axis]
    R = np.eye(3)
    R[i, i] = R[j, j] = c
    R[i, j], R[j, i] = -s, s
    return R


def axial_affine(spacing, origin=(0.0, 0.0, 0.0), R=np.eye(3)) -> np.ndarray:
    """Index (slice, row, col) -> LPS for an axial stack (IOP 1,0,0,0,1,0) rotated by R."""
    sz, sy, sx = spacing
    A = np.eye(4)
    A[:3, 0] = R @ [0, 0, sz]
    A[:3, 1] = R @ [0, sy, 0]
    A[:3, 2] = R @ [sx, 0, 0]
    A[:3, 3] = origin
    return A


def positions(affine: np.ndarray, shape) -> np.ndarray:
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(float)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def to_index(vol: ImageVolume, p) -> np.ndarray:
    """LPS mm (..., 3) -> fractional indices (ImageVolume.patient_to_index handles only (N, 3))."""
    return (np.asarray(p, float) - vol.affine[:3, 3]) @ np.linalg.inv(vol.affine[:3, :3]).T


def beads(p: np.ndarray, centres, sigma=BEAD_SIGMA_MM, peak=1000.0) -> np.ndarray:
    out = np.zeros(p.shape[:-1])
    for c in centres:
        out += peak * np.exp(-np.sum((p - np.asarray(c)) ** 2, axis=-1) / (2 * sigma**2))
    return out


def make_volume(func, shape, affine, dtype=np.float32, **kw) -> ImageVolume:
    p = positions(affine, shape)
    spacing = tuple(np.linalg.norm(affine[:3, :3], axis=0))
    return ImageVolume(func(p).astype(dtype), spacing, affine, "volume", modality="CT", **kw)


def centroid_mm(vol: ImageVolume, near, radius=6.0) -> np.ndarray:
    """Intensity-weighted LPS centroid of the voxels within `radius` mm of `near`."""
    p = positions(vol.affine, vol.shape)
    m = np.linalg.norm(p - np.asarray(near), axis=-1) < radius
    w = np.asarray(vol.pixels, dtype=np.float64)[m]
    w = w - w.min()
    return (p[m] * w[:, None]).sum(0) / w.sum()


def ramp(p):
    return 3.0 * p[..., 0] - 2.0 * p[..., 1] + 5.0 * p[..., 2] + 7.0


# ---------------------------------------------------------------- resample


def test_output_grid_is_exact():
    A = axial_affine((1.0, 0.7, 0.7), origin=(-30.0, 12.5, 100.0), R=rotation("x", 17) @ rotation("z", 8))
    vol = make_volume(ramp, (20, 40, 30), A)
    out = resample(vol, 1.0)
    # n_out = floor((n - 1) * s / s_out) + 1
    assert out.shape == (20, 28, 21)
    assert out.spacing == (1.0, 1.0, 1.0)
    np.testing.assert_allclose(out.origin, vol.origin, atol=1e-12)
    np.testing.assert_allclose(out.affine[:3, :3], A[:3, :3] / np.array(vol.spacing), atol=1e-12)


def test_linear_ramp_reproduced_exactly():
    A = axial_affine((1.0, 0.7, 0.7), origin=(-30.0, 12.5, 100.0), R=rotation("x", 17) @ rotation("z", 8))
    vol = make_volume(ramp, (20, 40, 30), A, dtype=np.float64)
    for sp in (1.0, (0.45, 0.9, 1.3)):
        out = resample(vol, sp)
        expected = ramp(positions(out.affine, out.shape))
        np.testing.assert_allclose(out.pixels, expected, rtol=0, atol=2e-3)  # float32 output of values ~1e3


@pytest.mark.parametrize("order", [1, 3])
def test_agrees_with_map_coordinates(order):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(23, 31, 29)).astype(np.float32)
    A = axial_affine((1.25, 0.7, 0.55), R=rotation("y", 5))
    vol = ImageVolume(data, (1.25, 0.7, 0.55), A, "volume")
    s_out = np.array([0.9, 1.1, 0.8])
    out = resample(vol, s_out, order=order)
    grids = np.meshgrid(*[np.arange(n) * s_out[a] / vol.spacing[a] for a, n in enumerate(out.shape)], indexing="ij")
    ref = ndimage.map_coordinates(data.astype(np.float64), grids, order=order, mode="mirror")
    np.testing.assert_allclose(out.pixels, ref, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_inplane_only_linear_agrees_with_map_coordinates(dtype):
    """Slice spacing kept (no z interpolation): the in-plane row-block kernel, several blocks per slice,
    int16 or float32 output, in-plane samples beyond the footprint filled."""
    rng = np.random.default_rng(9)
    data = rng.integers(-1024, 3000, size=(4, 300, 600)).astype(np.int16)  # 3 row blocks per slice
    A = axial_affine((1.0, 0.7, 0.55), R=rotation("z", 8))
    vol = ImageVolume(data, (1.0, 0.7, 0.55), A, "volume")
    s_out = np.array([1.0, 0.45, 1.1])
    out = resample(vol, s_out, shape=(4, 480, 310), dtype=dtype)  # last rows/cols beyond the footprint
    grids = np.meshgrid(*[np.arange(n) * s_out[a] / vol.spacing[a] for a, n in enumerate(out.shape)], indexing="ij")
    ref = ndimage.map_coordinates(data.astype(np.float64), grids, order=1, mode="nearest")
    foot = np.ones(out.shape, bool)
    for a in range(3):
        foot &= grids[a] <= data.shape[a] - 0.5
    assert 0.5 < foot.mean() < 1.0
    if dtype == np.int16:
        ref = np.rint(ref)
    np.testing.assert_allclose(out.pixels[foot], ref[foot], rtol=0, atol=2e-3 if dtype == np.float32 else 1.0)
    assert out.pixels.dtype == dtype and np.all(out.pixels[~foot] == data.min())


def test_int16_input_order0_keeps_dtype_and_values():
    rng = np.random.default_rng(3)
    data = rng.integers(-1024, 3000, size=(10, 12, 14)).astype(np.int16)
    vol = ImageVolume(data, (2.0, 0.5, 0.5), axial_affine((2.0, 0.5, 0.5)), "volume")
    out = resample(vol, 1.0, order=0)
    assert out.pixels.dtype == np.int16
    # output voxel j lies at j mm: nearest input index round(j * 1.0 / s_in)
    assert out.pixels[3, 2, 5] == data[2, 4, 10]  # z 3 mm -> 1.5 -> rounds to 2 (half away from zero in floor(x+.5))
    lin = resample(vol, 1.0)
    assert lin.pixels.dtype == np.float32
    r16 = resample(vol, 1.0, dtype=np.int16)
    assert r16.pixels.dtype == np.int16
    np.testing.assert_array_equal(r16.pixels, np.rint(lin.pixels).astype(np.int16))


def test_bead_centroid_after_isotropic_resampling():
    R = rotation("x", 12) @ rotation("y", -7)
    A = axial_affine((1.0, 0.7, 0.7), origin=(-20.0, -18.0, 40.0), R=R)
    centre = A[:3, :3] @ [11.3, 24.6, 27.2] + A[:3, 3]  # off-grid on purpose
    vol = make_volume(lambda p: beads(p, [centre]) - 1000.0, (24, 52, 56), A, dtype=np.int16, windows=[Window(400, 40)])
    out = resample(vol, 1.0)
    assert np.linalg.norm(centroid_mm(out, centre) - centre) < 0.05
    assert out.windows == vol.windows and out.modality == "CT"


def test_shape_and_extent_and_outside_fill():
    vol = make_volume(ramp, (5, 6, 7), axial_affine((1.0, 1.0, 1.0)))
    out = resample(vol, 1.0, shape=(7, 6, 7))
    assert out.shape == (7, 6, 7)
    np.testing.assert_allclose(out.pixels[:5], vol.pixels, atol=1e-4)
    # slices 5, 6 lie beyond the footprint (index 4.5): filled with the minimum
    assert out.pixels[6].max() == pytest.approx(float(vol.pixels.min()))
    assert resample(vol, 0.5, extent=(2.0, 1.0, 1.0)).shape == (5, 3, 3)


def test_dask_input():
    da = pytest.importorskip("dask.array")
    vol = make_volume(ramp, (12, 16, 16), axial_affine((1.0, 0.7, 0.7)))
    lazy = ImageVolume(da.from_array(vol.pixels, chunks=(1, 16, 16)), vol.spacing, vol.affine, "volume")
    np.testing.assert_array_equal(resample(lazy, 1.0).pixels, resample(vol, 1.0).pixels)


def test_non_uniform_slices_regridded():
    z = np.array([0.0, 1.0, 2.0, 3.5, 5.0, 5.5, 7.0, 9.0])
    inplane = axial_affine((1.0, 0.8, 0.8))
    ipp = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    pix = np.stack([ramp(positions(inplane, (1, 10, 12))[0] + [0, 0, zk]) for zk in z]).astype(np.float32)
    A = inplane.copy()
    A[:3, 0] = (ipp[-1] - ipp[0]) / (len(z) - 1)
    vol = ImageVolume(pix, (np.linalg.norm(A[:3, 0]), 0.8, 0.8), A, "volume", slice_positions=ipp, regular=False)
    out = resample(vol, (0.5, 0.8, 0.8))
    assert out.shape == (19, 10, 12) and out.regular
    np.testing.assert_allclose(out.pixels, ramp(positions(out.affine, out.shape)), atol=2e-3)
    assert any("regridded" in w for w in out.warnings)
    grid = to_patient_grid(vol, (0.5, 0.8, 0.8))  # axis-aligned but uneven: interpolated along z only
    np.testing.assert_allclose(grid.pixels, ramp(positions(grid.affine, grid.shape)), atol=2e-3)
    assert "slice gaps 0.5-2 mm" in grid.warnings[-1] and "tilted" not in grid.warnings[-1]


def sheared_stack(tilt_deg=15.0, n=30, dz=1.25, shape=(48, 44), centres=()):
    """Gantry-tilt stack: axial slices whose IPP moves in y by dz*tan(tilt) per slice."""
    shift = dz * math.tan(math.radians(tilt_deg))
    ipp = np.array([[-15.0, -14.0 + k * shift, 20.0 + k * dz] for k in range(n)])
    inplane = axial_affine((1.0, 0.7, 0.65))
    func = (lambda p: beads(p, centres) - 1000.0) if centres else ramp
    pix = np.stack([func(positions(inplane, (1, *shape))[0] + ipp[k]) for k in range(n)]).astype(np.float32)
    A = inplane.copy()
    A[:3, 0] = (ipp[-1] - ipp[0]) / (n - 1)
    A[:3, 3] = ipp[0]
    return ImageVolume(pix, tuple(np.linalg.norm(A[:3, :3], axis=0)), A, "volume", slice_positions=ipp, regular=False)


def test_sheared_stack_regridded_on_true_positions():
    vol = sheared_stack()
    out = to_patient_grid(vol)
    p = positions(out.affine, out.shape)
    # points between two slices and inside both slices' pixel-centre rectangles (true geometry)
    ipp = vol.slice_positions
    k = (p[..., 2] - ipp[0, 2]) / 1.25
    inside = (k >= 0) & (k <= len(ipp) - 1)
    for kk in (np.floor(k), np.ceil(k)):
        kk = np.clip(kk, 0, len(ipp) - 1).astype(int)
        row = (p[..., 1] - ipp[kk, 1]) / 0.7
        col = (p[..., 0] - ipp[kk, 0]) / 0.65
        inside &= (row >= 0) & (row <= 47) & (col >= 0) & (col <= 43)
    assert inside.mean() > 0.4
    np.testing.assert_allclose(out.pixels[inside], ramp(p)[inside], atol=2e-3)
    # outside the footprint: the minimum
    assert out.pixels[~inside].min() == pytest.approx(float(vol.pixels.min()))
    assert "sheared 15.00 deg" in out.warnings[-1]


def test_sheared_stack_bead_position():
    centre = np.array([-1.3, 8.2, 37.4])
    vol = sheared_stack(centres=[centre])
    out = to_patient_grid(vol)
    assert np.linalg.norm(centroid_mm(out, centre) - centre) < 0.1
    iso = resample(vol, 0.7)
    assert np.linalg.norm(centroid_mm(iso, centre) - centre) < 0.1


# ---------------------------------------------------------------- to_patient_grid


def signed_permutations():
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            yield perm, signs


@pytest.mark.parametrize(("perm", "signs"), list(signed_permutations())[::5])
def test_to_patient_grid_exact_for_flips_and_permutations(perm, signs):
    spacing = (1.5, 0.6, 0.8)
    A = np.eye(4)
    A[:3, :3] = 0.0
    for a in range(3):  # array axis a steps along LPS axis perm[a]
        A[perm[a], a] = signs[a] * spacing[a]
    A[:3, 3] = (4.0, -7.0, 12.0)
    rng = np.random.default_rng(1)
    data = rng.integers(-1000, 2000, size=(5, 6, 7)).astype(np.int16)
    vol = ImageVolume(data, spacing, A, "volume")
    out = to_patient_grid(vol)
    M = out.affine[:3, :3]
    assert np.count_nonzero(M) == 3 and M[0, 2] > 0 and M[1, 1] > 0 and M[2, 0] > 0
    assert np.shares_memory(out.pixels, data)  # a view: no interpolation
    # every output voxel holds the input voxel at the same LPS position
    idx = np.rint(to_index(vol, positions(out.affine, out.shape))).astype(int)
    np.testing.assert_array_equal(out.pixels, data[idx[..., 0], idx[..., 1], idx[..., 2]])
    assert out.warnings == []


def test_to_patient_grid_identity_returns_input():
    vol = make_volume(ramp, (3, 4, 5), axial_affine((2.0, 0.5, 0.5)))
    assert to_patient_grid(vol) is vol


def test_to_patient_grid_tilted_landmarks():
    R = rotation("x", 20) @ rotation("z", 10)
    A = axial_affine((1.0, 0.7, 0.7), origin=(-20.0, -20.0, 10.0), R=R)
    landmarks = [A[:3, :3] @ idx + A[:3, 3] for idx in ([10.2, 20.5, 15.3], [16.7, 35.1, 41.8])]
    vol = make_volume(lambda p: beads(p, landmarks) - 1000.0, (28, 56, 60), A, dtype=np.int16,
                      patient={"name": "X"}, windows=[Window(2000, 350, "bone")])
    out = to_patient_grid(vol)
    M = out.affine[:3, :3]
    np.testing.assert_allclose(M, [[0, 0, 0.7], [0, 0.7, 0], [1.0, 0, 0]], atol=1e-12)
    for lm in landmarks:
        assert np.linalg.norm(centroid_mm(out, lm) - lm) < 0.1
    assert out.pixels.min() == pytest.approx(-1000.0)  # outside the field = the volume minimum (air)
    assert out.patient == vol.patient and out.windows == vol.windows
    assert "tilted 22." in out.warnings[-1] and "resampled" in out.warnings[-1]
    # the grid covers every input voxel centre
    corners = vol.index_to_patient(np.array(list(itertools.product((0, 27), (0, 55), (0, 59))), float))
    idx = to_index(out, corners)
    assert idx.min() > -1e-6 and np.all(idx <= np.array(out.shape) - 1 + 1e-6)


def test_to_patient_grid_tilted_ramp_exact_inside():
    A = axial_affine((1.0, 0.7, 0.7), R=rotation("y", 25))
    vol = make_volume(ramp, (16, 20, 24), A, dtype=np.float64)
    out = to_patient_grid(vol, 0.8)
    idx = to_index(vol, positions(out.affine, out.shape))
    inside = np.all((idx >= 0) & (idx <= np.array(vol.shape) - 1), axis=-1)
    np.testing.assert_allclose(out.pixels[inside], ramp(positions(out.affine, out.shape))[inside], atol=2e-3)


def test_to_patient_grid_lazy_equals_eager(samples):
    """The lazy (slice-by-slice dask) display grid holds exactly the eager values."""
    from miss_imaging import load, to_patient_grid

    vol = load(samples / "spine_ct")
    eager = to_patient_grid(vol, lazy=False)
    lazy = to_patient_grid(vol, lazy=True)
    assert not isinstance(lazy.pixels, np.ndarray) and lazy.pixels.chunks[0] == (1,) * eager.shape[0]
    np.testing.assert_array_equal(lazy.affine, eager.affine)
    np.testing.assert_array_equal(np.asarray(lazy.pixels[17]), eager.pixels[17])
    np.testing.assert_array_equal(np.asarray(lazy.pixels), eager.pixels)
