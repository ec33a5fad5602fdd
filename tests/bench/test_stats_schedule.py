"""Percentiles, steady-window TPS and the batch schedule of the bench harness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.harness import schedule
from bench.harness.stats import LatencySummary, percentile, steady_tps, throughput_series


def test_percentile_matches_closest_ranks_interpolation() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_is_bounded_and_monotone(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert min(values) <= p <= max(values)
    assert percentile(values, min(100.0, q + 1)) >= p


def test_latency_summary() -> None:
    s = LatencySummary.of([0.5] * 98 + [2.0, 4.0])
    assert s.count == 100
    assert s.p50 == 0.5
    assert s.max == 4.0
    assert 2.0 <= s.p99 <= 4.0
    assert math.isnan(LatencySummary.of([]).p99)


def test_steady_tps_excludes_ramp_and_drain() -> None:
    # A trickle at start and end, 1000 tx per second in between.
    blocks = [(0.0, 10), (1.0, 10)] + [(2.0 + i, 1000) for i in range(10)] + [(30.0, 10)]
    w = steady_tps(blocks)
    assert w.tps == pytest.approx(1000.0)
    assert w.start >= 2.0
    assert w.end <= 11.0


def test_steady_tps_ignores_empty_blocks_and_needs_two() -> None:
    assert math.isnan(steady_tps([(1.0, 500)]).tps)
    assert math.isnan(steady_tps([]).tps)
    w = steady_tps([(0.0, 100), (0.5, 0), (1.0, 100), (2.0, 100)])
    assert w.tps == pytest.approx(100.0)


def test_throughput_series_bins() -> None:
    series = throughput_series([0.1, 0.2, 1.5, 3.9], origin=0.0, bin_s=1.0)
    assert series == [(0.0, 2.0), (1.0, 1.0), (2.0, 0.0), (3.0, 1.0)]
    assert throughput_series([], 0.0) == []


def test_plan_open_loop_spreads_over_nodes_at_the_rate() -> None:
    batches = schedule.plan(1000, 4, rate=500.0, batch_size=25)
    assert len(batches) == 40
    assert [b.node for b in batches[:5]] == [0, 1, 2, 3, 0]
    assert batches[1].due == pytest.approx(0.05)
    assert batches[-1].due == pytest.approx(975 / 500)
    assert sum(b.size for b in batches) == 1000
    assert batches[-1].end == 1000


@given(
    st.integers(0, 5000),
    st.integers(1, 7),
    st.one_of(st.none(), st.floats(1, 1e5)),
    st.integers(1, 600),
)
def test_plan_covers_every_tx_once_in_order(
    n: int, nodes: int, rate: float | None, size: int
) -> None:
    batches = schedule.plan(n, nodes, rate, batch_size=size, first=7)
    covered = [i for b in batches for i in range(b.start, b.end)]
    assert covered == list(range(7, 7 + n))
    dues = [b.due for b in batches]
    assert dues == sorted(dues)
    assert all(0 <= b.node < nodes for b in batches)


def test_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        schedule.plan(10, 0, None)
    with pytest.raises(ValueError):
        schedule.plan(10, 1, -5.0)
    assert schedule.default_batch_size(None) == schedule.MAX_BATCH
    assert schedule.default_batch_size(1000.0) == 50
    assert schedule.default_batch_size(1.0) == 1


def test_sweep_rates_grow_geometrically() -> None:
    assert schedule.sweep_rates(100, 2, 1000) == [100, 200, 400, 800]
    with pytest.raises(ValueError):
        schedule.sweep_rates(100, 1, 1000)


def test_linear_fit() -> None:
    from bench.harness.stats import linear_fit

    slope, intercept = linear_fit([0, 1, 2, 3], [1.0, 3.0, 5.0, 7.0])  # type: ignore[misc]
    assert slope == pytest.approx(2.0) and intercept == pytest.approx(1.0)
    assert linear_fit([1, 1], [2.0, 3.0]) is None
    assert linear_fit([1, 2, math.nan], [1.0, 2.0, 5.0]) == pytest.approx((1.0, 0.0))


def test_refine_rate_bisects_the_bracket_geometrically() -> None:
    assert schedule.refine_rate(100, 400) == pytest.approx(200)
    mid = schedule.refine_rate(828, 1160)
    assert mid is not None and 828 < mid < 1160
    assert schedule.refine_rate(1000, 1040) is None  # narrower than 5%: stop
    with pytest.raises(ValueError):
        schedule.refine_rate(200, 100)
