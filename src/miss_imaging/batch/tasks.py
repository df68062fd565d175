"""Per-study work, run on the dask workers: pure functions of (study, OUT, key, options).

:func:`deidentify_study` writes one study with
:func:`miss_imaging.sharing.deid.deidentify_series` (the single-process code path:
same profile, options and burned-in handling), one call per series, with
the batch key as ``DeidOptions.uid_salt``; so a study's output is byte for
byte what ``deidentify_series(series files, folder, options=DeidOptions(uid_salt=key))``
writes.  The study is staged in ``private/tmp/`` and renamed whole into
``deidentified/<study UID'>``: a worker killed mid-study leaves only a temp
folder, never a partial study under its final name.  An existing study
folder is never overwritten.

Every exception inside a study becomes an error record (kind = exception
class, reason scrubbed of paths and identifiers); nothing propagates to
dask except the death of the worker itself, which dask reschedules.
"""

from __future__ import annotations

import contextlib
import filecmp
import logging
import secrets
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pydicom

from miss_imaging.sharing.deid import DeidOptions, deidentify_series, patient_identifiers
from miss_imaging.errors import MissImagingError, NotDicomError
from miss_imaging.batch.discover import StudyJob
from miss_imaging.batch.keys import deid_uid
from miss_imaging.batch.layout import Layout
from miss_imaging.batch.manifest import Manifest
from miss_imaging.batch.redact import Redactor

__all__ = ["deidentify_study", "index_study", "OutputExistsError", "quiet"]


class OutputExistsError(MissImagingError):
    """A study's output folder exists with other content (outputs are never overwritten)."""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Keep the core's and pydicom's warnings and log lines (which may name files) off the worker's stderr."""
    logs = [logging.getLogger(name) for name in ("miss_imaging", "pydicom")]
    was = [lg.disabled for lg in logs]
    for lg in logs:
        lg.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, w in zip(logs, was):
            lg.disabled = w


class StudyRedactor:
    """Replaces the study's paths, folder/file names and patient identifiers; built on first use.

    The identifiers come from the first readable header of the study; most
    studies never need them (no warning, no error), so nothing is read until then.
    """

    def __init__(self, job: StudyJob):
        self._job = job
        self._red: Redactor | None = None

    def __call__(self, text: str) -> str:
        if self._red is None:
            red = self._job.redactor()
            for f in self._job.files[:1]:
                try:
                    head = pydicom.dcmread(Path(self._job.root) / f.rel, stop_before_pixels=True, force=True)
                    red = red.add_identifiers(patient_identifiers(head))
                except Exception:  # the study's own processing reports unreadable files
                    pass
            self._red = red
        return self._red(text)


def _base_record(job: StudyJob, t0: float) -> dict[str, Any]:
    return {"study": job.study_id, "files_in": len(job.files), "bytes_in": job.nbytes,
            "seconds": round(time.perf_counter() - t0, 3)}


def _error_record(job: StudyJob, exc: BaseException, red: Callable[[str], str], t0: float) -> dict[str, Any]:
    reason = " | ".join(red(str(exc)).splitlines())  # one line per study in logs and reports
    return _base_record(job, t0) | {"status": "error", "kind": type(exc).__name__, "reason": reason}


def _environmental(exc: BaseException) -> bool:
    """An OS-level failure (ENOSPC, EACCES, ESTALE...) rather than a problem of the study's files."""
    return isinstance(exc, OSError) and not isinstance(exc, MissImagingError)


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def publish(staged: Path, final: Path) -> bool:
    """Rename `staged` onto `final` (atomic); False when an identical `final` was already there.

    Raises
    ------
    OutputExistsError
        If `final` exists with other content.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        staged.rename(final)  # fails on an existing non-empty folder: never overwrites
        return True
    except OSError:
        if not final.is_dir():
            raise
    if _same_tree(staged, final):
        return False  # a previous attempt finished the study but died before its record
    raise OutputExistsError(f"deidentified/{final.name} exists with other content (the source or the options "
                            "changed since it was written); outputs are never overwritten: use a new OUT")


def _write_study(job: StudyJob, staged: Path, key: bytes, options: DeidOptions,
                 red: Callable[[str], str]) -> dict[str, Any]:
    opts = replace(options, uid_salt=key)
    counts = {"series": 0, "files_out": 0, "bytes_out": 0, "burned_in_files": 0, "auto_blanked_files": 0}
    notes: list[str] = []
    for series_uid, rels in sorted(job.series().items(), key=lambda kv: deid_uid(key, kv[0])):
        folder = staged / deid_uid(key, series_uid)
        try:
            report = deidentify_series([Path(job.root) / r for r in rels], folder, options=opts)
        except NotDicomError as exc:  # no image object in this series (reports, DICOMDIR): not a failure
            notes.append(red(f"series {deid_uid(key, series_uid)} not exported: {exc}"))
            continue
        counts["series"] += 1
        counts["files_out"] += len(report.files_written)
        counts["bytes_out"] += sum(p.stat().st_size for p in report.files_written)
        counts["burned_in_files"] += len(report.burned_in_files)
        counts["auto_blanked_files"] += len(report.auto_regions)
        notes += [red(f"{why}") for _, why in report.skipped] + [red(w) for w in report.warnings]
    if not counts["files_out"]:
        raise NotDicomError("no image object to export in the study")
    return counts | {"warnings": sorted(set(notes))}


def deidentify_study(job: StudyJob, out: str, key: bytes, options: DeidOptions) -> dict[str, Any]:
    """De-identify one study into ``OUT/deidentified/<study UID'>`` and record it in the manifest.

    Returns
    -------
    dict
        The manifest record: ``status`` (``"done"`` or ``"error"``), ``study``
        (de-identified UID), counts (series, files and bytes in/out,
        burned-in files, files whose text was blanked automatically),
        ``seconds``, scrubbed ``warnings``; for errors ``kind`` and ``reason``.
        A study already in the manifest returns its record without work.
        Failures of the environment (``OSError`` such as a full disk, not a
        problem of the study's files) get ``retry = True`` and no record, so
        that the next run tries them again.
    """
    t0 = time.perf_counter()
    layout = Layout(Path(out))
    manifest = Manifest(layout.done)
    record = manifest.get(job.content_key)
    if record is not None:
        return record
    red = StudyRedactor(job)
    tmp = layout.tmp / f"{job.content_key[:16]}-{secrets.token_hex(4)}"
    try:
        with quiet():
            staged = tmp / job.study_id
            counts = _write_study(job, staged, key, options, red)
            published = publish(staged, layout.studies / job.study_id)
        record = _base_record(job, t0) | counts | {"status": "done", "published": published}
    except Exception as exc:  # every failure of the study's own data becomes its error record
        record = _error_record(job, exc, red, t0)
        if _environmental(exc):
            record["retry"] = True  # disk full, permissions, a lost mount: not the study's fault
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not record.get("retry"):
        manifest.put(job.content_key, record)
    return record


def index_study(job: StudyJob, key: bytes) -> dict[str, Any]:
    """One row per series of a study for the SQLite index (see :mod:`miss_imaging.batch.index`).

    Returns
    -------
    dict
        ``{"record": <study row as a dict>, "series": [<series row dicts>]}``;
        on failure the record has ``status = "error"`` and no series.
    """
    from miss_imaging.batch.index import series_rows

    t0 = time.perf_counter()
    red = StudyRedactor(job)
    try:
        with quiet():
            rows = series_rows(job, key, red)
        record = _base_record(job, t0) | {"status": "done", "series": len(rows)}
    except Exception as exc:
        rows, record = [], _error_record(job, exc, red, t0)
        if _environmental(exc):
            record["retry"] = True
    return {"record": record | {"content_key": job.content_key}, "series": rows}
