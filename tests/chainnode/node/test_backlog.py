"""The admission budget (chainnode.node.backlog): how many waiting transactions a node still
takes from clients. The clock is the caller's (monotonic seconds), so the figures below are
exact: 2000-tx blocks every 0.5 s while saturated is 4000 tx/s."""

from __future__ import annotations

import pytest

from chainnode.node.backlog import Backlog

FULL = 2000


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_before_the_chain_was_ever_saturated_the_floor_is_the_limit() -> None:
    clock = Clock()
    b = Backlog(1.5, 2 * FULL, clock)
    assert b.rate is None
    assert b.limit == 4000
    assert b.retry_after(3999) is None
    assert b.retry_after(4000) == 1  # the floor's worth per second before any measure
    assert b.retry_after(12_000) == 3
    assert b.refused == 2


def test_the_rate_is_measured_between_commits_that_left_a_full_block_waiting() -> None:
    clock = Clock()
    b = Backlog(1.5, 2 * FULL, clock, decay=0.5)
    b.committed(10, waiting=0, full_block=FULL)  # idle before: no measure
    clock.now += 30.0
    b.committed(FULL, waiting=9000, full_block=FULL)  # the 30 s before were idle: no measure
    assert b.rate is None
    for _ in range(20):
        clock.now += 0.5
        b.committed(FULL, waiting=9000, full_block=FULL)
    assert b.rate == pytest.approx(4000.0)
    assert b.limit == 6000  # 1.5 s at 4000 tx/s
    assert b.retry_after(5999) is None
    assert b.retry_after(6000) == 1
    assert b.retry_after(14_001) == 3  # 8002 over the limit at 4000/s


def test_a_commit_that_drained_the_pool_ends_the_measure_until_saturated_again() -> None:
    clock = Clock()
    b = Backlog(1.5, 2 * FULL, clock, decay=0.5)
    for _ in range(10):
        clock.now += 0.5
        b.committed(FULL, waiting=FULL, full_block=FULL)
    rate = b.rate
    assert rate == pytest.approx(4000.0)
    clock.now += 0.5
    b.committed(FULL, waiting=0, full_block=FULL)  # drained: the next interval may be idle
    clock.now += 60.0
    b.committed(5, waiting=0, full_block=FULL)
    assert b.rate == pytest.approx(4000.0)  # the 60 s idle are not in it


def test_a_slower_chain_lowers_the_limit_but_never_under_the_floor() -> None:
    clock = Clock()
    b = Backlog(1.5, 2 * FULL, clock, decay=0.5)
    for _ in range(30):
        clock.now += 2.0  # 1000 tx/s: 1.5 s of it is under two blocks
        b.committed(FULL, waiting=FULL, full_block=FULL)
    assert b.rate == pytest.approx(1000.0)
    assert b.limit == 4000


@pytest.mark.parametrize(("budget", "floor", "decay"), [(0, 1, 0.5), (1, 0, 0.5), (1, 1, 1.0)])
def test_nonsense_parameters_are_refused(budget: float, floor: int, decay: float) -> None:
    with pytest.raises(ValueError):
        Backlog(budget, floor, decay=decay)
