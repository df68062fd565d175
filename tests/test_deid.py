"""De-identified export (PS3.15 Annex E Basic Profile) on synthetic objects full of fake identifiers."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.datadict import keyword_dict
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from _deid_fixtures import FAKE, FOR_UID, STUDY_UID, write_ct_series, write_xa_run
from miss_imaging.sharing._deid_table import TABLE_E1_1
from miss_imaging.sharing.deid import (
    IDENTIFYING_KEYWORDS,
    DeidOptions,
    UIDMapper,
    deidentify_series,
    find_identifiers,
    identifier_variants,
)

IDENTS = identifier_variants(
    [FAKE["id"], FAKE["accession"], FAKE["institution"], FAKE["other_id"], "CTSTATION7", "SN-99812"],
    names=[FAKE["name"], FAKE["physician"], "OPFAKE^ANNA"],
    dates=[FAKE["birth_date"]],
)


def _state(paths: list[Path]) -> dict[Path, tuple[str, int]]:
    return {p: (hashlib.sha256(p.read_bytes()).hexdigest(), os.stat(p).st_mtime_ns) for p in paths}


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    write_ct_series(folder)
    write_xa_run(folder)
    return folder


# --- the table itself ---------------------------------------------------------


def test_table_keywords_exist_and_actions_match_the_profile_codes():
    allowed_codes = {"X", "Z", "D", "U", "K", "C", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"}
    for keyword, code, action, option in TABLE_E1_1:
        assert keyword in keyword_dict, keyword
        assert code in allowed_codes, (keyword, code)
        # the chosen action is one the standard allows for that attribute
        assert action in code.split("/") or (action == "X" and keyword == "PersonName"), (keyword, code, action)
        assert option in {"", "device", "institution", "dates", "descriptors"}
    assert {"PatientName", "PatientID", "PatientBirthDate", "AccessionNumber",
            "InstitutionName"} <= IDENTIFYING_KEYWORDS
    # geometry / calibration / timing must never be in the table
    for kept in ("PixelSpacing", "ImagerPixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                 "FrameTime", "FrameTimeVector", "EstimatedRadiographicMagnificationFactor",
                 "DistanceSourceToDetector", "DistanceSourceToPatient", "PositionerPrimaryAngle"):
        assert kept not in IDENTIFYING_KEYWORDS


def test_identifier_variants_cover_name_orders_and_date_formats():
    v = identifier_variants({"name": "DOE^JOHN", "birth_date": "19650312", "id": "X12"}, dates=())
    assert {"DOE^JOHN", "DOE", "JOHN", "JOHN DOE", "DOE, JOHN"} <= v
    assert {"19650312", "1965-03-12", "12.03.1965", "03/12/1965", "12/03/1965"} <= v
    assert "X12" in v
    assert {"JOHN", "DOE", "JOHN DOE"} <= set(find_identifiers(b"...john doe...", v))
    assert find_identifiers("nothing here", v) == []
    assert find_identifiers("D\x00O\x00E\x00".encode("latin-1"), {"DOE"}) == ["DOE"]  # UTF-16


def test_uid_mapper_is_consistent_keyed_and_valid():
    a, b = UIDMapper(b"k1"), UIDMapper(b"k1")
    assert a("1.2.3") == a("1.2.3") == b("1.2.3")
    assert a("1.2.3") != a("1.2.4")
    assert UIDMapper(b"k2")("1.2.3") != a("1.2.3")
    assert UIDMapper()("1.2.3") != UIDMapper()("1.2.3")  # random salt per export
    new = a("1.2.840.113619.2.55.3.604688119.971.1")
    assert re.fullmatch(r"2\.25\.(0|[1-9]\d*)", new) and len(new) <= 64
    assert len(a) == 3


# --- a full export -------------------------------------------------------------


def test_export_removes_every_identifier_and_keeps_geometry(src: Path, tmp_path: Path):
    before = _state(sorted(src.iterdir()))
    report = deidentify_series(src, tmp_path / "out")
    assert _state(sorted(src.iterdir())) == before, "source files must never be modified"

    assert [p.name for p in report.files_written] == [f"IM{n:05d}.dcm" for n in range(1, 6)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [p.name for p in report.files_written]
    for path in report.files_written:
        raw = path.read_bytes()
        assert find_identifiers(raw, IDENTS) == [], path
        assert b"FAKE CREATOR" not in raw and b"FAKEHOSP_PACS" not in raw

    originals = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in src.iterdir()}
    outs = [pydicom.dcmread(p) for p in report.files_written]
    for out in outs:
        assert out.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100" and "113105" in codes and "113101" not in codes
        assert all(item.CodingSchemeDesignator == "DCM" for item in out.DeidentificationMethodCodeSequence)
        assert "Basic Profile" in out.DeidentificationMethod[0]
        assert out.LongitudinalTemporalInformationModified == "REMOVED"
        assert out.PatientName == "" and out.PatientID == "" and out.PatientBirthDate == ""  # Z: present, empty
        assert "InstitutionName" not in out and "OtherPatientIDs" not in out and "ImageComments" not in out
        assert "StudyDescription" not in out  # held a name part: Clean Descriptors removed it
        assert "ConvolutionKernel" not in out  # scrubbed: held the family name
        assert out.ContentDate == "19000101" and "StudyDate" in out and out.StudyDate == ""
        assert not any(e.tag.is_private for e in out.iterall())
        assert not any((e.tag.group >> 8) in (0x50, 0x60) for e in out)
        assert all(e.value in ("", None) for e in out.iterall() if e.VR == "PN")
        assert out.SeriesDescription == "Lumbar spine"  # clean descriptor kept
        assert out.StudyInstanceUID != STUDY_UID and out.FrameOfReferenceUID != FOR_UID
        assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
        assert "SourceApplicationEntityTitle" not in out.file_meta
        assert out.preamble == b"\x00" * 128

    # UIDs replaced consistently within the export
    assert len({o.StudyInstanceUID for o in outs}) == 1
    assert len({o.FrameOfReferenceUID for o in outs}) == 1
    assert len({o.SOPInstanceUID for o in outs}) == 5
    cts = sorted((o for o in outs if o.Modality == "CT"), key=lambda o: o.InstanceNumber)
    assert len({o.SeriesInstanceUID for o in cts}) == 1
    assert all(o.ReferencedImageSequence[0].ReferencedSOPInstanceUID == cts[0].SOPInstanceUID for o in cts)
    assert all(o.SOPClassUID == o.file_meta.MediaStorageSOPClassUID for o in outs)
    assert report.uid_map_size == 5 + 2 + 1 + 1  # SOP instances, 2 series, study, frame of reference

    # geometry, calibration, timing and pixels unchanged
    for out in cts:
        orig = next(o for o in originals.values() if o.InstanceNumber == out.InstanceNumber and o.Modality == "CT")
        for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
                   "RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "KVP", "Rows", "Columns"):
            assert out[kw].value == orig[kw].value, kw
        assert out.PixelData == orig.PixelData
    xa = next(o for o in outs if o.Modality == "XA")
    xa0 = next(o for o in originals.values() if o.Modality == "XA")
    for kw in ("ImagerPixelSpacing", "DistanceSourceToDetector", "DistanceSourceToPatient",
               "EstimatedRadiographicMagnificationFactor", "FrameTime", "FrameIncrementPointer",
               "PositionerPrimaryAngle", "PositionerSecondaryAngle", "NumberOfFrames"):
        assert xa[kw].value == xa0[kw].value, kw
    assert xa.file_meta.TransferSyntaxUID == RLELossless and xa.PixelData == xa0.PixelData  # bytes copied
    np.testing.assert_array_equal(xa.pixel_array, xa0.pixel_array)

    # burned-in annotation is flagged, not silently passed
    assert report.burned_in_annotation and report.burned_in_files == [p for p in report.files_written
                                                                      if pydicom.dcmread(p).Modality == "XA"]
    assert "NOT removed" in report.summary()
    assert report.private_removed == 5 * 2 and report.scrubbed


def test_blank_regions_every_frame_and_record_clean_pixel_option(tmp_path: Path):
    src = tmp_path / "src"
    path = write_xa_run(src)
    orig = pydicom.dcmread(path).pixel_array
    report = deidentify_series(path, tmp_path / "out", blank_regions=[(0, 0, 3, 5), (14, 15, 99, 99)])
    out = pydicom.dcmread(report.files_written[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian  # re-encoded uncompressed
    arr = out.pixel_array
    mask = np.zeros(orig.shape[1:], bool)
    mask[0:3, 0:5] = True
    mask[14:, 15:] = True
    assert np.all(arr[:, mask] == orig.min())  # display-black for MONOCHROME2
    np.testing.assert_array_equal(arr[:, ~mask], orig[:, ~mask])
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert "113101" in codes
    assert report.blanked_regions == ((0, 0, 3, 5), (14, 15, 99, 99))
    assert "blanked" in report.summary()


@pytest.mark.parametrize("bad", [[(3, 0, 1, 5)], [(0, 0, 3)], [(-1, 0, 2, 2)]])
def test_bad_regions_are_rejected(tmp_path: Path, bad):
    path = write_xa_run(tmp_path / "src")
    with pytest.raises(ValueError, match="blank_regions"):
        deidentify_series(path, tmp_path / "out", blank_regions=bad)


def test_output_inside_source_or_not_empty_is_refused(src: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="inside the source"):
        deidentify_series(src, src / "export")
    with pytest.raises(ValueError, match="inside the source"):
        deidentify_series(src, src)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="must be empty"):
        deidentify_series(src, busy)
    assert not (src / "export").exists()


def test_salt_makes_exports_linkable_only_on_request(src: Path, tmp_path: Path):
    r1 = deidentify_series(src, tmp_path / "a", options=DeidOptions(uid_salt=b"teaching-file-2024"))
    r2 = deidentify_series(src, tmp_path / "b", options=DeidOptions(uid_salt=b"teaching-file-2024"))
    r3 = deidentify_series(src, tmp_path / "c")
    uid = lambda r: [pydicom.dcmread(p).SOPInstanceUID for p in r.files_written]  # noqa: E731
    assert uid(r1) == uid(r2)
    assert set(uid(r1)).isdisjoint(uid(r3))


def test_options_retain_device_institution_dates(src: Path, tmp_path: Path):
    opts = DeidOptions(retain_device_identity=True, retain_institution_identity=True, retain_dates=True,
                       clean_descriptors=False)
    report = deidentify_series(src, tmp_path / "out", options=opts)
    out = pydicom.dcmread(report.files_written[0])
    assert out.DeviceSerialNumber == "SN-99812" and out.StationName == "CTSTATION7"
    assert out.InstitutionName == FAKE["institution"]
    assert out.StudyDate == "20240105" and out.ContentDate == "20240105"
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert "SeriesDescription" not in out  # Clean Descriptors off: profile removes it
    codes = {i.CodeValue for i in out.DeidentificationMethodCodeSequence}
    assert codes == {"113100", "113106", "113109", "113112"}
    assert out.PatientName == "" and "OtherPatientIDs" not in out


def test_series_filter_and_nothing_to_export(src: Path, tmp_path: Path):
    xa_uid = "1.2.826.0.1.3680043.8.498.6666"
    report = deidentify_series(src, tmp_path / "out", series_uid=xa_uid)
    assert len(report.files_written) == 1
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("not dicom")
    from miss_imaging.errors import NotDicomError

    with pytest.raises(NotDicomError):
        deidentify_series(tmp_path / "junk", tmp_path / "out2")


def test_shared_codecs_export_decodes_identically(shared_dicom: Path, tmp_path: Path):
    """Every transfer syntax of a real CT slice: exported pixels decode to the same values."""
    folder = shared_dicom / "ct_slice_codecs"
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".md"))
    report = deidentify_series(files, tmp_path / "out")
    by_name = dict(zip([f.name for f in files if f not in {s for s, _ in report.skipped}], report.files_written))
    assert len(by_name) >= 6
    for name, out_path in by_name.items():
        a = pydicom.dcmread(folder / name).pixel_array
        b = pydicom.dcmread(out_path).pixel_array
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert pydicom.dcmread(out_path).PatientIdentityRemoved == "YES"


@pytest.mark.parametrize("sub", ["cr_mono1_chest", "ct_gantry_tilt", "ct_head_ge_5mm", "ct_missing_slice",
                                 "rf_ge_1024", "xa_catheter_cine", "misc"])
def test_real_files_export_and_reload_identically(shared_dicom: Path, tmp_path: Path, sub: str):
    """Real scanners' files (no file meta, JPEG Lossless, gantry tilt, gaps): same pixels and geometry after export."""
    import warnings

    from miss_imaging.errors import MissImagingWarning
    from miss_imaging.reading.loader import load, load_all

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissImagingWarning)
        vols = load_all(shared_dicom / sub)
        for n, vol in enumerate(vols):
            before = _state(list(vol.files))
            out = tmp_path / f"out{n}"
            report = deidentify_series(vol.files, out, series_uid=vol.series_uid or None)
            assert _state(list(vol.files)) == before
            copy = load(out)
            np.testing.assert_array_equal(np.asarray(copy.pixels), np.asarray(vol.pixels))
            np.testing.assert_allclose(copy.affine, vol.affine, rtol=0, atol=1e-9)
            assert copy.spacing == vol.spacing and copy.calibration == vol.calibration
            assert len(report.files_written) == len(vol.files)
            for f in report.files_written:
                ds = pydicom.dcmread(f)
                assert ds.PatientIdentityRemoved == "YES" and not any(e.tag.is_private for e in ds.iterall())


def test_burned_in_text_is_found_and_blanked_by_default(tmp_path: Path):
    from _deid_fixtures import TEXT_BOX

    path = write_xa_run(tmp_path / "src", frames=4, rows=96, cols=128, text=True)
    orig = pydicom.dcmread(path).pixel_array
    report = deidentify_series(path, tmp_path / "auto")
    (out_path,) = report.files_written
    (box,) = report.auto_regions[out_path]
    r0, c0, r1, c1 = TEXT_BOX
    assert box[0] <= r0 and box[1] <= c0 and box[2] >= r1 and box[3] >= c1  # covers the text
    assert (box[2] - box[0]) * (box[3] - box[1]) < 2 * (r1 - r0 + 4) * (c1 - c0 + 4)  # and not much more
    arr = pydicom.dcmread(out_path).pixel_array
    inside = np.zeros(orig.shape[1:], bool)
    inside[box[0]:box[2], box[1]:box[3]] = True
    assert not np.any(arr[:, inside] == 4095)
    np.testing.assert_array_equal(arr[:, ~inside], orig[:, ~inside])
    assert "113101" in [i.CodeValue for i in pydicom.dcmread(out_path).DeidentificationMethodCodeSequence]
    assert "found and blanked" in report.summary() and "NOT removed" not in report.summary()
    # explicitly no blanking: pixels kept, loud warning
    kept = deidentify_series(path, tmp_path / "none", blank_regions=())
    np.testing.assert_array_equal(pydicom.dcmread(kept.files_written[0]).pixel_array, orig)
    assert kept.auto_regions == {} and "NOT removed" in kept.summary()


def test_detect_text_regions_ignores_moving_and_central_bright_things():
    from miss_imaging.sharing.burned_in import detect_text_regions

    run = np.full((6, 128, 128), 1000, np.uint16)
    for k in range(6):
        run[k, 60:70, 40 + 5 * k:44 + 5 * k] = 4095  # a saturated instrument that moves
    assert detect_text_regions(run, bits_stored=12) == []
    single = np.full((200, 160), 800, np.uint16)
    single[90:110, 70:90] = 4095  # saturated metal in the middle of a radiograph
    single[5:12, 120:150:3] = 4095  # a marker letter block in the corner
    assert detect_text_regions(single, bits_stored=12) == [(3, 118, 14, 150)]
    assert detect_text_regions(np.zeros((4, 32, 32), np.uint16)) == []
