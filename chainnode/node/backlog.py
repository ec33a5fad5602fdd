"""How many waiting transactions a node takes from clients: what it commits within a budget.

A node that admits every transaction it is offered beyond what the chain commits only makes
them all wait: the mempool grows by the excess each second, every transaction waits longer,
admission (decode, verify, gossip) takes the CPU the blocks need, and once a block or the
oldest waiting transaction takes longer than the consensus timers the replicas change view and
commit nothing meanwhile: offered past capacity, the committed rate fell by half. So a client's
submission is refused at once (503 ``BUSY`` with ``Retry-After``, before its body is even read)
while the mempool already holds more than the chain commits in ``budget_s`` seconds.

The rate is the one measured while the chain was saturated: between two commits with at least
a full block waiting after the first, the interval was all work, so its transactions over its
seconds is what the chain does (decayed sums, about the last ``1 / (1 - decay)`` such
intervals). Never below ``floor`` transactions (two full blocks: one being decided, one
waiting), and the floor alone until the chain has been saturated once.

Peers' gossip is not refused here: its client passed the same rule at a peer, and the
mempool's capacity still bounds it. Nothing here feeds a block: each node decides alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from chainnode.node.commit_rate import DecayedRate


class Backlog:
    def __init__(
        self,
        budget_s: float,
        floor: int,
        clock: Callable[[], float] = time.monotonic,
        decay: float = 0.8,
    ) -> None:
        if budget_s <= 0 or floor < 1 or not 0 <= decay < 1:
            raise ValueError("need budget_s > 0, floor >= 1 and 0 <= decay < 1")
        self.budget_s = budget_s
        self.floor = floor
        self._clock = clock
        self._saturated_rate = DecayedRate(decay)  # over saturated intervals only
        self._last_commit: float | None = None
        self._saturated = False  # the last commit left at least a full block waiting
        self.refused = 0  # submissions refused so far (metrics, logs)

    def committed(self, txs: int, waiting: int, full_block: int) -> None:
        """A block of ``txs`` committed, leaving ``waiting`` in the mempool; ``full_block``:
        the most a block takes (``max_block_txs``)."""
        now = self._clock()
        if self._saturated and self._last_commit is not None:
            self._saturated_rate.add(txs, now - self._last_commit)
        self._last_commit = now
        self._saturated = waiting >= full_block

    @property
    def rate(self) -> float | None:
        """Transactions per second the chain committed while saturated; None before."""
        return self._saturated_rate.rate

    @property
    def limit(self) -> int:
        """The most waiting transactions at which a client's submission is still taken."""
        rate = self.rate
        if rate is None:
            return self.floor
        return max(self.floor, int(rate * self.budget_s))

    def retry_after(self, waiting: int) -> int | None:
        """None while ``waiting`` is under the limit; else whole seconds (at least 1) until the
        excess commits at the measured rate (the floor's worth a second before any)."""
        limit = self.limit
        if waiting < limit:
            return None
        self.refused += 1
        rate = self.rate or float(self.floor)
        return max(1, math.ceil((waiting - limit + 1) / rate))
