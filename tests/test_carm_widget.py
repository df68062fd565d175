"""C-arm widget: Qt-free placement/projection decisions, and the widget in a real napari viewer (Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging import CArm, ImageVolume
from test_carm import _affine, _spheres, _volume

LEFT_BEAD = np.array([30.0, 0.0, -10.0])  # LPS: the patient's left, a little caudal


@pytest.fixture(scope="module")
def ct() -> ImageVolume:
    shape = (50, 90, 90)
    A = _affine(shape, (1.0, 0.9, 0.9), center=(5.0, -4.0, 12.0))
    hu = _spheres(shape, A, [((5.0, -4.0, 12.0), 25.0, -600.0), (LEFT_BEAD + [5.0, -4.0, 12.0], 4.0, 3000.0)], sub=2)
    return _volume(hu.astype(np.float32), A)


def test_qt_free_geometry(ct):
    from miss_imaging_napari._carm_shot import carm_for, decimated, project_world_points, shot_translate

    c = carm_for(ct, 0, 0, 1000, 750, rows=64, pixel_mm=1.0)
    assert np.allclose(c.isocenter, [5.0, -4.0, 12.0])  # the CT's centre
    y0, x0 = shot_translate(ct)
    assert x0 > 5.0 + 40 and y0 < -4.0 - 39  # right of the CT, top-aligned
    shot = type("S", (), {"spacing": (1.0, 0.75, 0.75)})()
    w = project_world_points(c, shot, (y0, x0), np.array([[12.0, -4.0, 5.0]]))  # isocentre, world (z, y, x)
    assert np.allclose(w, [[y0 + 31.5 * 0.75, x0 + 31.5 * 0.75]])
    half = decimated(ct, 2)
    assert np.allclose(half.index_to_patient([3, 4, 5]), ct.index_to_patient([6, 8, 10]))


def test_widget_renders_presets_preview_and_projects_marks(make_napari_viewer, ct):
    from miss_imaging_napari._carm_shot import CARM_KEY
    from miss_imaging_napari._carm_widget import CArmWidget
    from miss_imaging_napari._layers import layer_data

    from miss_imaging import measure_distance

    viewer = make_napari_viewer()
    data, kw, _ = layer_data(ct)
    viewer.add_image(data, **kw)
    bead_world = (LEFT_BEAD + [5.0, -4.0, 12.0])[::-1]
    viewer.add_points([bead_world], name="bead mark", size=2)
    w = CArmWidget(viewer)
    assert w.source.count() == 1
    layer = w.render()
    shot = layer.metadata["miss_imaging_volume"]
    carm: CArm = layer.metadata[CARM_KEY]
    assert shot.kind == "projection" and shot.projection.ermf == pytest.approx(1000 / 750)
    assert layer.data.shape == (512, 512)
    # the left bead is dark on screen right (AP), where CArm.project puts it
    rc = carm.project(LEFT_BEAD + [5.0, -4.0, 12.0])
    assert rc[1] > 256 + 40
    r, c = np.unravel_index(np.argmin(layer.data[int(rc[0]) - 15:int(rc[0]) + 15]), (30, 512))
    assert abs(c - rc[1]) < 3
    # the mark on the CT is projected onto the bead in the shot's world frame
    marks = w.overlay_layer.data
    centre = np.mean([m.mean(0) for m in marks], axis=0)
    expect = np.asarray(layer.translate) + rc * np.asarray(layer.scale)
    assert np.allclose(centre, expect, atol=1e-6)
    # distances on the shot are magnification-corrected with their off-isocentre range
    m = measure_distance(shot, [0, 100, 100], [0, 100, 200])
    assert m.mm == pytest.approx(100 * 0.4 * 750 / 1000) and "off isocentre" in m.text
    # preview while dragging: binned detector, then full size
    assert w.render(preview=True).data.shape == (128, 128)
    w.preset.setCurrentText("Lateral (LAO 90)")
    w._apply_preset()
    assert w.primary.value() == 90 and layer.data.shape == (512, 512)
    assert layer.metadata[CARM_KEY].primary_deg == 90.0
    assert "LAO 90" in layer.name


def test_session_saves_and_restores_the_c_arm_pose(make_napari_viewer, tmp_path):
    from _deid_fixtures import write_ct_series
    from miss_imaging_napari._carm_shot import CARM_KEY
    from miss_imaging_napari._carm_widget import CArmWidget
    from miss_imaging_napari._layers import layer_data
    from miss_imaging_napari._teaching_widget import TeachingWidget

    from miss_imaging import load

    write_ct_series(tmp_path / "ct", n=12, rows=40, cols=48)
    viewer = make_napari_viewer()
    pixels, kw, _ = layer_data(load(tmp_path / "ct"))
    viewer.add_image(pixels, **kw)
    w = CArmWidget(viewer)
    w.set_pose(35, 12, 1100, 800)
    shot = w.render()
    session = TeachingWidget(viewer).current_session()
    assert len(session.series) == 1 and len(session.carm_shots) == 1
    assert session.carm_shots[0]["carm"]["primary_deg"] == 35.0
    path = TeachingWidget(viewer).save_session(tmp_path / "case.json")

    other = make_napari_viewer()
    report = TeachingWidget(other).restore_session(path)
    assert report.ok, report.problems
    again = next(ly for ly in other.layers if CARM_KEY in ly.metadata)
    assert again.metadata[CARM_KEY] == shot.metadata[CARM_KEY]
    np.testing.assert_array_equal(again.data, shot.data)
    assert tuple(again.translate) == tuple(shot.translate)


def test_moving_a_ct_point_moves_its_projection(make_napari_viewer, ct):
    from miss_imaging_napari._carm_widget import CArmWidget
    from miss_imaging_napari._layers import layer_data

    viewer = make_napari_viewer()
    data, kw, _ = layer_data(ct)
    viewer.add_image(data, **kw)
    w = CArmWidget(viewer)
    w.render()
    pts = viewer.add_points([[12.0, -4.0, 5.0]], name="target", size=2)  # the isocentre, world (z, y, x)
    centre = np.mean(w.overlay_layer.data[0], axis=0)
    expect = np.asarray(w.shot_layer.translate) + 255.5 * np.asarray(w.shot_layer.scale)
    assert np.allclose(centre, expect, atol=1e-6)
    pts.data = [[12.0, -4.0, 25.0]]  # 20 mm to the patient's left: screen right on the AP shot
    moved = np.mean(w.overlay_layer.data[0], axis=0)
    assert moved[1] - centre[1] == pytest.approx(20.0, rel=1e-6)  # the shot world is in isocentre-plane mm (ERMF)
    pts.data = np.empty((0, 3))
    assert len(w.overlay_layer.data) == 0
