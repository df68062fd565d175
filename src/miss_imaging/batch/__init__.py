"""Batch de-identification and indexing of an archive on dask.distributed.

::

    from miss_imaging.batch import deidentify_tree, index_tree

    report = deidentify_tree("/pacs_export", "/teaching_set")        # a LocalCluster, one process per CPU
    report = deidentify_tree(src, out, client=Client("tcp://sched:8786"))
    index_tree("/pacs_export", "/teaching_set/index.sqlite")

One task per study (files grouped by StudyInstanceUID); the same
de-identification as :func:`miss_imaging.sharing.deid.deidentify_series`; a secret
key in ``OUT/private/`` makes the UID mapping reproducible; a manifest of
finished studies keyed by their content makes a rerun do only the missing
work; outputs appear atomically, whole studies at a time.  Modules:
:mod:`.discover` (files -> studies), :mod:`.tasks` (per-study work on the
workers), :mod:`.manifest`, :mod:`.keys`, :mod:`.index` (SQLite schema),
:mod:`.run` (client, progress, report), :mod:`.cli`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["deidentify_tree", "index_tree", "BatchReport"]


def __getattr__(name: str) -> Any:  # distributed is imported only when a batch runs
    if name in ("deidentify_tree", "index_tree"):
        from miss_imaging.batch import run

        return getattr(run, name)
    if name == "BatchReport":
        from miss_imaging.batch.report import BatchReport

        return BatchReport
    raise AttributeError(f"module 'miss_imaging.batch' has no attribute {name!r}")
