"""Jittered exponential back-off for redialing a peer."""

from __future__ import annotations

import random


class Backoff:
    """Delays `min * 2^k` capped at `max`, each scaled by a random factor in [0.5, 1.5) so
    that nodes restarted together do not redial in lock-step."""

    __slots__ = ("_min", "_max", "_next", "_rng")

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None):
        if not 0 < minimum <= maximum:
            raise ValueError("need 0 < minimum <= maximum")
        self._min = minimum
        self._max = maximum
        self._next = minimum
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        base = self._next
        self._next = min(self._next * 2, self._max)
        return base * self._rng.uniform(0.5, 1.5)

    def reset(self) -> None:
        self._next = self._min
