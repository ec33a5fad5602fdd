"""The commit progress line of a node's log: at most one INFO line a second, summarising the
blocks committed since the previous line (height, blocks, transactions, failed ones, block
time), so an operator sees the chain move without a line per block at 1,000 blocks/s.

A ledger ``on_commit`` listener: per block it only adds to counters; the line is written when
a second has passed since the last one, or by a timer armed on the event loop so the last
blocks of a burst are reported within a second even if no further block comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from chainnode.model.types import Block, Receipt

log = logging.getLogger("chainnode.commits")

INTERVAL = 1.0


class CommitLog:
    def __init__(
        self,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger = log,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.log = logger
        self._last_line = float("-inf")
        self._timer: asyncio.TimerHandle | None = None
        self._blocks = 0
        self._txs = 0
        self._failed = 0
        self._height = 0
        self._head = b""
        self._first_ts: int | None = None  # header timestamp (ms) of the block before the span
        self._last_ts: int | None = None

    def committed(self, block: Block, receipts: Sequence[Receipt]) -> None:
        """Ledger on_commit listener: one call per block, counters only unless a line is due."""
        header = block.header
        if self._blocks == 0:
            self._first_ts = self._last_ts
        self._blocks += 1
        self._txs += len(receipts)
        self._failed += sum(1 for r in receipts if not r.ok)
        self._height = header.height
        self._head = block.hash
        self._last_ts = header.timestamp
        if self.clock() - self._last_line >= self.interval:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (a tool replaying blocks): the next due commit writes it
            delay = self.interval - (self.clock() - self._last_line)
            self._timer = loop.call_later(max(0.0, delay), self.flush)

    def flush(self) -> None:
        """Write the line for the blocks since the last one (nothing when there are none)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._blocks == 0:
            return
        self._last_line = self.clock()
        parts = [
            f"committed height {self._height} ({self._head.hex()[:12]}…)",
            f"{self._blocks} block{'s' if self._blocks != 1 else ''}",
            f"{self._txs} tx{'s' if self._txs != 1 else ''}",
        ]
        if self._failed:
            parts.append(f"{self._failed} failed")
        if self._first_ts is not None and self._last_ts is not None:
            avg = (self._last_ts - self._first_ts) / self._blocks / 1000
            parts.append(f"block time {avg:.2f}s")
        self.log.info(", ".join(parts))
        self._blocks = self._txs = self._failed = 0

    def close(self) -> None:
        self.flush()
