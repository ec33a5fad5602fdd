"""The per-stage CPU clock: nested spans charge exclusively (no nanosecond counted twice),
each thread keeps its own totals, and crypto's batch threads count under verify."""

from __future__ import annotations

import threading
import time

import pytest

from chainnode.ledger.stages import CHECKPOINT, COMPACTION, EVENT_LOOP, STAGES, StageClock
from crypto import batch, sm2


def _burn(seconds: float) -> None:
    """Spin on this thread's CPU clock until it advanced by ``seconds``."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


def test_nested_spans_charge_exclusively_and_add_up_to_the_thread_cpu() -> None:
    clock = StageClock()
    t0 = time.thread_time()
    with clock.span("consensus"):
        _burn(0.02)
        with clock.span("execute"):
            _burn(0.03)
            with clock.span("verify"):
                _burn(0.01)
            _burn(0.01)
        _burn(0.02)
    spent = time.thread_time() - t0
    got = clock.totals()
    assert set(got) == {*STAGES, EVENT_LOOP, COMPACTION, CHECKPOINT}
    assert got["consensus"] == pytest.approx(0.04, abs=0.01)
    assert got["execute"] == pytest.approx(0.04, abs=0.01)
    assert got["verify"] - batch.worker_cpu_seconds() == pytest.approx(0.01, abs=0.005)
    own = got["consensus"] + got["execute"] + got["verify"] - batch.worker_cpu_seconds()
    assert own <= spent
    assert own == pytest.approx(spent, abs=0.005)
    assert clock.spans() == 3


def test_each_thread_counts_its_own_cpu_and_totals_sum_them() -> None:
    clock = StageClock()

    def work() -> None:
        with clock.span("commit"):
            _burn(0.02)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # CPU time, not wall time: two threads each burning 20 ms count 40 ms however scheduled
    assert clock.totals()["commit"] == pytest.approx(0.04, abs=0.01)


def test_event_loop_is_the_claimed_thread_outside_the_stages() -> None:
    clock = StageClock()
    with clock.span("admission"):
        _burn(0.01)  # before the claim: not the loop's
    clock.claim_event_loop()
    _burn(0.02)
    with clock.span("http"):
        _burn(0.01)
    got = clock.totals()
    assert got[EVENT_LOOP] == pytest.approx(0.02, abs=0.008)
    seen: list[float] = []
    t = threading.Thread(target=lambda: seen.append(clock.totals()[EVENT_LOOP]))
    t.start()
    t.join()
    assert seen == [got[EVENT_LOOP]]  # read elsewhere: the last value, not that thread's CPU


def test_batch_threads_count_their_cpu() -> None:
    """The native extension's C threads (or, without it, the pool's) measure themselves."""
    keys = [sm2.PrivateKey.generate() for _ in range(4)]
    items = [
        (k.public_key().to_bytes(), b"m%d" % i, k.sign(b"m%d" % i))
        for i, k in enumerate(keys * 100)
    ]
    before = batch.worker_cpu_seconds()
    t0 = time.thread_time()
    assert all(batch.verify_batch(items, workers=2))
    caller = time.thread_time() - t0
    worker = batch.worker_cpu_seconds() - before
    # the caller's thread and a started one share 400 verifies (~30,000/s/core at best)
    assert worker > 0
    assert worker + caller > 0.5 * 400 / 30_000
