"""The plugin in a real napari viewer (Qt, shown, under Xvfb): layers, pixels on screen, overlays, feedback.

Screenshot checks map a truth landmark (LPS mm) to screen pixels through
napari's camera (screen = (world - center) * zoom + canvas centre) and look at
the rendered pixels: the titanium screw must be bright there, and the same
place mirrored left/right must not be (the screw is in the *left* pedicle, so
it must appear on the screen's right in the radiological convention).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("napari")

from miss_imaging_napari._layers import VOLUME_KEY  # noqa: E402
from miss_imaging_napari._orientation import OVERLAY_KEYS  # noqa: E402


def _records() -> list:
    from napari.utils.notifications import notification_manager

    return notification_manager.records


def _camera(viewer):
    return viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera


def _screen_xy(viewer, shot: np.ndarray, world_y: float, world_x: float) -> tuple[int, int]:
    cam = _camera(viewer)
    h, w = shot.shape[:2]
    cy, cx = cam.center[-2], cam.center[-1]
    return int(round((world_x - cx) * cam.zoom + w / 2)), int(round((world_y - cy) * cam.zoom + h / 2))


def _shot(viewer, qtbot) -> np.ndarray:
    qtbot.wait(50)
    return np.asarray(viewer.screenshot(canvas_only=True, flash=False))


def _brightness(shot: np.ndarray, x: int, y: int, r: int = 2) -> float:
    return float(shot[y - r : y + r + 1, x - r : x + r + 1, :3].mean())


def _identifiers(truth) -> list[str]:
    return [str(v) for v in truth["patient"].values() if len(str(v)) >= 4]


@pytest.fixture
def ct_viewer(make_napari_viewer, samples):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(900, 700)
    layers = viewer.open(str(samples / "spine_ct"), plugin="miss-imaging")
    assert len(layers) == 1
    return viewer, layers[0]


def test_ct_layer_geometry_matches_truth(ct_viewer, truth):
    viewer, layer = ct_viewer
    t = truth["spine_ct"]
    assert tuple(str(u) for u in layer.units) == ("millimeter",) * 3
    np.testing.assert_allclose(layer.scale, t["spacing_mm"], atol=1e-6)
    np.testing.assert_allclose(layer.affine.affine_matrix, np.eye(4), atol=1e-12)  # 2-D display: no tilt left
    # napari's own world->data mapping puts each bead (LPS mm) on metal
    for name, lps in t["landmarks_lps_mm"].items():
        idx = np.round(layer.world_to_data(np.asarray(lps)[::-1])).astype(int)
        assert layer.data[tuple(idx)] > 2000, name
    src = layer.metadata.get("miss_imaging_source")
    np.testing.assert_allclose(src.affine, t["affine"], atol=1e-5)


def test_screw_is_bright_on_screen_and_not_mirrored(ct_viewer, truth, qtbot):
    viewer, layer = ct_viewer
    t = truth["spine_ct"]
    mid = (np.asarray(t["screw"]["entry_lps_mm"]) + np.asarray(t["screw"]["tip_lps_mm"])) / 2  # LPS x, y, z
    viewer.dims.set_point(0, mid[2])
    viewer.reset_view()
    shot = _shot(viewer, qtbot)
    x, y = _screen_xy(viewer, shot, mid[1], mid[0])
    # mirror through the spine's midline (the vertebral body centre's x)
    body_x = t["anatomy"]["origin_lps_mm"][0]
    xm, _ = _screen_xy(viewer, shot, mid[1], 2 * body_x - mid[0])
    assert x > xm, "patient's left must be on the screen's right"
    assert _brightness(shot, x, y) > 200  # titanium (4000 HU) is white in the bone window
    assert _brightness(shot, xm, y) < 170  # the mirrored spot is bone/soft tissue, not metal
    labels = {k: viewer.canvas.overlays[k].text for k in OVERLAY_KEYS}
    assert labels == {"miss_orient_top": "A", "miss_orient_bottom": "P", "miss_orient_left": "R",
                      "miss_orient_right": "L"}


def test_orientation_labels_follow_the_displayed_plane(ct_viewer):
    viewer, _ = ct_viewer
    viewer.dims.order = (1, 0, 2)  # display (z, x): coronal, z grows downward on screen
    text = {k.rsplit("_", 1)[1]: viewer.canvas.overlays[k].text for k in OVERLAY_KEYS}
    assert text == {"top": "I", "bottom": "S", "left": "R", "right": "L"}
    viewer.dims.order = (2, 0, 1)  # display (z, y): sagittal, y (posterior) to the right
    text = {k.rsplit("_", 1)[1]: viewer.canvas.overlays[k].text for k in OVERLAY_KEYS}
    assert text == {"top": "I", "bottom": "S", "left": "A", "right": "P"}
    viewer.dims.ndisplay = 3
    assert not any(viewer.canvas.overlays[k].visible for k in OVERLAY_KEYS)


def test_status_shows_mm_and_hu_without_identifiers(ct_viewer, truth):
    viewer, layer = ct_viewer
    t = truth["spine_ct"]
    mid = (np.asarray(t["screw"]["entry_lps_mm"]) + np.asarray(t["screw"]["tip_lps_mm"])) / 2
    viewer.dims.set_point(0, mid[2])  # the value comes from the displayed slice, as under the cursor
    status = layer.get_status(mid[::-1], world=True)
    text = status["coordinates"]
    assert text.startswith(f"LPS (x {mid[0]:.1f}, y {mid[1]:.1f}, z {mid[2]:.1f}) mm")
    assert text.endswith("HU interpolated")  # the tilted stack is shown resampled
    assert float(status["value"].split()[0]) > 3000
    blob = " ".join(str(v) for v in status.values())
    for ident in _identifiers(truth):
        assert ident not in blob


def test_series_widget_lists_layer_and_shows_no_identifiers(ct_viewer, truth):
    viewer, layer = ct_viewer
    _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Series browser")
    assert widget.table.rowCount() == 1
    assert widget.table.item(0, 0).text() == layer.name
    assert widget.table.item(0, 1).text() == "CT"
    info = widget.info.toPlainText()
    assert "tilt" in info.lower() and "0.9" in info
    shown = info + " " + " ".join(ly.name for ly in viewer.layers)
    shown += " ".join(o.text for k, o in viewer.canvas.overlays.items() if hasattr(o, "text"))
    for ident in _identifiers(truth):
        assert ident not in shown


def test_sample_data_entries_load(make_napari_viewer, samples):
    from miss_imaging_napari._sample_data import SAMPLES

    viewer = make_napari_viewer(show=True)
    present = [k for k, folder in SAMPLES.items() if (samples / folder).is_dir()]
    assert "spine_ct" in present
    for key in present:
        added = viewer.open_sample("miss-imaging", key)
        from miss_imaging.model import ImageVolume

        assert added and isinstance(added[0].metadata[VOLUME_KEY], ImageVolume), key
        assert added[0].name == added[0].metadata[VOLUME_KEY].label


def test_hostile_folder_notifies_and_raises_nothing(make_napari_viewer, samples, truth, tmp_path, qtbot):
    hostile = tmp_path / "hostile"
    hostile.mkdir()
    ct = [samples / "spine_ct" / name for name in truth["spine_ct"]["files_in_array_order"]]
    for f in ct[:6]:  # six contiguous slices
        shutil.copy(f, hostile / f.name)
    (hostile / "notes.txt").write_text("not DICOM")
    (hostile / "cut.dcm").write_bytes(ct[7].read_bytes()[:1000])  # truncated inside the header/pixels
    viewer = make_napari_viewer(show=True)
    before = len(_records())
    layers = viewer.open(str(hostile), plugin="miss-imaging")
    assert len(layers) == 1 and layers[0].metadata["miss_imaging_source"].shape[0] == 6
    msgs = [n.message for n in _records()[before:]]
    assert any("cut.dcm" in m for m in msgs), msgs
    if (samples / "hostile").is_dir():  # the generator's hostile folder, once it exists
        before = len(_records())
        viewer.open(str(samples / "hostile"), plugin="miss-imaging")
        assert len(_records()) > before


def test_unreadable_folder_leaves_napari_usable(make_napari_viewer, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00\x10\x00")
    viewer = make_napari_viewer(show=True)
    before = len(_records())
    assert viewer.open(str(bad), plugin="miss-imaging") == []
    errs = [n for n in _records()[before:] if "error" in str(n.severity).lower()]
    assert len(errs) == 1 and "x.dcm" in errs[0].message
    viewer.add_image(np.zeros((4, 4)))  # still usable


def test_fluoro_opens_with_calibrated_scale_and_no_patient_letters(make_napari_viewer, samples, truth):
    t = truth["fluoro"]
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(samples / t["folder"]), plugin="miss-imaging")
    np.testing.assert_allclose(layer.scale[1:], t["pixel_spacing_at_isocenter_mm"], atol=1e-6)
    assert tuple(layer.axis_labels) == ("frame", "row", "col")
    # projections carry no patient direction here: no orientation letters rather than guessed ones
    assert not any(viewer.canvas.overlays[k].visible for k in OVERLAY_KEYS)
    status = layer.get_status((0, 50.0, 50.0), world=True)["coordinates"]
    assert status.startswith("frame 0, row 50.0 mm, col 50.0 mm (magnification-corrected (ERMF))")
    assert status.endswith("(stored value)")


def test_series_widget_scans_opens_and_docks_tools(make_napari_viewer, samples, truth):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Series browser")
    folder = samples / truth["hostile"]["cases"]["truncated"]["folder"]
    widget.scan_folder(folder)
    assert widget.table.rowCount() >= 1 and widget.table.item(0, 1).text() == "CT"
    widget.table.selectRow(0)
    assert "CT007.dcm" in widget.info.toPlainText()  # the truncated file is named
    widget.open_selected()
    assert len(viewer.layers) == 1 and viewer.layers[0].data.shape[0] == 6
    widget.show_layers()
    assert widget.table.rowCount() == 1
    dock = widget.dock_tool("Measurements")
    assert dock is not None
