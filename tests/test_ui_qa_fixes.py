"""QA report on main (issue 12 follow-up): docks, fluoro frame index, snapshot extent, non-DICOM folder,
relative paths in teaching mode, the C-arm shot, and the user settings left alone."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging import settings

ALL_DOCKS = ["Series browser", "Window / level", "Measurements", "Resample and reslice", "Teaching and export",
             "C-arm", "Spine", "MPR workspace"]


def _pump(n: int = 4) -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()


def _banner_columns(viewer) -> np.ndarray:
    """Columns of the canvas where the patient banner's dark red box is drawn (top quarter)."""
    a = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(int)
    top = a[: a.shape[0] // 4]
    red = (top[..., 0] > 100) & (top[..., 1] < 50) & (top[..., 2] < 50)
    return np.nonzero(red.any(axis=0))[0], a.shape[1]


# ---------------------------------------------------------------- item 5: every dock in one tab group


def test_every_plugin_dock_joins_one_tab_group_and_the_window_fits(make_napari_viewer, samples):
    """All eight docks at 1280x800: one tab group, the window does not grow, the canvas stays usable,
    and the patient banner stays right of the top orientation letter (was cut to 'HANTOM, JANE Q')."""
    from qtpy.QtWidgets import QDockWidget

    settings.set_teaching_mode(False)
    try:
        viewer = make_napari_viewer(show=True)
        win = viewer.window._qt_window
        win.resize(1280, 800)
        viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
        _pump()
        canvas = viewer.window._qt_viewer.canvas.native
        for name in ALL_DOCKS[:-1]:
            viewer.window.add_plugin_dock_widget("miss-imaging", name)
            _pump()
        assert win.height() <= 800 and win.width() <= 1280, win.size()
        assert canvas.width() >= 600, canvas.width()
        cols, width = _banner_columns(viewer)
        assert cols.size, "no banner drawn"
        assert cols.min() > width / 2 + 10, (cols.min(), width)  # right of the 'A' letter, nothing cut
        assert cols.max() < width
        viewer.window.add_plugin_dock_widget("miss-imaging", ALL_DOCKS[-1])
        _pump(8)
        docks = [d for d in win.findChildren(QDockWidget) if any(n in d.windowTitle() for n in ALL_DOCKS)]
        assert len(docks) == len(ALL_DOCKS)
        tools = [d for d in docks if ALL_DOCKS[-1] not in d.windowTitle()]
        for d in tools:  # the tool panels: one tab group
            assert len(win.tabifiedDockWidgets(d)) == len(tools) - 1, d.windowTitle()
        (mpr,) = [d for d in docks if d not in tools]  # the MPR workspace is a view: beside them, in the canvas's room
        assert not win.tabifiedDockWidgets(mpr) and not canvas.isVisible()
        assert win.height() <= 800 and win.width() <= 1280, win.size()
        assert mpr.width() >= 600, mpr.width()
    finally:
        settings.set_teaching_mode(True)


def test_a_plugin_widget_docked_by_a_script_joins_the_group(make_napari_viewer):
    """'However added': add_dock_widget(widget) after construction, outside napari's Plugins menu."""
    from qtpy.QtWidgets import QDockWidget

    from miss_imaging_napari._carm_widget import CArmWidget
    from miss_imaging_napari._spine_widget import SpineWidget

    viewer = make_napari_viewer(show=True)
    viewer.window.add_plugin_dock_widget("miss-imaging", "Measurements")
    _pump()
    spine = SpineWidget(viewer)
    _pump()  # the construction-time timer has fired before the widget is docked
    viewer.window.add_dock_widget(spine, name="Spine by script")
    viewer.window.add_dock_widget(CArmWidget(viewer), name="C-arm by script")
    _pump()
    win = viewer.window._qt_window
    docks = {d.windowTitle(): d for d in win.findChildren(QDockWidget)}
    assert len(win.tabifiedDockWidgets(docks["Spine by script"])) == 2
    assert spine.screw_table.isVisibleTo(spine)


# ---------------------------------------------------------------- items 6 and 7: a run beside a CT; the whole image


def test_snapshot_rules():
    from miss_imaging_napari._snapshot import fit_view, frame_index, frame_world, layers_to_hide
    from miss_imaging_napari._targets import MEASURE_KEY

    class L:
        def __init__(self, image=False, owner=None, visible=True):
            self.image, self.visible = image, visible
            self.metadata = {MEASURE_KEY: {"image": owner}} if owner is not None else {}

    ct, fl = L(True), L(True)
    ct_plan, fl_ruler, note, hidden_ct = L(owner=ct), L(owner=fl), L(), L(True, visible=False)
    hide = layers_to_hide(fl, [ct, ct_plan, fl, fl_ruler, note, hidden_ct], lambda lay: lay.image)
    assert hide == [ct, ct_plan]
    assert frame_index(-220.0, 10) is None and frame_index(9.0, 10) == 9 and frame_index(6.0, 10, 2.0, 0.0) == 3
    assert frame_world(-220.0, 10) == 0.0 and frame_world(300.0, 10) == 9.0 and frame_world(4.0, 10) is None
    size, center, zoom = fit_view((-109.5, -127.5), (109.5, 127.5), (1.0, 1.0))  # 220 x 256 pixels of 1 mm
    assert size == (880, 1024) and center == (0.0, 0.0) and zoom == 4.0


@pytest.fixture
def ct_and_run(make_napari_viewer, samples):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    viewer.open(str(samples / "fluoro" / "FLUORO_XA.dcm"), plugin="miss-imaging")
    _, tw = viewer.window.add_plugin_dock_widget("miss-imaging", "Teaching and export")
    _, mw = viewer.window.add_plugin_dock_widget("miss-imaging", "Measurements")
    ct, run = viewer.layers[0], viewer.layers[1]
    _pump()
    return viewer, ct, run, tw, mw


def test_run_beside_a_ct_shows_its_own_frame_in_status_and_snapshot(ct_and_run, tmp_path, monkeypatch):
    """QA nap3.py: status 'frame -220', a black snapshot captioned 'frame -220 of 0-9' with the CT's outlines."""
    from PIL import Image

    viewer, ct, run, tw, mw = ct_and_run
    mw.add_measurement("distance", [(40, 60, 60), (40, 160, 200)], name="ct plan", image_layer=ct)
    viewer.dims.set_point(0, float(ct.data_to_world((40, 0, 0))[0]))  # the CT's z: no frame of the run
    ct.visible = False
    viewer.layers.selection.active = run
    _pump()
    point = np.asarray(viewer.dims.point)
    status = run.get_status(point, world=True)["coordinates"]
    frame = int(status.split("frame ")[1].split(",")[0])
    assert 0 <= frame < run.data.shape[0], status
    # even at a world position that shows no frame of the run, the status says so instead of a negative frame
    point[0] = -220.0
    assert "no frame of this run here (frames 0-" in run.get_status(point, world=True)["coordinates"]
    viewer.dims.set_point(0, -220.0)
    seen = {}
    from miss_imaging_napari import _teaching_widget

    orig = _teaching_widget._capture_extent

    def spy(*a, **k):
        seen["visible"] = {lay.name: lay.visible for lay in viewer.layers}
        seen["caption"] = viewer.canvas.overlays["miss_imaging_caption"].text \
            if "miss_imaging_caption" in viewer.canvas.overlays else ""
        return orig(*a, **k)

    monkeypatch.setattr(_teaching_widget, "_capture_extent", spy)
    out = tw.save_snapshot(tmp_path / "run.png")
    img = np.asarray(Image.open(out).convert("L"), dtype=float)
    assert img.mean() > 20, img.mean()  # the run's frame, not a black canvas
    assert "frame -" not in seen["caption"] and "of 0-" in seen["caption"], seen["caption"]
    measured = [lay for lay in viewer.layers if (lay.metadata.get("miss_imaging_measure") or {}).get("image") is ct]
    assert measured and not any(seen["visible"][lay.name] for lay in measured)  # the CT's outlines not in it
    assert viewer.dims.point[0] == -220.0 and all(lay.visible for lay in measured)  # the view is restored


def test_snapshot_shows_the_whole_image_not_the_canvas_crop(ct_and_run, tmp_path):
    """QA: snap.png was the 424 x 1092 px canvas, cutting both flanks of the body (CT: 220 x 256 pixels of 1 mm)."""
    from PIL import Image

    viewer, ct, run, tw, mw = ct_and_run
    run.visible = False
    viewer.layers.selection.active = ct
    viewer.window.add_plugin_dock_widget("miss-imaging", "Spine")
    viewer.camera.zoom *= 3  # the user zoomed in: the canvas shows a part of the slice
    _pump()
    zoom = viewer.camera.zoom
    h, w = np.asarray(Image.open(tw.save_snapshot(tmp_path / "ct.png"))).shape[:2]
    rows, cols = ct.data.shape[-2:]
    assert abs(h / w - rows / cols) < 0.01, (h, w)
    assert max(h, w) >= 1000
    assert viewer.camera.zoom == pytest.approx(zoom)


# ---------------------------------------------------------------- item 8: a folder without DICOM


@pytest.fixture
def notes(monkeypatch):
    import napari.utils.notifications as nn

    seen: list[tuple[str, str]] = []
    for level in ("info", "warning", "error"):
        monkeypatch.setattr(nn, f"show_{level}", lambda msg, lv=level: seen.append((lv, str(msg))))
    return seen


def test_reader_claims_rules(tmp_path):
    from miss_imaging_napari._reader import claims

    (tmp_path / "empty").mkdir()
    (tmp_path / "store.zarr").mkdir()
    (tmp_path / "x.dcm").write_text("not dicom")
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert claims(tmp_path / "empty") and claims(tmp_path / "x.dcm")
    assert not claims(tmp_path / "store.zarr") and not claims(tmp_path / "pic.png")
    assert not claims(tmp_path / "missing")


def test_folder_without_dicom_says_what_was_found(make_napari_viewer, tmp_path, notes):
    """QA: viewer.open(folder, plugin='miss-imaging') raised napari's 'refused the file' with no notification."""
    folder = tmp_path / "nondicom"
    folder.mkdir()
    (folder / "notes.txt").write_text("not dicom")
    (folder / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="miss-imaging")
    errors = [m for lv, m in notes if lv == "error"]
    assert errors and "no loadable DICOM image series" in errors[-1] and "notes.txt: not a DICOM file" in errors[-1], notes
    assert len(viewer.layers) == 0


# ---------------------------------------------------------------- item 11: the C-arm shot


def test_carm_shot_is_brought_into_view_and_carries_the_ct_patient(make_napari_viewer, samples):
    """QA: the shot was added off-screen (seen only after reset view), its banner said 'name unknown | ID unknown'."""
    from miss_imaging_napari._teaching import BANNER_KEY

    settings.set_teaching_mode(False)
    try:
        viewer = make_napari_viewer(show=True)
        viewer.window._qt_window.resize(1280, 800)
        viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
        ct = viewer.layers[0]
        _, carm = viewer.window.add_plugin_dock_widget("miss-imaging", "C-arm")
        _pump()
        carm.set_pose(0, 0)
        shot = carm.render()
        _pump()
        canvas = viewer.window._qt_viewer.canvas.native
        half = np.array([canvas.height(), canvas.width()]) / (2 * viewer.camera.zoom)
        c = np.asarray(viewer.camera.center)[-2:]
        ext = np.asarray(shot.extent.world)[:, -2:]
        assert np.all(ext[0] >= c - half - 1) and np.all(ext[1] <= c + half + 1), (ext, c, half)
        status = shot.get_status(np.asarray(viewer.dims.point), world=True)["coordinates"]
        assert status.startswith("frame 0,"), status  # was "frame -191": the CT's z on the shared axis
        name = ct.metadata["miss_imaging_volume"].patient["PatientName"]
        assert shot.metadata["miss_imaging_volume"].patient["PatientName"] == name
        viewer.layers.selection.active = shot
        _pump()
        banner = viewer.canvas.overlays[BANNER_KEY].text
        assert "name unknown" not in banner and "ID unknown" not in banner, banner
        settings.set_teaching_mode(True)
        _pump()
        assert BANNER_KEY not in viewer.canvas.overlays  # teaching mode: no identity on screen
    finally:
        settings.set_teaching_mode(True)


# ---------------------------------------------------------------- item 10: a relative path in teaching mode


def test_relative_path_shows_no_parent_folder_in_teaching_mode(make_napari_viewer, samples, notes, monkeypatch):
    """QA: viewer.open('sample_dicoms/hostile') notified 'sample_dicoms/<selected folder>/non_dicom/IM_TEXT'."""
    settings.set_teaching_mode(True)
    monkeypatch.chdir(samples.parent)
    viewer = make_napari_viewer()
    viewer.open("sample_dicoms/hostile", plugin="miss-imaging")
    text = "\n".join(m for _, m in notes)
    assert "IM_TEXT" in text  # the file is still named
    assert "sample_dicoms" not in text and "hostile" not in text and "non_dicom" not in text, text


# ---------------------------------------------------------------- item 4: layers added inside another insertion


def test_carm_shot_beside_a_masked_run_keeps_the_layer_list_consistent(make_napari_viewer, samples, qtlog):
    """QA: after 'Take shot' Qt said "invalid inserted rows reported by source model", then napari's layer
    delegate painted a row with no size (_paint_loading) and the process aborted.  Teaching mode adds text-mask
    layers for a burned-in run; they were added inside napari's insertion/selection of another layer."""
    settings.set_teaching_mode(True)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    viewer.open(str(samples / "fluoro" / "FLUORO_XA.dcm"), plugin="miss-imaging")
    _pump()
    for name in ("Measurements", "Teaching and export"):
        viewer.window.add_plugin_dock_widget("miss-imaging", name)
    _, carm = viewer.window.add_plugin_dock_widget("miss-imaging", "C-arm")
    _pump()
    carm.set_pose(0, 0)
    carm.render()
    _pump(8)
    settings.set_teaching_mode(False)
    _pump()
    settings.set_teaching_mode(True)
    _pump(8)
    model = viewer.window._qt_viewer.layers.model()
    assert model.rowCount() == len(viewer.layers)
    bad = [m.message for m in qtlog.records if "invalid inserted rows" in m.message or "inconsistent" in m.message]
    assert not bad, bad

