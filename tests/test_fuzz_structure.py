"""Fuzzing the file structure: sequence nesting depth, and truncation at every element boundary.

Every failure must be one of the project's errors naming the file, from
scan, load, load_all, the reader, info, snapshot and deidentify; never a
RecursionError or pydicom's bare ``OSError: No tag to read at file position``.
"""

from __future__ import annotations

import io
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from loader_factory import ct_slices, enhanced_ct, phantom

import miss_imaging
from miss_imaging.cli import main
from miss_imaging.sharing.deid import deidentify_series
from miss_imaging.errors import MalformedDicomError, MissImagingError

_SQ_TAG = (0x0040, 0xA730)  # ContentSequence: sorts after every attribute the phantom writes, before Pixel Data


def _nested_sequence(depth: int, undefined: bool) -> bytes:
    """Explicit VR little endian bytes of (0040,A730) nested `depth` deep (PS3.5 7.5)."""
    leaf = struct.pack("<HH2sH", 0x0008, 0x0100, b"SH", 2) + b"X "
    body = leaf
    for _ in range(depth):
        if undefined:
            item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            seq = item + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
            length = 0xFFFFFFFF
        else:
            seq = struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body
            length = len(seq)
        body = struct.pack("<HH2sHI", *_SQ_TAG, b"SQ", 0, length) + seq
    return body


def _with_nesting(path: Path, depth: int, undefined: bool) -> None:
    """Insert the nested sequence into `path` just before its Pixel Data element."""
    data = path.read_bytes()
    at = data.index(b"\xe0\x7f\x10\x00")
    path.write_bytes(data[:at] + _nested_sequence(depth, undefined) + data[at:])


def _one_line_errors(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "RecursionError" not in err and "No tag to read" not in err, err
    return code, err


def _assert_named(exc: BaseException, path: Path) -> None:
    assert isinstance(exc, MissImagingError), repr(exc)
    assert path.name in str(exc), str(exc)


@pytest.mark.parametrize("undefined", [True, False], ids=["undefined-length", "defined-length"])
@pytest.mark.parametrize("depth", [3, 64, 65, 3000])
def test_nesting_depth(tmp_path, depth, undefined, capsys):
    paths, _ = ct_slices(tmp_path / "ct", phantom(2))
    _with_nesting(paths[0], depth, undefined)
    too_deep = depth > 64
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = miss_imaging.scan(paths[0])  # never raises for a bad file: it is listed as skipped
        if too_deep and undefined:  # the header walker meets it at scan time
            assert [p.name for p, _ in result.skipped] == [paths[0].name]
            assert isinstance(result.errors[paths[0]], MalformedDicomError)
            assert "nested more than 64 deep" in result.skipped[0][1]
            with pytest.raises(MissImagingError) as info:
                miss_imaging.load(paths[0])
            _assert_named(info.value, paths[0])
        else:  # nesting that geometry never reads: the image loads
            assert miss_imaging.load(paths[0]).shape[0] == 1
        assert len(miss_imaging.load_all(tmp_path / "ct")) == 1
    # de-identification copies every sequence: too deep is refused, naming file and tag
    if too_deep:
        with pytest.raises(MissImagingError, match=r"f0000\.dcm.*nested more than 64 deep"):
            deidentify_series(paths[0], tmp_path / "anon")
        assert not (tmp_path / "anon").exists()
    else:
        report = deidentify_series(paths[0], tmp_path / "anon")
        assert len(report.files_written) == 1 and miss_imaging.load(report.files_written[0]).shape[0] == 1
    code, err = _one_line_errors(["info", str(paths[0])], capsys)
    assert code == (1 if too_deep and undefined else 0)  # 1: nothing readable (the file is listed as skipped)
    if code:
        assert len(err.splitlines()) == 1 and paths[0].name in err
    code, err = _one_line_errors(["snapshot", str(paths[0]), "-o", str(tmp_path / "s.png")], capsys)
    assert code == (1 if too_deep and undefined else 0)
    if code:
        assert len(err.splitlines()) == 1 and paths[0].name in err


def _boundaries(data: bytes, little: bool) -> list[int]:
    """Byte offset of every element, item and delimiter header in `data` (Part 10, explicit VR).

    Written from PS3.5 7.1-7.5 for the test, independent of the project's walker.
    """
    out: list[int] = []
    long_vrs = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}

    def walk(pos: int, end: int, le: bool, top: bool) -> int:
        e = "<" if le else ">"
        while pos < end:
            out.append(pos)
            group, elem = struct.unpack_from(e + "HH", data, pos)
            if top and group != 2 and le and not little:
                return pos  # the meta group ends: the data set follows in big endian
            if group == 0xFFFE:  # item or delimiter
                length = struct.unpack_from(e + "I", data, pos + 4)[0]
                if elem != 0xE000:
                    return pos + 8
                item_end = end if length == 0xFFFFFFFF else pos + 8 + length
                pos = walk(pos + 8, item_end, le, False)
                continue
            vr = data[pos + 4 : pos + 6]
            if vr in long_vrs:
                length, start = struct.unpack_from(e + "I", data, pos + 8)[0], pos + 12
            else:
                length, start = struct.unpack_from(e + "H", data, pos + 6)[0], pos + 8
            if (group, elem) == (0x7FE0, 0x0010):
                return end
            if vr == b"SQ":
                pos = walk(start, end if length == 0xFFFFFFFF else start + length, le, False)
                continue
            pos = start + length
        return pos

    stop = walk(132, len(data), True, True)
    if not little:
        walk(stop, len(data), False, True)
    return sorted(set(out))


def _enhanced_variants(tmp_path: Path) -> dict[str, bytes]:
    """An Enhanced CT (4 frames) in explicit little endian and in explicit big endian (pydicom's path)."""
    src = tmp_path / "enhanced.dcm"
    ipps = np.array([[0.0, 0.0, 1.25 * k] for k in range(4)])
    enhanced_ct(src, phantom(4), ipps, [1, 0, 0, 0, 1, 0])
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    big = io.BytesIO()
    pydicom.dcmwrite(big, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    return {"little": src.read_bytes(), "big": big.getvalue()}


@pytest.mark.parametrize("endian", ["little", "big"])
def test_enhanced_truncated_at_every_element_boundary(tmp_path, endian, capsys):
    data = _enhanced_variants(tmp_path)[endian]
    cuts = _boundaries(data, endian == "little")
    assert len(cuts) > 60  # meta, attributes, both functional group sequences, items, delimiters
    folder = tmp_path / "cut"
    folder.mkdir()
    f = folder / "enhanced.dcm"
    for cut in cuts + [len(data) - 1]:
        f.write_bytes(data[:cut])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = miss_imaging.scan(f)
            for err in result.errors.values():
                _assert_named(err, f)
            for fn in (miss_imaging.load, miss_imaging.load_all, lambda p: deidentify_series(p, tmp_path / "anon")):
                try:
                    fn(f)
                except Exception as exc:  # noqa: BLE001 - what is raised is the point of the test
                    _assert_named(exc, f)
                else:
                    pytest.fail(f"cut at byte {cut} of {len(data)} loaded as if complete")
        code, err = _one_line_errors(["snapshot", str(f), "-o", str(tmp_path / "s.png")], capsys)
        assert code == 1 and len(err.splitlines()) == 1 and f.name in err, (cut, err)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:  # info reads headers only: it finds an image series exactly when they still load
                miss_imaging.load(f, lazy=True)
                headers_load = True
            except MissImagingError:
                headers_load = False
        code = main(["info", str(f)])
        out, err = capsys.readouterr()
        assert code == (0 if headers_load else 1), (cut, out, err)
        assert code == 0 or (f.name in out and len(err.strip().splitlines()) == 1 and f.name in err), (cut, out, err)
        capsys.readouterr()


def test_reader_names_the_damaged_file(tmp_path, monkeypatch):
    pytest.importorskip("napari")
    from miss_imaging_napari import _reader

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(_reader, "_notify", lambda kind, message: shown.append((kind, message)))
    paths, _ = ct_slices(tmp_path / "deep", phantom(1))
    _with_nesting(paths[0], 3000, undefined=True)
    data = _enhanced_variants(tmp_path)["big"]
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "enhanced.dcm").write_bytes(data[: len(data) // 3])
    for folder, name in ((tmp_path / "deep", paths[0].name), (tmp_path / "cut", "enhanced.dcm")):
        shown.clear()
        assert _reader.read_dicom(str(folder)) == [(None,)]
        text = " ".join(m for _, m in shown)
        assert name in text and "RecursionError" not in text and "No tag to read" not in text, text


def test_recursion_limit_untouched():
    assert sys.getrecursionlimit() <= 10_000  # the project never raises it to get past deep files
