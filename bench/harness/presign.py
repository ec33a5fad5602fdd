"""Signing the transactions of a run before its timed phase, on all cores, cached on disk.

A signed transaction depends on the workload call, the chain id, the suite, the block limit,
the nonce and the sender key, so all of those make the cache key: a file in ``.bench-cache/``
is only reused for the very same transactions. Senders are a fixed set of keys derived from a
seed (deterministic, so the cache stays valid across runs); tx ``i`` makes workload call
``j = call_offset + i`` with nonce ``nonce_base + i``, signed by the sender the workload names
for ``j`` (round robin, or the owner of the traceability batch it appends to).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgpack

from bench.harness import workloads
from bench.harness.progress import Progress

CACHE_VERSION = 2
CHUNK = 200
SETUP_NONCE_OFFSET = 1 << 40


@dataclass(frozen=True, slots=True)
class SignParams:
    workload: str
    phase: str  # "load" or "setup"
    count: int
    chain_id: str
    suite: str = "sm"
    block_limit: int = 1_000
    nonce_base: int = 0
    call_offset: int = 0
    salt: int = 0
    senders: int = 16
    gas_limit: int = 1_000_000

    def key(self) -> str:
        fields = asdict(self)
        digest = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]
        return f"{self.workload}-{self.phase}-{self.count}-{_safe(self.chain_id)}-{digest}"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:32]


@dataclass(frozen=True, slots=True)
class SignedTxs:
    hashes: list[bytes]
    raws: list[bytes]

    def __len__(self) -> int:
        return len(self.hashes)


def sender_key(suite: str, i: int) -> bytes:
    """The i-th bench sender's private key (a valid scalar for the suite's curve)."""
    from crypto.suite import get_suite

    s = get_suite(suite)
    counter = 0
    while True:
        candidate = hashlib.sha256(f"chainnode-bench-sender:{i}:{counter}".encode()).digest()
        try:
            s.public_key(candidate)
        except Exception:  # noqa: BLE001  # out of range for the curve: derive the next one
            counter += 1
            continue
        return candidate


def call_for(p: SignParams, i: int) -> workloads.Call:
    w = workloads.get(p.workload)
    j = p.call_offset + i
    return w.setup_call(j, p.salt) if p.phase == "setup" else w.call(j, p.salt)


_KEYS: dict[tuple[str, int], bytes] = {}


def _sign_range(job: tuple[SignParams, int, int]) -> tuple[int, list[bytes], list[bytes]]:
    """Worker: sign txs ``start .. end`` of ``p``; returns (start, hashes, encodings)."""
    from chainnode.model.types import Transaction
    from crypto.suite import get_suite

    p, start, end = job
    suite = get_suite(p.suite)
    nonce0 = p.nonce_base + (SETUP_NONCE_OFFSET if p.phase == "setup" else 0)
    hashes, raws = [], []
    w = workloads.get(p.workload)
    for i in range(start, end):
        j = p.call_offset + i
        sid = j % p.senders if p.phase == "setup" else w.sender(j, p.senders)
        key = _KEYS.get((p.suite, sid))
        if key is None:
            key = _KEYS[(p.suite, sid)] = sender_key(p.suite, sid)
        c = call_for(p, i)
        tx = Transaction.create(
            suite,
            key,
            p.chain_id,
            nonce0 + i,
            p.block_limit,
            c.contract,
            c.method,
            list(c.args),
            p.gas_limit,
        )
        hashes.append(tx.hash)
        raws.append(tx.encode())
    return start, hashes, raws


def _worker_init() -> None:
    """Workers die quietly when the pool is torn down (the parent may trap SIGTERM)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _chunks(count: int, size: int) -> Iterator[tuple[int, int]]:
    for s in range(0, count, size):
        yield s, min(s + size, count)


def _load(path: Path, p: SignParams) -> SignedTxs | None:
    try:
        doc: Any = msgpack.unpackb(path.read_bytes(), raw=False)
    except (OSError, ValueError, msgpack.ExtraData, msgpack.FormatError):
        return None
    if not isinstance(doc, list) or len(doc) != 4 or doc[0] != CACHE_VERSION or doc[1] != p.key():
        return None
    hashes, raws = doc[2], doc[3]
    if len(hashes) != p.count or len(raws) != p.count:
        return None
    return SignedTxs(hashes, raws)


def _store(path: Path, p: SignParams, txs: SignedTxs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(
        msgpack.packb([CACHE_VERSION, p.key(), txs.hashes, txs.raws], use_bin_type=True)
    )
    tmp.replace(path)


def presign(
    p: SignParams,
    cache_dir: Path | None,
    processes: int | None = None,
    progress: bool = True,
) -> tuple[SignedTxs, bool]:
    """The signed txs of ``p`` and whether they came from the cache."""
    path = cache_dir / f"{p.key()}.msgpack" if cache_dir is not None else None
    if path is not None and path.exists():
        cached = _load(path, p)
        if cached is not None:
            return cached, True
    hashes: list[bytes] = [b""] * p.count
    raws: list[bytes] = [b""] * p.count
    jobs = [(p, s, e) for s, e in _chunks(p.count, CHUNK)]
    bar = Progress(f"signing {p.count} {p.workload}/{p.phase} txs", p.count) if progress else None
    procs = processes or os.cpu_count() or 1
    if procs <= 1 or len(jobs) <= 1:
        results: Iterator[tuple[int, list[bytes], list[bytes]]] = map(_sign_range, jobs)
        for start, hs, rs in results:
            hashes[start : start + len(hs)] = hs
            raws[start : start + len(rs)] = rs
            if bar:
                bar.advance(len(hs))
    else:
        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(procs, initializer=_worker_init) as pool:
            for start, hs, rs in pool.imap_unordered(_sign_range, jobs):
                hashes[start : start + len(hs)] = hs
                raws[start : start + len(rs)] = rs
                if bar:
                    bar.advance(len(hs))
    if bar:
        bar.close()
    txs = SignedTxs(hashes, raws)
    if path is not None:
        _store(path, p, txs)
    return txs, False
