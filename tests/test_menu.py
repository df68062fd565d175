"""The teaching-mode menu command (File > IO Utilities)."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")

from miss_imaging import settings  # noqa: E402


def test_menu_lists_the_toggle_and_it_flips_the_remembered_mode(make_napari_viewer):
    from napari._app_model import get_app_model

    from miss_imaging_napari._menu import toggle_teaching_mode

    viewer = make_napari_viewer()
    items = get_app_model().menus.get_menu("napari/file/io_utilities")
    assert "miss-imaging.toggle_teaching_mode" in {getattr(i, "command", None) and i.command.id for i in items}
    settings.set_teaching_mode(True)
    assert toggle_teaching_mode(viewer) is False and settings.get_teaching_mode() is False
    assert toggle_teaching_mode(viewer) is True and settings.get_teaching_mode() is True
