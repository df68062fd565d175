"""One shared thread pool for the numpy kernels that release the GIL.

Windowing, resampling, reslicing and the DRR sweep split their work into
items (blocks of voxels, slabs of slices, bands of rows) and call
:func:`run`.  Threads, not processes: the kernels are numpy calls that
release the GIL, and the arrays are shared without copies.

* ``workers=None`` means :func:`default_workers`: the CPUs this process may
  run on.  ``workers=1`` runs on the calling thread.
* At most `workers` items run at once: the calling thread takes part and
  ``workers - 1`` threads of one shared pool (created on first use, grown
  when more are asked for) pull the next item until none is left.
* A call from inside a pool thread runs serially, so nested use cannot
  deadlock the pool.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["default_workers", "resolve_workers", "run"]

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_size = 0
_local = threading.local()


def default_workers() -> int:
    """The number of CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    """`workers`, or :func:`default_workers` for ``None``; raises ValueError below 1."""
    if workers is None:
        return default_workers()
    if int(workers) < 1:
        raise ValueError(f"`workers` must be at least 1; got {workers!r}")
    return int(workers)


def _mark_worker() -> None:
    _local.in_pool = True


def _pool(threads: int) -> ThreadPoolExecutor:
    """The shared pool, with at least `threads` threads."""
    global _executor, _size
    with _lock:
        if _executor is None or _size < threads:
            old = _executor
            _executor = ThreadPoolExecutor(threads, thread_name_prefix="miss_imaging", initializer=_mark_worker)
            _size = threads
            if old is not None:
                old.shutdown(wait=False)  # its running tasks finish; new work goes to the larger pool
        return _executor


def run(fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, on up to `workers` threads at once.

    Parameters
    ----------
    fn : callable
        Called once per item; it must be safe to run concurrently (e.g. write
        disjoint parts of an output array).
    items : iterable
        The work items, in order.
    workers : int, optional
        Threads at most, the calling one included (default: the machine's CPUs).

    Returns
    -------
    list
        The results in the order of `items`.  The first exception raised by
        `fn` is re-raised after every running item has finished.
    """
    todo = list(items)
    n = min(resolve_workers(workers), len(todo))
    if n <= 1 or getattr(_local, "in_pool", False):
        return [fn(x) for x in todo]
    results: list[R] = [None] * len(todo)  # type: ignore[list-item]
    feed = iter(range(len(todo)))
    feed_lock = threading.Lock()

    def loop() -> None:
        while True:
            with feed_lock:
                i = next(feed, None)
            if i is None:
                return
            results[i] = fn(todo[i])

    pool = _pool(n - 1)
    futures = [pool.submit(loop) for _ in range(n - 1)]
    try:
        loop()
    finally:
        errors = [f.exception() for f in futures]  # waits for every helper thread
    for exc in errors:
        if exc is not None:
            raise exc
    return results
