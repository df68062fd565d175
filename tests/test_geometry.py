"""IOP/IPP -> affine, against PS3.3 C.7.6.2.1.1 written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.spatial.geometry import (
    GAP_FACTOR,
    ORIENTATION_ATOL,
    orientation_axes,
    plane_affine,
    same_orientation,
    stack_geometry,
)


def test_pixel_position_formula_with_unequal_spacing():
    # PS3.3 C.7.6.2.1.1: P(i, j) = IPP + i * dcol * X + j * drow * Y; PixelSpacing = (drow, dcol)
    a = np.radians(5.0)
    iop = [np.cos(a), np.sin(a), 0.0, -np.sin(a), np.cos(a), 0.0]
    ipp = np.array([-12.5, 30.0, 7.25])
    drow, dcol = 0.4, 0.9
    step = np.array([0.0, 0.0, 2.0])
    aff = plane_affine(iop, ipp, (drow, dcol), step)
    x, y = np.array(iop[:3]), np.array(iop[3:])
    for k, j, i in [(0, 0, 0), (0, 3, 0), (0, 0, 5), (2, 7, 11)]:
        expect = ipp + i * dcol * x + j * drow * y + k * step
        got = aff @ [k, j, i, 1]
        np.testing.assert_allclose(got[:3], expect, atol=1e-12)


def test_orientation_axes_normal_is_row_cross_col():
    r, c, n = orientation_axes([0, 1, 0, 0, 0, -1])  # sagittal
    np.testing.assert_allclose(n, np.cross([0, 1, 0], [0, 0, -1]))
    np.testing.assert_allclose([r, c], [[0, 1, 0], [0, 0, -1]])


def test_same_orientation_tolerance():
    iop = [1, 0, 0, 0, 1, 0]
    assert same_orientation(iop, [1, 0, 0, 0, 1, ORIENTATION_ATOL / 2])
    assert not same_orientation(iop, [1, 0, 0, 0, 1, ORIENTATION_ATOL * 2])


def test_regular_stack():
    ipps = [[0, 0, z] for z in (0.0, 0.8, 1.6, 2.4)]
    g = stack_geometry(ipps, [1, 0, 0, 0, 1, 0])
    assert g.regular and g.tilt_deg == 0 and not g.gaps
    np.testing.assert_allclose(g.step, [0, 0, 0.8])


def test_gap_is_found_and_not_regular():
    ipps = [[0, 0, z] for z in (0.0, 1.0, 2.0, 4.0, 5.0)]
    g = stack_geometry(ipps, [1, 0, 0, 0, 1, 0])
    assert g.gaps == [(2, pytest.approx(2.0))]
    assert not g.regular
    assert 2.0 > GAP_FACTOR * g.median_step_mm


def test_non_uniform_without_gap():
    ipps = [[0, 0, z] for z in (0.0, 1.0, 2.2, 3.0)]
    g = stack_geometry(ipps, [1, 0, 0, 0, 1, 0])
    assert not g.gaps and not g.regular
    # uniform grid from first to last: step 1.0, slice 2 at 2.2 is 0.2 mm off
    assert g.residual_mm == pytest.approx(0.2, abs=1e-9)


@pytest.mark.parametrize("tilt", [5.0, 14.0, 25.0])
def test_shear_angle(tilt):
    # gantry tilt: slices are axial planes, stacked along a vector leaning `tilt` degrees in y
    a = np.radians(tilt)
    step = np.array([0.0, np.sin(a), np.cos(a)]) * 2.0
    ipps = np.arange(5)[:, None] * step
    g = stack_geometry(ipps, [1, 0, 0, 0, 1, 0])
    assert g.tilt_deg == pytest.approx(tilt, abs=1e-9)
    assert not g.regular  # sheared: flagged for the resampler
    np.testing.assert_allclose(g.step, step, atol=1e-12)
    assert g.residual_mm < 1e-12  # the sheared affine places every slice exactly


def test_single_slice_uses_given_thickness():
    g = stack_geometry([[1, 2, 3]], [1, 0, 0, 0, 1, 0], 2.5)
    np.testing.assert_allclose(g.step, [0, 0, 2.5])
