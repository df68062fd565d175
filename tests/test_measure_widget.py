"""Measurement tools in napari: live labels, table, user calibration, export/reload, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from miss_imaging.measurement.calibration import projection_calibration
from miss_imaging.model import ImageVolume, ProjectionTags

VOLUME_KEY = "miss_imaging_volume"


def ct_volume(shape=(20, 60, 80), spacing=(2.5, 0.7, 0.5), origin=(-20.0, 10.0, 5.0), uid="1.2.840.1"):
    a = np.eye(4)
    a[:3, :3] = [[0, 0, spacing[2]], [0, spacing[1], 0], [spacing[0], 0, 0]]  # LPS x<-col, y<-row, z<-slice
    a[:3, 3] = origin
    return ImageVolume(np.zeros(shape, np.int16), spacing, a, "volume", modality="CT", series_uid=uid,
                       series_description="synthetic CT", series_number=3, patient={"name": "SECRET^PATIENT"})


def fluoro_volume(tags, shape=(6, 100, 120), uid="1.2.840.2"):
    cal = projection_calibration(tags)
    sp = (1.0, cal.row_mm or 1.0, cal.col_mm or 1.0)
    a = np.eye(4)
    a[:3, :3] = [[0, 0, sp[2]], [0, sp[1], 0], [1.0, 0, 0]]
    return ImageVolume(np.zeros(shape, np.uint16), sp, a, "projection", modality="XA", projection=tags,
                       calibration=cal.label, series_uid=uid, series_description="cine")


def add_volume(viewer, vol):
    """Add as the plugin does (its `_layers.image_kwargs` rules, restated to stay independent of it)."""
    if vol.kind == "projection":
        units = ("mm", "mm", "mm") if vol.calibration != "pixels only" else ("pixel", "pixel", "pixel")
        return viewer.add_image(vol.pixels, name=vol.label, scale=(1.0, *vol.spacing[1:]), units=units,
                                axis_labels=("frame", "row", "col"), metadata={VOLUME_KEY: vol})
    return viewer.add_image(vol.pixels, name=vol.label, scale=vol.spacing,
                            translate=(vol.origin[2], vol.origin[1], vol.origin[0]), units="mm",
                            metadata={VOLUME_KEY: vol})


@pytest.fixture
def notes(monkeypatch):
    """Capture napari notifications (info, warning, error) as (level, text)."""
    import napari.utils.notifications as nn

    seen: list[tuple[str, str]] = []
    for level in ("info", "warning", "error"):
        monkeypatch.setattr(nn, f"show_{level}", lambda msg, lv=level: seen.append((lv, str(msg))))
    return seen


@pytest.fixture
def widget(make_napari_viewer):
    from miss_imaging_napari._measure_widget import MeasureWidget

    viewer = make_napari_viewer()
    w = MeasureWidget(viewer)
    return viewer, w


def labels(layer):
    return list(layer.features["label"])


def test_ct_line_across_slices_is_3d_length(widget):
    viewer, w = widget
    img = add_volume(viewer, ct_volume())
    r = w.add_measurement("distance", [(2, 10, 10), (6, 30, 50)])
    expected = math.sqrt((4 * 2.5) ** 2 + (20 * 0.7) ** 2 + (40 * 0.5) ** 2)
    assert r.measurement.mm == pytest.approx(expected, abs=1e-9)
    layer = r.layer
    assert labels(layer)[0] == f"ruler 1: {expected:.1f} mm patient geometry (CT)"
    # world-space ruler: no transform, vertices in mm, same units as the image (scale bar keeps "mm")
    assert tuple(layer.scale) == (1, 1, 1) and str(viewer.layers.units[-1]) == "millimeter"
    assert layer.data[0][0] == pytest.approx(img.data_to_world((2, 10, 10)))
    # table: series label (never the patient), slices, value
    assert w.table.rowCount() == 1
    row = [w.table.item(0, j).text() for j in range(w.table.columnCount())]
    assert row[1:6] == ["distance", f"{expected:.2f}", "mm", "patient geometry (CT)", "CT synthetic CT #3"]
    assert row[6] == "2-6" and "SECRET" not in " ".join(row)
    assert viewer.canvas.overlays["scale_bar"].visible


def test_label_follows_every_edit(widget):
    viewer, w = widget
    img = add_volume(viewer, ct_volume())
    layer = w.add_measurement("distance", [(3, 0, 0), (3, 0, 10)]).layer
    assert labels(layer)[0].endswith("5.0 mm patient geometry (CT)")
    # move a vertex as napari's direct-select drag does (set_data per move)
    data = [d.copy() for d in layer.data]
    data[0][1] = img.data_to_world((3, 0, 20))
    layer.data = data
    assert "10.0 mm" in labels(layer)[0]
    w.update_table()  # normally by a zero-delay timer that coalesces the events of a drag
    assert w.table.item(0, 2).text() == "10.00"


def test_drawing_with_napari_mouse_bindings_updates_live(widget):
    """Drive the add_line mode the way a user does; the label reads the length at every move."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    viewer, w = widget
    img = add_volume(viewer, fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3), ermf=1.5)))
    layer = w.start_tool("ruler")
    assert layer.mode == "add_line"
    start = np.array([2.0, 10 * 0.2, 10 * 0.2])  # world (frame, row mm, col mm)
    seen = []
    kw = {"modifiers": [], "view_direction": [1, 0, 0], "dims_displayed": [1, 2]}
    ev = read_only_mouse_event(type="mouse_press", position=start, **kw)
    mouse_press_callbacks(layer, ev)
    for k in range(1, 5):
        pos = start + np.array([0, 0, 5.0 * k])  # 5 mm per move along the columns
        ev = read_only_mouse_event(type="mouse_move", is_dragging=True, position=pos, **kw)
        mouse_move_callbacks(layer, ev)
        seen.append(labels(layer)[-1])
    ev = read_only_mouse_event(type="mouse_release", position=pos, **kw)
    mouse_release_callbacks(layer, ev)
    assert [s.split(": ")[-1] for s in seen] == [f"{5.0 * k:.1f} mm magnification-corrected (ERMF)" for k in range(1, 5)]
    w.update_table()
    assert w.table.item(0, 6).text() == "2"  # frame index recorded
    end = img.world_to_data(layer.data[0][1])  # napari may nudge the row by a fraction on release
    assert end[0] == 2 and end[2] == pytest.approx(110)


def test_fluoro_user_calibration_relabels_and_rescales(widget, notes):
    viewer, w = widget
    vol = fluoro_volume(ProjectionTags())  # no spacing at all
    img = add_volume(viewer, vol)
    bead = w.add_measurement("distance", [(1, 50, 10), (1, 50, 110)], name="beads")
    assert bead.measurement.unit == "px" and "pixels only" in labels(bead.layer)[0]
    sphere = w.add_measurement("distance", [(1, 20, 20), (1, 20, 70)], name="sphere")  # 50 px = 25.0 mm
    ruler = sphere.layer
    w.table.selectRow(1)
    w.length_edit.setText("25.0")
    w.object_edit.setText("calibration sphere")
    msg = w.calibrate_from_selection()
    assert "calibrated on line 'sphere' (50.0 px = 25 mm)" in msg and "0.5 x 0.5 mm/pixel" in msg
    assert tuple(img.scale)[1:] == (0.5, 0.5) and str(img.units[-1]) == "millimeter"
    lab = labels(ruler)
    assert lab[0] == "beads: 50.0 mm user-calibrated (calibration sphere, 25.0 mm)"
    # the ruler stayed on the same pixels
    ms = {m.name: m for m in w.measurements()}
    assert ms["beads"].points_index == ((1.0, 50.0, 10.0), (1.0, 50.0, 110.0))
    assert ms["sphere"].mm == pytest.approx(25.0)
    assert w.table.item(0, 4).text() == "user-calibrated (calibration sphere, 25.0 mm)"
    w.reset_calibration()
    assert labels(ruler)[0].startswith("beads: 100.0 px pixels only") and tuple(img.scale)[1:] == (1.0, 1.0)


@pytest.mark.parametrize(("length", "match"), [("0", "> 0"), ("-3", "> 0"), ("abc", "known length")])
def test_bad_typed_length_is_a_notification(widget, notes, length, match):
    viewer, w = widget
    add_volume(viewer, fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3))))
    layer = w.add_measurement("distance", [(0, 5, 5), (0, 5, 50)]).layer
    layer.selected_data = {0}
    w.length_edit.setText(length)
    w.calibrate_button.click()  # through the slot: must not raise
    assert notes and notes[-1][0] == "warning" and match in notes[-1][1]


def test_zero_length_calibration_line_and_ct_refusal(widget, notes):
    viewer, w = widget
    add_volume(viewer, fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3))))
    res = w.add_measurement("distance", [(0, 5, 5), (0, 5, 5)])
    assert "zero length" in labels(res.layer)[0]
    w.length_edit.setText("25")
    w.calibrate_button.click()  # the only line: zero length is refused
    assert "cannot calibrate" in notes[-1][1] and "zero-length" in notes[-1][1]
    w.add_measurement("distance", [(0, 5, 5), (0, 50, 5)])
    w.add_measurement("distance", [(0, 5, 5), (0, 5, 40)])
    w.calibrate_button.click()  # two measurable lines, none picked: ambiguous
    assert "2 lines on" in notes[-1][1] and "click the row" in notes[-1][1]


def test_points_outside_and_no_image(widget, notes):
    viewer, w = widget
    w.start_tool("ruler")
    assert "no image layer" in notes[-1][1]
    add_volume(viewer, ct_volume())
    res = w.add_measurement("distance", [(0, 0, 0), (0, 0, 79)])
    layer = res.layer
    data = [d.copy() for d in layer.data]
    data[0][1, 2] += 100.0  # drag the end 100 mm outside the image
    layer.data = data
    assert labels(layer)[0].endswith("outside the image")
    assert notes[-1][0] == "warning" and "is outside the image" in notes[-1][1]  # told once, after the edit
    n = len(notes)
    layer.data = [d + 0.0 for d in layer.data]  # same error again: no new notification
    assert len(notes) == n
    w.update_table()
    assert "outside the image" in w.table.item(0, 2).text()


def test_angle_cobb_table_rename_delete(widget):
    viewer, w = widget
    add_volume(viewer, ct_volume(spacing=(1.0, 1.0, 1.0)))
    a = w.add_measurement("angle", [(0, 10, 30), (0, 10, 10), (0, 30, 10)])
    assert a.measurement.value == pytest.approx(90.0) and labels(a.layer)[0].endswith("90.0° patient geometry (CT)")
    t = math.tan(math.radians(20))
    c = w.add_measurement("cobb", [(0, 5, 5), (0, 5, 45), (0, 40, 5), (0, 40 + 40 * t, 45)], name="L1-L4")
    assert c.measurement.value == pytest.approx(20.0)
    assert labels(c.layer) == ["L1-L4: line 1", "L1-L4: 20.0° patient geometry (CT)"]
    assert w.table.rowCount() == 2
    # rename in the table: the canvas label follows
    w.table.item(0, 0).setText("lordosis")
    w.update_table()
    assert labels(a.layer)[0].startswith("lordosis: ") and w.table.item(0, 0).text() == "lordosis"
    w.delete_rows([1])
    assert len(c.layer.data) == 0 and w.table.rowCount() == 1


def test_oblique_reslice_plane_is_measured_in_plane(widget):
    """A 2-D reslice layer: plane volume (1, rows, cols) whose affine lies obliquely in LPS."""
    viewer, w = widget
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    a = np.eye(4)
    a[:3, 1] = np.array([0, c, s]) * 0.6  # rows step obliquely through y/z
    a[:3, 2] = np.array([1.0, 0, 0]) * 0.4  # cols along x
    a[:3, 0] = np.cross(a[:3, 2], a[:3, 1]) / 0.24
    plane = ImageVolume(np.zeros((1, 50, 70), np.float32), (1.0, 0.6, 0.4), a, "volume", modality="CT",
                        series_uid="1.2.840.3", series_description="oblique")
    img = viewer.add_image(plane.pixels[0], name="oblique", scale=(0.6, 0.4), units="mm",
                           metadata={VOLUME_KEY: plane})
    assert img.ndim == 2
    r = w.add_measurement("distance", [(0, 10, 10), (0, 40, 50)], image_layer=img)
    assert r.measurement.mm == pytest.approx(math.hypot(30 * 0.6, 40 * 0.4))
    assert r.measurement.points_patient[1][2] == pytest.approx(40 * 0.6 * s)  # LPS z of the far end
    # the reslice view follows its trajectory: new plane (finer pixels) under the same layer -> relabelled
    finer = ImageVolume(np.zeros((1, 100, 140), np.float32), (1.0, 0.3, 0.2), a @ np.diag([1, 0.5, 0.5, 1]), "volume",
                        modality="CT", series_uid="1.2.840.3", series_description="oblique")
    img.metadata[VOLUME_KEY] = finer
    img.data = finer.pixels[0]  # data event; same scale -> same indices, half the mm
    assert labels(r.layer)[0].endswith(f"{math.hypot(30 * 0.3, 40 * 0.2):.1f} mm patient geometry (CT)")
    img.scale = (0.3, 0.2)  # scale event; world points unchanged -> twice the indices, same mm as before
    assert labels(r.layer)[0].endswith(f"{math.hypot(30 * 0.6, 40 * 0.4):.1f} mm patient geometry (CT)")
    (m,) = w.measurements()
    assert m.points_index[1] == pytest.approx((0, 80, 100))


def test_export_and_reload_onto_same_series(widget, make_napari_viewer, tmp_path, notes):
    from miss_imaging_napari._measure_widget import MeasureWidget

    viewer, w = widget
    add_volume(viewer, ct_volume())
    add_volume(viewer, fluoro_volume(ProjectionTags(imager_pixel_spacing=(0.3, 0.3), sid=1000.0, sod=750.0)))
    w.image_combo.setCurrentIndex(0)
    w.add_measurement("distance", [(4, 10, 10), (8, 30, 60)], name="pedicle")
    w.image_combo.setCurrentIndex(1)
    w.add_measurement("path", [(3, 10, 10), (3, 30, 60), (3, 50, 60)], name="wire")
    before = {m.name: m for m in w.measurements()}
    w.export_csv(tmp_path / "m.csv")
    w.export_json(tmp_path / "m.json")
    csv_text = (tmp_path / "m.csv").read_text()
    assert "magnification-corrected (SID/SOD)" in csv_text and "SECRET" not in csv_text

    # a fresh viewer with only the CT open; the CT on another display grid (resampled) would also be found by LPS
    viewer2 = make_napari_viewer()
    w2 = MeasureWidget(viewer2)
    add_volume(viewer2, ct_volume())
    report = w2.load_json(tmp_path / "m.json")
    assert "placed 1 of 2" in report and "wire" in report and "series not open" in report
    after = {m.name: m for m in w2.measurements()}
    assert after["pedicle"].mm == pytest.approx(before["pedicle"].mm)
    np.testing.assert_allclose(after["pedicle"].points_index, before["pedicle"].points_index, atol=1e-9)


def test_reload_restores_user_calibration(widget, make_napari_viewer, tmp_path):
    from miss_imaging_napari._measure_widget import MeasureWidget

    viewer, w = widget
    add_volume(viewer, fluoro_volume(ProjectionTags()))
    w.add_measurement("distance", [(0, 20, 20), (0, 20, 60)], name="sphere").layer.selected_data = {0}
    w.length_edit.setText("20")
    w.object_edit.setText("sphere")
    w.calibrate_from_selection()
    w.export_json(tmp_path / "m.json")
    viewer2 = make_napari_viewer()
    w2 = MeasureWidget(viewer2)
    img2 = add_volume(viewer2, fluoro_volume(ProjectionTags()))
    report = w2.load_json(tmp_path / "m.json")
    assert "placed 1 of 1" in report and "user-calibrated (sphere, 20.0 mm)" in report
    (m,) = w2.measurements()
    assert m.mm == pytest.approx(20.0) and tuple(img2.scale)[1:] == (0.5, 0.5)


# ----------------------------------------------------------------- phantoms through the plugin's own layers


def test_phantom_ct_beads_through_plugin_layer(widget, samples, truth):
    """The tilted phantom CT as the reader shows it (display-resampled); beads placed by LPS."""
    if not (samples / "spine_ct").is_dir():
        pytest.skip("sample_dicoms phantoms not generated yet")
    import miss_imaging
    from miss_imaging_napari._layers import layer_data

    viewer, w = widget
    data, kw, _ = layer_data(miss_imaging.load(samples / "spine_ct"))
    img = viewer.add_image(data, **kw)
    shown = img.metadata[VOLUME_KEY]
    lm = truth["spine_ct"]["landmarks_lps_mm"]
    for a, b in (("inch_a", "inch_b"), ("half_a", "half_b")):
        idx = shown.patient_to_index(np.array([lm[a], lm[b]]))
        r = w.add_measurement("distance", idx, name=a[:-2])
        assert r.measurement.mm == pytest.approx(truth["spine_ct"]["distances_mm"][f"{a}-{b}"], abs=1e-3)  # napari transforms: ~1e-5 mm
        np.testing.assert_allclose(r.measurement.points_patient, [lm[a], lm[b]], atol=1e-3)
    # the ruler's vertices are the beads in napari world = LPS reordered (z, y, x)
    ruler = r.layer
    np.testing.assert_allclose(ruler.data[0][0], np.array(lm["inch_a"])[::-1], atol=1e-3)
    assert labels(ruler)[0] == "inch: 25.4 mm patient geometry (CT)"


def test_phantom_fluoro_user_calibration_in_the_viewer(widget, samples, truth, notes):
    """Fluoro cine as the reader shows it: ERMF label, then calibrate on the 25 mm sphere; beads stay ~25.4 mm."""
    if not (samples / "fluoro").is_dir() or "fluoro" not in truth:
        pytest.skip("sample_dicoms fluoro phantom not generated yet")
    import miss_imaging
    from miss_imaging_napari._layers import layer_data
    from test_measure import _bead_centroid_2d, _sphere_edges

    viewer, w = widget
    t = truth["fluoro"]
    data, kw, _ = layer_data(miss_imaging.load(samples / "fluoro"))
    img = viewer.add_image(data, **kw)
    vol = img.metadata[VOLUME_KEY]
    a, b = (_bead_centroid_2d(vol, t["landmarks_px"][k]) for k in ("bead_a", "bead_b"))
    beads = w.add_measurement("distance", [a, b], name="beads")
    assert beads.measurement.mm == pytest.approx(25.4, rel=0.01)
    assert " mm magnification-corrected (ERMF), ±" in labels(beads.layer)[0]  # with its off-isocentre range
    row, col = t["calibration_sphere"]["center_px"]
    left, right = _sphere_edges(vol, 0, row, col)
    sphere = w.add_measurement("distance", [(0, row, left), (0, row, right)], name="sphere")
    w.table.selectRow(1)
    w.length_edit.setText("25.0")
    w.object_edit.setText("sphere")
    w.calibrate_button.click()
    assert notes[-1][0] == "info" and "user-calibrated (sphere, 25.0 mm)" in notes[-1][1]
    ms = {m.name: m for m in w.measurements()}
    assert ms["beads"].mm == pytest.approx(25.4, rel=0.01) and ms["sphere"].mm == pytest.approx(25.0, abs=1e-6)
    assert labels(beads.layer)[0].endswith("mm user-calibrated (sphere, 25.0 mm)")
    # napari's scale bar now rests on the user calibration
    assert tuple(img.scale)[1:] == pytest.approx((ms["sphere"].calibration_detail.row_mm,) * 2)


def test_renamed_image_layer_stays_measurable(widget, notes):
    """The image list showed names: after a rename (by the user, or an oblique view's orientation letters) the
    stale entry matched no layer and every tool refused with "no image layer"."""
    viewer, w = widget
    ct = add_volume(viewer, ct_volume())
    w.image_combo.setCurrentIndex(w.image_combo.count() - 1)
    ct.name = "renamed by the user"
    assert w.current_image_layer() is ct
    assert w.image_combo.currentText() == "renamed by the user"
    res = w.add_measurement("distance", np.array([[5.0, 10.0, 10.0], [5.0, 10.0, 30.0]]))
    assert res.measurement is not None and res.measurement.mm == pytest.approx(10.0)  # 20 columns x 0.5 mm
    assert w.start_tool("ruler") is not None and not [n for n in notes if "no image layer" in n[1]]
