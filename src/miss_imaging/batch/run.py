"""Run a batch on dask.distributed: client, discovery, submission, progress, report.

A :class:`distributed.LocalCluster` (one single-threaded worker process per
CPU, or `workers`) is started when neither a client nor a scheduler address
is given; ``scheduler="tcp://host:8786"`` joins an existing cluster.  One
task per study; dask reschedules the tasks of a worker that dies (a study
on which workers die ``distributed.scheduler.allowed-failures`` times
becomes a ``KilledWorker`` error, retried by the next run).  Only the client
writes the report, the log and the index; workers write studies and their
manifest records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from miss_imaging import __version__
from miss_imaging.sharing.deid import DeidOptions
from miss_imaging.batch.discover import StudyJob, chunks, group_studies, list_files, read_headers
from miss_imaging.batch.keys import load_or_create_key
from miss_imaging.batch.layout import Layout
from miss_imaging.batch.manifest import Manifest, atomic_write_bytes, atomic_write_json
from miss_imaging.batch.report import BatchReport, Progress
from miss_imaging.batch.tasks import deidentify_study, index_study

__all__ = ["deidentify_tree", "index_tree", "cluster_client", "HEADER_CHUNK"]

#: Files per header-reading task during discovery.
HEADER_CHUNK = 256
log = logging.getLogger("miss_imaging.batch")


@contextlib.contextmanager
def cluster_client(client: Any = None, *, scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """The given client, a client of `scheduler`, or a new LocalCluster of `workers` processes (closed after)."""
    if client is not None:
        yield client
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError("miss-imaging batch runs on dask.distributed: pip install 'miss-imaging[batch]'") from exc

    if scheduler:
        with Client(scheduler) as c:
            yield c
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as c:
        yield c


def _n_workers(client: Any) -> int:
    return len(client.scheduler_info(n_workers=-1)["workers"]) if hasattr(client, "scheduler_info") else 0


def _check_folders(src: Path, out: Path) -> None:
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    s, o = src.resolve(), out.resolve()
    if o == s or o.is_relative_to(s) or s.is_relative_to(o):
        raise ValueError("the output must not be inside the source folder, nor the source inside the output")


def discover(client: Any, src: Path, key: bytes, fingerprint: str) -> tuple[list[StudyJob], list[tuple[str, str]]]:
    """List SRC, read every header on the workers, group into studies (see :mod:`.discover`)."""
    root = str(src.resolve())
    parts = chunks(list_files(src), HEADER_CHUNK)
    run = secrets.token_hex(4)
    futures = [client.submit(read_headers, root, part, key=f"headers-{k}-{run}") for k, part in enumerate(parts)]
    records, skipped = [], []
    for rec, skip in client.gather(futures):
        records += rec
        skipped += skip
    return group_studies(records, root, key, fingerprint), skipped


def _lost(job: StudyJob, exc: BaseException) -> dict[str, Any]:
    """Record of a study whose task itself failed (worker deaths): reported, not in the manifest (retried)."""
    return {"study": job.study_id, "status": "error", "kind": type(exc).__name__,
            "reason": job.redactor()(str(exc)), "files_in": len(job.files), "bytes_in": job.nbytes,
            "seconds": 0.0, "retry": True}


def run_tasks(client: Any, fn: Callable[..., Any], jobs: list[StudyJob], args: tuple, prefix: str,
              on_result: Callable[[StudyJob, Any], dict[str, Any]], progress: bool) -> list[dict[str, Any]]:
    """Submit ``fn(job, *args)`` per job, hand each result to `on_result` as it completes; records of this run."""
    from distributed import as_completed

    bar = Progress(len(jobs), enabled=progress)
    run = secrets.token_hex(4)  # task keys unique per run: never a finished result of an earlier run reused
    futures = {client.submit(fn, job, *args, key=f"{prefix}-{job.content_key[:24]}-{run}"): job for job in jobs}
    records = []
    for fut in as_completed(list(futures)):
        job = futures[fut]
        try:
            record = on_result(job, fut.result())
        except Exception as exc:  # KilledWorker, a lost scheduler connection...
            record = _lost(job, exc)
        fut.release()
        records.append(record)
        bar.update(record["status"])
        if record["status"] == "error":
            log.warning("study %s: %s: %s", record["study"], record["kind"], record["reason"])
        else:
            log.info("study %s: done", record["study"])
    bar.close()
    return records


def _settings(options: DeidOptions) -> dict[str, Any]:
    opts = dataclasses.asdict(options)
    if opts.pop("uid_salt") is not None:
        raise ValueError("DeidOptions.uid_salt: a batch keeps its own key in OUT/private/key; leave uid_salt None")
    return {"options": opts, "miss_imaging": __version__, "blank_regions": "auto (BurnedInAnnotation = YES)"}


def _check_settings(layout: Layout, settings: dict[str, Any]) -> None:
    if layout.settings.exists():
        before = json.loads(layout.settings.read_text())
        if before != settings:
            raise ValueError(f"{layout.out} was made with other settings ({before['options']}, version "
                             f"{before['miss_imaging']}); outputs are never overwritten: use a new OUT")
    else:
        atomic_write_json(layout.settings, settings)


@contextlib.contextmanager
def _file_log(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        handler.close()


def _sources(jobs: list[StudyJob]) -> dict[str, list[str]]:
    return {j.study_id: sorted({str(Path(f.rel).parent) for f in j.files}) for j in jobs}


def deidentify_tree(src: str | os.PathLike, out: str | os.PathLike, *, client: Any = None,
                    options: DeidOptions | None = None, scheduler: str | None = None, workers: int | None = None,
                    progress: bool = True) -> BatchReport:
    """De-identify every study under `src` into `out`, one dask task per study; resumable.

    Parameters
    ----------
    src : str or Path
        The archive (only read), e.g. a PACS export with one folder per patient.
    out : str or Path
        New or earlier OUT of this command (see :mod:`miss_imaging.batch.layout`):
        ``deidentified/<study UID'>/<series UID'>/IM00001.dcm``, ``report.json``,
        ``report.txt``, ``batch.log`` (shareable) and ``private/`` (the key, the
        manifest, the source folders of each study: never share it).
    client : distributed.Client, optional
        Use this cluster; default a :class:`~distributed.LocalCluster`
        (or `scheduler`'s cluster), closed at the end.
    options : DeidOptions, optional
        Profile options as for :func:`miss_imaging.sharing.deid.deidentify_series`
        (``uid_salt`` must stay None: the batch key is the salt).  Burned-in
        text is handled as there by default (found and blanked in objects
        with BurnedInAnnotation = YES).
    scheduler : str, optional
        Address of a running dask scheduler (``tcp://host:8786``).
    workers : int, optional
        Worker processes of the LocalCluster (default: one per CPU).
    progress : bool
        Draw the progress bar on stderr.

    Returns
    -------
    BatchReport
        Also written to ``report.json`` and ``report.txt``.

    Raises
    ------
    ValueError
        If OUT lies inside SRC (or the reverse), or was made with other options.
    """
    t0 = time.perf_counter()
    src, layout = Path(src), Layout(Path(out))
    _check_folders(src, layout.out)
    settings = _settings(options or DeidOptions())
    layout.out.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(layout.private)
    _check_settings(layout, settings)
    manifest = Manifest(layout.done)
    with _file_log(layout.log), cluster_client(client, scheduler=scheduler, workers=workers) as c:
        jobs, unreadable = discover(c, src, key, json.dumps(settings, sort_keys=True))
        atomic_write_json(layout.sources, _sources(jobs))
        finished = manifest.keys()
        todo = [j for j in jobs if j.content_key not in finished]
        log.info("deidentify: %d studies found, %d to do, %d unreadable file(s)", len(jobs), len(todo),
                 len(unreadable))
        run = run_tasks(c, deidentify_study, todo, (str(layout.out), key, options or DeidOptions()), "deid",
                        lambda job, rec: rec, progress)
        n_workers = _n_workers(c)
    shutil.rmtree(layout.tmp, ignore_errors=True)  # attempts of workers that died
    retry = {r["study"]: r for r in run if r.get("retry")}  # not in the manifest: the next run tries again
    records = [manifest.get(j.content_key) or retry[j.study_id] for j in jobs]
    report = BatchReport.build("deidentify", records, run, unreadable, time.perf_counter() - t0, n_workers)
    _write_report(layout, report)
    return report


def _write_report(layout: Layout, report: BatchReport) -> None:
    atomic_write_json(layout.report_json, report.as_dict())
    atomic_write_bytes(layout.report_txt, (report.summary() + "\n").encode())
    log.info("report: %s", report.summary().replace("\n", " | "))


def _index_key_dir(out_sqlite: Path) -> Path:
    inside = out_sqlite.parent / "private"
    return inside if (inside / "key").exists() else out_sqlite.parent / f"{out_sqlite.stem}.private"


def index_tree(src: str | os.PathLike, out_sqlite: str | os.PathLike, *, client: Any = None,
               scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> BatchReport:
    """Index every series under `src` into the SQLite database `out_sqlite` (schema: :mod:`.index`).

    Parameters
    ----------
    src : str or Path
        The archive (only read).
    out_sqlite : str or Path
        Database, created or extended; a rerun indexes only the studies that
        are new or changed.  The keyed UIDs use ``<parent>/private/key`` when
        the database lies in a ``deidentify_tree`` OUT (its rows then name the
        studies and series exactly as the de-identified files do), else
        ``<parent>/<stem>.private/key`` (created; keep it private).
    client, scheduler, workers, progress
        As for :func:`deidentify_tree`.

    Returns
    -------
    BatchReport
        Also stored in the database's ``meta`` table (key ``last_report``).
    """
    from miss_imaging.batch.index import connect, indexed_keys, store_study

    t0 = time.perf_counter()
    src, db = Path(src), Path(out_sqlite)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder")
    if db.resolve().is_relative_to(src.resolve()):
        raise ValueError("the index must not be written inside the source folder")
    db.parent.mkdir(parents=True, exist_ok=True)
    key = load_or_create_key(_index_key_dir(db))
    con = connect(db)
    try:
        with cluster_client(client, scheduler=scheduler, workers=workers) as c:
            jobs, unreadable = discover(c, src, key, f"index {__version__}")
            done = indexed_keys(con)
            todo = [j for j in jobs if j.content_key not in done]

            def store(job: StudyJob, result: dict[str, Any]) -> dict[str, Any]:
                if not result["record"].get("retry"):  # environment failures are retried by the next run
                    store_study(con, result)
                return result["record"]

            run = run_tasks(c, index_study, todo, (key,), "index", store, progress)
            n_workers = _n_workers(c)
        wanted = {j.content_key for j in jobs}
        columns = ("study", "status", "kind", "reason", "series", "files_in", "bytes_in", "content_key")
        records = [dict(zip(columns, row)) for row in con.execute(
            "SELECT study_uid, status, error_kind, error, n_series, n_files, bytes, content_key FROM studies")]
        records = [r for r in records if r["content_key"] in wanted]
        records += [r for r in run if r.get("retry")]
        report = BatchReport.build("index", records, run, unreadable, time.perf_counter() - t0, n_workers)
        with con:
            con.execute("INSERT OR REPLACE INTO meta VALUES ('last_report', ?)", (json.dumps(report.as_dict()),))
    finally:
        con.close()
    return report
