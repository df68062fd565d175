"""Run every benchmark module and print one table.

    python benchmarks/run.py [--rounds N] [--repeats N] [--only load,window,resample,drr,batch,...] [--json out.json]

Each ``benchmarks/bench_<name>.py`` exposes ``run(workdir: Path, rounds: int)
-> list[Row]`` (``Row`` from ``_harness.py``).  All modules run in this one
process, in a fresh temporary folder (never the repository) that is deleted
afterwards; they generate their own synthetic data there.  For each group
the table gives the median time, the ratio to the group's limit kernel
(its first ``kind == "limit"`` row; other kinds such as ``"floor"`` are
shown with their ratio to it), the speedup over the fastest reference
(``kind == "reference"``: > 1 means faster than it), the peak extra memory
(VmHWM) and, when a row's note carries ``out_mb=<MB>``, that peak as a
multiple of the output size.

Reproducibility: each module runs again (up to ``--repeats`` times) until
every ratio in its groups (to the limit kernel, to the best reference) moved
by less than ``--tolerance`` since the previous run; the table shows the
last run, and each group's header line gives the 1-minute load average
before and after it and whether its ratios were stable (with the largest
change seen).  Ratios measured while the load average exceeds the number of
cores are marked as such: another process was competing for the CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _harness import Row  # noqa: E402

_OUT_MB = re.compile(r"out_mb=([0-9.]+)")


def _modules(only: set[str] | None) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        found = [p for p in found if p.stem.removeprefix("bench_") in only]
    return found


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"miss_bench_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _fmt(x: float | None, spec: str) -> str:
    return "" if x is None else format(x, spec)


def table(rows: list[Row]) -> str:
    """Format rows grouped by ``group`` with ratios computed inside each group."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    head = f"{'implementation':<46} {'kind':<9} {'median ms':>10} {'x limit':>8} {'vs best ref':>11} " \
           f"{'peak MB':>8} {'x out':>6}  note"
    lines = []
    for group, rs in groups.items():
        limit = [r.median_s for r in rs if r.kind == "limit"]
        refs = [r.median_s for r in rs if r.kind == "reference"]
        lim = limit[0] if limit else None  # the group's first limit row is THE limit kernel
        best = min(refs) if refs else None
        lines += ["", f"== {group}", head]
        for r in rs:
            m = _OUT_MB.search(r.note or "")
            out_mb = float(m.group(1)) if m else None
            note = _OUT_MB.sub("", r.note or "").strip(" ;,")
            lines.append(
                f"{r.name[:46]:<46} {r.kind:<9} {r.median_s * 1e3:>10.1f} "
                f"{_fmt(r.median_s / lim if lim else None, '>8.2f'):>8} "
                f"{_fmt(best / r.median_s if best and r.kind in ('impl', 'reference') else None, '>10.2f'):>11} "
                f"{r.peak_extra_mb:>8.1f} {_fmt(r.peak_extra_mb / out_mb if out_mb else None, '>6.2f'):>6}  {note}"
            )
    return "\n".join(lines)


def _ratios(rows: list[Row]) -> dict[tuple[str, str], float]:
    """(group, name) -> ratio to the group's limit kernel, and (group, name+" vs ref") -> speedup."""
    out: dict[tuple[str, str], float] = {}
    for group in {r.group for r in rows}:
        rs = [r for r in rows if r.group == group]
        lim = next((r.median_s for r in rs if r.kind == "limit"), None)
        refs = [r.median_s for r in rs if r.kind == "reference"]
        for r in rs:
            if lim and r.kind != "limit":
                out[(group, r.name)] = r.median_s / lim
            if refs and r.kind == "impl":
                out[(group, r.name + " vs ref")] = min(refs) / r.median_s
    return out


def _largest_change(a: dict[tuple[str, str], float], b: dict[tuple[str, str], float]) -> float:
    """Largest relative change of a ratio present in both runs (0 if none)."""
    common = [k for k in a if k in b and a[k] > 0]
    return max((abs(b[k] - a[k]) / a[k] for k in common), default=0.0)


def _run_stable(path: Path, work: Path, rounds: int, repeats: int, tol: float) -> tuple[list[Row], str]:
    """Run one module until its ratios are stable; return the last rows and a one-line account."""
    mod = _load_module(path)
    prev: dict[tuple[str, str], float] | None = None
    change = float("nan")
    loads = []
    for attempt in range(1, repeats + 1):
        before = os.getloadavg()[0]
        rows = mod.run(work, rounds)
        loads.append((before, os.getloadavg()[0]))
        cur = _ratios(rows)
        if prev is not None:
            change = _largest_change(prev, cur)
            if change < tol:
                break
        prev = cur
    busy = max(max(p) for p in loads) > (os.cpu_count() or 1)
    verdict = ("single run" if attempt == 1 and repeats == 1 else
               f"ratios stable after {attempt} runs (largest change {change:.0%})" if change < tol else
               f"ratios NOT stable after {attempt} runs (largest change {change:.0%})")
    load_txt = ", ".join(f"{a:.2f}->{b:.2f}" for a, b in loads)
    return rows, f"load average (1 min) per run {load_txt}; {verdict}" + ("; machine busy" if busy else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds per group (median reported)")
    ap.add_argument("--only", default="", help="comma-separated module names, e.g. load,window")
    ap.add_argument("--json", default="", help="also write the rows to this JSON file")
    ap.add_argument("--repeats", type=int, default=3, help="run a module at most this often until its ratios settle")
    ap.add_argument("--tolerance", type=float, default=0.10, help="ratios are stable when none moved more than this")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()} or None
    mods = _modules(only)
    if not mods:
        print(f"no benchmark modules match {args.only!r}", file=sys.stderr)
        return 2
    all_rows: list[Row] = []
    accounts: dict[str, str] = {}
    failed = []
    workroot = Path(tempfile.mkdtemp(prefix="miss-imaging-bench-"))
    try:
        for path in mods:
            name = path.stem.removeprefix("bench_")
            work = workroot / name
            work.mkdir()
            t0 = time.perf_counter()
            print(f"[{name}] running ({args.rounds} rounds) ...", file=sys.stderr, flush=True)
            try:
                rows, account = _run_stable(path, work, args.rounds, args.repeats, args.tolerance)
                accounts[name] = account
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
            finally:
                shutil.rmtree(work, ignore_errors=True)  # free disk before the next module
            print(f"[{name}] done in {time.perf_counter() - t0:.1f} s; {accounts[name]}", file=sys.stderr, flush=True)
            all_rows += rows
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    load1, load5, _ = os.getloadavg()
    print(f"# {len(all_rows)} rows, {args.rounds} rounds; load average {load1:.2f} (1 min) {load5:.2f} (5 min) "
          f"on {os.cpu_count()} CPUs: other processes make medians noisy, compare ratios")
    print(table(all_rows))
    print()
    for name, account in accounts.items():
        print(f"# {name}: {account}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in all_rows], indent=1))
    if failed:
        print(f"\nFAILED modules: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
