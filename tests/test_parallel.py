"""The shared thread pool helper: order, errors, the workers bound, nesting."""

import threading
import time

import pytest

from miss_imaging import _parallel


def test_results_in_item_order_for_any_worker_count():
    items = list(range(50))
    for workers in (1, 2, 3, None):
        assert _parallel.run(lambda x: x * x, items, workers=workers) == [x * x for x in items]


def test_no_more_than_workers_items_run_at_once():
    lock, running, peak = threading.Lock(), [0], [0]

    def fn(_):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.01)
        with lock:
            running[0] -= 1

    _parallel.run(fn, range(12), workers=3)
    assert peak[0] <= 3
    peak[0] = 0
    _parallel.run(fn, range(12), workers=1)
    assert peak[0] == 1


def test_first_error_is_reraised_after_every_item_finished():
    done = []

    def fn(x):
        if x == 3:
            raise KeyError("three")
        time.sleep(0.002)
        done.append(x)

    with pytest.raises(KeyError, match="three"):
        _parallel.run(fn, range(8), workers=2)
    assert 3 not in done and len(done) == 7  # the other items still ran to completion


def test_nested_runs_do_not_deadlock():
    def outer(x):
        return sum(_parallel.run(lambda y: x * y, range(4), workers=2))

    assert _parallel.run(outer, range(6), workers=2) == [6 * x for x in range(6)]


def test_workers_must_be_positive_and_default_is_the_machine():
    with pytest.raises(ValueError, match="at least 1"):
        _parallel.run(abs, [1], workers=0)
    assert _parallel.resolve_workers(None) == _parallel.default_workers() >= 1
