"""Peer scores and temporary bans for protocol violations.

A violation subtracts a penalty; the score recovers linearly with time. At or below
`-threshold` the peer is banned for `ban_seconds`: its handshakes are refused and it is not
dialed. Time is passed in (monotonic seconds), so the rules are testable without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    score: float
    updated: float
    banned_until: float = 0.0


class PeerScores:
    def __init__(self, threshold: int, ban_seconds: float, recovery_per_second: float = 1.0):
        self._threshold = threshold
        self._ban_seconds = ban_seconds
        self._recovery = recovery_per_second
        self._entries: dict[bytes, _Entry] = {}

    def _entry(self, peer: bytes, now: float) -> _Entry:
        e = self._entries.get(peer)
        if e is None:
            e = self._entries[peer] = _Entry(0.0, now)
        else:
            e.score = min(0.0, e.score + (now - e.updated) * self._recovery)
            e.updated = now
        return e

    def penalize(self, peer: bytes, amount: int, now: float) -> bool:
        """Lower the score; True if this ban started now."""
        e = self._entry(peer, now)
        e.score -= amount
        if e.score <= -self._threshold and e.banned_until <= now:
            e.banned_until = now + self._ban_seconds
            e.score = 0.0
            return True
        return False

    def score(self, peer: bytes, now: float) -> float:
        return self._entry(peer, now).score

    def banned_for(self, peer: bytes, now: float) -> float:
        """Seconds of ban left (0 if not banned)."""
        e = self._entries.get(peer)
        return max(0.0, e.banned_until - now) if e is not None else 0.0
