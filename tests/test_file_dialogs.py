"""Buttons that ask for a path act only on a chosen one, with the dialog the mode names."""

from __future__ import annotations


def test_asking_acts_on_a_chosen_path_only(monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    from miss_imaging_napari._file_dialogs import asking

    answers = {"save": ("out.csv", "CSV (*.csv)"), "open": ("", ""), "folder": "/data/case"}
    seen: list[tuple[str, tuple]] = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (seen.append(("save", a)), answers["save"])[1])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (seen.append(("open", a)), answers["open"])[1])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: (seen.append(("folder", a)), answers["folder"])[1])
    done: list[str] = []
    for mode in ("save", "open", "folder"):
        asking(None, mode, f"{mode} title", "default.csv", "CSV (*.csv)", done.append)(False)  # clicked(checked)
    assert done == ["out.csv", "/data/case"]  # the cancelled open dialog did nothing
    assert seen[0] == ("save", (None, "save title", "default.csv", "CSV (*.csv)"))
    assert [m for m, _ in seen] == ["save", "open", "folder"]
