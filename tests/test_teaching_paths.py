"""Teaching mode leaves every folder of the case out (issue 12, item 4).

A patient-named tree ``DOE_JOHN_1961/CT_INTRAOP`` is opened by relative and by
absolute path, from the CLI, ``viewer.open`` and the Series browser; neither
name may appear on screen, in notifications, in what reaches the terminal
(stdout, stderr, log records, warnings) or in the de-identified copy.  With
teaching mode off the same checks find the folder, so they can fail.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from loader_factory import ct_slices, phantom

from miss_imaging import settings
from miss_imaging.cli import main

SECRETS = ("DOE_JOHN_1961", "CT_INTRAOP")


@pytest.fixture
def case(tmp_path, monkeypatch) -> tuple[Path, str]:
    """``<tmp>/cases/DOE_JOHN_1961/CT_INTRAOP``: a CT series, a truncated file and a non-DICOM file; cwd = cases."""
    settings.set_teaching_mode(True)
    folder = tmp_path / "cases" / "DOE_JOHN_1961" / "CT_INTRAOP"
    paths, _ = ct_slices(folder, phantom(4))
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[: len(data) - 50])  # skipped by name, leaves a gap: messages about files
    (folder / "notes.txt").write_text("not dicom")
    monkeypatch.chdir(tmp_path / "cases")
    yield folder, paths[1].name
    settings.set_teaching_mode(True)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def _terminal(argv: list[str], capsys, caplog) -> str:
    """Everything a CLI run shows: stdout, stderr, log records and warnings."""
    caplog.clear()
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        try:
            main(argv)
        except SystemExit:
            pass
    out, err = capsys.readouterr()
    return "\n".join([out, err, *caplog.messages, *(str(w.message) for w in caught)])


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_cli_shows_no_case_folder(case, tmp_path, capsys, caplog, how):
    folder, bad = case
    path = "DOE_JOHN_1961/CT_INTRAOP" if how == "relative" else str(folder)
    runs = [
        ["info", path],
        ["snapshot", path, "-o", str(tmp_path / "s.png")],
        ["snapshot", path, "-o", str(tmp_path / "s.png"), "--series", "77"],  # error line naming what was found
        ["snapshot", f"{path}/{bad}", "-o", str(tmp_path / "t.png")],  # the truncated file alone: data error
        ["deidentify", path, str(tmp_path / "anon")],
    ]
    for k, argv in enumerate(runs):
        shown = _terminal(argv, capsys, caplog)
        assert not _leaks(shown), (argv, shown)
        assert bad in shown or k not in (0, 3), (argv, shown)  # the messages still say which file
    for f in (tmp_path / "anon").iterdir():  # the copy for sharing carries no folder name either
        assert not _leaks(f.read_bytes().decode("latin-1"))
    # the same runs in clinical mode do show the path: the checks above can fail
    shown = _terminal(["info", path, "--no-teaching"], capsys, caplog)
    assert _leaks(shown)


def _capture_notifications(monkeypatch) -> list[str]:
    from napari.utils import notifications

    shown: list[str] = []
    for name in ("show_info", "show_warning", "show_error"):
        monkeypatch.setattr(notifications, name, lambda message, *a, **k: shown.append(str(message)))
    return shown


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_viewer_open_and_series_browser_show_no_case_folder(case, make_napari_viewer, monkeypatch, capfd, caplog,
                                                          how):
    from miss_imaging_napari._series_browser import SeriesWidget

    folder, bad = case
    shown = _capture_notifications(monkeypatch)
    path = "DOE_JOHN_1961/CT_INTRAOP" if how == "relative" else str(folder)
    viewer = make_napari_viewer()
    with caplog.at_level(logging.WARNING):
        viewer.open(path, plugin="miss-imaging")
        browser = SeriesWidget(viewer)
        browser.scan_folder(str(folder))  # what the folder dialog hands over: always absolute
        browser.table.selectRow(0)
        browser._on_select()
    screen = [layer.name for layer in viewer.layers] + [browser.source_label.text(), browser.info.toPlainText()]
    out, err = capfd.readouterr()
    everything = "\n".join(shown + screen + caplog.messages + [out, err])
    assert shown and bad in everything  # the messages still say which file
    assert not _leaks(everything), everything
    settings.set_teaching_mode(False)
    browser.scan_folder(str(folder))
    assert _leaks(browser.source_label.text())  # clinical mode shows it: the check can fail
