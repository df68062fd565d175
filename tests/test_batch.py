"""Batch de-identification and index on a real LocalCluster (2 worker processes).

The archive has one folder per patient, named after the patient, built from
the de-identification fixtures; one study holds a hostile file (RLE pixel
data that cannot be decoded, flagged burned-in) and a text note, one is a CT
with a missing slice.  Expected values come from the single-process
``deidentify_series`` (same key as salt) and from the fixtures' construction
(ERMF 1.4014 over 0.308 mm detector pixels; the 4th of 6 slices missing).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from _batch_fixtures import build_archive, identifiers, patient, write_study
from miss_imaging.batch import deidentify_tree, index_tree
from miss_imaging.sharing.deid import DeidOptions, UIDMapper, deidentify_series, find_identifiers, identifier_variants

distributed = pytest.importorskip("distributed")

N, HOSTILE, GAP = 6, 2, 3
_UID = re.compile(rb"2\.25\.\d+")  # new UIDs are random digits: a date variant may occur inside one by chance


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.INFO) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("pacs") / "export"
    build_archive(src, N, hostile=HOSTILE, gap=GAP)
    return src


@pytest.fixture(scope="module")
def first_run(archive: Path, client, tmp_path_factory):
    out = tmp_path_factory.mktemp("teaching") / "OUT"
    report = deidentify_tree(archive, out, client=client)
    return out, report


def _idents() -> set[str]:
    names = [v for v in identifiers(N) if "^" in v]
    return identifier_variants([v for v in identifiers(N) if "^" not in v], names=names, dates=["19650312", "19600101"])


def _leaks(data: bytes) -> list[str]:
    return find_identifiers(_UID.sub(b"", data), _idents())


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _series_of(study_folder: Path) -> dict[str, list[Path]]:
    out = defaultdict(list)
    for p in sorted(study_folder.rglob("*.dcm")):
        out[str(pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID)].append(p)
    return out


def test_outputs_equal_single_process_deidentify_byte_for_byte(first_run, archive: Path, tmp_path: Path):
    out, report = first_run
    key = bytes.fromhex((out / "private" / "key").read_text())
    uid = UIDMapper(key)
    done = [k for k in range(N) if k != HOSTILE]
    expected = {uid(f"1.2.826.0.1.3680043.8.498.77.{k}") for k in done}
    assert {p.name for p in (out / "deidentified").iterdir()} == expected
    for k in done:
        study = out / "deidentified" / uid(f"1.2.826.0.1.3680043.8.498.77.{k}")
        for n, (series_uid, files) in enumerate(_series_of(archive / patient(k)["folder"]).items()):
            ref = deidentify_series(files, tmp_path / f"{k}-{n}", options=DeidOptions(uid_salt=key))
            got = sorted((study / uid(series_uid)).iterdir())
            assert [p.name for p in got] == [p.name for p in ref.files_written]
            for a, b in zip(got, ref.files_written):
                assert a.read_bytes() == b.read_bytes(), (k, a.name)
        dss = [pydicom.dcmread(p) for p in study.rglob("*.dcm")]
        assert {d.StudyInstanceUID for d in dss} == {study.name}  # one study, named by its new UID
        assert len({d.FrameOfReferenceUID for d in dss}) == 1
    assert report.studies_total == N and report.studies_done == N - 1 and report.studies_run == N


def test_hostile_study_is_an_error_row_and_every_other_study_is_done(first_run):
    out, report = first_run
    assert report.studies_error == 1 and report.errors_by_kind == {"PixelDataError": 1}  # the damaged RLE stream, named as a project error
    (err,) = report.errors
    assert "RLE" in err["reason"] and err["study"] not in {p.name for p in (out / "deidentified").iterdir()}
    assert report.unreadable_files == 1 and report.unreadable_by_kind == {"NotDicomError": 1}  # the text note
    assert not (out / "private" / "tmp").exists()  # no staged leftovers
    text = (out / "report.txt").read_text()
    assert "1 failed" in text and err["study"] in text


def test_no_source_identifier_in_outputs_report_logs(first_run, client, capfd):
    out, _ = first_run
    shared = [p for p in out.rglob("*") if p.is_file() and "private" not in p.relative_to(out).parts]
    assert {"report.json", "report.txt", "batch.log"} <= {p.name for p in shared}
    assert len([p for p in shared if p.suffix == ".dcm"]) == 5 * (N - 2) + 5  # 5 per study, the gap CT too
    for p in shared:
        assert _leaks(p.read_bytes()) == [], p
        assert _leaks(str(p.relative_to(out)).encode()) == []
    logs = [msg for _, msg in client.get_scheduler_logs()]
    for worker_logs in client.get_worker_logs().values():
        logs += [msg for _, msg in worker_logs]
    cap = capfd.readouterr()
    assert _leaks("\n".join(logs + [cap.out, cap.err]).encode()) == []
    # the private folder is where the way back to the sources lives
    assert patient(0)["folder"] in (out / "private" / "sources.json").read_text()


def test_second_run_does_no_work_and_changes_nothing(first_run, archive: Path, client):
    out, _ = first_run
    before = _tree(out / "deidentified")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "deidentified").rglob("*")}
    report = deidentify_tree(archive, out, client=client, progress=False)
    assert report.studies_run == 0 and report.studies_done == N - 1 and report.studies_error == 1
    assert _tree(out / "deidentified") == before
    assert {p: p.stat().st_mtime_ns for p in (out / "deidentified").rglob("*")} == mtimes


def test_interrupted_run_resumes_with_only_the_missing_work(first_run, archive: Path, client, tmp_path: Path):
    """An earlier run finished two studies, and a killed worker left a half-written study in tmp/."""
    from miss_imaging.batch.discover import group_studies, list_files, read_headers
    from miss_imaging.batch.run import _settings
    from miss_imaging.batch.tasks import deidentify_study

    ref, _ = first_run
    out = tmp_path / "OUT"
    (out / "private").mkdir(parents=True)
    (out / "private" / "key").write_bytes((ref / "private" / "key").read_bytes())
    key = bytes.fromhex((out / "private" / "key").read_text())
    fingerprint = json.dumps(_settings(DeidOptions()), sort_keys=True)
    jobs = group_studies(read_headers(str(archive.resolve()), list_files(archive))[0], str(archive.resolve()), key,
                         fingerprint)
    for job in jobs[:2]:
        assert deidentify_study(job, str(out), key, DeidOptions())["study"] == job.study_id
    partial = out / "private" / "tmp" / "dead-worker" / jobs[3].study_id / "2.25.1"
    partial.mkdir(parents=True)
    (partial / "IM00001.dcm").write_bytes(b"DICM half")
    report = deidentify_tree(archive, out, client=client, progress=False)
    assert report.studies_run == N - 2 and report.studies_total == N
    assert _tree(out / "deidentified") == _tree(ref / "deidentified")
    assert not (out / "private" / "tmp").exists()


def test_other_options_into_the_same_out_are_refused(first_run, archive: Path, client):
    out, _ = first_run
    with pytest.raises(ValueError, match="other settings"):
        deidentify_tree(archive, out, client=client, options=DeidOptions(retain_dates=True))


def test_killed_worker_mid_run_gives_the_same_result(client, tmp_path: Path):
    src = tmp_path / "src"
    for k in range(10):
        write_study(src, k, frames=12, size=256)
    ref, out = tmp_path / "ref", tmp_path / "out"
    deidentify_tree(src, ref, client=client, progress=False)
    (out / "private").mkdir(parents=True)
    (out / "private" / "key").write_bytes((ref / "private" / "key").read_bytes())  # same key, same UIDs

    result = {}
    run = threading.Thread(target=lambda: result.update(r=deidentify_tree(src, out, client=client, progress=False)))
    run.start()
    done_dir, deadline, killed = out / "private" / "done", time.monotonic() + 30, None
    while killed is None and time.monotonic() < deadline and run.is_alive():
        busy = {w: ts for w, ts in client.processing().items() if any(str(t).startswith("deid-") for t in ts)}
        if busy and done_dir.is_dir() and any(done_dir.iterdir()):
            victim = sorted(busy)[0]
            pids = client.run(os.getpid, workers=[victim])
            os.kill(pids[victim], signal.SIGKILL)
            killed = len(list(done_dir.iterdir()))
        time.sleep(0.01)
    run.join(120)
    assert killed is not None and killed < 10, "the worker was not killed mid-run"
    report = result["r"]
    assert report.studies_done == 10 and report.studies_error == 0
    assert _tree(out / "deidentified") == _tree(ref / "deidentified")
    assert not (out / "private" / "tmp").exists()
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed worker


def test_index_rows_queries_and_rerun(first_run, archive: Path, client):
    out, _ = first_run
    db = out / "index.sqlite"  # inside the OUT: rows use the OUT's key, so they name the output folders
    report = index_tree(archive, db, client=client, progress=False)
    assert report.studies_total == N and report.studies_error == 0  # indexing reads no pixels
    con = sqlite3.connect(db)
    rows = con.execute("SELECT study_uid, series_uid, spacing_row_mm, spacing_col_mm, calibration, burned_in, "
                       "transfer_syntax_name FROM series WHERE modality = 'XA' AND calibration_source = 'ermf'"
                       ).fetchall()
    assert len(rows) == N - 1  # every XA run (the gap patient has none)
    for study, series, row_mm, col_mm, label, burned, ts in rows:
        assert row_mm == pytest.approx(0.308 / 1.4014) and col_mm == pytest.approx(0.308 / 1.4014)
        assert label == "magnification-corrected (ERMF)" and burned == 1 and ts == "RLE Lossless"
        if (out / "deidentified" / study).exists():
            assert (out / "deidentified" / study / series).is_dir()
    gaps = con.execute("SELECT study_uid, frames, geometry, warnings FROM series WHERE modality = 'CT' AND gap = 1"
                       ).fetchall()
    key = bytes.fromhex((out / "private" / "key").read_text())
    assert [(g[0], g[1], g[2]) for g in gaps] == [(UIDMapper(key)(f"1.2.826.0.1.3680043.8.498.77.{GAP}"), 5, "gap")]
    assert "<file>" in gaps[0][3] and "f000" not in gaps[0][3]
    assert con.execute("SELECT COUNT(*) FROM series WHERE modality = 'CT' AND geometry = 'regular'").fetchone() == (
        N - 1,)
    con.close()
    assert _leaks(db.read_bytes()) == []
    again = index_tree(archive, db, client=client, progress=False)
    assert again.studies_run == 0 and again.studies_total == N


def test_cli_batch_commands_on_a_running_scheduler(archive: Path, client, tmp_path: Path, capfd):
    from miss_imaging.cli import main

    sched = ["--scheduler", client.scheduler.address]
    rc = main(["batch", "deidentify", str(archive), str(tmp_path / "OUT"), *sched])
    cap = capfd.readouterr()
    assert rc == 3  # some studies failed: the report says which
    assert f"{N} studies: {N - 1} done, 1 failed" in cap.out and "PixelDataError" in cap.out
    assert f"{N}/{N} studies" in cap.err and "1 error" in cap.err  # the progress bar
    db = tmp_path / "shared" / "archive.sqlite"
    assert main(["batch", "index", str(archive), str(db), *sched, "--no-progress"]) == 0
    assert db.is_file() and (tmp_path / "shared" / "archive.private" / "key").is_file()
    cap2 = capfd.readouterr()
    assert f"{N} studies: {N} done" in cap2.out
    assert _leaks((cap.out + cap.err + cap2.out + cap2.err).encode()) == []
    assert main(["batch", "deidentify", str(archive), str(archive / "OUT"), *sched]) == 2
    assert "inside the source" in capfd.readouterr().err
