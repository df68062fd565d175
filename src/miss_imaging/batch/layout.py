"""Where a batch run keeps what in OUT.

::

    OUT/
      deidentified/<study UID'>/<series UID'>/IM00001.dcm ...   shareable
      report.json, report.txt, batch.log                       shareable (no identity)
      private/                                                 NEVER share
        key            the secret UID-mapping key (hex)
        settings.json  options the OUT was made with
        done/          manifest: one record per finished study
        sources.json   study UID' -> source folders (to find a failed study)
        tmp/           studies being written (renamed into deidentified/ when whole)

``UID'`` is the de-identified UID written in the files themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout"]


@dataclass(frozen=True)
class Layout:
    """The paths of one OUT folder."""

    out: Path

    @property
    def studies(self) -> Path:
        return self.out / "deidentified"

    @property
    def private(self) -> Path:
        return self.out / "private"

    @property
    def done(self) -> Path:
        return self.private / "done"

    @property
    def tmp(self) -> Path:
        return self.private / "tmp"

    @property
    def settings(self) -> Path:
        return self.private / "settings.json"

    @property
    def sources(self) -> Path:
        return self.private / "sources.json"

    @property
    def report_json(self) -> Path:
        return self.out / "report.json"

    @property
    def report_txt(self) -> Path:
        return self.out / "report.txt"

    @property
    def log(self) -> Path:
        return self.out / "batch.log"
