"""CLI friction (issue 12, items 8 and 9): one-line errors with exit 2 (usage) / 1 (data), negative window
centres, JPEG output, ambiguous or absent --series, pydicom warnings named, de-identification options,
info --teaching, and one rectangle convention read and printed everywhere."""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from _deid_fixtures import FAKE, write_ct_series
from loader_factory import ct_slices, phantom

import miss_imaging
from miss_imaging.cli import main, parse_box
from miss_imaging.demo import demo_scene, describe_scene
from miss_imaging.errors import MissImagingWarning
from miss_imaging.sharing.export import burned_in_regions


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def ct(tmp_path) -> Path:
    ct_slices(tmp_path / "ct", phantom(3))
    return tmp_path / "ct"


def test_slice_out_of_range_is_a_usage_error_naming_the_range(ct, tmp_path, capsys):
    code, _, err = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.png"), "--slice", "999"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "--slice 999" in line and "3 slices, numbered 0..2" in line
    assert "(999, 999)" not in line and not (tmp_path / "s.png").exists()


def test_deidentify_into_a_non_empty_folder(ct, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    code, _, err = _run(["deidentify", str(ct), str(tmp_path / "out")], capsys)
    assert code == 2 and "must be empty" in _one_error_line(err)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_usage_and_data_errors_have_their_status(ct, tmp_path, capsys):
    code, _, err = _run(["snapshot", str(ct)], capsys)  # -o missing: argparse
    assert code == 2 and "-o/--output" in _one_error_line(err) and "usage:" not in err
    code, _, err = _run(["snapshot", str(ct), "-o", str(tmp_path / "x.png"), "--window", "nonsense"], capsys)
    assert code == 2 and "unknown preset" in _one_error_line(err)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.dcm").write_bytes(b"not dicom at all" * 20)
    code, _, err = _run(["snapshot", str(tmp_path / "junk"), "-o", str(tmp_path / "x.png")], capsys)
    assert code == 1 and "a.dcm" in _one_error_line(err)
    code, _, err = _run(["info", str(tmp_path / "absent")], capsys)
    assert code == 1 and "no such file or folder" in _one_error_line(err)


def test_negative_window_centre(ct, tmp_path, capsys):
    code, out, _ = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.png"), "--window", "-900,300"], capsys)
    assert code == 0 and "window C -900 / W 300" in out


def test_jpeg_written_or_refused(ct, tmp_path, capsys):
    code, _, _ = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.jpg")], capsys)
    assert code == 0 and (tmp_path / "s.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG SOI marker
    code, _, err = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.tif")], capsys)
    assert code == 2 and ".png or .jpg" in _one_error_line(err) and not (tmp_path / "s.tif").exists()


def test_series_number_shared_by_two_series_lists_them_and_stops(tmp_path, capsys):
    ct_slices(tmp_path / "two" / "a", phantom(3), series_uid="1.2.3.4.501")
    ct_slices(tmp_path / "two" / "b", phantom(2), series_uid="1.2.3.4.502")  # both SeriesNumber 2
    code, _, err = _run(["snapshot", str(tmp_path / "two"), "-o", str(tmp_path / "s.png"), "--series", "2"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "2 series share that number" in line and "3 frame(s)" in line and "2 frame(s)" in line
    assert not (tmp_path / "s.png").exists()


def test_absent_series_number_says_what_was_found(ct, tmp_path, capsys):
    code, _, err = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.png"), "--series", "77"], capsys)
    line = _one_error_line(err)
    assert code == 2 and "--series 77" in line and "found 1: CT synthetic #2 (volume, 3 frame(s) of 12x10" in line


def test_pydicom_warnings_become_project_warnings_naming_file_and_tag(ct, tmp_path, capsys):
    for f in sorted(ct.iterdir()):
        ds = pydicom.dcmread(f)
        ds.FrameOfReferenceUID = "1.2.3.abc"
        ds.save_as(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = miss_imaging.load(ct)
    assert [w for w in caught if not issubclass(w.category, MissImagingWarning)] == []
    named = [str(w.message) for w in caught if "FrameOfReferenceUID" in str(w.message)]
    assert named == ["f0000.dcm: (0020,0052) FrameOfReferenceUID: invalid value for VR UI '1.2.3.abc' (pydicom)"]
    assert named[0] in vol.warnings
    code, out, err = _run(["snapshot", str(ct), "-o", str(tmp_path / "s.png")], capsys)
    assert code == 0 and "warning: f0000.dcm: (0020,0052) FrameOfReferenceUID" in out
    assert "site-packages" not in out + err and "UserWarning" not in err


@pytest.mark.parametrize("flag, keyword, value", [
    ("--retain-device-identity", "DeviceSerialNumber", "SN-99812"),
    ("--retain-institution-identity", "InstitutionName", FAKE["institution"]),
    ("--retain-dates", "StudyDate", "20240105"),
])
def test_deidentification_options_from_the_command_line(tmp_path, capsys, flag, keyword, value):
    write_ct_series(tmp_path / "src")
    assert _run(["deidentify", str(tmp_path / "src"), str(tmp_path / "plain")], capsys)[0] == 0
    assert _run(["deidentify", str(tmp_path / "src"), str(tmp_path / "kept"), flag], capsys)[0] == 0
    plain = pydicom.dcmread(sorted((tmp_path / "plain").iterdir())[0])
    kept = pydicom.dcmread(sorted((tmp_path / "kept").iterdir())[0])
    assert str(kept.get(keyword, "")) == value and str(plain.get(keyword, "")) != value


@pytest.mark.parametrize("flag, mode", [("--teaching", True), ("--no-teaching", False)])
def test_info_accepts_teaching_flags(ct, capsys, flag, mode):
    from miss_imaging import settings
    from miss_imaging.settings import get_teaching_mode

    try:
        code, out, _ = _run(["info", str(ct), flag], capsys)
        assert code == 0 and get_teaching_mode() is mode and "CT synthetic #2" in out
    finally:
        settings.set_teaching_mode(True)  # persisted: the default for the tests that follow


# -- item 9: one rectangle convention ------------------------------------------------------------------------------


def _printed_boxes(text: str) -> list[tuple[int, int, int, int]]:
    return [parse_box(b) for b in re.findall(r"\b\d+,\d+,\d+,\d+\b", text)]


def test_help_states_the_rectangle_convention(capsys):
    for argv in (["--help"], ["snapshot", "--help"], ["deidentify", "--help"]):
        code, out, _ = _run(argv, capsys)
        assert code == 0 and "row0,col0,row1,col1" in out and "end excluded" in " ".join(out.split())


def test_report_rectangles_pasted_into_blank_blank_the_same_pixels(samples, tmp_path, capsys):
    """The de-identification report prints what --blank reads: pasting it back gives identical pixels."""
    code, out, _ = _run(["deidentify", str(samples / "fluoro"), str(tmp_path / "auto")], capsys)
    boxes = _printed_boxes(out)
    assert code == 0 and boxes == sorted(burned_in_regions(miss_imaging.load(samples / "fluoro")))
    pasted = [a for b in re.findall(r"\b\d+,\d+,\d+,\d+\b", out) for a in ("--blank", b)]
    assert _run(["deidentify", str(samples / "fluoro"), str(tmp_path / "given"), *pasted], capsys)[0] == 0
    auto = miss_imaging.load(tmp_path / "auto").pixels
    given = miss_imaging.load(tmp_path / "given").pixels
    np.testing.assert_array_equal(np.asarray(auto), np.asarray(given))
    r0, c0, r1, c1 = boxes[0]  # rows r0..r1-1, columns c0..c1-1: the text is gone there, not in a transposed box
    source = np.asarray(miss_imaging.load(samples / "fluoro").pixels)[:, r0:r1, c0:c1]
    assert np.ptp(source) > 0 and np.ptp(np.asarray(given)[:, r0:r1, c0:c1]) == 0


def test_demo_prints_rectangles_in_the_same_convention(samples):
    items = demo_scene(samples)
    fluoro = next(it for it in items if it.key == "lumbar_lateral")
    text = describe_scene(items)
    assert "row0,col0,row1,col1" in text
    assert _printed_boxes(text) == list(fluoro.blank)


def test_info_exit_status_says_whether_an_image_series_was_found(ct, tmp_path, capsys):
    """0 when a series is found (skipped files listed beside it), 1 when none is (a data problem), 2 for usage."""
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not an image")
    (junk / "a.dcm").write_bytes(b"not dicom at all" * 20)
    code, out, err = _run(["info", str(junk)], capsys)
    assert code == 1 and "no DICOM image series found" in out
    assert "skipped" in out and "a.dcm" in out and "notes.txt" in out  # what was skipped, file and reason
    assert "no readable DICOM image series" in _one_error_line(err)
    code, out, _ = _run(["info", str(ct)], capsys)
    assert code == 0 and "skipped" not in out
    mixed = tmp_path / "mixed"
    shutil.copytree(ct, mixed)
    (mixed / "junk.dcm").write_bytes(b"not dicom at all" * 20)
    code, out, err = _run(["info", str(mixed)], capsys)
    assert code == 0 and "skipped" in out and "junk.dcm" in out and err == ""
    code, _, err = _run(["info"], capsys)
    assert code == 2 and "path" in _one_error_line(err)
