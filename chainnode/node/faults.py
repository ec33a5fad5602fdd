"""Misbehaving peers in the log: the 1st, 2nd, 4th, 8th... fault of each kind, not a flood."""

from __future__ import annotations

import logging
import re

log = logging.getLogger("chainnode.node")

MAX_FAULT_KINDS = 4096
_DIGITS = re.compile(r"\d+")


class FaultLog:
    """Counted per (peer, kind of fault), so that a new kind of misbehaviour is always logged
    the first time, however many faults of another kind came before it. A kind is the reason
    with its numbers blanked (heights, views)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[bytes, str], int] = {}

    def __call__(self, peer: bytes, reason: str) -> None:
        key = (peer, _DIGITS.sub("#", reason))
        if key not in self._counts and len(self._counts) >= MAX_FAULT_KINDS:
            self._counts.clear()
        n = self._counts[key] = self._counts.get(key, 0) + 1
        if n & (n - 1) == 0:
            log.warning("peer %s misbehaved (%d times): %s", peer.hex()[:16], n, reason)
