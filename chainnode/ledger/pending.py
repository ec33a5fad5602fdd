"""The oldest transaction still waiting in the mempool, for consensus's request timer.

Admitted hashes are queued in arrival order; those no longer in the mempool (committed,
expired) are dropped lazily from the front, so finding the oldest is amortised O(1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable


class OldestPending:
    def __init__(
        self,
        in_mempool: Callable[[bytes], bool],
        pending: Callable[[], Iterable[bytes]],
        max_queue: int = 400_000,
    ) -> None:
        self._queue: deque[bytes] = deque()
        self._in_mempool = in_mempool
        self._pending = pending
        self._max = max_queue
        self.reported: bytes | None = None

    def add(self, hashes: Iterable[bytes]) -> None:
        self._queue.extend(hashes)
        if len(self._queue) > self._max:
            # committed hashes piled up behind a long-waiting one: start over from the pool
            self._queue = deque(self._pending())

    def oldest(self) -> bytes | None:
        q = self._queue
        while q and not self._in_mempool(q[0]):
            q.popleft()
        return q[0] if q else None

    def changed(self) -> bytes | None | bool:
        """The new oldest hash (or None) if it differs from the last reported; else False."""
        now = self.oldest()
        if now == self.reported:
            return False
        self.reported = now
        return now
