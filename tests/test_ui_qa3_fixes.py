"""QA round 3 (spine surgeon and educator at 1280x800): a CT and a fluoro shot in one viewer, the access
plan's incision layers, the Spine dock, layer units, the teaching mask guard, the status bar after a
calibration, orientation letters after "Go to", the SC caption font, the demo labels."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging import settings
from miss_imaging_napari._napari_private import main_window


def _pump(n: int = 4) -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(n):
        QApplication.processEvents()


@pytest.fixture
def notes(monkeypatch):
    import napari.utils.notifications as nn

    seen: list[tuple[str, str]] = []
    for level in ("info", "warning", "error"):
        monkeypatch.setattr(nn, f"show_{level}", lambda msg, lv=level: seen.append((lv, str(msg))))
    return seen


# ---------------------------------------------------------------- item 1: CT and fluoro in one viewer


def test_slice_to_show_rules():
    from miss_imaging_napari._framing import Span, covers, slice_to_show

    ct = Span(-282.0, -61.5, 1.5, "volume")
    run = Span(0.0, 9.0, 1.0, "projection")
    assert covers(ct, -61.0) and not covers(ct, -60.0) and covers(None, 1e6)
    assert slice_to_show(0.0, None, [ct]) == -172.5  # on the CT's slice grid, its middle
    assert slice_to_show(0.0, None, [run, ct]) is None  # the run still shows its frame 0
    assert slice_to_show(-100.0, run, [run, ct]) == 0.0  # the run just opened: its first frame
    assert slice_to_show(4.0, run, [run]) is None
    assert slice_to_show(0.0, None, [None, ct]) is None  # a 2-D layer is drawn at every position
    assert slice_to_show(0.0, None, []) is None


@pytest.fixture
def ct_then_lateral(make_napari_viewer, samples):
    viewer = make_napari_viewer(show=True)
    main_window(viewer).resize(1280, 800)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    _pump()
    viewer.open(str(samples / "lumbar_fluoro" / "LATERAL.dcm"), plugin="miss-imaging")
    _pump()
    ct, lat = viewer.layers[0], viewer.layers[1]
    assert "CT" in ct.name and "LAT" in lat.name
    return viewer, ct, lat


def _in_view(viewer, layer) -> bool:
    """The layer's whole 2-D extent is on the canvas at the current camera."""
    ext = np.asarray(layer.extent.world)[:, -2:]
    half = np.asarray(viewer.canvas.size, float) / (2 * viewer.scene.camera.zoom)
    c = np.asarray(viewer.scene.camera.center)[-2:]
    return bool(np.all(ext[0] >= c - half - 1e-6) and np.all(ext[1] <= c + half + 1e-6))


def _covers(layer, z: float) -> bool:
    ext = np.asarray(layer.extent.world)[:, 0]
    step = float(layer.extent.step[0])
    return ext[0] - step / 2 <= z <= ext[1] + step / 2


def test_opened_shot_is_on_screen_and_hiding_it_brings_the_ct_back(ct_then_lateral, tmp_path, notes):
    """QA: the lateral shot opened after the CT was drawn off-screen; hiding it left a black canvas at z = 0."""
    from PIL import Image

    viewer, ct, lat = ct_then_lateral
    assert _covers(lat, viewer.dims.point[0]) and _in_view(viewer, lat)
    lat.visible = False
    _pump()
    assert _covers(ct, viewer.dims.point[0]), viewer.dims.point
    assert _in_view(viewer, ct)
    canvas = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3]
    assert canvas.mean() > 20, canvas.mean()  # the CT slice, not a black canvas
    lat.visible = True  # turned on again: its frame comes back
    _pump()
    assert _covers(lat, viewer.dims.point[0])


def test_snapshot_of_a_ct_outside_the_slider_is_not_black(ct_then_lateral, tmp_path):
    from PIL import Image

    viewer, ct, lat = ct_then_lateral
    _, tw = viewer.window.add_plugin_dock_widget("miss-imaging", "Teaching and export")
    lat.visible = False
    viewer.dims.set_point(0, -10.0)  # the user dragged the slider above the CT (the shared range reaches 0)
    viewer.layers.selection.active = ct
    zoom = viewer.scene.camera.zoom
    _pump()
    img = np.asarray(Image.open(tw.save_snapshot(tmp_path / "ct.png")).convert("L"), dtype=float)
    assert img.mean() > 20, img.mean()
    assert viewer.dims.point[0] == -10.0 and viewer.scene.camera.zoom == pytest.approx(zoom)  # the view is restored


def test_framing_doctests():
    import doctest

    from miss_imaging_napari import _framing

    assert doctest.testmod(_framing).failed == 0


# ---------------------------------------------------------------- item 2: the incision only on the chosen shot


def test_incision_target_rules():
    from miss_imaging_napari._spine import incision_target

    class L:
        def __init__(self, kind, cal="ERMF", visible=True):
            self.kind, self.calibration, self.visible = kind, cal, visible

    ct, ap, lat, px = L("volume"), L("projection"), L("projection", visible=False), L("projection", "pixels only")
    vol = lambda lay: lay  # noqa: E731 - the fake layers are their own volumes
    assert incision_target(lat, [ct, ap, lat], vol) is lat  # the user chose it (active), even hidden
    assert incision_target(ct, [ct, ap, lat], vol) is ap  # the top visible shot
    assert incision_target(ct, [ct, lat, px], vol) is None  # hidden or uncalibrated: none
    assert incision_target(None, [ct], vol) is None


def test_access_incision_only_on_the_chosen_shot_never_over_the_ct(make_napari_viewer, samples, notes):
    from miss_imaging_napari._spine import INCISION_KEY
    from miss_imaging_napari._spine_widget import SpineWidget

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    viewer.open(str(samples / "lumbar_fluoro" / "AP.dcm"), plugin="miss-imaging")
    viewer.open(str(samples / "lumbar_fluoro" / "LATERAL.dcm"), plugin="miss-imaging")
    _pump()
    ct = next(lay for lay in viewer.layers if "CT" in lay.name)
    ap = next(lay for lay in viewer.layers if "AP" in lay.name and "mask" not in lay.name)
    lat = next(lay for lay in viewer.layers if "LAT" in lay.name and "mask" not in lay.name)
    w = SpineWidget(viewer)
    viewer.layers.selection.active = lat
    (inc,) = w._incision_on_projections(20.0)
    incisions = [lay for lay in viewer.layers if lay.name.startswith("incision on")]
    assert incisions == [inc] and inc.name == f"incision on {lat.name}"
    assert inc.metadata[INCISION_KEY]["image"] is lat
    (line,) = inc.data
    assert np.linalg.norm(line[1] - line[0]) == pytest.approx(20.0)
    # the user goes back to the CT: the shots are hidden, the incision with them; the CT slice shows no orange
    ap.visible = lat.visible = False
    viewer.layers.selection.active = ct
    _pump()
    assert not inc.visible
    canvas = np.asarray(viewer.screenshot(canvas_only=True, flash=False))[..., :3].astype(int)
    orange = (canvas[..., 0] > 200) & (canvas[..., 1] > 100) & (canvas[..., 1] < 200) & (canvas[..., 2] < 80)
    assert orange.sum() == 0
    # choosing the AP shot moves the incision there (one layer, not one per shot)
    viewer.layers.selection.active = ap
    ap.visible = True
    (inc2,) = w._incision_on_projections(20.0)
    assert [lay.name for lay in viewer.layers if lay.name.startswith("incision on")] == [f"incision on {ap.name}"]
    assert inc2.visible


# ---------------------------------------------------------------- item 5: the teaching mask stays while teaching


def test_mask_guard_rules():
    import doctest

    from miss_imaging_napari import _teaching
    from miss_imaging_napari._teaching import mask_guard

    assert mask_guard(False, False, True, True, False, False) is None  # clinician mode: no mask
    assert mask_guard(True, True, True, True, False, False) is None  # a snapshot's own temporary mask
    assert mask_guard(True, False, True, False, True, True) == "hide"  # the shot hidden: its mask with it
    assert mask_guard(True, False, True, True, True, True) is None
    assert doctest.testmod(_teaching).failed == 0


def _mask(viewer):
    from miss_imaging_napari._teaching import MASK_KEY

    masks = [lay for lay in viewer.layers if MASK_KEY in lay.metadata]
    assert len(masks) == 1, [lay.name for lay in viewer.layers]
    return masks[0]


def test_teaching_mask_comes_back_when_hidden_or_deleted_and_close_is_quick(make_napari_viewer, samples, notes):
    import time

    settings.set_teaching_mode(True)
    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_fluoro" / "LATERAL.dcm"), plugin="miss-imaging")
    _pump(8)
    shot = viewer.layers[0]
    mask = _mask(viewer)
    mask.visible = False  # the eye icon
    _pump(8)
    assert mask.visible
    viewer.layers.remove(mask)  # the bin icon
    _pump(8)
    again = _mask(viewer)
    assert again.visible and again.metadata["miss_imaging_text_mask"]["image"] is shot
    shot.visible = False  # the shot hidden: no black box left over whatever is below
    _pump(8)
    assert not _mask(viewer).visible
    shot.visible = True
    _pump(8)
    assert _mask(viewer).visible
    t0 = time.perf_counter()
    viewer.close()
    _pump(8)
    assert time.perf_counter() - t0 < 5.0
    assert len(viewer.layers) == 0


# ---------------------------------------------------------------- item 4: every plugin layer in mm


def test_carm_render_with_marks_keeps_one_unit(make_napari_viewer, samples, monkeypatch):
    """QA: rendering a C-arm shot with a mark on the CT popped napari's 'Inconsistent units' toast."""
    import napari._vispy.canvas as vcanvas

    from miss_imaging_napari._carm_widget import CArmWidget

    toasts: list[str] = []
    monkeypatch.setattr(vcanvas, "show_warning", lambda msg: toasts.append(str(msg)))
    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    ct = viewer.layers[0]
    centre = np.mean(np.asarray(ct.extent.world), axis=0)
    viewer.add_points([centre], name="pedicle mark", size=3, units=("mm", "mm", "mm"))
    w = CArmWidget(viewer)
    w.render()
    _pump(8)
    assert w.overlay_layer is not None and len(w.overlay_layer.data)
    assert viewer.layers.extent.units is not None, [(lay.name, lay.units) for lay in viewer.layers]
    assert not [t for t in toasts if "Inconsistent units" in t]


# ---------------------------------------------------------------- item 3: the Spine dock at 1280x800


def test_spine_dock_fits_its_tab_at_1280x800(make_napari_viewer, samples, tmp_path):
    """QA: titles, buttons and tables of the Spine dock were cut off on the right (a sideways scroll)."""
    from qtpy.QtWidgets import QAbstractButton, QLabel, QScrollArea

    from miss_imaging_napari._spine_widget import SpineWidget

    viewer = make_napari_viewer(show=True)
    main_window(viewer).resize(1280, 800)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    for name in ("Series browser", "Measurements", "Spine"):
        viewer.window.add_plugin_dock_widget("miss-imaging", name)
        _pump()
    _pump(8)
    (w,) = main_window(viewer).findChildren(SpineWidget)
    scroll = w.findChildren(QScrollArea)[0]
    assert scroll.horizontalScrollBar().maximum() == 0  # nothing reaches past the dock's right edge
    view = scroll.viewport()
    for b in w.findChildren(QAbstractButton):
        if not b.isVisibleTo(w) or not b.text():
            continue
        left = b.mapTo(view, b.rect().topLeft()).x()
        assert left >= 0 and left + b.width() <= view.width(), b.text()
        assert b.fontMetrics().horizontalAdvance(b.text()) <= b.width(), b.text()  # the label is readable
    for label in w.findChildren(QLabel):
        if label.isVisibleTo(w) and label.text() and not label.wordWrap():
            assert label.fontMetrics().horizontalAdvance(label.text()) <= view.width(), label.text()
    bar = scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the last control is reachable by scrolling
    _pump()
    last = w.export_button
    y = last.mapTo(view, last.rect().bottomLeft()).y()
    assert 0 <= y <= view.height()
    viewer.screenshot(str(tmp_path / "spine_dock.png"), canvas_only=False)


# ---------------------------------------------------------------- item 6: the status line after a calibration


def test_status_line_names_the_new_calibration_without_a_mouse_move(make_napari_viewer, samples, notes):
    from miss_imaging.measurement.calibration import Calibration, CalibrationSource
    from miss_imaging_napari._user_calibration import apply_user_calibration, clear_user_calibration

    viewer = make_napari_viewer(show=True)
    viewer.open(str(samples / "lumbar_fluoro" / "LATERAL.dcm"), plugin="miss-imaging")
    _pump()
    shot = next(lay for lay in viewer.layers if "LAT" in lay.name and "mask" not in lay.name)
    viewer.layers.selection.active = shot
    viewer.cursor.position = tuple(np.mean(np.asarray(shot.extent.world), axis=0))  # the mouse over the shot
    viewer.update_status_from_cursor()
    assert "ERMF" in str(viewer.status), viewer.status
    cal = Calibration(0.25, 0.25, "user-calibrated (ball, 25.0 mm)", CalibrationSource.USER)
    apply_user_calibration(viewer, shot, cal)  # the mouse does not move
    assert "user-calibrated (ball, 25.0 mm)" in str(viewer.status), viewer.status
    clear_user_calibration(viewer, shot)
    assert "ERMF" in str(viewer.status) and "user-calibrated" not in str(viewer.status), viewer.status


# ---------------------------------------------------------------- item 7: orientation letters after "Go to screw"


def _letters(viewer) -> dict[str, str]:
    from miss_imaging_napari._orientation import OVERLAY_KEYS

    ov = viewer.canvas.overlays
    return {k.rsplit("_", 1)[1]: ov[k].text for k in OVERLAY_KEYS if k in ov and ov[k].visible}


def test_go_to_screw_keeps_the_ct_letters_while_the_oblique_is_off_screen(make_napari_viewer, samples, notes):
    """QA: after "Go to" the axial CT lost its letters: the oblique cut (off screen, beside the CT) hid them."""
    from miss_imaging_napari._orientation import box_on_screen
    from miss_imaging_napari._spine_widget import SpineWidget

    viewer = make_napari_viewer(show=True)
    main_window(viewer).resize(1280, 800)
    viewer.open(str(samples / "lumbar_ct"), plugin="miss-imaging")
    _pump()
    ct = viewer.layers[0]
    _, w = viewer.window.add_plugin_dock_widget("miss-imaging", "Spine")  # as in QA: the canvas is 674 px wide
    _pump()
    assert isinstance(w, SpineWidget) and len(w.find()) == 4
    w.screw_table.selectRow(0)
    oblique = w.goto_selected()
    _pump()
    cam = viewer.scene.camera
    ext = np.asarray(oblique.extent.world)
    assert not box_on_screen(ext[0], ext[1], cam.center, cam.zoom, viewer.canvas.size)
    assert _letters(viewer) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    cam.center = tuple(ext.mean(axis=0))  # the user pans onto the oblique: its own orientation, no CT letters
    _pump()
    assert _letters(viewer) == {}
    viewer.fit_to_view(layers=[ct])
    _pump()
    assert box_on_screen(ext[0], ext[1], cam.center, cam.zoom, viewer.canvas.size) or _letters(viewer)


def test_orientation_doctests():
    import doctest

    from miss_imaging_napari import _orientation

    assert doctest.testmod(_orientation).failed == 0


# ---------------------------------------------------------------- item 8: the Secondary Capture's caption


def test_caption_reads_the_same_over_any_image():
    """QA: a one-pixel bright image row under the heading showed as dots in the caption's spaces
    ("XA.FLUORO.LSPINE"): a black outline leaves the image visible between words."""
    from miss_imaging.display.render import render_slice
    from miss_imaging.model import ImageVolume
    from miss_imaging.sharing.export import render_cine_frames

    def shot(pixels):
        return ImageVolume(pixels, (1.0, 0.5, 0.5), np.eye(4), "projection", modality="XA",
                           series_description="FLUORO LSPINE LAT", calibration="detector")

    black = np.zeros((1, 256, 256), np.uint16)
    lined = black.copy()
    lined[0, :, :] = 0
    lined[0, 1:40:3, :] = 4000  # bright rows every 3 pixels under the heading lines
    lined[0, 220:256:3, :] = 4000  # and under the time stamp and the scale bar label
    lined[0, 0, 0] = 1  # a non-empty window
    from miss_imaging.model import Window

    w = Window(2000.0, 4000.0)
    a = np.asarray(render_slice(shot(black), 0, window=w, width_px=512).image).astype(int)
    b = np.asarray(render_slice(shot(lined), 0, window=w, width_px=512).image).astype(int)
    head = (slice(6, 44), slice(8, 90))  # inside the heading's box: its first 80 px of 3 lines of 12 px text
    assert np.abs(a[head] - b[head]).max() == 0
    assert (a[head] > 200).any()  # the text is there
    fa = np.asarray(render_cine_frames(shot(black), window=w, width_px=512)[0]).astype(int)
    fb = np.asarray(render_cine_frames(shot(lined), window=w, width_px=512)[0]).astype(int)
    stamp = (slice(fa.shape[0] - 20, fa.shape[0] - 10), slice(8, 60))  # "t = 0.000 s"
    assert np.abs(fa[stamp] - fb[stamp]).max() == 0 and (fa[stamp] > 200).any()


# ---------------------------------------------------------------- item 9: demo labels do not overlap


def test_demo_picture_labels_do_not_overlap(monkeypatch, tmp_path):
    """QA: in the demo picture "L4 left: GR C" sat on the L4 left screw ruler's "45.0 mm patient geometry"."""
    from miss_imaging.demo.run import render_demo
    from miss_imaging.demo.scene import demo_scene
    from miss_imaging.display import render

    boxes: list[list[tuple[float, float, float, float]]] = []
    fit, draw = render.fit_label, render.render_slice

    def spy_fit(box, w, h, *a, **k):
        x, y = fit(box, w, h, *a, **k)
        if w > 6:  # an unlabelled segment's box is the 4 px of its outline
            boxes[-1].append((x, y, x + w, y + h))
        return x, y

    def spy_draw(*a, **k):
        boxes.append([])  # one picture
        return draw(*a, **k)

    monkeypatch.setattr(render, "fit_label", spy_fit)
    monkeypatch.setattr(render, "render_slice", spy_draw)
    render_demo(demo_scene(), tmp_path / "demo.png")
    assert len(boxes) == 2 and sum(map(len, boxes)) >= 6
    for placed in boxes:
        for i, a in enumerate(placed):
            for b in placed[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
