"""Batch de-identification throughput (issue 18): dask LocalCluster with 1 and 2 workers vs one process.

Group ``batch deidentify <N> studies``: a generated archive of N small
studies (one folder per patient: a 4-slice CT of 12x10 and a 4-frame
128x128 XA run, RLE, flagged burned-in, whose text is found and blanked),
de-identified

* by the single-process loop (``reference``): ``deidentify_series`` per
  series, one study after the other, with the same key as salt;
* by :func:`miss_imaging.batch.deidentify_tree` on an already started
  LocalCluster of 1 and of 2 single-threaded worker processes (cluster
  start-up, about 2-4 s, is not included; discovery, manifest and report are);
* limit kernel: copying the archive's bytes (``shutil.copyfile`` per file).

Each round writes into a fresh OUT (a rerun into the same OUT would do no
work).  Notes give studies/s and MB/s (input bytes).  Peak memory is that of
this process only (the workers' is not counted for the cluster rows).  On
this 2-core machine shared with other jobs, 2 workers can at best halve
the time; the ratio to 1 worker is the number to read.
"""

from __future__ import annotations

import shutil
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))  # the test suite's archive builders
sys.path.insert(0, str(HERE.parent / "sample_dicoms"))  # ... and the DICOM builder they use
from _harness import Row, interleaved, peak_extra_mb  # noqa: E402

N_STUDIES = 200
_SERIAL = 0


def _fresh(workdir: Path, name: str) -> Path:
    """A new output folder per call (outputs are never overwritten)."""
    global _SERIAL
    _SERIAL += 1
    return workdir / f"{name}-{_SERIAL}"


def _single_process(src: Path, workdir: Path, key: bytes):
    """Group the files by study and series (headers only), then deidentify_series each series in turn."""
    import pydicom

    from miss_imaging.batch.discover import list_files
    from miss_imaging.sharing.deid import DeidOptions, UIDMapper, deidentify_series

    uid = UIDMapper(key)
    opts = DeidOptions(uid_salt=key)

    def run() -> None:
        by_series: dict[tuple[str, str], list[Path]] = defaultdict(list)
        for rel in list_files(src):
            try:
                ds = pydicom.dcmread(src / rel, stop_before_pixels=True)
            except Exception:
                continue
            by_series[(str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))].append(src / rel)
        out = _fresh(workdir, "single")
        for (study, series), files in sorted(by_series.items()):
            deidentify_series(files, out / uid(study) / uid(series), options=opts)

    return run


def _batch(src: Path, workdir: Path, client, key: bytes):
    from miss_imaging.batch import deidentify_tree

    def run() -> None:
        out = _fresh(workdir, "batch")
        (out / "private").mkdir(parents=True)
        (out / "private" / "key").write_text(key.hex())
        report = deidentify_tree(src, out, client=client, progress=False)
        assert report.studies_done == N_STUDIES and report.studies_run == N_STUDIES, report.summary()

    return run


def _copy(src: Path, workdir: Path, files: list[Path]):
    def run() -> None:
        out = _fresh(workdir, "copy")
        for k, f in enumerate(files):
            target = out / f"{k // 100}" / f"{k}.dcm"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)

    return run


def run(workdir: Path, rounds: int) -> list[Row]:
    import logging
    import secrets

    from distributed import Client, LocalCluster

    from _batch_fixtures import write_study

    src = workdir / "archive"
    for k in range(N_STUDIES):
        write_study(src, k)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    mb = sum(p.stat().st_size for p in files) / 1e6
    key = secrets.token_bytes(32)
    rounds = max(1, min(rounds, 3))  # each round de-identifies the whole archive three times over
    group = f"batch deidentify {N_STUDIES} studies ({len(files)} files, {mb:.1f} MB)"
    fns = {"single-process deidentify_series loop": _single_process(src, workdir, key),
           "copy the archive's files (limit)": _copy(src, workdir, files)}
    kinds = {"single-process deidentify_series loop": "reference", "copy the archive's files (limit)": "limit"}
    times: dict[str, float] = {}
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            name = f"batch.deidentify_tree, {n} worker(s)"
            times |= interleaved({name: _batch(src, workdir, client, key)}, rounds)
            kinds[name] = "impl"
    times |= interleaved(fns, rounds)
    rows = []
    for name in ["copy the archive's files (limit)", "single-process deidentify_series loop",
                 "batch.deidentify_tree, 1 worker(s)", "batch.deidentify_tree, 2 worker(s)"]:
        t = times[name]
        mem = peak_extra_mb(fns[name]) if name in fns else 0.0
        note = f"{N_STUDIES / t:.1f} studies/s, {mb / t:.2f} MB/s"
        if name.endswith("2 worker(s)"):
            note += f"; {times['batch.deidentify_tree, 1 worker(s)'] / t:.2f}x the 1-worker rate"
        rows.append(Row(group, name, t, mem, kinds[name], note))
    shutil.rmtree(src, ignore_errors=True)
    return rows
