"""Spine widget: its Qt-free decisions, then the widget in a real napari viewer (Xvfb)."""

from __future__ import annotations

import numpy as np
import pytest

import spine_phantom as P
import spine_screw_phantom as S
import test_spine_vertebra as TV
from miss_imaging_napari import _spine


@pytest.fixture(scope="module")
def lumbar():
    corners = TV._corners()
    ph = P.Phantom((50, 70, 140), centre=(0.0, -15.0, 0.0), fill=40.0, rot=(0, 0, 0), spacing=(1.0, 0.6, 0.6))
    for c in corners.values():
        yz = c[:, 1:]
        ph.paint(P.sagittal_body(yz), 350.0, [-18, yz[:, 0].min(), yz[:, 1].min()],
                 [18, yz[:, 0].max(), yz[:, 1].max()])
    return ph.volume(), corners


@pytest.fixture(scope="module")
def screws_ct():
    return S.build(spacing=(1.0, 0.7, 0.7), rot=(0.0, 0.0, 0.0))


def test_world_lps_and_labels():
    assert _spine.world_to_lps([[3.0, 2.0, 1.0]]).tolist() == [[1.0, 2.0, 3.0]]
    assert _spine.lps_to_world([1.0, 2.0, 3.0]).tolist() == [3.0, 2.0, 1.0]
    assert _spine.level_labels("l4", 3) == ["L4", "L5", "S1"]
    assert _spine.level_labels("T12", 2) == ["T12", "L1"]
    assert _spine.corner_texts(["L4", "L5"], 6) == ["L4 AS", "L4 PS", "L4 PI", "L4 AI", "L5 AS", "L5 PS"]


def test_vertebrae_rows_and_errors(lumbar):
    vol, corners = lumbar
    rng = np.random.default_rng(2)
    clicks = np.concatenate([TV._clicks(corners[n], rng) for n in ("L3", "L4", "L5")] + [corners["L5"][:2]])
    verts, errors = _spine.vertebrae_from_points(vol, clicks, ["L3", "L4", "L5"])
    assert [v.label for v in verts] == ["L3", "L4", "L5"] and all(v.snapped for v in verts)
    assert len(errors) == 1 and "2 corner(s)" in errors[0]
    rows = _spine.level_rows(verts)
    assert [r["level"] for r in rows] == ["L3-L4", "L4-L5"]
    assert float(rows[1]["disc °"]) == pytest.approx(8.0, abs=1.0)
    assert rows[1]["Meyerding"] == "I"
    # a body clicked in the wrong order is reported, not measured
    bad, errs = _spine.vertebrae_from_points(vol, corners["L4"][[1, 0, 3, 2]], ["L4"])
    assert not bad and "order" in errs[0]


def test_drawings_are_to_scale(screws_ct):
    from miss_imaging.spine import access_plan

    target = np.array([15.0, 32.0, S.LEVELS[2]])
    a = access_plan(screws_ct, target, target + [0, 10.0, 0], tube_diameter_mm=18.0)
    tube = _spine.tube_outline(a, (0, 0, 1))
    assert np.linalg.norm(tube[3] - tube[0]) == pytest.approx(18.0)
    assert np.linalg.norm(tube[1] - tube[0]) == pytest.approx(a.depth_mm)
    assert np.allclose(tube[:, 2], target[2])  # in the axial view's plane
    cut = _spine.incision_line(a, (0, 0, 1))
    assert np.linalg.norm(cut[1] - cut[0]) == pytest.approx(20.0)
    rows, results = _spine.screw_rows(screws_ct, [])
    assert rows == [] and results == []


def test_incision_oblique_and_slice_placement_are_in_mm(screws_ct):
    from miss_imaging.model import ImageVolume

    fluoro = ImageVolume(np.zeros((1, 101, 201), np.uint16), (1.0, 0.25, 0.5), np.eye(4), "projection",
                         calibration="magnification-corrected (ERMF)")
    line = _spine.incision_on_projection(fluoro, 0.0, 20.0)
    # centre of 101 x 201 pixels at (50 x 0.25, 100 x 0.5) mm; 20 mm long along the row
    assert line.tolist() == [[0.0, 12.5, 40.0], [0.0, 12.5, 60.0]]
    pixels = ImageVolume(fluoro.pixels, (1.0, 1.0, 1.0), np.eye(4), "projection", calibration="pixels only")
    assert _spine.incision_on_projection(pixels, 0.0, 20.0) is None
    assert _spine.incision_on_projection(screws_ct, 0.0, 20.0) is None
    world = _spine.on_slice(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), (0, 1, 2), (7.5, 0.0, 0.0), 2)
    assert world[:, 0].tolist() == [7.5, 7.5] and world[:, 1:].tolist() == [[2.0, 3.0], [5.0, 6.0]]
    from miss_imaging.spine import find_screws

    screw = find_screws(screws_ct)[0]
    img, plane, translate = _spine.oblique_along_screw(screws_ct, screw)
    assert plane.pixel_mm == 0.25 and img.pixels.shape[-2:] == (280, 160)
    # beside the volume: 10 mm right of its bounding box, level with its top
    corners = screws_ct.index_to_patient(np.array([[a, b, c] for a in (0, screws_ct.shape[0] - 1)
                                                   for b in (0, screws_ct.shape[1] - 1) for c in (0, screws_ct.shape[2] - 1)]))
    assert translate == pytest.approx((corners[:, 1].min(), corners[:, 0].max() + 10.0))


@pytest.fixture
def widget(make_napari_viewer, screws_ct):
    from miss_imaging_napari._layers import layer_data
    from miss_imaging_napari._spine_widget import SpineWidget

    viewer = make_napari_viewer()
    data, kw, _ = layer_data(screws_ct)
    viewer.add_image(data, **kw)
    return viewer, SpineWidget(viewer)


def test_widget_screws_plan_access_and_exports(widget, tmp_path):
    from miss_imaging_napari import _spine_widget as W
    from miss_imaging_napari._measure_widget import MeasureWidget
    from miss_imaging.measurement.measurements_io import load_json

    viewer, w = widget
    rows = w.find()
    assert len(rows) == 4
    assert sorted(r["GR grade"] for r in rows) == ["A", "B", "C", "D"]
    assert w.screw_table.rowCount() == 4 and float(w.screw_table.item(0, 2).text()) == pytest.approx(6.5, abs=0.3)
    w.screw_table.selectRow(1)
    ob = w.goto_selected()
    # the oblique cut contains the whole screw: metal along its middle column, entry at the top
    img = ob.metadata["miss_imaging_volume"]
    assert img.shape[1:] == (280, 160) and np.asarray(ob.data)[20:-20, 78:82].min() > 0
    assert (np.asarray(ob.data)[60:-40, 80] > 2000).mean() > 0.9
    # plan: entry/target points; moving the target updates live (set_data)
    p0, d = S.pedicle_axis(1.0, S.LEVELS[2])
    lay = w._start_points(W.PLAN, "cyan", w.update_plan)
    lay.data = _spine.lps_to_world(np.array([p0, p0 + 30 * d]))
    assert w.plan is not None and w.plan.length_mm == pytest.approx(30.0)
    lay.data = _spine.lps_to_world(np.array([p0, p0 + 42 * d]))
    assert w.plan.length_mm == pytest.approx(42.0) and "isthmus" in w.plan_label.text()
    assert len(w._layer(W.PLAN_DRAW).data) == 1
    # access: tube and incision drawn
    acc = w._start_points(W.ACCESS, "orange", w.update_access)
    tgt = np.array([15.0, 32.0, S.LEVELS[2]])
    acc.data = _spine.lps_to_world(np.array([tgt, tgt + [0, 10.0, 0]]))
    assert w.access.depth_mm == pytest.approx(38.0, abs=0.5) and "tube 40 mm" in w.access_label.text()
    assert len(w._layer(W.ACCESS_DRAW).data) == 2
    # an open fluoroscopy run gets a line of the incision's length under its own calibration
    from miss_imaging.model import ImageVolume
    from miss_imaging_napari._layers import layer_data

    xa = ImageVolume(np.zeros((3, 200, 240), np.uint16), (1.0, 0.3, 0.3), np.eye(4), "projection", modality="XA",
                     calibration="magnification-corrected (ERMF)")
    data, kw, _ = layer_data(xa)
    viewer.add_image(data, **kw)
    (inc,) = w._incision_on_projections(20.0)
    (line,) = inc.data
    assert np.linalg.norm(line[1] - line[0]) == pytest.approx(20.0)  # world mm of the frame = calibrated mm
    assert "ERMF" in str(inc.text.values)
    # an impossible plan says why instead of a number
    acc.data = _spine.lps_to_world(np.array([tgt, tgt + [0, 0, 10.0]]))
    assert w.access is None and "never leaves the body" in w.access_label.text()
    # results reach the Measurements widget's exports
    assert w.publish() == 4 + 1
    m = MeasureWidget(viewer)
    names = [x.name for x in load_json(m.export_json(tmp_path / "all.json"))]
    assert any(n.startswith("screw 1 length") for n in names) and any(n.startswith("planned screw") for n in names)


def test_widget_levels_snap_label_and_table(make_napari_viewer, lumbar):
    from miss_imaging_napari._layers import layer_data
    from miss_imaging_napari._spine_widget import CORNERS, SpineWidget

    vol, corners = lumbar
    viewer = make_napari_viewer()
    data, kw, _ = layer_data(vol)
    viewer.add_image(data, **kw)
    w = SpineWidget(viewer)
    w.first_level.setText("L3")
    lay = w.start_corners()
    rng = np.random.default_rng(8)
    clicks = np.concatenate([TV._clicks(corners[n], rng) for n in ("L3", "L4", "L5")])
    lay.data = _spine.lps_to_world(clicks)
    assert list(lay.features["label"][:5]) == ["L3 AS", "L3 PS", "L3 PI", "L3 AI", "L4 AS"]
    rows = w.measure_levels()
    assert [r["level"] for r in rows] == ["L3-L4", "L4-L5"] and w.level_table.rowCount() == 2
    snapped = _spine.world_to_lps(w._layer(CORNERS).data)
    truth = np.concatenate([corners[n] for n in ("L3", "L4", "L5")])
    assert np.abs(snapped - truth)[:, 1:].max() < 0.5  # the points moved onto the corners
    assert float(rows[0]["disc °"]) == pytest.approx(6.0, abs=1.0)
    assert len(w.records()) == 2 * 6


def test_screws_plan_and_access_lines_reach_the_mpr_workspace(widget):
    """The oblique viewport along a found screw (from the widget's Go to, or the workspace's list): the phantom's
    true screw axis lies in that plane."""
    from miss_imaging_napari import open_mpr

    viewer, w = widget
    w.find()
    ws = open_mpr(viewer)
    ws.finish_loading()
    lines = ws.spine_trajectories()
    assert sorted(lines) == sorted(s.label or f"screw {k + 1}" for k, s in enumerate(w.screws))
    assert all(label.count("screw") == 1 for label in lines)
    truth = S.screws()
    w.screw_table.selectRow(1)
    assert w.goto_selected() is ws.viewports["oblique"].layers["oblique"]  # no layer beside the volume now
    found = w.screws[1]
    true = min(truth, key=lambda t: np.linalg.norm(t["entry"] - found.entry_lps))
    plane = ws.planes()["oblique"]
    for p in (true["entry"], true["tip"]):
        assert abs(plane.to_pixel(p)[0]) < 1.0  # mm off the plane: the true axis is in the oblique view
    np.testing.assert_allclose(ws.point_lps, (found.entry_lps + found.tip_lps) / 2, atol=1e-9)
    along = ws.widget.along
    along.refresh()
    assert along.count() == 1 + len(lines)
    along.activated.emit(3)  # choose the third screw from the list
    e, t = lines[along.itemText(3)]
    np.testing.assert_allclose(ws.trajectory[0], e)
    np.testing.assert_allclose(ws.trajectory[1], t)
    with pytest.raises(ValueError, match="no line"):
        ws.go_along("screw 99")
    ws.close()
