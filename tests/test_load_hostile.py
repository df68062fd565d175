"""Bad input: one test per hostile case, asserting the specific error or warning text."""

from __future__ import annotations

import hashlib
import re
import warnings

import numpy as np
import pydicom
import pytest
from loader_factory import ct_slices, phantom
from pydicom.data import get_testdata_file
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import miss_imaging
from miss_imaging.reading import _pixels
from miss_imaging.errors import (
    AbsurdDimensionsError,
    MissImagingError,
    MissImagingWarning,
    MissingTagError,
    NotDicomError,
    PixelDataError,
    SeriesGeometryError,
    TruncatedFileError,
    UnsupportedTransferSyntaxError,
)
from miss_imaging.reading.loader import load


@pytest.fixture
def ct_dir(tmp_path):
    paths, ipps = ct_slices(tmp_path / "ct", phantom(5), names=[f"s{k}.dcm" for k in range(5)])
    return tmp_path / "ct", paths


def _edit(path, **changes):
    ds = pydicom.dcmread(path)
    for k, v in changes.items():
        if v is None:
            delattr(ds, k)
        else:
            setattr(ds, k, v)
    ds.save_as(path)


def test_non_dicom_is_skipped_not_fatal(ct_dir):
    folder, _ = ct_dir
    (folder / "notes.txt").write_text("not an image\n" * 20)
    res = miss_imaging.scan(folder)
    assert len(res) == 1 and res[0].n_files == 5
    assert [(p.name, "not a DICOM file" in why) for p, why in res.skipped] == [("notes.txt", True)]
    with pytest.raises(NotDicomError, match=r"notes\.txt: not a DICOM file"):
        load(folder / "notes.txt")


def test_empty_folder(tmp_path):
    with pytest.raises(NotDicomError, match="no DICOM image found"):
        load(tmp_path)


def test_truncated_file(ct_dir):
    folder, paths = ct_dir
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 100])
    with pytest.raises(TruncatedFileError, match=r"s2\.dcm: truncated: \(7FE0,0010\) Pixel Data announces 240 bytes"):
        load(paths[2])
    res = miss_imaging.scan(folder)  # in a folder: skipped, the gap it leaves is reported
    assert any(p.name == "s2.dcm" and "truncated" in why for p, why in res.skipped)
    with pytest.warns(MissImagingWarning, match=r"gap: .* between s1\.dcm and s3\.dcm"):
        vol = load(folder)
    assert vol.shape[0] == 4 and not vol.regular


def test_truncated_in_header(tmp_path, ct_dir):
    _, paths = ct_dir
    p = tmp_path / "cut.dcm"
    p.write_bytes(paths[0].read_bytes()[:300])
    with pytest.raises(TruncatedFileError, match=r"cut\.dcm: truncated: the file ends inside its header"):
        load(p)


def test_no_preamble_read_as_data_set(tmp_path, ct_dir):
    _, paths = ct_dir
    ds = pydicom.dcmread(paths[0])
    p = tmp_path / "raw.dcm"
    fp = DicomBytesIO()  # a bare implicit VR data set: no preamble, no DICM, no file meta
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)
    p.write_bytes(fp.getvalue())
    data = p.read_bytes()
    assert data[128:132] != b"DICM"
    vol = load(p)
    np.testing.assert_array_equal(vol.pixels[0], load(paths[0]).pixels[0])


def test_slice_missing_ipp_left_out(ct_dir):
    folder, paths = ct_dir
    _edit(paths[4], ImagePositionPatient=None)
    with pytest.warns(MissImagingWarning, match=r"s4\.dcm: \(0020,0032\) ImagePositionPatient missing"):
        vol = load(folder)
    assert vol.shape[0] == 4 and "s4.dcm" not in [p.name for p in vol.files]


def test_all_slices_missing_ipp(ct_dir):
    folder, paths = ct_dir
    for p in paths:
        _edit(p, ImagePositionPatient=None)
    with pytest.raises(MissingTagError, match=r"\(0020,0032\) ImagePositionPatient missing in every slice"):
        load(folder)


def test_malformed_ipp_names_ipp(ct_dir):
    folder, paths = ct_dir
    for p in paths:
        _edit(p, ImagePositionPatient=[1.0, 2.0])  # two values: the tag at fault is IPP, not IOP
    with pytest.raises(MissingTagError, match=r"\(0020,0032\) ImagePositionPatient malformed \(1, 2\) in every"):
        load(folder)


@pytest.mark.parametrize(
    "iop", [[0, 0, 0, 0, 0, 0], [2, 0, 0, 0, 2, 0], [1, 0, 0, 0.6, 0.8, 0], ["nan", 0, 0, 0, 1, 0]],
    ids=["zero", "non-unit", "oblique", "nan"],
)
def test_malformed_iop_is_an_error_not_a_nan_affine(ct_dir, iop):
    folder, paths = ct_dir
    for p in paths:
        _edit(p, ImageOrientationPatient=iop)
    with pytest.raises(MissingTagError, match=r"\(0020,0037\) ImageOrientationPatient malformed"):
        load(folder)


def test_one_slice_with_zero_iop_left_out(ct_dir):
    folder, paths = ct_dir
    _edit(paths[2], ImageOrientationPatient=[0, 0, 0, 0, 0, 0])
    with pytest.warns(MissImagingWarning, match=r"s2\.dcm: \(0020,0037\) ImageOrientationPatient missing or malformed"):
        vol = load(folder)
    assert vol.shape[0] == 4 and np.isfinite(vol.affine).all()


@pytest.mark.parametrize("ps", [[0.0, 0.0], [-0.5, 0.7], [0.5, "inf"]])
def test_pixel_spacing_not_positive(ct_dir, ps):
    # a negative value would mirror the axis in the affine while `spacing` (a norm) still looked right
    folder, paths = ct_dir
    for p in paths:
        _edit(p, PixelSpacing=ps)
    with pytest.raises(SeriesGeometryError, match=r"s0\.dcm: \(0028,0030\) PixelSpacing = .*must be > 0 mm"):
        load(folder)


@pytest.mark.parametrize(
    "changes,pattern",
    [
        ({"RescaleIntercept": b"-10x4"}, r"\(0028,1052\) RescaleIntercept = '-10x4(\.0)?' is not a finite number"),
        ({"RescaleSlope": "nan"}, r"\(0028,1053\) RescaleSlope = 'nan' is not a finite number"),
        ({"RescaleSlope": "0"}, r"\(0028,1053\) RescaleSlope = 0: every pixel would equal the intercept"),
    ],
)
def test_unusable_rescale_skips_the_slice_by_name(ct_dir, changes, pattern):
    # read as slope 1 / intercept 0 it would shift every HU of the slice silently
    folder, paths = ct_dir
    if isinstance(changes.get("RescaleIntercept"), bytes):  # pydicom refuses to write it: patch the bytes
        data = paths[2].read_bytes()
        assert data.count(b"-1024") == 1
        paths[2].write_bytes(data.replace(b"-1024", changes["RescaleIntercept"]))
    else:
        with warnings.catch_warnings():  # pydicom warns about writing an invalid DS
            warnings.simplefilter("ignore")
            _edit(paths[2], **changes)
    res = miss_imaging.scan(folder)
    assert [p.name for p, _ in res.skipped] == ["s2.dcm"] and res[0].n_files == 4
    assert re.search(pattern, res.skipped[0][1])
    with pytest.raises(MissingTagError, match=r"s2\.dcm: " + pattern):
        load(paths[2])


def test_inconsistent_rows_in_series(ct_dir):
    folder, paths = ct_dir
    ds = pydicom.dcmread(paths[0])
    ds.Rows, ds.Columns = 6, 20  # same number of bytes, other shape
    ds.save_as(paths[0])
    with pytest.warns(MissImagingWarning, match=r"s0\.dcm: \(0028,0010\) Rows x \(0028,0011\) Columns = 6x20 differs"):
        vol = load(folder)
    assert vol.shape == (4, 12, 10)


def test_zero_length_pixel_data(ct_dir):
    _, paths = ct_dir
    _edit(paths[1], PixelData=b"")
    with pytest.raises(PixelDataError, match=r"s1\.dcm: \(7FE0,0010\) Pixel Data is empty \(zero length\)"):
        load(paths[1])


def test_pixel_data_too_short(ct_dir):
    _, paths = ct_dir
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = ds.PixelData[:100]
    ds.save_as(paths[1])
    with pytest.raises(PixelDataError, match=r"s1\.dcm: \(7FE0,0010\) Pixel Data holds 100 bytes but 12 Rows"):
        load(paths[1])


def test_pixel_data_too_long_warns(ct_dir):
    _, paths = ct_dir
    ds = pydicom.dcmread(paths[1])
    ds.PixelData = ds.PixelData + b"\0" * 64
    ds.save_as(paths[1])
    with pytest.warns(MissImagingWarning, match=r"s1\.dcm: \(7FE0,0010\) Pixel Data holds 304 bytes, 64 more"):
        vol = load(paths[1])
    assert vol.shape == (1, 12, 10)


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"Rows": 0}, r"\(0028,0010\) Rows = 0"),
        ({"NumberOfFrames": 0}, r"\(0028,0008\) NumberOfFrames = 0"),
        ({"BitsAllocated": 12}, r"\(0028,0100\) BitsAllocated = 12"),
        ({"Rows": 65535, "Columns": 65535, "NumberOfFrames": 5000}, r"GiB of pixels exceeds"),
    ],
)
def test_absurd_dimensions(ct_dir, changes, pattern):
    _, paths = ct_dir
    _edit(paths[0], **changes)
    with pytest.raises(AbsurdDimensionsError, match=pattern):
        load(paths[0])


def test_undecodable_stream_names_syntax():
    path = get_testdata_file("JPEG-lossy.dcm")
    with pytest.raises(
        UnsupportedTransferSyntaxError,
        match=r"JPEG-lossy\.dcm: \(0002,0010\) TransferSyntaxUID 1\.2\.840\.10008\.1\.2\.4\.51 \(JPEG Extended",
    ):
        load(path)


def test_missing_decoder_says_what_to_install(monkeypatch):
    path = get_testdata_file("MR_small_RLE.dcm")

    class _NoDecoder:
        is_available = False
        missing_dependencies = ["pylibjpeg-rle"]

    monkeypatch.setattr(_pixels.pydicom.pixels, "get_decoder", lambda uid: _NoDecoder())
    with pytest.raises(
        UnsupportedTransferSyntaxError, match=r"1\.2\.840\.10008\.1\.2\.5 \(RLE Lossless\).*pip install"
    ):
        load(path)


def test_colour_not_loaded():
    with pytest.raises(PixelDataError, match=r"PhotometricInterpretation RGB: colour images are not supported"):
        load(miss_imaging.scan(get_testdata_file("SC_rgb_rle.dcm"))[0])


def test_sources_never_modified(ct_dir):
    folder, paths = ct_dir
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    load(folder)
    load(folder, lazy=True).pixels.compute()
    assert before == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _cases():
    import json

    from conftest import SAMPLES

    try:
        cases = json.loads((SAMPLES / "truth.json").read_text())["hostile"]["cases"]
    except (OSError, KeyError, ValueError):
        return []
    return sorted(cases.items())


@pytest.mark.parametrize(("name", "case"), _cases(), ids=[n for n, _ in _cases()])
def test_phantom_hostile_case(samples, name, case):
    """Each sample_dicoms/hostile case loads as truth.json expects, naming the bad file."""
    folder = samples / case["folder"]
    if not folder.is_dir():
        pytest.skip(f"{folder} not generated")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vol = load(folder)
    said = " | ".join(str(w.message) for w in caught)
    exp = case["expected"]
    assert vol.shape[0] == exp["valid_slices"], said
    if "shape" in exp:
        assert vol.shape == tuple(exp["shape"])
    if "spacing_mm" in exp:
        np.testing.assert_allclose(vol.spacing, exp["spacing_mm"], atol=1e-6)
    if "slice_z_lps_mm" in exp:
        np.testing.assert_allclose(vol.slice_positions[:, 2], exp["slice_z_lps_mm"], atol=1e-6)
        assert not vol.regular and "gap:" in said
    for bad in case["bad_files"]:
        if name == "no_preamble":  # a real data set: read, not reported
            assert bad in [p.name for p in vol.files]
            continue
        assert bad in said, f"{bad} not named in: {said}"
        assert bad not in [p.name for p in vol.files]
    if name == "duplicate":
        assert case["duplicate_of"] in said


def test_phantom_dicomdir(samples, truth):
    if "dicomdir" not in truth or not (samples / truth["dicomdir"]["folder"]).is_dir():
        pytest.skip("sample_dicoms/dicomdir not generated")
    res = miss_imaging.scan(samples / truth["dicomdir"]["folder"] / truth["dicomdir"]["file"])
    got = sorted((s.modality, s.n_files) for s in res)
    want = sorted((v["modality"], v["instances"]) for v in truth["dicomdir"]["series"].values())
    assert got == want


def test_corrupt_vr_in_header_names_file_and_tag(tmp_path):
    # pydicom converts elements on first access, after the scan: an unknown VR then raised a bare
    # NotImplementedError out of load()
    from loader_factory import xa_cine

    xa_cine(tmp_path / "x.dcm", np.zeros((2, 4, 5), np.uint16), FrameTime="30")
    data = (tmp_path / "x.dcm").read_bytes()
    element = b"\x18\x00\x63\x10DS"  # (0018,1063) FrameTime, explicit VR little endian
    assert data.count(element) == 1
    (tmp_path / "x.dcm").write_bytes(data.replace(element, b"\x18\x00\x63\x10Dp"))
    with pytest.raises(MissImagingError, match=r"x\.dcm: a header element cannot be read .*Unknown Value "
                                               r"Representation 'Dp'") as info:
        load(tmp_path / "x.dcm")
    assert info.value.tag == "(0018,1063)"


def test_decoder_panic_becomes_a_named_error(ct_dir, monkeypatch):
    # Rust-based plugins (pylibjpeg-rle) panic on corrupt streams with pyo3's PanicException, which
    # derives from BaseException and slipped past `except Exception`
    class PanicException(BaseException):
        pass

    def panic(self):
        raise PanicException("index out of bounds: the len is 8192 but the index is 8193")

    _, paths = ct_dir
    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(panic))
    with pytest.raises(PixelDataError, match=r"s0\.dcm: \(7FE0,0010\) Pixel Data cannot be decoded "
                                             r"\(PanicException: index out of bounds"):
        load(paths[0], fast_path=False)
