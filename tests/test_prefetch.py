"""prefetched(): a background reader that keeps order, errors and early stops of its source."""

from __future__ import annotations

import threading
import time

import pytest

from signprep.prefetch import prefetched


def _source(n: int, log: list, fail_at: int | None = None):
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"bad frame {i}")
            log.append(("made", i, threading.current_thread().name))
            yield i
    finally:
        log.append(("closed",))


def test_items_arrive_in_order_made_ahead_in_another_thread():
    log: list = []
    got = list(prefetched(_source(50, log), depth=3))
    assert got == list(range(50))
    assert {entry[2] for entry in log if entry[0] == "made"} == {"prefetch"}  # made in the reader thread
    assert log[-1] == ("closed",)


def test_the_source_runs_ahead_by_at_most_depth_items():
    log: list = []
    items = prefetched(_source(100, log), depth=4)
    assert next(items) == 0
    time.sleep(0.3)
    made = sum(1 for entry in log if entry[0] == "made")
    assert 2 <= made <= 1 + 4 + 1  # the taken item, the queue, and one waiting to be put
    items.close()


def test_an_error_of_the_source_is_raised_at_its_place():
    log: list = []
    got = []
    with pytest.raises(ValueError, match="bad frame 5"):
        for item in prefetched(_source(10, log, fail_at=5)):
            got.append(item)
    assert got == [0, 1, 2, 3, 4] and log[-1] == ("closed",)


def test_a_consumer_that_stops_early_stops_and_closes_the_source():
    log: list = []
    before = threading.active_count()
    for item in prefetched(_source(10_000, log), depth=2):
        if item == 3:
            break
    # the generator is closed when the loop leaves it: the thread has stopped and closed the source
    assert log[-1] == ("closed",) and sum(1 for e in log if e[0] == "made") < 10
    assert threading.active_count() == before


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        list(prefetched(iter([1]), depth=0))
