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
        for d in docks:
            assert len(win.tabifiedDockWidgets(d)) == len(ALL_DOCKS) - 1, d.windowTitle()
        assert win.height() <= 800 and win.width() <= 1280, win.size()
        assert canvas.width() >= 300, canvas.width()  # the MPR workspace's own controls are 591 px wide
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
