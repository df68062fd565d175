"""Progress bar on the terminal and the final report of a batch run.

Neither ever holds a patient identity or a source folder name: studies are
named by their de-identified UID, reasons come scrubbed from the tasks.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

__all__ = ["Progress", "BatchReport"]


class Progress:
    """``[#####-----] 120/300 studies  4.2 studies/s  2 errors  ETA 43 s`` on `stream`.

    On a terminal the line is redrawn in place; otherwise (a log file, CI) a
    line is printed at most every `every_s` seconds and at the end.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool = True, every_s: float = 5.0):
        self.total, self.done, self.errors = total, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s
        self.t0 = self._last = time.perf_counter()

    def line(self) -> str:
        """The current progress line (no carriage return)."""
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = self.done / elapsed
        width = 24
        filled = int(width * self.done / self.total) if self.total else width
        eta = f"  ETA {(self.total - self.done) / rate:.0f} s" if rate > 0 and self.done < self.total else ""
        return (f"[{'#' * filled}{'-' * (width - filled)}] {self.done}/{self.total} studies  "
                f"{rate:.2f} studies/s  {self.errors} error{'s' * (self.errors != 1)}{eta}")

    def update(self, status: str) -> None:
        """Count one finished study (`status` ``"done"`` or ``"error"``) and redraw."""
        self.done += 1
        self.errors += status == "error"
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif now - self._last >= self.every_s or self.done == self.total:
            self.stream.write(self.line() + "\n")
            self._last = now

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class BatchReport:
    """What a batch run did (written as ``report.json`` / ``report.txt``).

    Attributes
    ----------
    command : str
        ``"deidentify"`` or ``"index"``.
    studies_total : int
        Studies found under SRC.
    studies_run : int
        Studies processed by this run (the others were finished by an earlier run).
    studies_done, studies_error : int
        Over all runs into this OUT (the manifest), done and failed.
    files_in, bytes_in : int
        Readable DICOM files and their size, over every study.
    files_out, bytes_out : int
        Files written (de-identify) or series indexed.
    unreadable_files : int
        Files under SRC that are not readable DICOM (in no study).
    unreadable_by_kind : dict of str -> int
    errors_by_kind : dict of str -> int
        Failed studies per exception class (``KilledWorker``: a worker died
        on it repeatedly; a rerun retries it).
    errors : list of dict
        ``{"study", "kind", "reason"}`` per failed study.
    seconds : float
        Wall time of this run; ``studies_per_s`` and ``mb_per_s`` are over
        the studies processed by it.
    workers : int
    """

    command: str
    studies_total: int = 0
    studies_run: int = 0
    studies_done: int = 0
    studies_error: int = 0
    files_in: int = 0
    bytes_in: int = 0
    files_out: int = 0
    bytes_out: int = 0
    unreadable_files: int = 0
    unreadable_by_kind: dict[str, int] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    studies_per_s: float = 0.0
    mb_per_s: float = 0.0
    workers: int = 0

    @classmethod
    def build(cls, command: str, records: list[dict[str, Any]], run: list[dict[str, Any]],
              unreadable: list[tuple[str, str]], seconds: float, workers: int) -> BatchReport:
        """From every study record (`records`), those of this run (`run`) and the unreadable files."""
        errors = [r for r in records if r["status"] == "error"]
        run_bytes = sum(r["bytes_in"] for r in run)
        return cls(
            command=command, studies_total=len(records), studies_run=len(run),
            studies_done=len(records) - len(errors), studies_error=len(errors),
            files_in=sum(r["files_in"] for r in records), bytes_in=sum(r["bytes_in"] for r in records),
            files_out=sum(r.get("files_out", r.get("series", 0)) for r in records if r["status"] == "done"),
            bytes_out=sum(r.get("bytes_out", 0) for r in records if r["status"] == "done"),
            unreadable_files=len(unreadable),
            unreadable_by_kind=dict(Counter(why.split(":", 1)[0] for _, why in unreadable)),
            errors_by_kind=dict(Counter(r["kind"] for r in errors)),
            errors=[{"study": r["study"], "kind": r["kind"], "reason": r["reason"]} for r in errors],
            seconds=round(seconds, 3), studies_per_s=round(len(run) / seconds, 3) if seconds else 0.0,
            mb_per_s=round(run_bytes / 1e6 / seconds, 3) if seconds else 0.0, workers=workers,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """A few lines for the terminal and ``report.txt``."""
        out = "files written" if self.command == "deidentify" else "series indexed"
        lines = [
            f"{self.studies_total} studies: {self.studies_done} done, {self.studies_error} failed "
            f"({self.studies_run} processed by this run, {self.studies_total - self.studies_run} already finished)",
            f"{self.files_in} DICOM files ({self.bytes_in / 1e6:.1f} MB) in, {self.files_out} {out}"
            + (f" ({self.bytes_out / 1e6:.1f} MB)" if self.bytes_out else ""),
            f"{self.seconds:.1f} s on {self.workers} worker(s): {self.studies_per_s:.2f} studies/s, "
            f"{self.mb_per_s:.2f} MB/s",
        ]
        if self.unreadable_files:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.unreadable_by_kind.items()))
            lines.append(f"{self.unreadable_files} file(s) not readable as DICOM, in no study ({kinds})")
        if self.errors:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.errors_by_kind.items()))
            lines.append(f"errors by kind: {kinds}")
            lines += [f"  study {e['study']}: {e['kind']}: {e['reason']}" for e in self.errors]
        return "\n".join(lines)
