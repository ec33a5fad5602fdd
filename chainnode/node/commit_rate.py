"""A chain's recent commit rate: decayed sums of transactions and seconds between commits.

Summing both (rather than averaging per-interval rates) weighs each interval by its length:
a burst of short intervals does not outvote a long quiet one. Used by the admission budget
(``backlog``: the rate while saturated) and the primary's batching (``batching``: the rate).
"""

from __future__ import annotations


class DecayedRate:
    """Transactions a second over the last ~``1 / (1 - decay)`` intervals added."""

    __slots__ = ("decay", "_txs", "_seconds")

    def __init__(self, decay: float) -> None:
        if not 0 <= decay < 1:
            raise ValueError("need 0 <= decay < 1")
        self.decay = decay
        self._txs = 0.0
        self._seconds = 0.0

    def add(self, txs: int, seconds: float) -> None:
        """`txs` committed over an interval of `seconds`."""
        self._txs = self.decay * self._txs + txs
        self._seconds = self.decay * self._seconds + seconds

    @property
    def rate(self) -> float | None:
        """Transactions a second; None before any interval of some length."""
        return self._txs / self._seconds if self._seconds > 0 else None
