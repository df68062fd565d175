"""Teaching widget and patient banner in a real napari viewer (Xvfb)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari")

from _deid_fixtures import FAKE, write_ct_series, write_xa_run  # noqa: E402
from miss_imaging import settings  # noqa: E402
from miss_imaging.sharing.deid import find_identifiers, identifier_variants  # noqa: E402
from miss_imaging.reading.loader import load  # noqa: E402

IDENTS = identifier_variants([FAKE["id"], FAKE["accession"], FAKE["institution"]],
                             names=[FAKE["name"], FAKE["physician"]], dates=[FAKE["birth_date"], "20240105"])


@pytest.fixture(autouse=True)
def teaching_on():
    settings.set_teaching_mode(True)
    yield
    settings.set_teaching_mode(True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("teach")
    write_ct_series(root / "ct", n=6, rows=40, cols=48)
    write_xa_run(root / "xa", frames=5, rows=96, cols=128, text=True)
    return {"root": root, "ct": root / "ct", "xa": root / "xa"}


def _add(viewer, path: Path):
    from miss_imaging_napari._layers import layer_data

    pixels, kw, _ = layer_data(load(path))
    return viewer.add_image(pixels, **kw)


@pytest.fixture()
def widget(make_napari_viewer, data):
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer = make_napari_viewer(show=True)
    _add(viewer, data["ct"])
    xa = _add(viewer, data["xa"])
    viewer.layers.selection.active = xa
    return TeachingWidget(viewer)


def _banner(viewer):
    from miss_imaging_napari._teaching import BANNER_KEY

    return viewer.canvas.overlays[BANNER_KEY] if BANNER_KEY in viewer.canvas.overlays else None


def test_banner_follows_toggle_and_layers(widget, data):
    from miss_imaging_napari import _teaching

    viewer = widget.viewer
    _teaching.attach(viewer)  # idempotent: a second attach adds no second handler
    assert _banner(viewer) is None and widget.teaching.isChecked()
    widget.teaching.setChecked(False)  # clinician mode, persisted
    assert settings.get_teaching_mode() is False
    assert "DOEFAKE, JOHNATHAN QUINCY" in _banner(viewer).text and "ID MRN-483920" in _banner(viewer).text
    assert "born 1965-03-12" in _banner(viewer).text and "acc. ACC778899" in _banner(viewer).text
    settings.set_teaching_mode(True)  # e.g. from the CLI or another widget
    assert _banner(viewer) is None and widget.teaching.isChecked()
    # layer names never carry identifiers in either mode
    for on in (True, False):
        settings.set_teaching_mode(on)
        for layer in viewer.layers:
            assert find_identifiers(layer.name, IDENTS) == []


def test_banner_appears_on_layer_insertion(make_napari_viewer, data):
    from miss_imaging_napari import _teaching

    settings.set_teaching_mode(False)
    viewer = make_napari_viewer()
    _teaching.attach(viewer)
    assert _banner(viewer) is None  # nothing open: no patient
    _add(viewer, data["ct"])
    assert "MRN-483920" in _banner(viewer).text
    viewer.layers.clear()
    assert _banner(viewer) is None


def test_info_panel_technical_only_in_teaching_mode(widget):
    text = widget.info.toPlainText()
    for expected in ("Modality: XA", "78 kV", "9 mA", "Detector spacing: 0.308 x 0.308 mm",
                     "Calibration: magnification-corrected (ERMF)", "Frame rate: 15 frames/s", "Window: C"):
        assert expected in text, expected
    assert find_identifiers(text, IDENTS) == []
    widget.teaching.setChecked(False)
    assert "Patient: DOEFAKE" in widget.info.toPlainText()
    widget.teaching.setChecked(True)
    assert find_identifiers(widget.info.toPlainText(), IDENTS) == []


def test_snapshot_hides_banner_even_in_clinician_mode(widget, tmp_path):
    from PIL import Image

    viewer = widget.viewer
    widget.teaching.setChecked(False)
    with_banner = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    red = lambda a: np.sum((a[..., 0] > 100) & (a[..., 1] < 40) & (a[..., 2] < 40))  # noqa: E731  banner box
    assert red(with_banner) > 200  # the banner is really on screen
    path = widget.save_snapshot(tmp_path / "fig.png")
    snap = np.asarray(Image.open(path))
    assert red(snap) < 20
    assert _banner(viewer).visible  # restored after the capture
    raw = path.read_bytes()
    assert b"tEXt" not in raw and b"iTXt" not in raw and b"zTXt" not in raw
    assert find_identifiers(raw, IDENTS) == []


def test_snapshot_shows_scale_bar_and_restores_it(widget, tmp_path):
    from PIL import Image

    viewer = widget.viewer
    bar = viewer.canvas.overlays["scale_bar"]
    bar.visible = False
    from miss_imaging_napari._teaching_widget import _capture_extent

    plain = np.asarray(_capture_extent(viewer, viewer.layers.selection.active))[..., :3]  # whole image, no bar
    snap = np.asarray(Image.open(widget.save_snapshot(tmp_path / "fig.png")))
    assert snap.shape == plain.shape
    h, w = plain.shape[:2]
    corner = np.abs(snap[h // 2:, w // 2:].astype(int) - plain[h // 2:, w // 2:].astype(int)).sum(axis=-1)
    assert np.count_nonzero(corner) > 50  # the scale bar (bottom right) was drawn for the figure
    assert bar.visible is False  # and hidden again afterwards


def test_cine_and_deid_export_from_widget(widget, tmp_path, data):
    from _deid_fixtures import TEXT_BOX

    rep = widget.export_cine(tmp_path / "run.gif", width_px=200)
    assert rep.n_frames == 5 and rep.gif_delays_ms == [70, 60, 70, 70, 60]
    (box,) = rep.blanked_regions  # the burned-in text is not in the clip
    assert box[0] <= TEXT_BOX[0] and box[1] <= TEXT_BOX[1] and box[2] >= TEXT_BOX[2] and box[3] >= TEXT_BOX[3]
    assert find_identifiers(rep.path.read_bytes(), IDENTS) == []
    report = widget.export_deidentified(tmp_path / "anon")
    assert len(report.files_written) == 1 and report.burned_in_annotation
    assert list(report.auto_regions.values()) == [(box,)]
    orig, copy = load(data["xa"]), load(tmp_path / "anon")
    outside = np.ones(orig.shape[1:], bool)
    outside[box[0]:box[2], box[1]:box[3]] = False
    a, b = np.asarray(orig.pixels), np.asarray(copy.pixels)
    np.testing.assert_array_equal(a[:, outside], b[:, outside])
    assert not np.any(b[:, ~outside] == 4095)
    np.testing.assert_allclose(copy.affine, orig.affine)
    assert copy.spacing == orig.spacing and copy.calibration == orig.calibration and copy.patient == {}
    assert "burned-in text found and blanked" in widget.status.text()


def test_session_round_trip_through_a_new_viewer(widget, make_napari_viewer, tmp_path, data):
    from miss_imaging_napari import _measure_layers
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer = widget.viewer
    xa = viewer.layers.selection.active
    _, res = _measure_layers.add_measurement(viewer, xa, "distance", [(2, 10, 5), (2, 10, 45)], name="rod")
    assert res.measurement.mm == pytest.approx(40 * 0.308 / 1.4014)
    xa.contrast_limits = (300.0, 3500.0)
    viewer.layers.selection.active = xa
    viewer.scene.camera.zoom = 2.5
    path = widget.save_session(tmp_path / "case.json")

    other = make_napari_viewer()
    w2 = TeachingWidget(other)
    report = w2.restore_session(path)
    assert report.ok, report.problems
    restored = [lay for lay in other.layers if lay.metadata.get("miss_imaging_volume") is not None]
    assert sorted(lay.name for lay in restored) == sorted(lay.name for lay in viewer.layers
                                                         if lay.metadata.get("miss_imaging_volume") is not None)
    xa2 = next(lay for lay in restored if lay.name == xa.name)
    assert tuple(xa2.contrast_limits) == (300.0, 3500.0)
    from miss_imaging_napari._measure_layers import layer_measurements

    ms = layer_measurements(other, xa2)
    assert [m.name for m in ms] == ["rod"] and ms[0].mm == pytest.approx(res.measurement.mm, abs=1e-9)
    assert other.scene.camera.zoom == pytest.approx(2.5)
    # the second save of the restored state equals the first (exact round trip of what a session holds)
    again = w2.current_session()
    first = __import__("miss_imaging.sharing.session", fromlist=["load_session"]).load_session(path)[0]
    assert again.windows == first.windows and again.measurements == first.measurements
    assert [s.series_uid for s in again.series] == [s.series_uid for s in first.series]


def test_restore_never_turns_teaching_off(widget, tmp_path):
    widget.teaching.setChecked(False)
    path = widget.save_session(tmp_path / "clin.json")
    settings.set_teaching_mode(True)
    report = widget.restore_session(path)
    assert settings.get_teaching_mode() is True and "teaching mode left on" in report.notes[-1]


def _mask_layers(viewer):
    from miss_imaging_napari._teaching import MASK_KEY

    return [lay for lay in viewer.layers if MASK_KEY in lay.metadata]


def test_burned_in_text_masked_in_teaching_mode_and_snapshots(widget, tmp_path):
    from PIL import Image

    viewer = widget.viewer
    xa = viewer.layers.selection.active
    (mask,) = _mask_layers(viewer)  # teaching mode: the XA run's burned-in text is covered
    assert mask.ndim == 2 and mask.metadata["miss_imaging_text_mask"]["image"] is xa
    assert viewer.layers.selection.active is xa  # adding the mask did not steal the selection
    assert "Burned-in annotation: YES" in widget.info.toPlainText()
    # the mask covers the text box (pixel edges, in the image layer's data coordinates)
    from _deid_fixtures import TEXT_BOX

    corners = np.array([xa.world_to_data((0.0, *p))[-2:] for p in np.asarray(mask.data[0])])
    assert corners[:, 0].min() <= TEXT_BOX[0] - 0.5 and corners[:, 0].max() >= TEXT_BOX[2] - 0.5
    assert corners[:, 1].min() <= TEXT_BOX[1] - 0.5 and corners[:, 1].max() >= TEXT_BOX[3] - 0.5
    white = lambda a: int(np.sum(a[..., :3].min(axis=-1) > 240))  # noqa: E731
    for frame in (0, 4):  # a 2-D mask: on every frame
        viewer.dims.set_point(0, frame)
        shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
        widget.teaching.setChecked(False)
        assert _mask_layers(viewer) == []  # clinician mode: the clinician sees the file as it is
        raw = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
        assert white(raw) > white(shot) + 3000  # the burned-in text is on screen without the mask
        from miss_imaging_napari._teaching_widget import _capture_extent

        full = np.asarray(_capture_extent(viewer, xa))  # the snapshot's framing (whole image), text unmasked
        snap = np.asarray(Image.open(widget.save_snapshot(tmp_path / f"clin{frame}.png")))
        assert snap.shape[:2] == full.shape[:2] and white(full) > white(raw) - 3000
        assert white(snap) < white(full) - 3000  # ...but never in a file written for sharing
        assert _mask_layers(viewer) == []  # the temporary mask is gone again
        widget.teaching.setChecked(True)
        assert len(_mask_layers(viewer)) == 1


def test_regions_field_drives_exports(widget, tmp_path):
    widget.regions.setText("0,0,5,5")
    rep = widget.export_cine(tmp_path / "r.gif", width_px=120)
    assert rep.blanked_regions == [(0, 0, 5, 5)]
    report = widget.export_deidentified(tmp_path / "anon")
    assert report.blanked_regions == ((0, 0, 5, 5),) and report.auto_regions == {}
    widget.regions.setText("none")
    assert widget.export_cine(tmp_path / "n.gif", width_px=120).blanked_regions == []
    widget.regions.setText("1,2,3")
    with pytest.raises(ValueError, match="row0,col0,row1,col1"):
        widget.export_cine(tmp_path / "x.gif")


def test_source_folder_named_after_patient_is_hidden_in_teaching_mode(make_napari_viewer, data, tmp_path):
    import shutil

    from miss_imaging_napari._teaching_widget import TeachingWidget

    case = tmp_path / "DOEFAKE_JOHNATHAN_MRN-483920"  # what PACS exports often look like
    shutil.copytree(data["xa"], case)
    viewer = make_napari_viewer()
    widget = TeachingWidget(viewer)
    viewer.open(str(case), plugin="miss-imaging")
    layer = next(lay for lay in viewer.layers if "miss_imaging_volume" in lay.metadata)
    world = layer.data_to_world(np.asarray(layer.data.shape) / 2.0)
    shown = lambda: layer.get_source_str() + str(layer.get_status(world, world=True))  # noqa: E731
    assert find_identifiers(shown(), IDENTS) == []
    widget.teaching.setChecked(False)
    assert "DOEFAKE_JOHNATHAN_MRN-483920" in layer.get_source_str()  # clinician mode: as napari shows it
    widget.teaching.setChecked(True)
    assert find_identifiers(shown(), IDENTS) == []


def test_manifest_contribution_opens_the_widget(make_napari_viewer):
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Teaching and export")
    assert isinstance(widget, TeachingWidget)  # npe2 injects a public-only proxy of `viewer`
    assert widget.teaching.isChecked() is True  # privacy by default


def test_widget_through_the_npe2_proxy_still_hides_sources(make_napari_viewer, data, tmp_path):
    import shutil
    import warnings

    case = tmp_path / "DOEFAKE_JOHNATHAN"
    shutil.copytree(data["xa"], case)
    viewer = make_napari_viewer()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # napari's proxy warns on private access: there must be none
        _, widget = viewer.window.add_plugin_dock_widget("miss-imaging", "Teaching and export")
        viewer.open(str(case), plugin="miss-imaging")
        widget.teaching.setChecked(False)
        widget.teaching.setChecked(True)
    layer = next(lay for lay in viewer.layers if "miss_imaging_volume" in lay.metadata)
    assert "DOEFAKE" not in layer.get_source_str()
    assert "JOHNATHAN" not in widget.info.toPlainText()


def test_session_restores_oblique_plane_and_its_measurement(make_napari_viewer, data, tmp_path):
    from miss_imaging.spatial.reslicing import Plane, reslice
    from miss_imaging_napari import _measure_layers
    from miss_imaging_napari._session_io import PLANE_KEY, ROLE_KEY
    from miss_imaging_napari._teaching_widget import TeachingWidget

    viewer = make_napari_viewer()
    ct = _add(viewer, data["ct"])
    src = ct.metadata.get("miss_imaging_source") or ct.metadata["miss_imaging_volume"]
    plane = Plane(center=(5.0, 6.0, 16.0), u=(1.0, 0.0, 0.0), v=(0.0, 0.6, -0.8), pixel_mm=0.5, shape=(20, 30))
    img = reslice(src, plane)
    view = viewer.add_image(img.pixels[0], name="oblique (CT)", scale=(0.5, 0.5), translate=(0.0, 40.0),
                            units=("mm", "mm"), metadata={"miss_imaging_volume": img, PLANE_KEY: plane,
                                                          ROLE_KEY: "oblique"})
    _, res = _measure_layers.add_measurement(viewer, view, "distance", [(0, 2, 3), (0, 2, 23)], name="on plane")
    assert res.measurement.mm == pytest.approx(10.0)
    w = TeachingWidget(viewer)
    s = w.current_session()
    assert len(s.series) == 1 and len(s.planes) == 1 and s.planes[0]["role"] == "oblique"
    path = w.save_session(tmp_path / "p.json")

    other = make_napari_viewer()
    report = TeachingWidget(other).restore_session(path)
    assert report.ok, report.problems
    restored = next(lay for lay in other.layers if PLANE_KEY in lay.metadata)
    np.testing.assert_array_equal(restored.data, view.data)
    assert tuple(restored.translate) == (0.0, 40.0)
    ms = [r.measurement for lay in _measure_layers.tool_layers(other, restored) for r in _measure_layers.results(lay)]
    assert [m.name for m in ms] == ["on plane"] and ms[0].mm == pytest.approx(10.0)


def test_banner_name_not_clipped_on_an_ordinary_window(widget):
    """The right-aligned banner must fit the canvas: one long line lost the patient's name off the left edge."""
    from qtpy.QtWidgets import QApplication

    viewer = widget.viewer
    viewer.window.resize(1100, 800)  # canvas about 800 px wide beside napari's layer controls
    widget.teaching.setChecked(False)
    for _ in range(5):
        QApplication.processEvents()
    shot = np.asarray(viewer.screenshot(canvas_only=True, flash=False))
    red = (shot[..., 0] > 100) & (shot[..., 1] < 40) & (shot[..., 2] < 40)
    cols = np.nonzero(red.sum(axis=0) > 3)[0]
    assert cols.size > 100  # the banner is on screen
    assert cols.min() > 5, f"banner box starts at column {cols.min()} of {shot.shape[1]}: clipped at the left edge"
    assert "\n" in _banner(viewer).text and _banner(viewer).text.split("\n")[0].startswith("DOEFAKE, JOHNATHAN")


def test_teaching_mode_hides_case_folder_names_in_messages_and_series_info(make_napari_viewer, samples, tmp_path):
    """Case folders are often named after the patient: the status bar already hid them, but the Series browser's
    'Display:' line and the reader's notifications showed full paths."""
    import shutil

    from napari.utils.notifications import notification_manager

    case = tmp_path / "DOEFAKE_JOHNATHAN_MRN-483920"
    shutil.copytree(samples / "spine_ct", case / "ct")  # tilted: its display note names a file
    (case / "ct" / "notes.txt").write_text("not DICOM")  # a skipped file: a warning naming it
    for teaching in (True, False):
        settings.set_teaching_mode(teaching)
        viewer = make_napari_viewer()
        n = len(notification_manager.records)
        viewer.open(str(case / "ct"), plugin="miss-imaging")
        messages = " ".join(str(r.message) for r in notification_manager.records[n:])
        _, browser = viewer.window.add_plugin_dock_widget("miss-imaging", "Series browser")
        browser.table.selectRow(0)
        info = browser.info.toPlainText()
        assert "resampled for display" in info and "notes.txt" in messages
        if teaching:
            assert "DOEFAKE" not in info and "DOEFAKE" not in messages
        else:  # a clinician sees where the files are
            assert str(case) in info or str(case) in messages


def test_hidden_or_buried_mask_never_unmasks_the_snapshot(widget, tmp_path):
    """A hidden, buried or transparent mask layer let the burned-in name into the snapshot: the snapshot
    blanks the detected boxes in its own pixels, whatever the mask layer's state."""
    from PIL import Image

    viewer = widget.viewer
    white = lambda a: int(np.sum(a[..., :3].min(axis=-1) > 240))  # noqa: E731
    masked = white(np.asarray(Image.open(widget.save_snapshot(tmp_path / "masked.png"))))
    (mask,) = _mask_layers(viewer)
    mask.visible = False
    hidden = white(np.asarray(Image.open(widget.save_snapshot(tmp_path / "hidden.png"))))
    mask.visible = True
    viewer.layers.move(viewer.layers.index(mask), 0)  # under its image
    mask.opacity = 0.0
    buried = white(np.asarray(Image.open(widget.save_snapshot(tmp_path / "buried.png"))))
    assert hidden <= masked + 50 and buried <= masked + 50, (masked, hidden, buried)


def test_mask_follows_its_image_layer_scale_and_translate(widget):
    """After a user calibration the image layer was rescaled but its mask was not (the text's ends showed)."""
    from _deid_fixtures import TEXT_BOX

    viewer = widget.viewer
    xa = viewer.layers.selection.active
    xa.scale = (*xa.scale[:-2], xa.scale[-2] * 1.07, xa.scale[-1] * 1.07)
    xa.translate = (*xa.translate[:-2], 3.0, -2.0)
    (mask,) = _mask_layers(viewer)
    corners = np.array([xa.world_to_data((0.0, *p))[-2:] for p in np.asarray(mask.data[0])])
    assert corners[:, 0].min() <= TEXT_BOX[0] - 0.5 and corners[:, 0].max() >= TEXT_BOX[2] - 0.5
    assert corners[:, 1].min() <= TEXT_BOX[1] - 0.5 and corners[:, 1].max() >= TEXT_BOX[3] - 0.5
