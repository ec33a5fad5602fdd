"""Token buckets: per client (``/v1/call``) and for log lines an attacker can trigger.

Time comes from ``time.monotonic`` (never from a client); nothing here feeds consensus.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take()`` spends one when there is one."""

    __slots__ = ("rate", "burst", "tokens", "stamp", "_clock")

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self) -> float:
        """0.0 when a token was spent; otherwise the seconds until one is due."""
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else float("inf")


class ClientLimiter:
    """One bucket per client key (an IP address). At most ``max_clients`` buckets are kept,
    least recently used dropped first (a dropped client starts again with a full bucket)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        max_clients: int = 65536,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str) -> float:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self._clock)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
        return bucket.take()


class LogLimiter:
    """At most ``burst`` lines, then one per ``interval`` seconds; counts what it held back so
    the next line can say how many were suppressed."""

    def __init__(
        self, interval: float = 10.0, burst: int = 5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._bucket = TokenBucket(1.0 / interval, burst, clock)
        self.suppressed = 0

    def allow(self) -> int | None:
        """None: drop this line. Otherwise log it, adding that this many were dropped."""
        if self._bucket.take() > 0:
            self.suppressed += 1
            return None
        dropped, self.suppressed = self.suppressed, 0
        return dropped
