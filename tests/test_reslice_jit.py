"""The optional numba trilinear kernel (miss-imaging[fast]) and its numpy fallback give the same planes."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.model import ImageVolume
from miss_imaging.spatial import _interp
from miss_imaging.spatial.reslicing import Plane, make_sampler, reslice
from test_resample import axial_affine, make_volume, positions, ramp, rotation


def _planes(shape, A):
    centre = A[:3, :3] @ ((np.array(shape) - 1) / 2) + A[:3, 3]
    return [
        Plane(tuple(centre + [3.0, -2.0, 1.0]), (0.8, 0.3, 0.5), (-0.2, 0.9, 0.1), pixel_mm=0.23,
              shape=(130, 170)),  # corners outside the volume: spans, clamped edges, cval
        Plane(tuple(centre), (0.0, 0.0, 1.0), (0.0, 1.0, 0.0), pixel_mm=0.5, shape=(40, 50)),  # along an axis
        Plane.along_line(centre - [4, 6, 3], centre + [4, 6, 3], angle_deg=30, pixel_mm=0.3, shape=(64, 64)),
    ]


@pytest.mark.parametrize(("shape", "dtype"), [((30, 34, 38), np.int16), ((30, 34, 38), np.uint16),
                                              ((1, 34, 38), np.int16), ((12, 20, 16), np.float32),
                                              ((12, 20, 16), np.float64)])
def test_compiled_kernel_is_bit_identical_to_numpy(shape, dtype):
    pytest.importorskip("numba")
    rng = np.random.default_rng(11)
    data = rng.integers(0 if dtype == np.uint16 else -1024, 3000, size=shape).astype(dtype)
    if data.dtype.kind == "f":
        data += rng.random(shape).astype(dtype)
    A = axial_affine((1.1, 0.7, 0.6), origin=(-5.0, 3.0, 2.0), R=rotation("y", 9))
    vol = ImageVolume(data, (1.1, 0.7, 0.6), A, "volume")
    fast, slow = make_sampler(vol, compiled=True), make_sampler(vol, compiled=False)
    for pl in _planes(shape, A):
        for threads in (1, 2):
            a = reslice(vol, pl, sampler=fast, threads=threads).pixels
            b = reslice(vol, pl, sampler=slow, threads=threads).pixels
            np.testing.assert_array_equal(a, b)
    assert _interp._compiled_kernel() is not None  # the compiled path really ran


@pytest.mark.parametrize("compiled", [True, False])
def test_both_kernels_reproduce_a_linear_phantom(compiled):
    """Trilinear interpolation is exact on a linear function of position (analytic phantom)."""
    A = axial_affine((1.0, 0.7, 0.7), R=rotation("x", 13))
    vol = make_volume(ramp, (30, 40, 40), A, dtype=np.float64)
    pl = Plane.along_line((5, 8, 4), (20, 18, 20), angle_deg=33, pixel_mm=0.3, shape=(30, 30))
    img = reslice(vol, pl, sampler=make_sampler(vol, compiled=compiled))
    np.testing.assert_allclose(img.pixels[0], ramp(positions(img.affine, img.shape)[0]), atol=2e-3)


def test_without_numba_the_numpy_kernel_runs(monkeypatch):
    """numba missing: compiled samplers fall back to the numpy kernel (same values)."""
    A = axial_affine((1.1, 0.7, 0.6), R=rotation("z", 20))
    data = np.random.default_rng(3).integers(-1000, 2000, size=(20, 30, 30)).astype(np.int16)
    vol = ImageVolume(data, (1.1, 0.7, 0.6), A, "volume")
    pl = _planes(data.shape, A)[0]
    ref = reslice(vol, pl, sampler=make_sampler(vol, compiled=False)).pixels
    monkeypatch.setattr(_interp, "_compiled_kernel", lambda: None)
    np.testing.assert_array_equal(reslice(vol, pl, sampler=make_sampler(vol)).pixels, ref)
