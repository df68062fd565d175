"""Qt-free MPR workspace geometry (miss_imaging.spatial.mpr) against planes of known orientation."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.spatial.mpr import (
    ViewportFrame,
    bullseye_plane,
    crosshair,
    trajectory_plane,
    viewport_frame,
    viewport_planes,
    volume_corners,
)
from miss_imaging.spatial.reslicing import Plane
from test_resample import axial_affine, make_volume, rotation


@pytest.fixture
def tilted():
    A = axial_affine((1.25, 0.7, 0.6), origin=(-20.0, -15.0, -30.0), R=rotation("x", 12))
    return make_volume(lambda p: p[..., 0] * 0.0, (30, 40, 50), A)


def test_planes_pass_through_point_with_radiological_directions(tilted):
    p = np.array([-3.0, 2.0, -18.0])
    planes = viewport_planes(tilted, p)
    np.testing.assert_allclose(planes["axial"].u, (1, 0, 0))
    np.testing.assert_allclose(planes["axial"].v, (0, 1, 0))  # posterior down: anterior up
    np.testing.assert_allclose(planes["coronal"].v, (0, 0, -1))  # inferior down: superior up
    np.testing.assert_allclose(planes["sagittal"].u, (0, 1, 0))  # posterior right: anterior left
    for plane in planes.values():
        assert abs(plane.to_pixel(p)[0]) <= plane.pixel_mm / 2 + 1e-9
        assert plane.pixel_mm == pytest.approx(0.6)  # finest spacing


def test_frames_cover_the_whole_tilted_volume(tilted):
    corners = volume_corners(tilted)
    for name in ("axial", "coronal", "sagittal"):
        f = viewport_frame(tilted, name)
        px = f.reference.to_pixel(corners)
        rows, cols = f.reference.shape
        assert px[:, 1].min() > -0.5 and px[:, 1].max() < rows - 0.5
        assert px[:, 2].min() > -0.5 and px[:, 2].max() < cols - 0.5


def test_frame_round_trip_and_depth_grid(tilted):
    f = viewport_frame(tilted, "coronal")
    lps = np.array([[1.0, 2.0, -20.0], [-7.5, 3.3, -14.0]])
    np.testing.assert_allclose(f.to_lps(f.to_world(lps)), lps, atol=1e-9)
    d = f.depth_of(lps[0])
    assert d / f.pixel_mm == pytest.approx(round(d / f.pixel_mm))
    # the plane at that depth is the coronal plane nearest the point (y within half a pixel)
    assert abs(f.plane_at(d).center[1] - lps[0][1]) <= f.pixel_mm / 2 + 1e-9


def test_crosshair_lines_are_the_plane_intersections():
    p = np.array([5.0, -4.0, 10.0])
    ax = Plane.axial(p, pixel_mm=1.0, shape=(101, 101))
    cor = Plane.coronal(p, pixel_mm=1.0, shape=(101, 101))
    sag = Plane.sagittal(p, pixel_mm=1.0, shape=(101, 101))
    lines = crosshair(ax, p, {"coronal": cor, "sagittal": sag, "axial2": ax})
    assert "axial2" not in lines  # parallel: no line
    (r, c), (dr, dc) = lines["coronal"]
    assert (r, c) == pytest.approx((50, 50)) and abs(dr) < 1e-12 and abs(dc) == pytest.approx(1)  # horizontal
    assert abs(lines["sagittal"][1][1]) < 1e-12  # vertical
    # a plane that misses the point: the line drawn lies on both planes
    ob = Plane.along_line((0, 30, 20), (12, 0, 0), pixel_mm=1.0, shape=(101, 101))
    (r, c), (dr, dc) = crosshair(ax, p, {"ob": ob})["ob"]
    for t in (0.0, 7.0):
        q = ax.to_patient(r + t * dr, c + t * dc)
        assert abs(ob.to_pixel(q)[0]) < 1e-9 and abs(ax.to_pixel(q)[0]) < 1e-9


def test_trajectory_and_bullseye_planes():
    e, t = np.array([10.0, 40.0, 5.0]), np.array([0.0, 0.0, -5.0])
    along = trajectory_plane(e, t, angle_deg=30, pixel_mm=0.5, size_mm=100)
    pe, pt = along.to_pixel(e), along.to_pixel(t)
    assert abs(pe[0]) < 1e-9 and abs(pt[0]) < 1e-9 and pe[1] < pt[1]  # in plane, entry above target
    eye = bullseye_plane(e, t, pixel_mm=0.5, size_mm=40)
    np.testing.assert_allclose(eye.normal, (t - e) / np.linalg.norm(t - e), atol=1e-12)  # looking down it
    rows, cols = eye.shape
    np.testing.assert_allclose(eye.to_pixel(t)[1:], ((rows - 1) / 2, (cols - 1) / 2), atol=1e-9)  # centred
    mid = bullseye_plane(e, t, at=(e + t) / 2, pixel_mm=0.5, size_mm=40)
    np.testing.assert_allclose(mid.center, (e + t) / 2, atol=1e-9)


def test_letters_per_viewport(tilted):
    from miss_imaging_napari._orientation import plane_labels

    f = {n: viewport_frame(tilted, n).reference for n in ("axial", "coronal", "sagittal")}
    assert plane_labels(f["axial"].u, f["axial"].v) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert plane_labels(f["coronal"].u, f["coronal"].v) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert plane_labels(f["sagittal"].u, f["sagittal"].v) == {"top": "S", "bottom": "I", "left": "A", "right": "P"}


def test_viewport_frame_rejects_unknown_name(tilted):
    with pytest.raises(ValueError, match="unknown plane"):
        viewport_frame(tilted, "transverse-ish")
    assert isinstance(viewport_frame(tilted, "Axial"), ViewportFrame)
