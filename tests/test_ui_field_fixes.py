"""Issue 12 (field fixes, UI side): calibration line choice, one calibration everywhere, W/L target,
tabbed docks, plain tilt notice, GIF overlays, snapshot captions, labels inside the canvas."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.measurement.calibration import Calibration
from miss_imaging.errors import MeasurementError
from miss_imaging.model import ProjectionTags

from test_measure_widget import add_volume, fluoro_volume, labels

ERMF_TAGS = ProjectionTags(imager_pixel_spacing=(0.3, 0.3), ermf=1.25)  # 0.24 mm/px at the isocentre


@pytest.fixture
def notes(monkeypatch):
    import napari.utils.notifications as nn

    seen: list[tuple[str, str]] = []
    for level in ("info", "warning", "error"):
        monkeypatch.setattr(nn, f"show_{level}", lambda msg, lv=level: seen.append((lv, str(msg))))
    return seen


@pytest.fixture
def mwidget(make_napari_viewer):
    from miss_imaging_napari._measure_widget import MeasureWidget

    viewer = make_napari_viewer()
    return viewer, MeasureWidget(viewer)


# ---------------------------------------------------------------- item 2: which line calibrates


def test_choose_line_rules():
    from miss_imaging_napari._calibrate import LineCandidate, choose_calibration_line

    sphere = LineCandidate(0, "sphere", "distance", 58.0, True)
    bead = LineCandidate(1, "beads", "distance", 59.2, True)
    angle = LineCandidate(2, "angle 1", "angle", None, True)
    other = LineCandidate(3, "ruler 9", "distance", 10.0, False)
    rows = [sphere, bead, angle, other]
    assert choose_calibration_line(rows, [0], "XA") is sphere
    assert choose_calibration_line([sphere, angle, other], [], "XA") is sphere  # the only line on the image
    with pytest.raises(MeasurementError, match=r"2 lines on XA \('sphere' \(58.0 px\), 'beads' \(59.2 px\)\)"):
        choose_calibration_line(rows, [], "XA")
    with pytest.raises(MeasurementError, match="2 rows are picked"):
        choose_calibration_line(rows, [0, 1], "XA")
    with pytest.raises(MeasurementError, match="not a measured straight line"):
        choose_calibration_line(rows, [2], "XA")
    with pytest.raises(MeasurementError, match="not drawn on XA"):
        choose_calibration_line(rows, [3], "XA")
    with pytest.raises(MeasurementError, match="no straight line"):
        choose_calibration_line([angle], [], "XA")


def test_calibration_uses_the_picked_line_not_napari_selection(mwidget, notes):
    """The field report: sphere line, then bead line (napari leaves the bead line selected)."""
    viewer, w = mwidget
    img = add_volume(viewer, fluoro_volume(ERMF_TAGS))
    sphere = w.add_measurement("distance", [(1, 20, 20), (1, 20, 70)], name="sphere")  # 50 px
    beads = w.add_measurement("distance", [(1, 60, 10), (1, 60, 110)], name="beads")  # 100 px
    beads.layer.selected_data = {1}  # what napari leaves selected after drawing
    w.length_edit.setText("25")
    w.object_edit.setText("calibration sphere")
    w.calibrate_button.click()
    assert notes[-1][0] == "warning" and "'sphere' (50.0 px), 'beads' (100.0 px)" in notes[-1][1]
    assert tuple(img.scale)[1:] == pytest.approx((0.24, 0.24))  # nothing changed
    w.table.selectRow(0)
    msg = w.calibrate_from_selection()
    assert "calibrated on line 'sphere' (50.0 px = 25 mm)" in msg
    assert "user-calibrated (calibration sphere, 25.0 mm), 0.5 x 0.5 mm/pixel" in msg
    assert "was magnification-corrected (ERMF), 0.24 x 0.24 mm/pixel" in msg
    assert {m.name: m.mm for m in w.measurements()} == pytest.approx({"sphere": 25.0, "beads": 50.0})
    # a second calibration says the calibration actually in force before: the user's
    w.length_edit.setText("50")
    w.object_edit.setText("bead pair")
    w.table.selectRow(1)
    msg = w.calibrate_from_selection()
    assert "calibrated on line 'beads' (100.0 px = 50 mm)" in msg
    assert "was user-calibrated (calibration sphere, 25.0 mm), 0.5 x 0.5 mm/pixel" in msg
    assert "magnification" not in msg.split("was")[1]


# ---------------------------------------------------------------- items 3 and 11: one calibration; W/L and status


def test_status_bar_follows_user_calibration_and_works_with_ruler_active(mwidget, notes):
    from miss_imaging_napari import _status

    viewer, w = mwidget
    _status.attach(viewer)
    img = add_volume(viewer, fluoro_volume(ERMF_TAGS))
    r = w.add_measurement("distance", [(1, 20, 20), (1, 20, 70)], name="sphere")
    ruler = r.layer
    assert viewer.layers.selection.active is ruler  # as after every measurement
    world = img.data_to_world((1, 30, 40))
    status = ruler.get_status(world, world=True)  # napari calls the active layer's get_status
    assert "(magnification-corrected (ERMF))" in status["coordinates"] and "row 7.2 mm" in status["coordinates"]
    w.length_edit.setText("25")
    w.object_edit.setText("sphere")
    w.calibrate_from_selection()
    world = img.data_to_world((1, 30, 40))
    for lay in (img, ruler):
        text = lay.get_status(world, world=True)["coordinates"]
        assert "row 15.0 mm, col 20.0 mm (user-calibrated (sphere, 25.0 mm))" in text, text
    assert "user-calibrated (sphere, 25.0 mm)" in w.calibration_label.text()
    assert w.table.item(0, 4).text() == "user-calibrated (sphere, 25.0 mm)"


def test_target_image_rules():
    from miss_imaging_napari._targets import MEASURE_KEY, target_image

    class L:
        def __init__(self, image, visible=True, md=None):
            self.image, self.visible, self.metadata = image, visible, md or {}

    a, b, hidden = L(True), L(True), L(True, visible=False)
    ruler_a = L(False, md={MEASURE_KEY: {"image": a}})
    plain = L(False)
    layers = [a, b, hidden, ruler_a, plain]
    is_img = lambda lay: lay.image  # noqa: E731
    assert target_image(b, layers, is_img) is b
    assert target_image(ruler_a, layers, is_img) is a  # the image the ruler measures, not the top one
    assert target_image(plain, layers, is_img) is b  # top *visible* image
    assert target_image(None, layers, is_img) is b
    assert target_image(ruler_a, [b, ruler_a], is_img) is b  # its image was removed
    assert target_image(plain, [plain], is_img) is None


def test_window_level_acts_on_measured_image_while_ruler_active(mwidget):
    from miss_imaging_napari._window_widget import WindowWidget

    viewer, w = mwidget
    img = add_volume(viewer, fluoro_volume(ERMF_TAGS))
    top = add_volume(viewer, fluoro_volume(ERMF_TAGS, uid="1.2.3.9"))
    ww = WindowWidget(viewer)
    viewer.layers.selection.active = img
    w.image_combo.setCurrentIndex(0)
    r = w.add_measurement("distance", [(1, 20, 20), (1, 20, 70)], image_layer=img)
    assert viewer.layers.selection.active is r.layer
    assert ww.layer is img and ww.width_box.isEnabled() and "No image" not in ww.layer_label.text()
    ww.set_window(__import__("miss_imaging").Window(100.0, 50.0))
    assert tuple(img.contrast_limits) == pytest.approx((75.0, 125.0), abs=1.0)
    assert tuple(top.contrast_limits) != tuple(img.contrast_limits)
    ww.cleanup()


# ---------------------------------------------------------------- item 13: the tilted-CT notice


def test_tilted_ct_notice_is_one_plain_sentence(make_napari_viewer, samples, truth, notes):
    from miss_imaging_napari._layers import NOTE_KEY
    from miss_imaging_napari._series_browser import SeriesWidget

    if not (samples / "spine_ct").is_dir():
        pytest.skip("sample_dicoms/spine_ct not generated")
    viewer = make_napari_viewer()
    viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    infos = [t for lv, t in notes if "resampled" in t]
    # the slice plane's tilt from the phantom's own normal (truth: 5 deg about x, then 3 deg in-plane about z)
    tilt = np.degrees(np.arccos(np.max(np.abs(truth["spine_ct"]["slice_normal"]))))
    assert len(infos) == 1, notes
    text = infos[0]
    assert round(tilt) == 5 and text.endswith(
        "shown resampled onto patient axes because the slices are tilted 5°; measurements use the original geometry")
    assert len(text) < 160 and "(0020," not in text and "napari" not in text and ". " not in text
    # the detail stays in the info panel
    sw = SeriesWidget(viewer)
    sw.table.selectRow(0)
    note = viewer.layers[0].metadata[NOTE_KEY]
    assert "resampled for display onto a patient-aligned grid" in note
    assert note.split(": ", 1)[1] in sw.info.toPlainText()  # (its file path shown without folders)


# ---------------------------------------------------------------- item 12: docks open tabbed


def test_tab_partner_doctest():
    from miss_imaging_napari._docking import DockInfo, tab_partner

    assert tab_partner([]) is None
    assert tab_partner([DockInfo(True, True, False, False), DockInfo(True, True, False, True)]) == 1


def test_four_docks_added_the_documented_way_keep_the_canvas(make_napari_viewer, qtbot):
    """Plugins menu way (no tabify) on a 1280x800 screen: the canvas keeps its size, the window does not grow."""
    from qtpy.QtWidgets import QApplication, QDockWidget

    viewer = make_napari_viewer(show=True)
    win = viewer.window._qt_window
    win.resize(1280, 800)
    QApplication.processEvents()
    canvas = viewer.window._qt_viewer.canvas.native
    h0 = canvas.height()
    names = ["Series browser", "Window / level", "Measurements", "Teaching and export"]
    for name in names:
        viewer.window.add_plugin_dock_widget("miss-imaging", name)
        for _ in range(3):
            QApplication.processEvents()
    docks = [d for d in win.findChildren(QDockWidget) if any(n in d.windowTitle() for n in names)]
    assert len(docks) == 4
    for d in docks:  # every plugin dock shares one tab group
        assert len(win.tabifiedDockWidgets(d)) == 3, d.windowTitle()
    assert win.height() <= 800 and win.width() <= 1280
    assert canvas.height() >= 0.9 * h0 and canvas.height() >= 500, (h0, canvas.height())
    assert canvas.width() >= 600, canvas.width()  # narrow docks (2-column button grids): 695 of 992 px measured


# ---------------------------------------------------------------- items 3, 5, 6: pictures and files


def _yellow(img) -> np.ndarray:
    a = np.asarray(img.convert("RGB")).astype(int)
    return (a[..., 0] > 200) & (a[..., 1] > 170) & (a[..., 2] < 90)


def test_gif_carries_ruler_on_its_frame_and_the_user_calibration(mwidget, tmp_path, notes):
    from PIL import Image

    from miss_imaging.sharing.export import render_cine_frames
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer, w = mwidget
    img = add_volume(viewer, fluoro_volume(ERMF_TAGS, shape=(10, 100, 120)))
    w.add_measurement("distance", [(4, 20, 20), (4, 20, 70)], name="sphere")
    w.length_edit.setText("25")
    w.object_edit.setText("sphere")
    w.calibrate_from_selection()  # 0.5 mm/px now
    tw = TeachingWidget(viewer)
    viewer.layers.selection.active = viewer.layers[-1]  # the ruler, as after drawing
    rep = tw.export_cine(tmp_path / "run.gif", width_px=480)
    assert rep.n_frames == 10
    gif = Image.open(tmp_path / "run.gif")
    counts = []
    for k in range(10):
        gif.seek(k)
        counts.append(int(_yellow(gif).sum()))
    assert counts[4] > 200 and all(c == 0 for i, c in enumerate(counts) if i != 4), counts
    # the same frame in the GIF's own renderer: heading "frame 4 of 0-9" (0-based, as the slider and the table)
    vol = img.metadata["miss_imaging_volume"]
    assert w.table.item(0, 6).text() == "4"
    from miss_imaging.measurement.measure import calibrated_volume
    from miss_imaging_napari._layer_geometry import current_calibration

    shown = calibrated_volume(vol, current_calibration(img))
    assert shown.spacing[1:] == pytest.approx((0.5, 0.5)) and shown.calibration.startswith("user-calibrated")
    assert render_cine_frames(shown, frames=[4], width_px=480)[0].size == (480, 400)  # 60 x 50 mm field


def test_render_labels_scale_bar_calibration_and_ct_position():
    from miss_imaging.display.render import fit_label, position_text, scale_bar_label

    from test_measure_widget import ct_volume

    vol = fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3)))
    assert scale_bar_label(20, vol) == "20 mm at detector (not corrected)"
    assert position_text(vol, 4, 4) == "frame 4 of 0-5"
    ct = ct_volume()  # axial, z = -20 + 2.5 k mm... in LPS z from slice axis
    z = float(ct.index_to_patient(np.array([3.0, 0, 0]))[2])
    assert position_text(ct, 3, 3) == f"slice 3, z = {z:.1f} mm"
    assert scale_bar_label(50, ct) == "50 mm"
    # labels stay whole inside the picture
    for x0 in (0, 300, 630):
        for y0 in (0, 240, 479):
            x, y = fit_label((x0, y0, x0 + 5, y0 + 1), 200, 28, 640, 480)
            assert 4 <= x and x + 200 <= 636 and 4 <= y and y + 28 <= 476
    x, y = fit_label((300, 240, 400, 242), 200, 28, 640, 480)
    assert y + 28 < 240  # above the line, not over it


def test_snapshot_caption_and_png(mwidget, tmp_path):
    from PIL import Image

    from miss_imaging_napari._teaching_info import snapshot_caption
    from miss_imaging_napari._teaching_widget import TeachingWidget

    from test_measure_widget import ct_volume

    vol = fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3)))
    assert snapshot_caption(vol, None, (4.0, 1, 1)) == "frame 4 of 0-5\nscale bar: mm at detector (not corrected)"
    assert snapshot_caption(vol, "user-calibrated (sphere, 25.0 mm)", (0.0, 1, 1)).endswith(
        "scale bar: mm user-calibrated (sphere, 25.0 mm)")
    assert snapshot_caption(ct_volume(), None, (-12.5, 0, 0)) == "slice z = -12.5 mm (LPS)"
    viewer, w = mwidget
    add_volume(viewer, vol)
    tw = TeachingWidget(viewer)
    seen = []
    real = type(viewer).screenshot

    def spy(self, *a, **k):
        ov = self.canvas.overlays
        seen.append(ov["miss_imaging_caption"].text if "miss_imaging_caption" in ov else None)
        seen.append(ov["scale_bar"].visible)
        return real(self, *a, **k)

    import pytest as _pytest

    viewer.dims.set_point(0, 3)
    with _pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(viewer), "screenshot", spy)
        out = tw.save_snapshot(tmp_path / "snap.png")
    assert seen == ["frame 3 of 0-5\nscale bar: mm at detector (not corrected)", True]
    assert Image.open(out).size[0] > 100
    assert "miss_imaging_caption" not in viewer.canvas.overlays  # removed after the capture


# ---------------------------------------------------------------- item 10: labels


def test_canvas_label_is_two_short_lines_with_the_calibration(mwidget):
    viewer, w = mwidget
    add_volume(viewer, fluoro_volume(ERMF_TAGS))
    r = w.add_measurement("distance", [(1, 20, 20), (1, 20, 70)], name="fluoro beads")
    shown = list(r.layer.features["shown"])[0]
    assert shown == "fluoro beads: 12.0 mm\nmagnification-corrected (ERMF)"
    assert r.layer.text.string.format == "{shown}"
    assert max(len(line) for line in shown.splitlines()) <= 32  # the full one-line label was 52 characters
    assert labels(r.layer)[0] == "fluoro beads: 12.0 mm magnification-corrected (ERMF)"  # table/exports unchanged


def test_session_restores_the_user_calibration(make_napari_viewer, samples, tmp_path, notes):
    from miss_imaging_napari import _layer_geometry, _measure_layers
    from miss_imaging_napari._measure_widget import MeasureWidget
    from miss_imaging_napari._teaching_widget import TeachingWidget

    if not (samples / "fluoro").is_dir():
        pytest.skip("sample_dicoms/fluoro not generated")
    viewer = make_napari_viewer()
    viewer.open(str(samples / "fluoro"), plugin="miss-imaging")
    img = viewer.layers[0]
    w = MeasureWidget(viewer)
    w.add_measurement("distance", [(4, 100, 150), (4, 100, 210)], name="sphere")  # 60 px
    w.add_measurement("distance", [(4, 150, 30), (4, 150, 130)], name="beads")  # 100 px
    w.table.selectRow(0)
    w.length_edit.setText("24")
    w.object_edit.setText("sphere")
    w.calibrate_from_selection()  # 0.4 mm/px
    path = TeachingWidget(viewer).save_session(tmp_path / "case.json")

    other = make_napari_viewer()
    report = TeachingWidget(other).restore_session(path)
    assert report.ok, report.problems  # no "changed: ... now reads ... magnification-corrected"
    img2 = next(lay for lay in other.layers if _layer_geometry.image_volume(lay) is not None)
    cal = _layer_geometry.current_calibration(img2)
    assert cal.source == "user" and cal.row_mm == pytest.approx(0.4)
    assert tuple(img2.scale)[1:] == pytest.approx((0.4, 0.4)) and tuple(img.scale)[1:] == pytest.approx((0.4, 0.4))
    ms = {r.name: r.measurement for lay in _measure_layers.tool_layers(other) for r in _measure_layers.results(lay)}
    assert ms["beads"].mm == pytest.approx(40.0) and ms["beads"].calibration == "user-calibrated (sphere, 24.0 mm)"


def test_any_shapes_layer_shows_the_top_image_status(mwidget):
    from miss_imaging_napari import _status

    viewer, w = mwidget
    _status.attach(viewer)
    img = add_volume(viewer, fluoro_volume(ERMF_TAGS))
    plain = viewer.add_shapes(None, ndim=3, name="my notes", units=img.units)  # not a plugin layer
    assert viewer.layers.selection.active is plain
    text = plain.get_status(img.data_to_world((2, 30, 40)), world=True)["coordinates"]
    assert text.startswith("frame 2, row 7.2 mm, col 9.6 mm (magnification-corrected (ERMF))"), text
