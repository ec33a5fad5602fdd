"""The simulated node's application side: a mempool of integer tx ids and block payloads.

A payload is msgpack ``[tx ids ascending]``; the digest is SHA-256 over (height, parent,
payload), so ``validate`` can check that the digest commits to the payload and that no tx is
already in the chain (invariant D).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

import msgpack

from consensus.types import Proposal

GENESIS_HASH = hashlib.sha256(b"sim-genesis").digest()
MAX_BLOCK_TXS = 64


def block_digest(height: int, parent: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(msgpack.packb([height, parent, payload])).digest()


def make_proposal(height: int, parent: bytes, txs: Iterable[int]) -> Proposal:
    payload = msgpack.packb(sorted(txs))
    return Proposal(height, parent, block_digest(height, parent, payload), payload)


def payload_txs(payload: bytes) -> list[int] | None:
    try:
        txs = msgpack.unpackb(payload)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(txs, list) or not all(type(t) is int and t >= 0 for t in txs):
        return None
    if txs != sorted(set(txs)) or len(txs) > MAX_BLOCK_TXS:
        return None
    return txs


def make_validator(committed: Callable[[], set[int]]) -> Callable[[Proposal], bool]:
    """The injected ``validate_proposal`` of one simulated node."""

    def validate(p: Proposal) -> bool:
        if block_digest(p.height, p.parent, p.payload) != p.digest:
            return False
        txs = payload_txs(p.payload)
        if txs is None:
            return False
        done = committed()
        return not any(t in done for t in txs)

    return validate
