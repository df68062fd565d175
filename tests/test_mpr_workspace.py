"""The MPR workspace in a real napari viewer (Xvfb): linked point, letters, rulers in true 3-D mm, teardown."""

from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest

CLOSE_LIMIT_S = 5.0  # target < 1 s; generous for a loaded 2-core machine (figures in the commit messages)


@pytest.fixture
def ws_viewer(make_napari_viewer, samples, qtbot):
    from miss_imaging_napari import open_mpr

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    ws = open_mpr(viewer)
    assert ws.viewports["axial"].layers["axial"].visible  # the first canvas and every model exist at once
    ws.finish_loading()  # the other canvases (made one per event-loop turn otherwise)
    assert ws.ready
    yield viewer, ws
    ws.close()
    del ws
    qtbot.wait(50)
    gc.collect()


def test_linked_point_letters_rulers_and_window(ws_viewer, truth):
    from miss_imaging_napari._measure_widget import MeasureWidget

    viewer, ws = ws_viewer
    assert set(ws.viewports) == {"axial", "coronal", "sagittal", "oblique"}
    assert ws.letters("axial") == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert ws.letters("coronal") == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert ws.letters("sagittal") == {"top": "S", "bottom": "I", "left": "A", "right": "P"}
    assert ws._vp["coronal"].letters.text == ["S", "I", "R", "L"]  # what the canvas draws
    assert all(m.canvas.overlays["scale_bar"].visible for m in ws.viewports.values())

    lm = truth["spine_ct"]["landmarks_lps_mm"]
    a, b = np.array(lm["inch_a"]), np.array(lm["inch_b"])
    ws.set_point(a)
    np.testing.assert_allclose(ws.point_lps, a)
    planes = ws.planes()
    for name in ("axial", "coronal", "sagittal"):  # the canvases show the bead's planes at once ...
        _, r, c = planes[name].to_pixel(a)
        assert np.asarray(ws._vp[name].image_node()._data)[int(round(r)), int(round(c))] > 500
    ws.settle()  # ... and napari's own state follows (at rest, or now)
    for name in ("axial", "coronal", "sagittal"):  # every orthogonal viewport shows the bead
        assert abs(planes[name].to_pixel(a)[0]) <= planes[name].pixel_mm / 2 + 1e-9
        img = ws.viewports[name].layers[name]
        _, r, c = planes[name].to_pixel(a)
        k = img.world_to_data(ws.viewports[name].dims.point)[0]  # the plane napari shows now
        assert k == pytest.approx(round(k))
        r, c, k = int(round(r)), int(round(c)), int(round(k))
        assert img.data[k, r, c] > 500  # bead (dense), resliced from the tilted original
        assert np.asarray(img._slice.image.raw)[r, c] > 500  # and that plane is on the canvas

    with pytest.raises(ValueError, match="off the axial viewport"):  # beads on different axial slices: refused
        ws.measure("axial", "distance", [a, b])
    stack = ws.viewports["axial"].layers["axial"].data
    with pytest.raises(IndexError):  # the lazy plane stack never builds a volume-sized copy
        stack[:]

    table = MeasureWidget(viewer)
    ws.set_point((a + b) / 2)
    ws.set_slab("coronal", 20.0, "MIP")  # a coronal slab holding both beads (9 mm apart in y): both visible
    res = ws.measure("coronal", "distance", [a, b], label="bead pair")
    assert res.error is None, res.error
    assert res.measurement.value == pytest.approx(25.4, abs=0.01)  # true 3-D mm, ends on different planes
    # drawn with the mouse, the beads' points lie in the slab's mid-plane: the distance projected on it, so labelled
    from miss_imaging_napari._layer_geometry import world_to_index
    from miss_imaging_napari._measure_layers import add_measurement

    frame, depth = ws._vp["coronal"].frame, ws._vp["coronal"].depth
    ends = frame.to_world(np.array([a, b]))
    ends[:, 0] = depth
    img = ws.viewports["coronal"].layers["coronal"]
    _, drawn = add_measurement(ws.viewports["coronal"], img, "distance", world_to_index(img, ends), name="drawn")
    n, d = np.asarray(frame.reference.normal), b - a
    assert drawn.measurement.value == pytest.approx(np.linalg.norm(d - (d @ n) * n), abs=0.01)
    assert "20 mm MIP slab: a drawn point lies in its mid-plane" in drawn.measurement.calibration
    ws.set_trajectory(a, b)  # the oblique viewport contains both beads: the ruler is drawn in its plane
    res = ws.measure("oblique", "distance", [a, b], label="bead pair oblique")
    assert res.measurement.value == pytest.approx(25.4, abs=0.01)
    assert abs(ws.planes()["oblique"].to_pixel(b)[0]) < 1e-6
    from miss_imaging_napari._measure_layers import layer_measurements

    oblique = ws.viewports["oblique"]
    for kind, angle in (("bullseye", 20), ("along", 35)):  # other planes: the ruler keeps its points and value
        ws.set_oblique(kind=kind, angle_deg=angle)
        (m,) = layer_measurements(oblique, oblique.layers["oblique"])
        assert m.value == pytest.approx(25.4, abs=0.01) and np.allclose(m.points_patient, [a, b], atol=1e-3)
    ws.set_oblique(kind="along", angle_deg=0)
    table.update_table()
    rows = {table.table.item(i, 0).text(): table.table.item(i, 5).text() for i in range(table.table.rowCount())}
    assert "coronal viewport" in rows["bead pair"] and "oblique viewport" in rows["bead pair oblique"]

    layer = viewer.layers[0]
    layer.contrast_limits = (-160.0, 240.0)  # window/level acts on every viewport
    for name, m in ws.viewports.items():
        assert tuple(m.layers[name].contrast_limits) == pytest.approx((-160.0, 240.0))
    ws.viewports["sagittal"].layers["sagittal"].contrast_limits = (0.0, 1000.0)
    assert tuple(layer.contrast_limits) == pytest.approx((0.0, 1000.0))
    assert tuple(ws.viewports["axial"].layers["axial"].contrast_limits) == pytest.approx((0.0, 1000.0))


def test_click_in_a_viewport_moves_the_shared_point(ws_viewer):
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    viewer, ws = ws_viewer
    model = ws.viewports["coronal"]
    before = ws.point_lps
    frame = ws._vp["coronal"].frame
    target = before + np.array([6.0, 0.0, -9.0])  # in the coronal plane: x and z change
    pos = frame.to_world(target)
    for fn, kind in ((mouse_press_callbacks, "mouse_press"), (mouse_release_callbacks, "mouse_release")):
        fn(model, read_only_mouse_event(type=kind, button=1, position=tuple(pos), pos=(10, 10), modifiers=()))
    np.testing.assert_allclose(ws.point_lps[[0, 2]], target[[0, 2]], atol=1e-6)
    planes = ws.planes()
    assert abs(planes["sagittal"].to_pixel(ws.point_lps)[0]) <= planes["sagittal"].pixel_mm / 2 + 1e-9

    from napari.utils.interactions import mouse_move_callbacks

    ws.settle()
    hover = ws.point_lps + np.array([-3.0, 0.0, 5.0])  # the cursor over the coronal plane: LPS mm in the status bar
    mouse_move_callbacks(model, read_only_mouse_event(type="mouse_move", position=tuple(frame.to_world(hover)),
                                                      pos=(12, 12), modifiers=()))
    shown = viewer.status if isinstance(viewer.status, str) else str(viewer.status)
    x, y, z = (float(v) for v in shown.split("(")[1].split(")")[0].split(","))
    np.testing.assert_allclose([x, z], hover[[0, 2]], atol=0.051)  # one decimal
    assert shown.startswith("coronal: LPS") and "HU" in shown


def test_close_with_everything_open_is_quick(ws_viewer, qtbot):
    viewer, ws = ws_viewer
    ws.start_tool("coronal", "ruler")
    ws.set_oblique(kind="bullseye", angle_deg=20)
    ws.set_slab("axial", 10.0, "MIP")
    viewer.window.add_plugin_dock_widget("miss-imaging", "Measurements")
    qtbot.wait(200)
    t = time.perf_counter()
    viewer.close()
    dt = time.perf_counter() - t
    print(f"close with the workspace open: {dt:.3f} s")
    assert dt < CLOSE_LIMIT_S
    assert ws.viewports == {}


def test_repeated_open_close_frees_the_viewports(make_napari_viewer, samples, qtbot):
    from miss_imaging_napari import open_mpr

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    refs = []
    for _ in range(2):
        ws = open_mpr(viewer)
        refs += [weakref.ref(m) for m in ws.viewports.values()]
        ws.set_point(ws.point_lps + 2.0)
        qtbot.wait(50)
        t = time.perf_counter()
        ws.close()
        assert time.perf_counter() - t < CLOSE_LIMIT_S
        del ws
        qtbot.wait(50)
        gc.collect()
    assert sum(r() is not None for r in refs) == 0  # no canvas or model kept alive
    assert len(viewer.layers) == 1


def test_dock_cannot_float_without_shared_gl_contexts(ws_viewer):
    """Floating a dock holding a canvas aborts the process unless AA_ShareOpenGLContexts is set (NAPARI.md)."""
    from qtpy.QtCore import QCoreApplication, Qt

    viewer, ws = ws_viewer
    dock = ws.widget.parent()
    while not hasattr(dock, "setFloating"):
        dock = dock.parent()
    if not QCoreApplication.testAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts):
        assert not dock.features() & dock.DockWidgetFeature.DockWidgetFloatable


def test_shift_drag_on_a_trajectory_end_moves_it(ws_viewer):
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    viewer, ws = ws_viewer
    model, frame = ws.viewports["axial"], ws._vp["axial"].frame
    entry, target = ws.trajectory
    start = frame.to_world(entry)
    goal = start + np.array([0.0, -7.0, 5.0])  # 7 mm up (anterior) and 5 mm right (patient left) on screen
    shift = ("Shift",)
    mouse_press_callbacks(model, read_only_mouse_event(
        type="mouse_press", button=1, position=tuple(start), pos=(0, 0), modifiers=shift))
    mouse_move_callbacks(model, read_only_mouse_event(
        type="mouse_move", button=1, position=tuple((start + goal) / 2), pos=(5, 5), modifiers=shift))
    mouse_release_callbacks(model, read_only_mouse_event(
        type="mouse_release", button=1, position=tuple(goal), pos=(9, 9), modifiers=shift))
    new_entry, new_target = ws.trajectory
    np.testing.assert_allclose(new_target, target)
    # the end kept its depth along the axial normal (z) and moved 7 mm anterior (-y) and 5 mm to patient left (+x)
    np.testing.assert_allclose(new_entry, entry + np.array([5.0, -7.0, 0.0]), atol=1e-6)
    oblique = ws.planes()["oblique"]  # the oblique viewport contains the new trajectory
    assert abs(oblique.to_pixel(new_entry)[0]) < 1e-6 and abs(oblique.to_pixel(new_target)[0]) < 1e-6
    before = ws.point_lps
    mouse_press_callbacks(model, read_only_mouse_event(  # far from both ends: Shift+press moves the point
        type="mouse_press", button=1, position=tuple(frame.to_world(before) + [0, 30, 30]), pos=(0, 0),
        modifiers=shift))
    assert not np.allclose(ws.point_lps, before)


def test_fluoro_run_gets_its_own_viewport(make_napari_viewer, samples, truth, qtbot):
    """A CT with a C-arm shot open: the shot in a 'fluoro' viewport, same pixels, ERMF-calibrated rulers."""
    import pydicom

    from miss_imaging_napari import open_mpr
    from miss_imaging_napari._measure_layers import add_measurement

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    viewer.open(str(samples / "lumbar_fluoro" / "LATERAL.dcm"), plugin="miss-imaging")
    run = next(lay for lay in viewer.layers if "LAT" in lay.name)
    ws = open_mpr(viewer)
    ws.finish_loading()
    assert set(ws.viewports) == {"axial", "coronal", "sagittal", "oblique", "fluoro"}
    model = ws.viewports["fluoro"]
    img = model.layers["fluoro"]
    assert np.shares_memory(np.asarray(img.data), np.asarray(run.data))  # no copy of the run

    # the L4 screw of the lateral shot, from its projected ends: mm at the isocentre plane by the ERMF
    # (PS3.3 C.8.7.1.1.1: ImagerPixelSpacing / EstimatedRadiographicMagnificationFactor), from the file's tags
    ds = pydicom.dcmread(samples / "lumbar_fluoro" / "LATERAL.dcm", stop_before_pixels=True)
    row_mm, col_mm = (float(s) / float(ds.EstimatedRadiographicMagnificationFactor) for s in ds.ImagerPixelSpacing)
    screw = truth["lumbar_fluoro"]["shots"]["lateral"]["screws"][0]
    (r0, c0), (r1, c1) = screw["entry_px"], screw["tip_px"]
    expected = float(np.hypot((r1 - r0) * row_mm, (c1 - c0) * col_mm))
    _, res = add_measurement(model, img, "distance", [[0, r0, c0], [0, r1, c1]], name="L4 screw")
    assert res.measurement.value == pytest.approx(expected, rel=1e-6)  # napari keeps vertices in float32
    assert res.measurement.value == pytest.approx(screw["length_ermf_corrected_mm"], abs=0.01)
    assert "ERMF" in model.canvas.overlays["miss_title"].text  # the calibration the rulers rest on
    with pytest.raises(ValueError, match="no patient coordinates"):
        ws.measure("fluoro", "distance", [[0, 0, 0], [1, 1, 1]])
    ws.widget.target.setCurrentText("fluoro")  # no slab on a fluoroscopy run: its slab controls are off
    assert not ws.widget.slab.isEnabled() and not ws.widget.mode.isEnabled()

    run.contrast_limits = (100.0, 3000.0)  # its own window, linked with the run's layer both ways
    assert tuple(img.contrast_limits) == pytest.approx((100.0, 3000.0))
    img.contrast_limits = (0.0, 2000.0)
    assert tuple(run.contrast_limits) == pytest.approx((0.0, 2000.0))
    assert tuple(ws.viewports["axial"].layers["axial"].contrast_limits) != pytest.approx((0.0, 2000.0))

    viewer.layers.remove(run)  # the run goes: its viewport goes, the CT's stay
    assert "fluoro" not in ws.viewports and ws.fluoro is None and ws.viewports
    t = time.perf_counter()
    viewer.close()
    assert time.perf_counter() - t < CLOSE_LIMIT_S
    assert ws.viewports == {}


def test_workspace_and_its_rulers_survive_a_session(make_napari_viewer, samples, truth, tmp_path, qtbot):
    """Rulers drawn in the coronal slab and the oblique viewport come back, in their viewports, after a
    session is saved, the viewer closed and the session restored in a new viewer."""
    from miss_imaging.sharing.session import save_session
    from miss_imaging_napari import open_mpr
    from miss_imaging_napari._measure_layers import layer_measurements
    from miss_imaging_napari._session_io import current_session, restore_session

    lm = truth["spine_ct"]["landmarks_lps_mm"]
    a, b = np.array(lm["inch_a"]), np.array(lm["inch_b"])
    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    ws = open_mpr(viewer)
    ws.finish_loading()
    ws.set_point((a + b) / 2)
    ws.set_slab("coronal", 20.0, "MIP")
    assert ws.widget.slab.value() == 20.0 and ws.widget.target.currentText() == "coronal"  # the controls show it
    ws.measure("coronal", "distance", [a, b], label="bead pair")
    ws.set_trajectory(a, b)
    ws.set_oblique(angle_deg=30)
    ws.measure("oblique", "distance", [a, b], label="bead pair oblique")
    u = np.asarray(ws.planes()["oblique"].u)  # a ruler beside the axis, in this oblique plane ...
    off = ws.measure("oblique", "distance", [a + 6 * u, b - 4 * u], label="beside").measurement.value
    ws.set_oblique(angle_deg=45)  # ... which a rotation about the axis takes off the plane shown
    point = ws.point_lps
    path = save_session(current_session(viewer), tmp_path / "case.json")
    viewer.close()

    viewer2 = make_napari_viewer(show=True)
    report = restore_session(viewer2, path)
    assert not report.problems, report.problems
    from miss_imaging_napari._viewer_links import workspace_of

    ws2 = workspace_of(viewer2)
    assert ws2 is not None and ws2.ready
    np.testing.assert_allclose(ws2.point_lps, point, atol=1e-9)
    np.testing.assert_allclose(ws2.trajectory[0], a, atol=1e-9)
    assert ws2.oblique_angle == 45 and ws2._vp["coronal"].slab_mm == 20.0
    controls = ws2.widget  # the controls show what was restored
    assert controls.kind.currentIndex() == 0 and controls.angle.value() == 45
    controls.target.setCurrentText("axial")
    assert controls.slab.value() == 0.0
    controls.target.setCurrentText("coronal")
    assert controls.slab.value() == 20.0 and controls.mode.currentText() == "MIP"
    (m,) = layer_measurements(ws2._vp["coronal"].model, ws2._vp["coronal"].image)
    assert m.name == "bead pair" and m.value == pytest.approx(25.4, abs=0.01)
    restored = {m.name: m.value for m in layer_measurements(ws2._vp["oblique"].model, ws2._vp["oblique"].image)}
    assert restored == pytest.approx({"bead pair oblique": 25.4, "beside": off}, abs=0.01)  # the off-plane one too
    viewer2.close()


@pytest.mark.parametrize("series", ["ct_gantry_tilt", "ct_head_ge_5mm"])
def test_real_ct_in_the_workspace(make_napari_viewer, shared_dicom, series, qtbot):
    """Real CTs, the gantry-tilted one included: every orthogonal viewport passes through a voxel centre
    computed from the files' own tags (PS3.3 C.7.6.2.1.1), with radiological letters; quick close."""
    import pydicom

    from miss_imaging_napari import open_mpr

    folder = shared_dicom / series
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    viewer = make_napari_viewer(show=True)
    viewer.open(str(folder), plugin="miss-imaging")
    ws = open_mpr(viewer)
    ws.finish_loading()
    files = sorted((pydicom.dcmread(p, stop_before_pixels=True) for p in folder.iterdir() if p.is_file()),
                   key=lambda d: float(np.dot(np.cross(*np.reshape(np.asarray(d.ImageOrientationPatient, float),
                                                                   (2, 3))), np.asarray(d.ImagePositionPatient, float))))
    ds = files[len(files) // 2]
    row_dir, col_dir = np.reshape(np.asarray(ds.ImageOrientationPatient, float), (2, 3))
    dr, dc = (float(v) for v in ds.PixelSpacing)  # row spacing, column spacing
    r, c = ds.Rows // 3, ds.Columns // 2
    voxel = np.asarray(ds.ImagePositionPatient, float) + c * dc * row_dir + r * dr * col_dir
    ws.set_point(voxel)
    ws.settle()
    np.testing.assert_allclose(ws.point_lps, voxel, atol=1e-9)
    for name, plane in ws.planes().items():
        if name != "oblique":
            assert abs(plane.to_pixel(voxel)[0]) <= plane.pixel_mm / 2 + 1e-9, name
    assert ws.letters("axial") == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert ws.letters("coronal")["top"] == "S" and ws.letters("sagittal")["left"] == "A"
    t = time.perf_counter()
    viewer.close()
    assert time.perf_counter() - t < CLOSE_LIMIT_S


def test_napari_keys_in_a_viewport_keep_it_one_plane(ws_viewer, qtbot):
    """napari's 2-D/3-D toggle would ask the lazy plane stack for the whole volume (and an exception in a Qt key
    handler aborts the process): in a viewport it only says why not."""
    from qtpy.QtCore import Qt

    viewer, ws = ws_viewer
    native = ws._vp["coronal"].qt.canvas.native
    native.setFocus()
    model = ws.viewports["coronal"]
    for key in (Qt.Key.Key_Y, Qt.Key.Key_E, Qt.Key.Key_T, Qt.Key.Key_G):  # 3-D, roll, transpose, grid
        qtbot.keyClick(native, key, Qt.KeyboardModifier.ControlModifier)
        qtbot.wait(20)
    assert model.dims.ndisplay == 2 and tuple(model.dims.order) == (0, 1, 2) and not model.canvas.grid.enabled
    model.layers.selection = {model.layers["coronal"]}
    qtbot.keyClick(native, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert "coronal" in model.layers  # the viewport's image is never deleted
    before = ws.point_lps
    # last, a key without Ctrl: Qt keeps the last event's modifiers for the next tests' table clicks
    qtbot.keyClick(native, Qt.Key.Key_Right)  # one pixel along the coronal normal (patient y)
    step = ws.point_lps - before
    assert np.linalg.norm(step) == pytest.approx(ws._vp["coronal"].frame.pixel_mm)
    assert abs(step[1]) == pytest.approx(ws._vp["coronal"].frame.pixel_mm)


def test_workspace_dock_takes_the_canvas_room_and_closing_it_gives_it_back(make_napari_viewer, samples, qtbot):
    """From the Plugins menu as from open_mpr: the main canvas's room goes to the workspace (tool docks beside it,
    not tabbed over it); the dock's close button closes the workspace and brings the canvas back."""
    from miss_imaging_napari._viewer_links import workspace_of

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    viewer.window.add_plugin_dock_widget("miss-imaging", "Measurements")
    dock, _ = viewer.window.add_plugin_dock_widget("miss-imaging", "MPR workspace")
    qtbot.waitUntil(lambda: workspace_of(viewer) is not None and workspace_of(viewer).ready, timeout=10000)
    ws = workspace_of(viewer)
    win = viewer.window._qt_window
    assert not win.centralWidget().isVisible()
    assert not win.tabifiedDockWidgets(dock)  # the tool panels sit beside the viewports, not over them
    dock.close()  # napari's x on the dock's title bar
    qtbot.waitUntil(lambda: win.centralWidget().isVisible(), timeout=5000)
    assert ws.viewports == {} and workspace_of(viewer) is None
    assert viewer.window._qt_viewer.dockLayerList.isVisible()


def test_snapshot_while_the_workspace_is_open_is_the_same_picture(make_napari_viewer, samples, tmp_path, qtbot):
    """The workspace hides the main canvas; a snapshot (Teaching and export) must still picture the series, the
    same picture as without the workspace (a hidden GL canvas gave stripes of garbage)."""
    from PIL import Image

    from miss_imaging_napari import open_mpr
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    tw = TeachingWidget(viewer)
    qtbot.wait(50)
    before = np.asarray(Image.open(tw.save_snapshot(tmp_path / "before.png")).convert("L"), dtype=float)
    ws = open_mpr(viewer)
    ws.finish_loading()
    qtbot.wait(50)
    during = np.asarray(Image.open(tw.save_snapshot(tmp_path / "during.png")).convert("L"), dtype=float)
    assert not viewer.window._qt_window.centralWidget().isVisible()  # hidden again after the capture
    assert during.shape == before.shape
    assert np.abs(during - before).mean() < 2.0  # grey levels 0-255: the same picture
    ws.close()
