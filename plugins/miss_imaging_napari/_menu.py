"""Menu command: switch teaching mode from napari's menus (File > IO Utilities).

The Teaching widget and ``miss-imaging view --teaching/--no-teaching`` do the
same; all three write the one remembered setting (:mod:`miss_imaging.settings`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from miss_imaging import settings

from . import _teaching

if TYPE_CHECKING:
    import napari


def toggle_teaching_mode(viewer: napari.viewer.Viewer) -> bool:
    """Flip teaching mode, update the banner and masks on `viewer`, and say which mode is on."""
    from napari.utils.notifications import show_info

    _teaching.attach(viewer)  # follows the setting from now on (idempotent)
    on = not settings.get_teaching_mode()
    settings.set_teaching_mode(on)
    _teaching.update(viewer)
    show_info("Teaching mode ON: patient identity hidden" if on else
              "Teaching mode OFF: patient banner shown (clinical review)")
    return on
