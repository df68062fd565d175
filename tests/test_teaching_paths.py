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


# -- readable messages (field problem: redaction garbled typo paths and "skipped" lines) --------------------------------

WORDY = "DOE_JOHN_1961/dicom/series"  # a patient folder, then folders named with words the messages use


@pytest.fixture
def wordy_case(case) -> Path:
    """``cases/DOE_JOHN_1961/dicom/series``: the same files under folders named like words of the messages."""
    folder, _ = case
    target = Path(WORDY)
    target.mkdir(parents=True)
    for f in folder.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    return target.resolve()


def _cli(argv: list[str], capsys, caplog) -> str:
    shown = _terminal(argv, capsys, caplog)
    assert "Traceback" not in shown
    return shown.replace("teaching mode on (no patient identifiers shown)", "")


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_cli_messages_stay_readable(wordy_case, case, tmp_path, capsys, caplog, how):
    _, bad = case
    path = WORDY if how == "relative" else str(wordy_case)
    runs = []
    shown = _cli(["info", "--teaching", path], capsys, caplog)
    assert "\nseries " in f"\n{shown}" and "CT synthetic" in shown  # the table's header is still "series"
    assert f"skipped {bad}: truncated" in shown and "skipped notes.txt: not a DICOM file" in shown
    runs.append(shown)
    shown = _cli(["info", "--teaching", f"{path}/{bad}"], capsys, caplog)
    assert "(no DICOM image series found)" in shown and f"skipped {bad}: truncated" in shown
    assert f"miss-imaging info: {bad}: no readable DICOM image series" in shown
    runs.append(shown)
    shown = _cli(["snapshot", "--teaching", f"{path}/{bad}", "-o", str(tmp_path / "s.png")], capsys, caplog)
    assert f"miss-imaging snapshot: {bad}: no loadable DICOM image series: {bad}: truncated" in shown
    runs.append(shown)
    shown = _cli(["snapshot", "--teaching", path, "-o", str(tmp_path / "s.png"), "--series", "77"], capsys, caplog)
    assert "no series with that number under <case folder>; found 1" in shown
    runs.append(shown)
    shown = _cli(["deidentify", path, str(tmp_path / "anon")], capsys, caplog)
    assert "3 file(s) written" in shown and "2 file(s) skipped" in shown
    runs.append(shown)
    assert not any(_leaks(text) for text in runs), runs


@pytest.mark.parametrize("path", ["/nonexistent", "nonexistent/folder", "DOE_JOHN_1961/missing",
                                  "/nonexistent/DOE_JOHN_1961/CT_INTRAOP", "./DOE_JOHN_1961/series/"])
def test_a_path_that_does_not_exist_reads_as_english(case, tmp_path, capsys, caplog, path):
    """`info --teaching /nonexistent` printed "/<case folder>: ..." and `nonexistent/folder` "... file or <case folder>"."""
    for argv, command in ((["info", "--teaching", path], "info"),
                          (["snapshot", "--teaching", path, "-o", str(tmp_path / "s.png")], "snapshot"),
                          (["deidentify", path, str(tmp_path / "anon")], "deidentify")):
        shown = _cli(argv, capsys, caplog).strip()
        assert shown == f"miss-imaging {command}: <case folder>: no such file or folder", (argv, shown)
    shown = _cli(["batch", "index", path, str(tmp_path / "i.sqlite"), "--workers", "1", "--no-progress"],
                 capsys, caplog).strip()
    assert shown == "miss-imaging batch: <case folder>: no such folder", shown
    settings.set_teaching_mode(False)
    assert path.strip("./") in _cli(["info", path], capsys, caplog)  # clinical mode names it: the check can fail


def test_redact_paths_keeps_sentences():
    from miss_imaging.redact import PLACEHOLDER, forget_case_paths, redact_paths, remember_case_path

    forget_case_paths()
    remember_case_path("/cases/DOE_JOHN_1961/dicom/series")
    cases = {
        "/cases/DOE_JOHN_1961/dicom/series/IM1.dcm: not a DICOM file": "IM1.dcm: not a DICOM file",
        "/cases/DOE_JOHN_1961/dicom/series: no such file or folder": f"{PLACEHOLDER}: no such file or folder",
        "no image series in DOE_JOHN_1961": f"no image series in {PLACEHOLDER}",
        "DOE_JOHN_1961/dicom/IM2.dcm: skipped": "IM2.dcm: skipped",
        "window C 40 / W 400, level/width as set": "window C 40 / W 400, level/width as set",
        "/other/John Doe/IM3: x": "IM3: x",
        "DOE_JOHN_1961x and xDOE_JOHN_1961": "DOE_JOHN_1961x and xDOE_JOHN_1961",  # other words: not the name
    }
    for text, want in cases.items():
        assert redact_paths(text) == want, text
    assert redact_paths("a / b", ["/", ""]) == "a / b"  # a root or empty path given is no path to replace
