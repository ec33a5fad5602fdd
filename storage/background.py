"""LevelDB's background work (memtable flushes, compactions) at a lower CPU priority.

Why: a node's latency is its main thread's (consensus, execution, the API). LevelDB flushes
and compacts on one background thread per process, and under sustained load a flush of the
memtable (128 MiB when this was measured) plus the compactions after it take seconds of a
core. On a shared machine (or four validators on two cores, as the benchmarks run them) that
time is taken from the main threads: measured on a 4-validator sweep, blocks of 2,000 txs
went from 0.5 s to 1.2-1.6 s while every node flushed at once, and p99 latency from 0.4 s to
4-5 s. The background work can wait: it only has to keep up on average, which idle time
between blocks allows. RocksDB offers the same (``Env::LowerThreadPoolCPUPriority``); LevelDB
does not, so we start its thread ourselves from a thread whose nice value is raised, and it
inherits that value.

How: LevelDB (POSIX) starts its single background thread lazily, from whichever thread first
schedules background work, and a Linux thread inherits its creator's nice value. So before any
store is opened, :func:`lower_background_priority` raises the nice value of a short-lived
thread (unprivileged: only raising is allowed) and has it force a flush of a throwaway
database, which starts the background thread. The thread is then found in ``/proc`` and its
priority checked, so the caller learns whether it worked (it does not once a store has been
opened in the process: the thread is started already).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import plyvel

_lock = threading.Lock()
_done: list[int | None] = []  # the first answer: LevelDB starts its thread once per process


def thread_nice(tid: int) -> int | None:
    """The nice value of thread `tid` of this process (None: no such thread, or no /proc)."""
    try:
        stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    except OSError:
        return None
    # the second field (comm) is parenthesised and may hold spaces: count from its end
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def thread_cpu_seconds(tid: int) -> float | None:
    """CPU time thread `tid` of this process has used, in seconds (the scheduler's
    nanosecond count, ``/proc/self/task/<tid>/schedstat``); None: no such thread (it ended)
    or no /proc. Any thread's, unlike ``time.thread_time``."""
    try:
        return int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def background_cpu_seconds() -> float:
    """CPU time of LevelDB's background thread (flushes, compactions) since it started, when
    :func:`lower_background_priority` started it (0.0 otherwise: not known which it is). The
    node's per-stage accounting reports it as background work."""
    tid = _done[0] if _done else None
    return (thread_cpu_seconds(tid) or 0.0) if tid is not None else 0.0


def _task_ids() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _start_from_lowered_thread(nice: int) -> int:
    """Start LevelDB's background thread from a thread at `nice`; returns that (finished)
    starter thread's id."""

    def run() -> int:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        with tempfile.TemporaryDirectory(prefix="chainnode-leveldb-") as d:
            db = plyvel.DB(d, create_if_missing=True)
            try:
                db.put(b"k", b"v")
                db.compact_range()  # flushes the memtable: schedules the first background work
            finally:
                db.close()
        return tid

    with ThreadPoolExecutor(1, thread_name_prefix="leveldb-background-start") as starter:
        return starter.submit(run).result()  # re-raises the starter's failure here


def lower_background_priority(nice: int = 19) -> int | None:
    """Have LevelDB's background thread run at `nice` (1..19), or at the calling thread's
    nice value if that is higher already (never above the caller's priority); call it before
    the process opens its first store. Returns that thread's id, or None when it could not be
    lowered (already started by an earlier open, or no Linux /proc to check it): the caller
    should say so. Calling it again returns the first answer."""
    if not 1 <= nice <= 19:
        raise ValueError(f"nice must be 1..19, got {nice}")
    nice = max(nice, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    with _lock:
        if _done:
            return _done[0]
        before = _task_ids()
        starter = _start_from_lowered_thread(nice)
        tid = _find_started(before | {starter}, nice)  # the starter may not have left /proc
        _done.append(tid)
        return tid


def _find_started(known: set[int], nice: int, deadline_s: float = 2.0) -> int | None:
    """The one thread at `nice` that is neither in `known` nor a Python thread; looked for
    again until `deadline_s` while /proc shows none or several (a fresh-clone run under load
    once saw no single one at the first look)."""
    end = time.monotonic() + deadline_s
    while True:
        python = {t.native_id for t in threading.enumerate()}
        found = [t for t in _task_ids() - known - python if thread_nice(t) == nice]
        if len(found) == 1 or time.monotonic() >= end:
            return found[0] if len(found) == 1 else None
        threading.Event().wait(0.01)
