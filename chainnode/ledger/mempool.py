"""The mempool: admission of signed transactions and FIFO order for proposals.

Admission runs the cheap checks first (decode, chain id, duplicate pending/committed by tx
hash and by (sender, nonce): each nonce of a sender is used once, the block-limit window, target contract/method/permission, capacity), then verifies all surviving
signatures in one `verify_batch` call (spread over cores by crypto), so each signature is
verified once per node. Verified signatures are remembered by tx hash (bounded) so block
validation does not verify them again. Every rejection carries a `Code`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Protocol

from chainnode.ledger.stages import StageClock, in_stage
from chainnode.model.codes import Code, MalformedError
from chainnode.model.types import Suite, Transaction

VerifyItem = tuple[bytes, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Admission:
    tx_hash: bytes  # b"" when the bytes did not even decode
    accepted: bool
    code: Code
    message: str
    field: str | None = None  # the part of the tx at fault, when one is (e.g. "args[0]")


def _bad_signature(suite: Suite, tx: Transaction) -> Admission:
    """Why a signature failed: a sender key that is no point of this chain's curve was made
    for another suite (a P-256 key on an SM chain, say), which a client should be told as such.
    Only failed signatures pay for the curve check."""
    if not suite.is_public_key(tx.sender):
        return Admission(
            tx.hash,
            False,
            Code.WRONG_SUITE,
            f"the sender's public key is not a key of this chain's crypto suite ({suite.name!r});"
            " sign with a key made for it",
        )
    return Admission(tx.hash, False, Code.BAD_SIGNATURE, "signature does not verify")


class LedgerObserver(Protocol):
    """Explicit hooks for whoever counts the ledger's work (the node's metrics), passed to
    ``Ledger.open`` and the mempool at construction and called once per batch: nothing outside
    the ledger wraps or patches its methods."""

    def admitted(self, admissions: Sequence[Admission]) -> None:
        """After each mempool admission batch: one outcome per submitted item."""
        ...

    def verified_batch(self, n: int, seconds: float) -> None:
        """After each signature-verification batch of ``n`` signatures."""
        ...

    def block_written(self, seconds: float) -> None:
        """After each block's synced storage write (any thread): its wall time. A disk busy
        with other writes (LevelDB's flushes and compactions, other processes) shows here:
        the chain does not step until the write is done."""
        ...


class AdmissionContext(Protocol):
    """What the mempool needs from the ledger (the committed state)."""

    @property
    def chain_id(self) -> str: ...

    @property
    def suite(self) -> Suite: ...

    def next_height(self) -> int: ...

    def block_limit_window(self) -> int: ...

    def is_committed(self, tx_hash: bytes) -> bool: ...

    def nonce_owner(self, tx: Transaction) -> bytes | None:
        """The hash of the committed tx that used `tx`'s sender and nonce; None: unused."""
        ...

    def check_target(self, tx: Transaction) -> tuple[Code, str, str | None] | None: ...

    def verify_batch(self, items: Sequence[VerifyItem]) -> list[bool]: ...


class Mempool:
    def __init__(
        self,
        ctx: AdmissionContext,
        capacity: int = 100_000,
        verified_capacity: int = 200_000,
        max_bytes: int = 256 * 1024 * 1024,
        observer: LedgerObserver | None = None,
        stages: StageClock | None = None,
    ) -> None:
        self._ctx = ctx
        self._observer = observer
        self.stages = stages or StageClock()
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0
        self._pool: dict[bytes, Transaction] = {}
        self._by_raw: dict[bytes, Transaction] = {}  # same tx objects, keyed by their encoding
        self._nonces: dict[tuple[bytes, int], bytes] = {}  # (sender, nonce) -> pending tx hash
        self._verified: dict[bytes, bytes] = {}  # tx hash -> signature known to be valid
        self._verified_capacity = verified_capacity
        self._lock = threading.Lock()
        self._last_sweep = 0

    # ------------------------------------------------------------------ queries

    @property
    def size(self) -> int:
        return len(self._pool)

    @property
    def size_bytes(self) -> int:
        """Total encoded size of the pending transactions."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._pool)

    def has(self, tx_hash: bytes) -> bool:
        return tx_hash in self._pool

    def get(self, tx_hash: bytes) -> Transaction | None:
        return self._pool.get(tx_hash)

    def lookup_raw(self, raw: bytes) -> Transaction | None:
        """The pending tx whose encoding is exactly `raw` (lets block decoding skip it)."""
        return self._by_raw.get(raw)

    def pending(self) -> Iterator[Transaction]:
        """Pending transactions in arrival order (a snapshot)."""
        with self._lock:
            return iter(list(self._pool.values()))

    # ------------------------------------------------------------------ admission

    @in_stage("admission")
    def submit(self, txs: Sequence[bytes | Transaction]) -> list[Admission]:
        """Admit a batch; one Admission per item, in order. Never raises on bad input.

        Three phases: each tx against the rules that need no signature (:meth:`_screen`), the
        signatures of the survivors in one batch, then insertion under the lock (where the
        pool may have changed meanwhile: duplicates and capacity are checked again)."""
        out: list[Admission | None] = [None] * len(txs)
        cands = self._screen(txs, out)
        room = self.capacity - len(self._pool)
        if len(cands) > room:
            for i, tx in cands[max(room, 0) :]:
                out[i] = Admission(tx.hash, False, Code.MEMPOOL_FULL, "mempool is full")
            cands = cands[: max(room, 0)]
        self._insert(cands, self._bad_signatures(cands), out)
        result = [a for a in out if a is not None]
        if self._observer is not None:
            self._observer.admitted(result)
        return result

    def _screen(
        self, txs: Sequence[bytes | Transaction], out: list[Admission | None]
    ) -> list[tuple[int, Transaction]]:
        """The rules that need no signature, in order, one rejection code each; fills ``out``
        for the rejected and returns the candidates as (position, tx)."""
        ctx = self._ctx
        cands: list[tuple[int, Transaction]] = []
        seen: set[bytes] = set()
        seen_nonces: set[tuple[bytes, int]] = set()
        next_h = ctx.next_height()
        top = next_h - 1 + ctx.block_limit_window()
        pool = self._pool
        nonces = self._nonces
        # bound once per batch: each is consulted for every tx
        chain_id = ctx.chain_id
        suite = ctx.suite
        is_committed = ctx.is_committed
        nonce_owner = ctx.nonce_owner
        check_target = ctx.check_target
        decode = Transaction.decode
        for i, item in enumerate(txs):
            try:
                tx = item if isinstance(item, Transaction) else decode(item, suite)
            except MalformedError as e:
                out[i] = Admission(b"", False, e.code, e.message)
                continue
            h = tx.hash
            key = (tx.sender, tx.nonce)
            if tx.chain_id != chain_id:
                out[i] = Admission(h, False, Code.WRONG_CHAIN, f"chain id is {chain_id!r}")
            # A committed tx used its nonce (Ledger._committed_of), so one lookup of the nonce
            # answers both questions for a new tx; the tx index only when the nonce is used.
            elif (
                h in pool
                or h in seen
                or ((owner := nonce_owner(tx)) is not None and (owner == h or is_committed(h)))
            ):
                out[i] = Admission(h, False, Code.DUPLICATE, "transaction already known")
            elif key in nonces or key in seen_nonces:
                out[i] = Admission(h, False, Code.DUPLICATE, "nonce already pending")
            elif owner is not None:
                out[i] = Admission(h, False, Code.DUPLICATE, "nonce already used")
            elif tx.block_limit < next_h:
                out[i] = Admission(h, False, Code.EXPIRED, f"block limit below height {next_h}")
            elif tx.block_limit > top:
                out[i] = Admission(
                    h, False, Code.FUTURE_BLOCK_LIMIT, f"block limit above {top} (window)"
                )
            elif (bad := check_target(tx)) is not None:
                out[i] = Admission(h, False, bad[0], bad[1], bad[2])
            else:
                seen.add(h)
                seen_nonces.add(key)
                cands.append((i, tx))
        return cands

    def _bad_signatures(self, cands: list[tuple[int, Transaction]]) -> set[int]:
        """Positions of the candidates whose signature fails (verified ones are remembered;
        those verified before are not checked again)."""
        verified = self._verified
        need = [(i, tx) for i, tx in cands if verified.get(tx.hash) != tx.signature]
        if not need:
            return set()
        oks = self._ctx.verify_batch([(tx.sender, tx.payload, tx.signature) for _, tx in need])
        bad_sig = {i for (i, _), ok in zip(need, oks, strict=True) if not ok}
        self._remember([tx for (i, tx) in need if i not in bad_sig])
        return bad_sig

    def _insert(
        self,
        cands: list[tuple[int, Transaction]],
        bad_sig: set[int],
        out: list[Admission | None],
    ) -> None:
        suite = self._ctx.suite
        pool = self._pool
        nonces = self._nonces
        by_raw = self._by_raw
        capacity = self.capacity
        max_bytes = self.max_bytes
        with self._lock:
            for i, tx in cands:
                h = tx.hash
                key = (tx.sender, tx.nonce)
                raw = tx.raw
                if i in bad_sig:
                    out[i] = _bad_signature(suite, tx)
                elif h in pool or key in nonces:
                    out[i] = Admission(h, False, Code.DUPLICATE, "transaction already known")
                elif len(pool) >= capacity or self._bytes + len(raw) > max_bytes:
                    out[i] = Admission(h, False, Code.MEMPOOL_FULL, "mempool is full")
                else:
                    pool[h] = tx
                    by_raw[raw] = tx
                    nonces[key] = h
                    self._bytes += len(raw)
                    out[i] = Admission(h, True, Code.OK, "accepted")

    # ------------------------------------------------------------------ signatures

    def is_verified(self, tx: Transaction) -> bool:
        return self._verified.get(tx.hash) == tx.signature

    def verify(self, txs: Sequence[Transaction]) -> list[bool]:
        """Signature validity of each tx, verifying (in one batch) only those not seen yet."""
        verified = self._verified
        res = [verified.get(tx.hash) == tx.signature for tx in txs]
        idx = [i for i, ok in enumerate(res) if not ok]
        if idx:
            items = [(txs[i].sender, txs[i].payload, txs[i].signature) for i in idx]
            oks = self._ctx.verify_batch(items)
            good = []
            for i, ok in zip(idx, oks, strict=True):
                res[i] = ok
                if ok:
                    good.append(txs[i])
            self._remember(good)
        return res

    def _remember(self, txs: Sequence[Transaction]) -> None:
        with self._lock:
            v = self._verified
            for tx in txs:
                v[tx.hash] = tx.signature
            excess = len(v) - self._verified_capacity
            if excess > 0:
                for k in list(islice(iter(v), excess)):
                    del v[k]

    # ------------------------------------------------------------------ proposals

    def take(self, max_txs: int, height: int, max_bytes: int = 1 << 62) -> list[Transaction]:
        """Pending txs valid at `height`, oldest first, within both limits (left in the pool)."""
        out: list[Transaction] = []
        stale: list[bytes] = []
        size = 0
        with self._lock:
            for h, tx in self._pool.items():
                if len(out) >= max_txs:
                    break
                if tx.block_limit < height:
                    stale.append(h)
                    continue
                size += len(tx.raw) + 5
                if size > max_bytes:
                    break
                out.append(tx)
            for h in stale:
                self._drop(h)
        return out

    def _drop(self, h: bytes) -> None:
        tx = self._pool.pop(h, None)
        if tx is not None:
            self._by_raw.pop(tx.raw, None)
            self._nonces.pop((tx.sender, tx.nonce), None)
            self._bytes -= len(tx.raw)

    def remove(self, hashes: Sequence[bytes]) -> None:
        """Drop pending txs (e.g. take back a batch admitted only in part)."""
        with self._lock:
            for h in hashes:
                self._drop(h)

    def remove_committed(
        self, hashes: Sequence[bytes], height: int, txs: Sequence[Transaction] = ()
    ) -> None:
        """Drop txs committed at `height` (and pending ones whose (sender, nonce) one of `txs`
        used up); now and then also the ones that expired."""
        with self._lock:
            pool = self._pool
            for h in hashes:
                self._drop(h)
            for tx in txs:
                other = self._nonces.get((tx.sender, tx.nonce))
                if other is not None:
                    self._drop(other)
            if height - self._last_sweep >= 64:
                self._last_sweep = height
                for h in [h for h, tx in pool.items() if tx.block_limit <= height]:
                    self._drop(h)
