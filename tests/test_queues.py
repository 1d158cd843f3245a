"""The drop-oldest queue between loops: bounded, never blocks a producer, counts every drop."""

from __future__ import annotations

import threading
import time

import pytest

from monitor.queues import Closed, DropOldestQueue


@pytest.mark.parametrize(
    ("maxsize", "puts", "kept", "dropped"),
    [(1, 5, [4], 4), (2, 3, [1, 2], 1), (4, 3, [0, 1, 2], 0)],
)
def test_keeps_the_newest_and_counts_drops(maxsize, puts, kept, dropped) -> None:
    q = DropOldestQueue[int](maxsize)
    for i in range(puts):
        q.put(i)
    q.close()
    got = []
    with pytest.raises(Closed):
        while True:
            got.append(q.get(timeout=1))
    assert got == kept and q.dropped == dropped and len(got) + q.dropped == puts


def test_get_times_out_and_close_wakes_a_waiting_reader() -> None:
    q = DropOldestQueue[int](2)
    with pytest.raises(TimeoutError):
        q.get(timeout=0.05)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            q.get()
        except BaseException as err:  # noqa: BLE001 - recorded for the assertion
            errors.append(err)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(timeout=2)
    assert not t.is_alive() and isinstance(errors[0], Closed)


def test_fast_producer_slow_consumer_stays_bounded() -> None:
    q = DropOldestQueue[int](2)
    n = 2000
    producer = threading.Thread(target=lambda: [q.put(i) for i in range(n)] and q.close())
    producer.start()
    seen = []
    try:
        while True:
            assert len(q) <= 2
            seen.append(q.get(timeout=2))
            time.sleep(0.0005)
    except Closed:
        pass
    producer.join()
    assert seen == sorted(seen) and seen[-1] == n - 1
    assert len(seen) + q.dropped == n


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        DropOldestQueue[int](0)
