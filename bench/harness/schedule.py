"""When each batch of pre-signed transactions leaves, and to which node.

Open loop: with a rate, batch ``i`` is due at ``i * batch_size / rate`` seconds after the phase
starts whatever the nodes answer, so a slow node shows up as latency, not as a lower offered
rate. Without a rate every batch is due at once and the driver keeps a bounded number in flight
(closed loop, as fast as the nodes take them). Batches go round-robin over the nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TICK_S = 0.05
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Batch:
    index: int
    start: int
    end: int
    node: int
    due: float

    @property
    def size(self) -> int:
        return self.end - self.start


def default_batch_size(
    rate: float | None, tick_s: float = TICK_S, max_batch: int = MAX_BATCH
) -> int:
    """About one batch per tick at ``rate``; the largest batch when unthrottled."""
    if rate is None:
        return max_batch
    return max(1, min(max_batch, round(rate * tick_s)))


def plan(
    n_txs: int,
    n_nodes: int,
    rate: float | None,
    batch_size: int | None = None,
    first: int = 0,
) -> list[Batch]:
    """Batches over txs ``first .. first + n_txs``; ``due`` in seconds from the phase start."""
    if n_txs < 0 or n_nodes < 1:
        raise ValueError("need n_txs >= 0 and at least one node")
    if rate is not None and (not math.isfinite(rate) or rate <= 0):
        raise ValueError(f"rate must be positive: {rate}")
    size = batch_size or default_batch_size(rate)
    if size < 1:
        raise ValueError("batch_size must be positive")
    batches = []
    for i, start in enumerate(range(0, n_txs, size)):
        due = 0.0 if rate is None else start / rate
        batches.append(Batch(i, first + start, first + min(start + size, n_txs), i % n_nodes, due))
    return batches


def sweep_rates(start: float, factor: float, limit: float) -> list[float]:
    """Offered rates of a sweep: ``start``, ``start*factor``, ... up to ``limit``."""
    if start <= 0 or factor <= 1 or limit < start:
        raise ValueError("need 0 < start <= limit and factor > 1")
    rates = []
    r = start
    while r <= limit * (1 + 1e-9):
        rates.append(round(r, 3))
        r *= factor
    return rates


def refine_rate(good: float, bad: float, min_ratio: float = 1.05) -> float | None:
    """The next rate to try between the highest rate that met the latency limit (``good``)
    and the lowest that did not (``bad``): their geometric mean, or None once the bracket is
    narrower than ``min_ratio`` (a finer step would be lost in the noise of a shared machine).
    The coarse geometric steps of a sweep find the bracket; a few of these narrow it."""
    if not 0 < good < bad:
        raise ValueError("need 0 < good < bad")
    if bad / good < min_ratio:
        return None
    return round(math.sqrt(good * bad), 3)
