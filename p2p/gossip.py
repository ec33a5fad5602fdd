"""Transaction gossip pieces: the bounded seen-cache and the batch codec.

A TXS frame carries msgpack ``[covered, txs]``: the ids of the peers the sender sends this same
frame to, and the transaction bytes (several per frame). A receiver does not relay a copy to
peers that copy's sender covered (in a full mesh nobody relays an originator's transactions,
which removes two of every three copies among four validators). The claim only ever narrows
the relay of that one copy: another copy of the same transaction from another sender is
relayed to the peers *its* claim leaves out, so a lying peer cannot stop an honest copy from
flooding. The receiver keys its seen-cache by its own hash of each transaction's bytes, never
by a hash a peer sent, so a peer cannot poison the cache to suppress someone else's
transaction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import msgpack

from p2p.errors import ProtocolViolation

_NOBODY: frozenset[bytes] = frozenset()
MAX_COVERED = 256


class SeenCache:
    """Bounded map of recently seen hashes to the peers known to hold that item (they sent it
    to us or we sent it to them); the oldest are forgotten first."""

    __slots__ = ("_items", "_capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._items: OrderedDict[bytes, frozenset[bytes]] = OrderedDict()
        self._capacity = capacity

    def add(self, key: bytes, holders: frozenset[bytes] = _NOBODY) -> bool:
        """Remember `key`; True if it was new (existing holders are kept, not replaced)."""
        items = self._items
        if key in items:
            return False
        items[key] = holders
        if len(items) > self._capacity:
            items.popitem(last=False)
        return True

    def holders(self, key: bytes) -> frozenset[bytes]:
        return self._items.get(key, _NOBODY)

    def add_holders(self, key: bytes, peers: frozenset[bytes]) -> None:
        """Record that `peers` hold `key` (no-op if `key` was forgotten meanwhile)."""
        items = self._items
        old = items.get(key)
        if old is not None and not peers <= old:
            items[key] = old | peers

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def encode_tx_batch(txs: Sequence[bytes], covered: Sequence[bytes] = ()) -> bytes:
    out: bytes = msgpack.packb([list(covered), list(txs)], use_bin_type=True)
    return out


class _ArrayBudget:
    """msgpack ``list_hook`` failing the decode past ``n`` arrays: 8 MiB of nested empty arrays
    would otherwise build 8 million lists (~600 MB, 8 s) before the shape check."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, value: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise ValueError("too many arrays")
        return value


def decode_tx_batch(payload: bytes, max_txs: int) -> tuple[list[bytes], list[bytes]]:
    """``(covered peer ids, txs)`` of a TXS frame; anything malformed raises."""
    try:
        batch = msgpack.unpackb(
            payload,
            raw=True,
            max_array_len=max(max_txs, MAX_COVERED, 2),
            use_list=True,
            list_hook=_ArrayBudget(3),  # [covered, txs]: nested arrays are refused at once
        )
    except (ValueError, TypeError, msgpack.UnpackException):  # what msgpack raises on garbage
        raise ProtocolViolation("malformed transaction batch") from None
    if not isinstance(batch, list) or len(batch) != 2:
        raise ProtocolViolation("transaction batch must be [covered, txs]")
    covered, txs = batch
    if (
        not isinstance(covered, list)
        or len(covered) > MAX_COVERED
        or not all(isinstance(p, bytes) and len(p) == 65 for p in covered)
    ):
        raise ProtocolViolation("covered must be an array of at most 256 peer ids")
    if (
        not isinstance(txs, list)
        or not txs
        or len(txs) > max_txs
        or not all(isinstance(t, bytes) and t for t in txs)
    ):
        raise ProtocolViolation("transaction batch must be a non-empty array of bytes")
    return covered, txs


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
