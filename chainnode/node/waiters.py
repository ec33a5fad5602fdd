"""Clients waiting for receipts: futures keyed by tx hash, resolved by the commit listener."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from chainnode.model.types import Receipt

Lookup = Callable[[bytes], Receipt | None]


class ReceiptWaiters:
    """Lives on the event loop thread; ``committed`` is called from the ledger's listener."""

    def __init__(self, lookup: Lookup, max_waiters: int = 1_000_000) -> None:
        self._lookup = lookup
        self._waiting: dict[bytes, list[asyncio.Future[Receipt]]] = {}
        self._count = 0
        self._max = max_waiters

    def __len__(self) -> int:
        return self._count

    def committed(self, receipts: Sequence[Receipt]) -> None:
        if not self._waiting:
            return
        for r in receipts:
            futs = self._waiting.pop(r.tx_hash, None)
            if futs:
                for f in futs:
                    if not f.done():
                        f.set_result(r)
                self._count -= len(futs)

    async def wait(self, hashes: Sequence[bytes], timeout: float) -> list[Receipt | None]:
        """Receipts in order; ``None`` for those not committed by the deadline."""
        out: list[Receipt | None] = [self._lookup(h) for h in hashes]
        missing = [i for i, r in enumerate(out) if r is None]
        if not missing or timeout <= 0:
            return out
        if self._count + len(missing) > self._max:
            return out
        loop = asyncio.get_running_loop()
        futs: list[tuple[int, bytes, asyncio.Future[Receipt]]] = []
        for i in missing:
            f: asyncio.Future[Receipt] = loop.create_future()
            self._waiting.setdefault(hashes[i], []).append(f)
            futs.append((i, hashes[i], f))
        self._count += len(futs)
        try:
            await asyncio.wait([f for _, _, f in futs], timeout=timeout)
        finally:
            for i, h, f in futs:
                if f.done() and not f.cancelled():
                    out[i] = f.result()
                    continue
                f.cancel()
                lst = self._waiting.get(h)
                if lst is not None and f in lst:
                    lst.remove(f)
                    self._count -= 1
                    if not lst:
                        del self._waiting[h]
                # committed between the listener's pass and ours? read it back
                out[i] = self._lookup(h)
        return out
