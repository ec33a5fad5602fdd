"""The decayed commit rate both the admission budget and the batching rule read."""

from __future__ import annotations

import pytest

from chainnode.node.commit_rate import DecayedRate


def test_no_rate_before_an_interval_of_some_length() -> None:
    r = DecayedRate(0.8)
    assert r.rate is None
    r.add(0, 0.0)
    assert r.rate is None


def test_intervals_weigh_by_their_length_and_fade_by_the_decay() -> None:
    r = DecayedRate(0.5)
    r.add(100, 1.0)  # 100 tx/s
    r.add(100, 0.1)  # a burst: (50 + 100) / (0.5 + 0.1) = 250 tx/s, not the mean of 100, 1000
    assert r.rate == pytest.approx(250.0)
    r.add(0, 1.0)  # a quiet second: 75 / 1.3
    assert r.rate == pytest.approx(75 / 1.3)


def test_decay_must_leave_the_past_some_weight_below_one() -> None:
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError):
            DecayedRate(bad)
