"""Find the studies of an archive: file list, header reads (on the workers), grouping.

Files are grouped by (0020,000D) StudyInstanceUID, then by (0020,000E)
SeriesInstanceUID, wherever they lie under SRC (a study split across
folders is one study; two folders holding copies of one study are one
study).  Files without a StudyInstanceUID form one study per folder.  Files
whose header cannot be read (not DICOM, truncated, absurd) are listed with
their reason and belong to no study.

A study's **content key** is a keyed hash (:func:`~miss_imaging.batch.keys.keyed_hash`)
of the settings fingerprint and, for every file, its path relative to SRC,
its size and its modification time (the quick check of make and rsync: a
file rewritten with other bytes gets a new mtime).  It names the study's
manifest record, so a rerun redoes exactly the studies whose files changed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePath

from miss_imaging.reading._header import text
from miss_imaging.reading.dicom_scan import iter_files, read_header
from miss_imaging.batch.keys import deid_uid, keyed_hash
from miss_imaging.batch.redact import Redactor

__all__ = ["FileRecord", "StudyJob", "list_files", "read_headers", "group_studies", "chunks"]

_STUDY_UID = 0x0020000D


@dataclass(frozen=True, repr=False)
class FileRecord:
    """One readable DICOM file: path relative to SRC, size (bytes), mtime (ns), study and series UIDs."""

    rel: str
    size: int
    mtime_ns: int
    study_uid: str
    series_uid: str

    def __repr__(self) -> str:  # dask logs task arguments on failures: no path, no source UID
        return f"FileRecord({self.size} bytes)"


@dataclass(frozen=True, repr=False)
class StudyJob:
    """One study to process: its de-identified UID, content key and files (sorted by path).

    Attributes
    ----------
    study_id : str
        The de-identified StudyInstanceUID (``2.25.<HMAC>`` under the batch key):
        the study's folder name under ``deidentified/`` and its name in every
        report, log and index row.
    study_uid : str
        The source UID (identifying: never written outside the outputs' own mapping).
    """

    study_id: str
    content_key: str
    study_uid: str
    root: str
    files: tuple[FileRecord, ...]

    @property
    def nbytes(self) -> int:
        return sum(f.size for f in self.files)

    def __repr__(self) -> str:  # dask logs task arguments on failures: no path, no source UID
        return f"StudyJob({self.study_id}, {len(self.files)} files)"

    def series(self) -> dict[str, list[str]]:
        """SeriesInstanceUID -> relative paths, in path order."""
        out: dict[str, list[str]] = defaultdict(list)
        for f in self.files:
            out[f.series_uid].append(f.rel)
        return dict(out)

    def redactor(self) -> Redactor:
        """Replaces this study's source paths and folder/file names in text."""
        return Redactor(self.root, [f.rel for f in self.files])


def list_files(src: Path) -> list[str]:
    """Every file under `src` relative to it (sorted; DICOMDIR and hidden files left out)."""
    return [str(p.relative_to(src)) for p in iter_files(src)]


def chunks(items: list[str], size: int) -> list[list[str]]:
    """`items` cut into consecutive lists of at most `size`."""
    return [items[k:k + size] for k in range(0, len(items), size)]


def read_headers(root: str, rels: list[str]) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Read the headers of `rels` under `root` (a worker task; pixels never read).

    Returns
    -------
    records : list of FileRecord
    skipped : list of (relative path, reason)
        The reason has the file's path and folder names replaced.
    """
    from miss_imaging.batch.tasks import quiet

    records, skipped = [], []
    with quiet():
        for rel in rels:
            path = Path(root) / rel
            try:
                st = os.stat(path)
                h = read_header(path)
                study = text(h.source, _STUDY_UID)
            except Exception as exc:  # any file that breaks the header reader is unreadable, not a crash
                skipped.append((rel, f"{type(exc).__name__}: {Redactor(root, [rel])(str(exc))}"))
                continue
            records.append(FileRecord(rel, st.st_size, st.st_mtime_ns, study, h.series_uid))
    return records, skipped


def group_studies(records: list[FileRecord], root: str, key: bytes, fingerprint: str) -> list[StudyJob]:
    """Group file records into studies (see module docstring), sorted by study id."""
    groups: dict[str, list[FileRecord]] = defaultdict(list)
    for r in records:
        groups[r.study_uid or f"folder:{PurePath(r.rel).parent}"].append(r)
    jobs = []
    for uid, files in groups.items():
        files = sorted(files, key=lambda f: f.rel)
        parts = [fingerprint] + [f"{f.rel}\t{f.size}\t{f.mtime_ns}" for f in files]
        jobs.append(StudyJob(deid_uid(key, uid), keyed_hash(key, "content", *parts), uid, root, tuple(files)))
    return sorted(jobs, key=lambda j: j.study_id)
