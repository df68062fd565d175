"""Window/level widget: presets, fields, file windows and mouse drag change contrast limits only."""

from __future__ import annotations

import numpy as np
import pytest

from miss_imaging.model import ImageVolume, Window
from miss_imaging.display.presets import PRESETS

VOLUME_KEY = "miss_imaging_volume"


def ct_volume(windows=(), voi_lut=()):
    rng = np.random.default_rng(3)
    pixels = rng.integers(-1024, 3000, size=(4, 32, 32)).astype(np.int16)
    return ImageVolume(pixels, (1.0, 0.5, 0.5), np.eye(4), "volume", modality="CT", windows=list(windows),
                       voi_lut=list(voi_lut), series_description="ct")


@pytest.fixture
def viewer_widget(make_napari_viewer):
    from miss_imaging_napari._window_widget import WindowWidget

    viewer = make_napari_viewer()
    table = np.concatenate([np.zeros(24), np.linspace(0, 4095, 1000).round(), np.full(24, 4095)])
    vol = ct_volume(windows=[Window(600, 1600, "FILE WINDOW 1"), Window(40, 350.5, "SOFT", "LINEAR_EXACT")],
                    voi_lut=[((table.size, -1024, 12), table)])
    layer = viewer.add_image(vol.pixels, name="ct", metadata={VOLUME_KEY: vol}, contrast_limits=(-1024, 3000))
    widget = WindowWidget(viewer)
    return viewer, layer, widget


def fake(kind, pos, button=2, modifiers=()):
    from napari.utils._test_utils import read_only_mouse_event

    return read_only_mouse_event(type=kind, is_dragging=kind == "mouse_move", button=button, pos=np.asarray(pos, float),
                                 modifiers=list(modifiers), position=(0, 0, 0), dims_displayed=[1, 2])


def drag(layer, start, end, button=2, modifiers=()):
    from napari.utils.interactions import mouse_move_callbacks, mouse_press_callbacks, mouse_release_callbacks

    mouse_press_callbacks(layer, fake("mouse_press", start, button, modifiers))
    mid = (np.asarray(start, float) + np.asarray(end, float)) / 2
    mouse_move_callbacks(layer, fake("mouse_move", mid, button, modifiers))
    mouse_move_callbacks(layer, fake("mouse_move", end, button, modifiers))
    mouse_release_callbacks(layer, fake("mouse_release", end, button, modifiers))


def test_preset_buttons_set_exact_contrast_limits(viewer_widget):
    viewer, layer, widget = viewer_widget
    data_before = layer.data
    widget.preset_buttons["bone"].click()
    assert tuple(layer.contrast_limits) == (-770.0, 1729.0)  # 480 - 0.5 -/+ (2500 - 1)/2
    assert (widget.width_box.value(), widget.level_box.value()) == (2500, 480)
    widget.preset_buttons["soft_tissue"].click()
    assert tuple(layer.contrast_limits) == (-160.0, 239.0)
    widget.preset_buttons["metal"].click()
    assert tuple(layer.contrast_limits) == PRESETS["metal"].contrast_limits == (-1500.0, 4499.0)
    assert layer.data is data_before  # the volume is never recomputed


def test_fields_follow_and_drive_the_layer(viewer_widget):
    viewer, layer, widget = viewer_widget
    layer.contrast_limits = (-100, 300)  # napari's own slider or another tool
    assert widget.width_box.value() == 401 and widget.level_box.value() == 100.5
    widget.width_box.setValue(801)
    assert tuple(layer.contrast_limits) == (-300.0, 500.0)
    widget.level_box.setValue(40)
    assert tuple(layer.contrast_limits) == (-360.5, 439.5)


def test_file_windows_listed_with_explanations_and_applied(viewer_widget):
    viewer, layer, widget = viewer_widget
    texts = [widget.file_list.item(i).text() for i in range(widget.file_list.count())]
    assert texts[0] == "W 1600 / L 600  FILE WINDOW 1"
    assert texts[1].startswith("W 350.5 / L 40  SOFT  [LINEAR_EXACT")
    widget._on_file_item(widget.file_list.item(0))
    assert tuple(layer.contrast_limits) == (-200.0, 1399.0)
    widget._on_file_item(widget.file_list.item(1))  # LINEAR_EXACT: c -/+ w/2
    assert tuple(layer.contrast_limits) == (40 - 175.25, 40 + 175.25)
    assert texts[2].endswith("VOI LUT table (linear approximation)")
    widget._on_file_item(widget.file_list.item(2))  # the table's rising part: -1000 ... -1024 + 1023
    assert tuple(layer.contrast_limits) == (-1000.0, -1.0)


def test_plain_layer_without_volume(make_napari_viewer):
    from miss_imaging_napari._window_widget import WindowWidget

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.arange(100, dtype=np.uint8).reshape(10, 10))
    widget = WindowWidget(viewer)
    assert widget.layer is layer
    assert widget.file_list.item(0).text() == "(none in the file)"
    widget.apply_preset("soft_tissue")
    assert tuple(layer.contrast_limits) == (-160.0, 239.0)
    widget.apply_auto()
    lo, hi = layer.contrast_limits
    assert lo == pytest.approx(np.percentile(np.arange(1, 99), 1), abs=1.0)  # 0 and 99 excluded as extremes
    assert hi == pytest.approx(np.percentile(np.arange(1, 99), 99), abs=1.0)


def test_right_drag_changes_limits_as_specified(viewer_widget):
    viewer, layer, widget = viewer_widget
    layer.contrast_limits = (-100, 156)  # span 256: gain 1 per canvas pixel
    drag(layer, (200, 200), (250, 175))  # dx = +50 (wider), dy = -25 (up: lower level)
    assert tuple(layer.contrast_limits) == (-150.0, 156.0)
    assert layer.mouse_pan is True  # restored after the drag
    assert (widget.width_box.value(), widget.level_box.value()) == (307, 3.5)


def test_ctrl_left_drag_and_plain_left_drag(viewer_widget):
    viewer, layer, widget = viewer_widget
    layer.contrast_limits = (0, 512)  # gain 2 per pixel
    drag(layer, (100, 100), (90, 130), button=1, modifiers=("Control",))  # dx -10, dy +30
    # span 512 + 2 * (-10) = 492, centre 256 + 2 * 30 = 316
    assert tuple(layer.contrast_limits) == (70.0, 562.0)
    before = tuple(layer.contrast_limits)
    drag(layer, (100, 100), (300, 300), button=1)  # plain left drag is napari's pan: limits untouched
    assert tuple(layer.contrast_limits) == before


def test_mouse_toggle_installs_and_uninstalls(viewer_widget):
    from miss_imaging_napari import _mouse_wl

    viewer, layer, widget = viewer_widget
    assert _mouse_wl.is_installed(layer)
    later = viewer.add_image(np.zeros((5, 5)))
    assert _mouse_wl.is_installed(later)  # layers added later get it too
    shapes = viewer.add_shapes()
    assert not _mouse_wl.is_installed(shapes)
    widget.mouse_box.setChecked(False)
    assert not _mouse_wl.is_installed(layer) and not _mouse_wl.is_installed(later)
    layer.contrast_limits = (0, 256)
    drag(layer, (0, 0), (100, 0))
    assert tuple(layer.contrast_limits) == (0.0, 256.0)
    widget.mouse_box.setChecked(True)
    widget.cleanup()
    assert not _mouse_wl.is_installed(layer)


def test_drag_limits_never_collapse():
    from miss_imaging_napari._mouse_wl import drag_limits

    lo, hi = drag_limits((0.0, 256.0), -10_000, 0)
    assert hi - lo == 1.0  # one pixel's worth of span remains


def test_real_qt_right_drag_windows_without_zoom(make_napari_viewer, qtbot):
    """Real Qt mouse events on the canvas: limits change, the camera does not zoom or pan."""
    from qtpy.QtCore import QPoint, Qt

    from miss_imaging_napari._window_widget import WindowWidget

    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(np.random.default_rng(0).integers(0, 1000, (64, 64)).astype(np.int16),
                             contrast_limits=(0, 512))
    WindowWidget(viewer)
    canvas = viewer.window._qt_viewer.canvas.native
    camera = viewer.scene.camera
    zoom, center = camera.zoom, tuple(camera.center)
    c = canvas.rect().center()
    qtbot.mousePress(canvas, Qt.MouseButton.RightButton, pos=c)
    qtbot.mouseMove(canvas, QPoint(c.x() + 20, c.y() + 10))
    qtbot.mouseMove(canvas, QPoint(c.x() + 40, c.y() + 20))
    qtbot.mouseRelease(canvas, Qt.MouseButton.RightButton, pos=QPoint(c.x() + 40, c.y() + 20))
    lo, hi = layer.contrast_limits
    # gain 2 per canvas pixel; how many of the moves arrive before the release (and the
    # device-pixel ratio) is up to Qt, so check direction and the dx = 2 dy proportion
    assert hi - lo > 512 and (lo + hi) / 2 > 256  # right = wider, down = higher level
    assert (hi - lo - 512) == pytest.approx(2 * ((lo + hi) / 2 - 256), rel=1e-6)
    assert camera.zoom == pytest.approx(zoom) and tuple(camera.center) == pytest.approx(center)


def test_mouse_module_docstring_examples():
    import doctest

    from miss_imaging_napari import _mouse_wl

    assert doctest.testmod(_mouse_wl).failed == 0


def test_monochrome1_layer_note_and_windows_on_values(make_napari_viewer):
    from miss_imaging_napari._window_widget import WindowWidget

    viewer = make_napari_viewer()
    vol = ImageVolume(np.zeros((1, 8, 8), np.uint16), (1.0, 0.2, 0.2), np.eye(4), "projection", modality="CR",
                      photometric="MONOCHROME1", windows=[Window(550, 1024, "FILE")])
    layer = viewer.add_image(vol.pixels, metadata={VOLUME_KEY: vol}, colormap="gray_r")
    widget = WindowWidget(viewer)
    assert "MONOCHROME1" in widget.layer_label.text()
    widget._on_file_item(widget.file_list.item(0))
    assert tuple(layer.contrast_limits) == (38.0, 1061.0)  # the same limits as MONOCHROME2; gray_r inverts
    assert layer.colormap.name == "gray_r"


def test_hu_presets_disabled_on_projections_and_back_on_ct(viewer_widget):
    """Bone/soft/metal are HU windows: on a fluoro run's stored values they would give a meaningless picture."""
    viewer, ct_layer, widget = viewer_widget
    vol = ImageVolume(np.full((3, 8, 8), 2000, np.uint16), (1.0, 0.4, 0.4), np.eye(4), "projection", modality="XA",
                      windows=[Window(2400, 3000, "FLUORO DEFAULT")])
    xa = viewer.add_image(vol.pixels, name="xa", metadata={VOLUME_KEY: vol})
    viewer.layers.selection.active = xa
    assert not any(b.isEnabled() for b in widget.preset_buttons.values())
    assert "not HU" in widget.preset_buttons["bone"].toolTip()
    assert widget.auto_button.isEnabled() and widget.file_list.isEnabled()
    viewer.layers.selection.active = ct_layer
    assert all(b.isEnabled() for b in widget.preset_buttons.values())
    assert widget.preset_buttons["bone"].toolTip() == PRESETS["bone"].explanation
