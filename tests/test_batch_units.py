"""Batch building blocks without a cluster: redaction, manifest, atomic publish, key, discovery, progress."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from _batch_fixtures import build_archive, patient
from miss_imaging.batch.discover import group_studies, list_files, read_headers
from miss_imaging.batch.keys import deid_uid, keyed_hash, load_or_create_key
from miss_imaging.batch.manifest import Manifest, atomic_write_bytes
from miss_imaging.batch.redact import Redactor
from miss_imaging.batch.report import Progress
from miss_imaging.batch.tasks import OutputExistsError, publish
from miss_imaging.sharing.deid import UIDMapper


def test_redactor_replaces_paths_folder_names_and_identifiers():
    red = Redactor("/data/export", ["DOE_JOHN/CT 2024/IM0001.dcm"], ["DOE", "19650312"])
    text = "/data/export/DOE_JOHN/CT 2024/IM0001.dcm: truncated; folder DOE_JOHN, born 19650312, IM0001.dcm"
    assert red(text) == "<file>: truncated; folder <folder>, born <redacted>, <file>"
    assert red("doe_john") == "<folder>"  # case-insensitive
    assert red("CT slice") == "CT slice"  # fragments under 3 characters are not replaced


def test_manifest_records_are_whole_files(tmp_path: Path):
    m = Manifest(tmp_path / "done")
    assert m.get("ab12") is None and m.keys() == set()
    m.put("ab12", {"study": "2.25.1", "status": "done"})
    assert m.get("ab12") == {"study": "2.25.1", "status": "done"} and m.keys() == {"ab12"}
    assert [p.name for p in (tmp_path / "done").iterdir()] == ["ab12.json"]  # no temp file left
    with pytest.raises(ValueError):
        m.put("../x", {})


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch):
    target = tmp_path / "report.json"
    atomic_write_bytes(target, b"old")

    def boom(a, b):  # e.g. the disk fills up: the new bytes never reach the final name
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["report.json"]


def test_publish_renames_whole_and_never_overwrites(tmp_path: Path):
    def staged(name: str, content: bytes) -> Path:
        d = tmp_path / name / "2.25.7" / "2.25.8"
        d.mkdir(parents=True)
        (d / "IM00001.dcm").write_bytes(content)
        return d.parent

    final = tmp_path / "deidentified" / "2.25.7"
    assert publish(staged("a", b"x"), final) is True and (final / "2.25.8" / "IM00001.dcm").read_bytes() == b"x"
    assert publish(staged("b", b"x"), final) is False  # identical: an earlier attempt finished it
    with pytest.raises(OutputExistsError, match="never overwritten"):
        publish(staged("c", b"y"), final)
    assert (final / "2.25.8" / "IM00001.dcm").read_bytes() == b"x"


def test_key_is_created_once_private_and_keys_the_uid_mapping(tmp_path: Path):
    key = load_or_create_key(tmp_path / "private")
    assert len(key) == 32 and load_or_create_key(tmp_path / "private") == key
    assert (tmp_path / "private" / "key").stat().st_mode & 0o077 == 0
    assert deid_uid(key, "1.2.3") == UIDMapper(key)("1.2.3") != UIDMapper(b"other")("1.2.3")
    assert keyed_hash(key, "content", "a") != keyed_hash(key, "study", "a") != keyed_hash(b"k" * 32, "content", "a")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "key").write_text("not hex")
    with pytest.raises(ValueError, match="not a batch key"):
        load_or_create_key(tmp_path / "bad")


def test_discovery_groups_by_study_and_content_key_follows_the_files(tmp_path: Path):
    src = tmp_path / "src"
    build_archive(src, 3, hostile=1)
    rels = list_files(src)
    records, skipped = read_headers(str(src), rels)
    assert [r for r, _ in skipped] == [f"{patient(1)['folder']}/notes about ZEBRAFAKE.txt"]
    assert patient(1)["folder"] not in skipped[0][1] and "<file>" in skipped[0][1]
    key = b"\x01" * 32
    jobs = group_studies(records, str(src), key, "settings")
    assert len(jobs) == 3 and all(len(j.files) == 5 and len(j.series()) == 2 for j in jobs)
    assert {j.study_id for j in jobs} == {deid_uid(key, f"1.2.826.0.1.3680043.8.498.77.{k}") for k in range(3)}
    assert group_studies(records, str(src), key, "settings")[0].content_key == jobs[0].content_key
    assert group_studies(records, str(src), key, "other settings")[0].content_key != jobs[0].content_key
    touched = src / jobs[0].files[0].rel
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 1000))
    again = group_studies(read_headers(str(src), rels)[0], str(src), key, "settings")
    assert [j.content_key == k.content_key for j, k in zip(again, jobs)] == [False, True, True]


def test_progress_line_counts_rate_and_errors():
    out = io.StringIO()
    bar = Progress(4, stream=out, every_s=0.0)
    for status in ("done", "error", "done", "done"):
        bar.update(status)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("[" + "#" * 24 + "] 4/4 studies")
    assert "1 error" in lines[1] and "studies/s" in lines[-1] and "ETA" in lines[0]


def test_environment_failure_is_retried_and_data_failure_recorded(tmp_path: Path):
    from miss_imaging.batch.tasks import deidentify_study
    from miss_imaging.sharing.deid import DeidOptions

    src = tmp_path / "src"
    build_archive(src, 2, hostile=1)
    key = b"\x02" * 32
    jobs = group_studies(read_headers(str(src), list_files(src))[0], str(src), key, "s")
    out = tmp_path / "OUT"
    (out / "private").mkdir(parents=True)
    (out / "private" / "tmp").write_text("in the way")  # staging impossible, like a full or read-only disk
    first = [deidentify_study(j, str(out), key, DeidOptions()) for j in jobs]
    assert all(r["status"] == "error" and r.get("retry") for r in first)
    assert Manifest(out / "private" / "done").keys() == set()  # nothing recorded: the next run retries
    (out / "private" / "tmp").unlink()
    second = {r["status"]: r for r in (deidentify_study(j, str(out), key, DeidOptions()) for j in jobs)}
    assert set(second) == {"done", "error"} and second["error"]["kind"] == "PixelDataError"
    assert Manifest(out / "private" / "done").keys() == {j.content_key for j in jobs}
    assert patient(1)["folder"] not in second["error"]["reason"]


def test_index_rows_flag_gap_in_enhanced_ct_and_tilt_from_positions(tmp_path: Path):
    """Gap and shear by construction: an Enhanced CT missing its 3rd frame position, a classic CT sheared 0.3/1.25."""
    import math

    import numpy as np

    from loader_factory import ct_slices, enhanced_ct, phantom
    from miss_imaging.batch.tasks import index_study

    src = tmp_path / "src"
    (src / "PATIENTFAKE_ENH").mkdir(parents=True)
    ipps = np.array([[0.0, 0.0, z] for z in (0.0, 1.0, 3.0, 4.0, 5.0)])  # 2.0 mm where the median step is 1.0
    enhanced_ct(src / "PATIENTFAKE_ENH" / "enh.dcm", phantom(5), ipps, [1, 0, 0, 0, 1, 0])
    ct_slices(src / "PATIENTFAKE_TILT", phantom(5), step=np.array([0.0, 0.3, 1.25]), series_uid="1.2.3.4.101",
              extra={"StudyInstanceUID": "1.2.3.4.9"})
    key = b"\x03" * 32
    jobs = group_studies(read_headers(str(src), list_files(src))[0], str(src), key, "s")
    rows = {r["sop_class"]: r for j in jobs for r in index_study(j, key)["series"]}
    enh, classic = rows["Enhanced CT Image Storage"], rows["CT Image Storage"]
    assert (enh["geometry"], enh["gap"], enh["tilt"], enh["frames"]) == ("gap", 1, 0, 5)
    assert (classic["geometry"], classic["tilt"], classic["gap"]) == ("tilt", 1, 0)
    assert classic["tilt_deg"] == pytest.approx(math.degrees(math.atan2(0.3, 1.25)), abs=1e-3)
    assert classic["spacing_row_mm"] == 0.5 and classic["spacing_col_mm"] == 0.7  # loader factory's PixelSpacing
    assert all(r["study_uid"] in {j.study_id for j in jobs} and "PATIENTFAKE" not in str(r) for r in rows.values())


def test_task_arguments_print_without_paths_or_source_uids(tmp_path: Path):
    """dask writes a failed task's arguments to the worker log."""
    src = tmp_path / "src"
    build_archive(src, 1)
    jobs = group_studies(read_headers(str(src), list_files(src))[0], str(src), b"\x04" * 32, "s")
    text = repr(jobs) + str(jobs[0]) + repr(jobs[0].files)
    assert patient(0)["folder"] not in text and "1.2.826" not in text and str(src) not in text


def test_redactor_keeps_words_whole():
    """Folders named `dicom`/`series` turned "NotDicomError: not a DICOM file" into "Not<folder>Error: not a <folder>
    file"; a folder name is replaced whole, and an ordinary word standing alone stays."""
    red = Redactor("/archive", ["DOE_JOHN/dicom/series/IM0001.dcm"], ["DOE^JOHN", "19650312"])
    text = "NotDicomError: /archive/DOE_JOHN/dicom/series/notes.txt: not a DICOM file in series DOE_JOHN"
    assert red(text) == ("NotDicomError: <folder>/<folder>/<folder>/<folder>/notes.txt: not a DICOM file in series "
                         "<folder>")
    assert red("DOE_JOHN/dicom/series/IM0001.dcm: truncated") == "<file>: truncated"
    assert red("born 19650312120000, DOE^JOHN") == "born <redacted>120000, <redacted>"  # digits: also inside
