"""scan(): discovery and the header walker, against pydicom's own parse."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from loader_factory import ct_slices, phantom, xa_cine
from pydicom.dataset import Dataset

import miss_imaging
from miss_imaging.reading._fastread import HeaderTruncated, walk_header
from miss_imaging.reading.dicom_scan import read_header
from miss_imaging.errors import MissImagingError, NotDicomError, PixelDataError, TruncatedFileError

TEST_FILES = sorted(glob.glob(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "*.dcm")))
TRUNCATED = "rtplan_truncated.dcm"  # ends inside its header


def _walked(path: str) -> bool:
    try:
        return walk_header(path) is not None
    except HeaderTruncated:
        return False


# pydicom's own test files, split by who reads the header: the walker, or the pydicom fallback
WALKED = [p for p in TEST_FILES if os.path.basename(p) != TRUNCATED and _walked(p)]
FALLBACK = [p for p in TEST_FILES if os.path.basename(p) != TRUNCATED and p not in WALKED]


def test_truncated_header_is_detected():
    (path,) = [p for p in TEST_FILES if os.path.basename(p) == TRUNCATED]
    with pytest.raises(HeaderTruncated):
        walk_header(path)
    with pytest.raises(TruncatedFileError, match=TRUNCATED):
        read_header(path)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", WALKED, ids=[os.path.basename(p) for p in WALKED])
def test_walker_agrees_with_pydicom(path):
    raw = walk_header(path)
    ours = raw.dataset()
    ref = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert set(ours.keys()) == set(ref.keys())
    for tag in ref.keys():
        assert str(ours[tag].value) == str(ref[tag].value), tag
    full = pydicom.dcmread(path, force=True)
    if "PixelData" in full and full.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
        with open(path, "rb") as f:
            f.seek(raw.pixel_offset)
            assert f.read(raw.pixel_length) == full.PixelData


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", FALLBACK, ids=[os.path.basename(p) for p in FALLBACK])
def test_fallback_agrees_with_pydicom(path):
    """Files the walker declines (big endian, deflated, odd): read_header holds pydicom's own parse, or names why not."""
    try:
        header = read_header(path)
    except MissImagingError as exc:  # not an image: the file and the reason are named
        assert os.path.basename(path) in str(exc)
        assert isinstance(exc, (NotDicomError, PixelDataError, TruncatedFileError)), repr(exc)
        return
    ref = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    assert set(header.source.keys()) == set(ref.keys())
    assert (header.rows, header.cols) == (ref.Rows, ref.Columns)


def test_scan_groups_and_orders(tmp_path):
    ct_slices(tmp_path / "a", phantom(4), series_uid="1.2.3.4.10")
    ct_slices(tmp_path / "b", phantom(2), series_uid="1.2.3.4.11")
    (tmp_path / "c").mkdir()
    xa_cine(tmp_path / "c" / "xa.dcm", np.zeros((3, 40, 40), np.uint16))
    (tmp_path / "c" / "README").write_text("hello")
    res = miss_imaging.scan(tmp_path)
    assert [(s.kind, s.n_files, s.n_frames) for s in res] == [("projection", 1, 3), ("volume", 4, 4), ("volume", 2, 2)]
    assert res[1].series_uid == "1.2.3.4.10" and res[1].modality == "CT"
    assert (res[1].rows, res[1].columns) == (12, 10)
    assert [p.name for p, _ in res.skipped] == ["README"]
    assert res[1].label == "CT synthetic #2"


def test_headers_are_pydicom_datasets(tmp_path):
    paths, _ = ct_slices(tmp_path, phantom(3))
    info = miss_imaging.scan(tmp_path)[0]
    ds = info.headers[0]
    assert isinstance(ds, Dataset)
    ref = pydicom.dcmread(info.files[0], stop_before_pixels=True)
    assert ds.ImagePositionPatient == ref.ImagePositionPatient
    assert ds.WindowCenterWidthExplanation == ["SOFT", "BONE"]
    assert len(list(info.headers)) == 3


def test_scan_single_file_and_dicomdir(tmp_path):
    paths, _ = ct_slices(tmp_path / "d", phantom(3))
    assert miss_imaging.scan(paths[0])[0].n_files == 1
    (tmp_path / "d" / "DICOMDIR").write_bytes(b"")  # stands for its folder, itself no image
    res = miss_imaging.scan(tmp_path / "d" / "DICOMDIR")
    assert res[0].n_files == 3 and not res.skipped


def test_read_header_values(tmp_path):
    paths, ipps = ct_slices(tmp_path, phantom(2), pixel_spacing=(0.5, 0.7), intercept=-1000)
    h = read_header(paths[1])
    assert (h.rows, h.cols, h.frames, h.bits_allocated, h.bits_stored) == (12, 10, 1, 16, 12)
    np.testing.assert_allclose(h.ipp, ipps[1])
    assert h.pixel_spacing == (0.5, 0.7) and h.intercept == -1000 and h.slope == 1
    assert h.kind == "volume" and h.pixel_length == 240


def test_template_reuse_is_exact(tmp_path):
    """A header read with another file as layout template equals a full walk (any pair of files)."""
    stored = phantom(6)
    # positions whose text lengths vary ("-1.25", "10.0", ...), so layouts differ between files
    pos = np.array([[0.5 * k, -3.0 + k, -2.5 + 2.5 * k] for k in range(6)])
    paths, _ = ct_slices(tmp_path, stored, positions=pos)
    others = [p for p in TEST_FILES if walk_header_safe(p) is not None][:20]
    files = [*paths, *map(Path, others)]
    for a in files:
        ta = walk_header_safe(a)
        for b in files[:9]:
            full = walk_header_safe(b)
            got = walk_header(b, ta) if full is not None else None
            if full is None:
                continue
            assert got.elements == full.elements, (a, b)
            assert (got.pixel_offset, got.pixel_length, got.transfer_syntax) == (
                full.pixel_offset, full.pixel_length, full.transfer_syntax), (a, b)


def walk_header_safe(path):
    try:
        return walk_header(path)
    except HeaderTruncated:
        return None
