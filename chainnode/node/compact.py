"""Proposals on the wire by transaction hash: the compact payload and the tx fetch that fills it.

A backup already holds nearly every transaction of a proposal from gossip, so the primary's
PRE-PREPARE carries the block header and its transactions' hashes, not their bodies (a 200-byte
tx becomes 32 bytes on each of n - 1 links). Only the wire form changes: the block hash (of the
header, which commits to the tx root), the certificate, the consensus core's proposals and WAL
records, and the blocks served by block sync all stay the full block. A backup rebuilds the
block from its mempool and asks the primary for the few transactions it lacks: a bounded
request (the hashes it wants, at most a block's worth), a validated answer (exactly one tx per
requested hash, each decoding to that hash, in order). A primary that cannot supply them is
treated like one that proposed an invalid block: the proposal stays compact, the block check
refuses it, and the replica blames the primary and changes view.

One kind of tx the backups may well lack: one a client of the primary has just sent. The
backups learn of it only from the primary's gossip, which its proposal can overtake (consensus
frames go first on a link; a lone tx at light load is proposed at once). Those txs (admitted
from our own clients in the last :data:`PREFILL_S`, :class:`RecentTxs`) go in the compact
payload as bodies, so light-load latency pays no fetch round trip.

Compact payload: msgpack ``[COMPACT_TAG, header, [item, ...]]``, each item a tx hash (32
bytes) or a tx's bytes (longer: a tx is never 32 bytes). A full block is a 2-element array,
so the two forms never collide.
Fetch request: msgpack ``[block hash, [tx hash, ...]]``; answer: ``[tx bytes, ...]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import msgpack

from chainnode.model.codes import LedgerError, MalformedError
from chainnode.model.encoding import pack, unpack
from chainnode.model.types import (
    BLOCK_ARRAYS,
    HASH_LEN,
    MAX_BLOCK_BYTES,
    MAX_BLOCK_TXS,
    Block,
    BlockHeader,
    Suite,
    Transaction,
)

COMPACT_TAG = 1
#: p2p request kind of a tx fetch.
KIND = "txs"
#: How long a backup waits for the primary's answer before it judges the proposal invalid.
FETCH_TIMEOUT_S = 2.0
_COMPACT_PREFIX = b"\x93\x01"  # fixarray(3), COMPACT_TAG
#: Our own clients' txs younger than this go in our proposals as bodies.
PREFILL_S = 0.5
MAX_RECENT = 200_000


class FetchError(Exception):
    """A tx-fetch request or answer that does not parse or does not match what was asked."""


class RecentTxs:
    """Hashes of the txs our own clients sent, with when: a proposal of ours carries the
    bodies of those younger than ``window_s`` (see the module docstring)."""

    def __init__(
        self,
        window_s: float = PREFILL_S,
        clock: Callable[[], float] = time.monotonic,
        capacity: int = MAX_RECENT,
    ) -> None:
        self._at: dict[bytes, float] = {}
        self._window = window_s
        self._clock = clock
        self._capacity = capacity

    def add(self, hashes: Iterable[bytes]) -> None:
        at = self._at
        now = self._clock()
        for h in hashes:
            at[h] = now
        old = now - self._window
        while at and (len(at) > self._capacity or next(iter(at.values())) < old):
            del at[next(iter(at))]

    def fresh(self) -> Callable[[bytes], bool]:
        """Whether a tx is still young enough, as of now."""
        at, old = self._at, self._clock() - self._window
        return lambda h: at.get(h, old) > old


def compact_payload(block: Block, prefill: Callable[[bytes], bool] = lambda h: False) -> bytes:
    """The wire form of ``block``: each tx by hash, or by its bytes where ``prefill`` says."""
    items = [tx.raw if prefill(tx.hash) else tx.hash for tx in block.txs]
    return pack([COMPACT_TAG, block.header.to_list(), items])


def is_compact(payload: bytes) -> bool:
    return payload[:2] == _COMPACT_PREFIX


def parse_compact(payload: bytes) -> tuple[BlockHeader, list[bytes]]:
    """Header and items (tx hashes or tx bytes) of a compact payload; MalformedError unless
    it is one."""
    # as many arrays as a block: the payload, the header (and its checkpoint), the hashes
    f = unpack(payload, MAX_BLOCK_BYTES, BLOCK_ARRAYS)
    if not isinstance(f, list) or len(f) != 3 or f[0] != COMPACT_TAG:
        raise MalformedError("compact proposal: expected [1, header, items]")
    header = BlockHeader.from_list(f[1])
    items = f[2]
    if (
        type(items) is not list
        or len(items) > MAX_BLOCK_TXS
        or not all(type(h) is bytes and len(h) >= HASH_LEN for h in items)
    ):
        raise MalformedError("compact proposal: bad tx list")
    if pack(f) != bytes(payload):
        raise MalformedError("compact proposal: not in canonical encoding")
    return header, items


def rebuild(
    payload: bytes,
    find: Callable[[bytes], Transaction | None],
    suite: Suite,
    extra: dict[bytes, Transaction] | None = None,
    find_raw: Callable[[bytes], Transaction | None] = lambda raw: None,
) -> tuple[Block | None, list[bytes]]:
    """The full block of a compact payload from the txs ``find`` (or ``extra``) knows by hash
    and the bodies it carries (``find_raw``: one decoded already), or (None, the hashes
    missing). MalformedError when the payload is no compact proposal or a body no tx."""
    header, items = parse_compact(payload)
    txs: list[Transaction] = []
    missing: list[bytes] = []
    for h in items:
        if len(h) != HASH_LEN:
            txs.append(find_raw(h) or Transaction.decode(h, suite))
            continue
        tx = extra.get(h) if extra else None
        if tx is None:
            tx = find(h)
        if tx is None:
            missing.append(h)
        else:
            txs.append(tx)
    if missing:
        return None, missing
    return Block(header, tuple(txs), hasher=suite.hash), []


def encode_request(block_hash: bytes, hashes: Sequence[bytes]) -> bytes:
    return pack([block_hash, list(hashes)])


def decode_request(payload: bytes) -> tuple[bytes, list[bytes]]:
    try:
        f = msgpack.unpackb(
            payload, max_array_len=MAX_BLOCK_TXS, max_bin_len=HASH_LEN, max_str_len=0
        )
    except (ValueError, TypeError, msgpack.UnpackException):
        raise FetchError("malformed tx request") from None
    if (
        not isinstance(f, list)
        or len(f) != 2
        or type(f[0]) is not bytes
        or len(f[0]) != HASH_LEN
        or type(f[1]) is not list
        or not all(type(h) is bytes and len(h) == HASH_LEN for h in f[1])
    ):
        raise FetchError("tx request is [block hash, [tx hash, ...]]")
    return f[0], f[1]


def answer(
    hashes: Sequence[bytes], block: Block | None, find: Callable[[bytes], Transaction | None]
) -> bytes:
    """The answer to a tx fetch: each requested tx's bytes, from the proposed block (when we
    still hold it) or ``find``; FetchError when we lack one (the requester learns at once)."""
    by_hash = {tx.hash: tx for tx in block.txs} if block is not None else {}
    out = []
    for h in hashes:
        tx = by_hash.get(h) or find(h)
        if tx is None:
            raise FetchError(f"tx {h.hex()} unknown here")
        out.append(tx.raw)
    return pack(out)


def check_answer(raw: bytes, wanted: Sequence[bytes], suite: Suite) -> dict[bytes, Transaction]:
    """The fetched txs by hash: exactly one per wanted hash, in order, each decoding (with
    this chain's hash) to the hash asked for; FetchError otherwise."""
    try:
        items = unpack(raw, MAX_BLOCK_BYTES, 1)
    except MalformedError as e:
        raise FetchError(f"undecodable answer: {e.message}") from None
    if type(items) is not list or len(items) != len(wanted):
        got = len(items) if type(items) is list else "no list"
        raise FetchError(f"asked for {len(wanted)} txs, got {got}")
    out: dict[bytes, Transaction] = {}
    for want, item in zip(wanted, items, strict=True):
        if type(item) is not bytes:
            raise FetchError("a tx in the answer is not bytes")
        try:
            tx = Transaction.decode(item, suite)
        except LedgerError as e:
            raise FetchError(f"undecodable tx in the answer: {e.message}") from None
        if tx.hash != want:
            raise FetchError(f"asked for tx {want.hex()}, got {tx.hash.hex()}")
        out[want] = tx
    return out
