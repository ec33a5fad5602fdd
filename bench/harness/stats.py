"""Percentiles, the steady window and throughput over time, in plain Python.

Committed TPS is measured over the *steady window*: from the block that holds the 10th
percentile commit to the block that holds the 90th, so the ramp-up of the first blocks and the
drain of the last ones do not dilute (or flatter) the rate. Commits arrive in blocks, so the
window is cut on block boundaries and counts the transactions of the blocks after its start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks.

    Same definition as numpy's default ("linear"); NaN for no values.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile out of range: {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    frac = pos - lo
    return ordered[lo] + (ordered[hi] - ordered[lo]) * frac


@dataclass(frozen=True, slots=True)
class LatencySummary:
    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, latencies: Sequence[float]) -> LatencySummary:
        if not latencies:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(latencies)
        return cls(
            count=len(ordered),
            p50=percentile(ordered, 50),
            p95=percentile(ordered, 95),
            p99=percentile(ordered, 99),
            mean=sum(ordered) / len(ordered),
            max=ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class SteadyWindow:
    tps: float
    start: float
    end: float
    txs: int


def steady_tps(
    blocks: Sequence[tuple[float, int]], lo: float = 0.10, hi: float = 0.90
) -> SteadyWindow:
    """Committed TPS over the steady window of ``blocks`` = [(time first seen, tx count)].

    Blocks without transactions count (they are time the chain spent). With fewer than two
    blocks that hold transactions there is no window: the rate is NaN.
    """
    full = sorted((t, n) for t, n in blocks if n > 0)
    total = sum(n for _, n in full)
    if len(full) < 2 or total == 0:
        return SteadyWindow(math.nan, math.nan, math.nan, total)
    cumulative = []
    running = 0
    for _, n in full:
        running += n
        cumulative.append(running)
    start_i = next(i for i, c in enumerate(cumulative) if c > lo * total)
    end_i = next(i for i, c in enumerate(cumulative) if c >= hi * total)
    if end_i <= start_i:
        start_i, end_i = 0, len(full) - 1
    start, end = full[start_i][0], full[end_i][0]
    txs = sum(n for _, n in full[start_i + 1 : end_i + 1])
    if end <= start:
        return SteadyWindow(math.nan, start, end, txs)
    return SteadyWindow(txs / (end - start), start, end, txs)


def throughput_series(
    times: Sequence[float], origin: float, bin_s: float = 1.0
) -> list[tuple[float, float]]:
    """Events per second in consecutive bins of ``bin_s`` from ``origin``: [(bin start, rate)]."""
    if bin_s <= 0:
        raise ValueError("bin_s must be positive")
    if not times:
        return []
    nbins = int(math.floor((max(times) - origin) / bin_s)) + 1
    counts = [0] * max(nbins, 1)
    for t in times:
        i = int(math.floor((t - origin) / bin_s))
        if 0 <= i < len(counts):
            counts[i] += 1
    return [(i * bin_s, c / bin_s) for i, c in enumerate(counts)]


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares (slope, intercept) of y over x; None with fewer than two distinct x."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y)]
    if len({x for x, _ in pts}) < 2:
        return None
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    sxy = sum((x - mx) * (y - my) for x, y in pts)
    slope = sxy / sxx
    return slope, my - slope * mx
