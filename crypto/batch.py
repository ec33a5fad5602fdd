"""Batch signature verification: inline for small batches, a process pool for large ones.

The pool is created once (lazily) and reused: workers stay alive, keep their own public-key
caches warm, and nothing is re-forked per call. It uses the `forkserver` start method where
available (safe in a threaded/asyncio parent) and `spawn` elsewhere. Default size: all cores.
As with any such pool, a script that triggers it must guard its entry point with
`if __name__ == "__main__":` (workers re-import the main module).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from crypto import sm2
from crypto.errors import CryptoError

INLINE_MAX = 48  # below this many items the pool's IPC costs more than it saves
CHUNKS_PER_WORKER = 2
MIN_CHUNK = 16
_pool: ProcessPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()
_workers_default: int | None = None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure(workers: int | None = None) -> None:
    """Set the pool size (None: all cores); an existing pool of another size is replaced."""
    global _workers_default
    if workers is not None and workers < 1:
        raise CryptoError("workers must be >= 1")
    _workers_default = workers
    if _pool is not None and _pool_workers != (workers or cpu_count()):
        shutdown()


def _get_pool(workers: int) -> ProcessPoolExecutor:
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_workers != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
            _pool_workers = workers
        return _pool


def shutdown() -> None:
    """Stop the pool's workers (a later large batch starts a new pool)."""
    global _pool, _pool_workers
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
        _pool_workers = 0


atexit.register(shutdown)


def pool_pids() -> list[int]:
    """PIDs of the live pool workers (for tests and metrics)."""
    pool = _pool
    if pool is None:
        return []
    procs = getattr(pool, "_processes", None) or {}
    return sorted(procs)


def warm_up(workers: int | None = None) -> None:
    """Start the pool now instead of on the first large batch."""
    n = workers or _workers_default or cpu_count()
    if n > 1:
        pool = _get_pool(n)
        list(pool.map(_noop, range(n)))


def _noop(_: int) -> int:
    return os.getpid()


def _verify_one(suite_verify: Callable[[bytes, bytes, bytes], bool], item: Any) -> bool:
    try:
        pub, msg, sig = item
        return bool(suite_verify(pub, msg, sig))
    except (CryptoError, TypeError, ValueError):
        return False


def _verify_chunk(suite: str, backend: str | None, items: Sequence[object]) -> list[bool]:
    if backend is not None:
        sm2.set_backend(backend)
    from crypto.suite import get_suite

    verify = get_suite(suite).verify
    return [_verify_one(verify, it) for it in items]


def verify_batch(
    items: Sequence[tuple[bytes, bytes, bytes]],
    suite: str = "sm",
    *,
    workers: int | None = None,
    inline_max: int = INLINE_MAX,
) -> list[bool]:
    """One bool per (public key, message, signature); malformed items are False."""
    items = list(items)
    n_workers = workers or _workers_default or cpu_count()
    backend = sm2.backend_name() if suite == "sm" else None
    if len(items) <= inline_max or n_workers <= 1:
        return _verify_chunk(suite, None, items)
    # Two chunks per worker: a little balancing when another process takes a core, with few
    # round trips (measured: more chunks or letting the caller steal queued chunks was slower).
    n_chunks = min(n_workers * CHUNKS_PER_WORKER, -(-len(items) // MIN_CHUNK))
    size = -(-len(items) // n_chunks)
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    try:
        pool = _get_pool(n_workers)
        futures = [pool.submit(_verify_chunk, suite, backend, c) for c in chunks]
        out: list[bool] = []
        for f in futures:
            out += f.result()
        return out
    except BrokenProcessPool:
        shutdown()
        return _verify_chunk(suite, None, items)
