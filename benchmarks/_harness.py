"""Timing and peak-memory helpers shared by the benchmark modules.

Every benchmark module exposes ``run(workdir: pathlib.Path, rounds: int) -> list[Row]``;
``benchmarks/run.py`` calls them all in one process and prints the table.
Timings are medians over interleaved rounds; ratios are what to compare on
this noisy machine.  Peak memory is VmHWM from /proc/self/status, reset
before each measurement by writing "5" to /proc/self/clear_refs.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Row:
    group: str  # e.g. "load CT 512x512x300"
    name: str  # implementation
    median_s: float
    peak_extra_mb: float  # VmHWM during the call minus RSS before it
    kind: str = "impl"  # "impl" | "reference" | "limit"
    note: str = ""


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_extra_mb(fn: Callable[[], object]) -> float:
    """Peak RSS growth (MB) while running `fn` once (VmHWM after - VmRSS before)."""
    gc.collect()
    reset_peak()
    before = _status_kb("VmRSS")
    result = fn()
    peak = _status_kb("VmHWM")
    del result
    gc.collect()
    return max(0.0, (peak - before) / 1024.0)


def interleaved(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per function, running the functions in turn each round."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}
