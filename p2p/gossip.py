"""Transaction gossip pieces: the bounded seen-cache and the batch codec.

A TXS frame carries a msgpack array of transaction bytes (several per frame). The receiver
keys its seen-cache by its own hash of each transaction's bytes, never by a hash a peer sent,
so a peer cannot poison the cache to suppress someone else's transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import msgpack

from p2p.errors import ProtocolViolation


class SeenCache:
    """Bounded set of recently seen hashes; the oldest are forgotten first."""

    __slots__ = ("_items", "_capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._items: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity

    def add(self, key: bytes) -> bool:
        """Remember `key`; True if it was new."""
        items = self._items
        if key in items:
            return False
        items[key] = None
        if len(items) > self._capacity:
            items.popitem(last=False)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def encode_tx_batch(txs: Sequence[bytes]) -> bytes:
    out: bytes = msgpack.packb(list(txs), use_bin_type=True)
    return out


def decode_tx_batch(payload: bytes, max_txs: int) -> list[bytes]:
    try:
        txs = msgpack.unpackb(payload, raw=True, max_array_len=max_txs, use_list=True)
    except Exception:  # msgpack raises several unrelated types on garbage
        raise ProtocolViolation("malformed transaction batch") from None
    if not isinstance(txs, list) or not txs or not all(isinstance(t, bytes) and t for t in txs):
        raise ProtocolViolation("transaction batch must be a non-empty array of bytes")
    return txs


def split_batches(txs: Sequence[bytes], max_txs: int, max_bytes: int) -> list[list[bytes]]:
    """Group transactions into frames of at most `max_txs` items and about `max_bytes`."""
    batches: list[list[bytes]] = []
    cur: list[bytes] = []
    size = 0
    for tx in txs:
        if cur and (len(cur) >= max_txs or size + len(tx) > max_bytes):
            batches.append(cur)
            cur, size = [], 0
        cur.append(tx)
        size += len(tx) + 5
    if cur:
        batches.append(cur)
    return batches
