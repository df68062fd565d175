"""Resumable record of finished studies, keyed by their content; atomic file writes.

Every finished study (done or failed for a reason of its own) leaves one
record ``private/done/<content key>.json``, written by the worker that did
the study, *after* its outputs are in place.  A record is written to a temp
file in the same folder and renamed over its final name (``os.replace``), so
a reader sees either no record or a whole one, whatever process dies when.
A rerun lists the folder and submits only the studies without a record: the
content key changes when any file of the study changes (see
:func:`miss_imaging.batch.discover.content_key`), so a changed study is done
again and an unchanged one never.

Records hold no patient identity: the de-identified study UID, counts,
sizes, time and scrubbed warnings/reasons.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_json", "Manifest"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that `path` never holds a partial file.

    The bytes go to a uniquely named temp file beside `path`, then are
    renamed onto `path` (atomic on POSIX and on NTFS): a process killed at
    any moment leaves the old file or the new one.  No fsync: like the
    DICOM outputs, a record is not journaled against power loss.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_json(path: Path, obj: Any) -> None:
    """:func:`atomic_write_bytes` of `obj` as indented, key-sorted JSON."""
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


class Manifest:
    """The ``done/`` folder of one OUT: content key -> record (a dict).

    Parameters
    ----------
    folder : Path
        ``OUT/private/done``; created when absent.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, content_key: str) -> Path:
        if not content_key.isalnum():
            raise ValueError(f"content key {content_key!r} is not a hex digest")
        return self.folder / f"{content_key}.json"

    def get(self, content_key: str) -> dict[str, Any] | None:
        """The record of `content_key`, or None when the study is not finished."""
        try:
            return json.loads(self._path(content_key).read_text())
        except FileNotFoundError:
            return None

    def put(self, content_key: str, record: dict[str, Any]) -> None:
        """Store the record of a finished study (atomically)."""
        atomic_write_json(self._path(content_key), record)

    def keys(self) -> set[str]:
        """Content keys of every finished study."""
        return {p.stem for p in self.folder.glob("*.json")}

    def records(self) -> list[dict[str, Any]]:
        """Every record, in key order."""
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("*.json"))]
