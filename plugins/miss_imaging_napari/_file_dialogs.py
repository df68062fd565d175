"""File dialogs behind the widgets' buttons: ask for a path, then act on it (nothing done on cancel)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QFileDialog

__all__ = ["ask_path", "asking"]


def ask_path(parent: Any, mode: str, title: str, default: str = "", filt: str = "") -> str:
    """A path from a Qt file dialog (`mode` "open", "save" or "folder"); "" when cancelled."""
    if mode == "folder":
        return QFileDialog.getExistingDirectory(parent, title)
    ask = QFileDialog.getSaveFileName if mode == "save" else QFileDialog.getOpenFileName
    return ask(parent, title, default, filt)[0]


def asking(parent: Any, mode: str, title: str, default: str, filt: str, action: Callable[[str], Any]) -> Callable[..., None]:
    """A button slot: :func:`ask_path`, then ``action(path)`` if a path was chosen."""

    def slot(*_: Any) -> None:
        path = ask_path(parent, mode, title, default, filt)
        if path:
            action(path)

    return slot
