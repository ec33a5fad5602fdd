"""Batch signature verification on threads of this process (one per core by default).

SM2 on the native backend: one call into `crypto._sm2verify.verify_batch`, which releases the
GIL and verifies on C threads (key parse, Z, SM3, check; the caller's thread works too), a
pool the extension starts once and reuses.
Other suites and backends: a shared thread pool over chunks (OpenSSL via ctypes releases the
GIL inside each verify). No worker processes: nothing to fork, nothing to outlive a killed
node (the process pool used before left orphans after kill -9), and the signer tables and
key caches are the process's own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from crypto import sm2
from crypto.errors import CryptoError

INLINE_MAX = 48  # at most this many items: verified on the caller's thread alone
CHUNKS_PER_WORKER = 4
_workers_default: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()
_chunk_cpu_ns = 0  # CPU of the generic path's pool threads, summed per chunk (under the lock)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure(workers: int | None = None) -> None:
    """Set the number of verifying threads (None: one per core)."""
    global _workers_default
    if workers is not None and workers < 1:
        raise CryptoError("workers must be >= 1")
    _workers_default = workers


def workers() -> int:
    """Threads a large batch uses."""
    return _workers_default or cpu_count()


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers != n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(n, thread_name_prefix="verify-batch")
            _pool_workers = n
        return _pool


def shutdown() -> None:
    """Stop the threads of the generic path (a later batch starts them again)."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = None
        _pool_workers = 0


def _verify_one(suite_verify: Callable[[bytes, bytes, bytes], bool], item: Any) -> bool:
    try:
        pub, msg, sig = item
        return bool(suite_verify(pub, msg, sig))
    except (CryptoError, TypeError, ValueError):
        return False


Verify = Callable[[bytes, bytes, bytes], bool]


def _verify_chunk(verify: Verify, items: Sequence[object]) -> list[bool]:
    return [_verify_one(verify, it) for it in items]


def _pool_chunk(verify: Verify, items: Sequence[object]) -> list[bool]:
    """A chunk on a pool thread, its CPU time added to :func:`worker_cpu_seconds`."""
    global _chunk_cpu_ns
    t0 = time.thread_time_ns()
    out = _verify_chunk(verify, items)
    spent = time.thread_time_ns() - t0
    with _pool_lock:
        _chunk_cpu_ns += spent
    return out


def worker_cpu_seconds() -> float:
    """CPU time that batch verification spent on threads other than its callers' (the pool's
    and the native extension's), since the process started. A caller measuring its own thread
    (the node's per-stage CPU accounting) adds this to see all of verification's CPU."""
    # (an extension built before worker_cpu_ns existed counts nothing rather than failing)
    read = getattr(sm2._NATIVE_EXT, "worker_cpu_ns", None)
    native = read() if read is not None else 0
    return (native + _chunk_cpu_ns) / 1e9


def verify_batch(
    items: Sequence[tuple[bytes, bytes, bytes]],
    suite: str = "sm",
    *,
    verify: Verify | None = None,
    workers: int | None = None,
    inline_max: int = INLINE_MAX,
) -> list[bool]:
    """One bool per (public key, message, signature) under the default ID; malformed items
    are False. ``verify`` is the suite's own verify function (``crypto.verify_batch`` and
    ``Suite.verify_batch`` pass it; the SM suite's is the default), so this module needs no
    suite registry."""
    if verify is None:
        if suite != "sm":
            raise ValueError(
                f"suite {suite!r}: pass its verify function (crypto.verify_batch does)"
            )
        verify = sm2.verify_default
    n_workers = workers or _workers_default or cpu_count()
    if len(items) <= inline_max:
        n_workers = 1
    if suite == "sm" and sm2.backend_name() == "native":
        return sm2._NATIVE_EXT.verify_batch(items, n_workers)  # type: ignore[no-any-return]
    items = list(items)
    if n_workers <= 1:
        return _verify_chunk(verify, items)
    n_chunks = min(n_workers * CHUNKS_PER_WORKER, len(items))
    size = -(-len(items) // n_chunks)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    pool = _get_pool(n_workers)
    out: list[bool] = []
    for part in pool.map(_pool_chunk, [verify] * len(chunks), chunks):
        out += part
    return out
