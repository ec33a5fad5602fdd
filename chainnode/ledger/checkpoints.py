"""State checkpoints of one ledger: computed in the background, carried and checked by headers.

Every ``snapshot_interval`` blocks (height c), right after block c commits, the ledger takes a
LevelDB snapshot (the state at c exactly: commits are serialised under the ledger's lock) and
a thread cuts the state into chunk files (:class:`SnapshotFiles`). The header of block
``c + snapshot_lag`` carries the result; the proposer includes it and every validator checks it
against its own. A node asked too early waits for its own computation (the node awaits
:meth:`Checkpoints.pending` off the event loop first; the ledger's wait is only a fallback):
a proposal is never refused because this node is slow. The computation reads only consensus
state (the ``s`` key space) in key order, so the bytes are the same on every node.

A node that restarts between c and c + lag lost its computation and its store has moved past
c: while a computation runs, each commit also records the values its writes replace (``undo``
metadata, in the same atomic write, only in those few blocks), so on reopening the state at c
is the store's state with those undone, and the computation starts again.

The computation is paced (:class:`Pacer`): on a big state it is seconds of work on every
validator at once. Between steps it sleeps so it uses at most PACE_SHARE of a core while it is
on schedule to be done well before the header that carries it, and runs flat out once behind,
once the chain is HURRY_AT of the way to that header, or once a block waits for it. Its
progress is the share of the state's bytes behind it, by LevelDB's size estimate: no entry
count is needed in advance, so the first checkpoint of a chain is paced like the others (it
used to be paced only for a quarter of the lag, having no previous one to count from).

Its thread runs at the lowest CPU priority (CHECKPOINT_NICE): where validators share cores,
their event loops come first. In fixed-rate runs (4 validators, 2,800 tx/s, a checkpoint of
~220k entries) the longest block while it ran went from 0.26 s to 0.09-0.13 s, p99 from 0.42 s
to 0.32-0.35 s. Once hurried, the rest runs on a thread at the node's own priority
(:class:`_Computation`): a block waits for it then.

Why a thread and not steps on the event loop: plyvel lets the GIL go around every iterator
step, so beside a loop that never waits the thread wins the GIL back once per entry
(``bench.snapshot``: 150 s for 400k entries); but a node's loop waits for messages, the
thread runs then (and on the other core), and beside a loop busy 70% of the time it costs the
loop next to nothing. Steps on the loop were built and measured (issue 19): they cost the
loop their whole CPU and made no block faster.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future
from typing import Literal

from chainnode.ledger.snapfiles import SnapshotFiles
from chainnode.model.codes import Code, InvalidBlock
from chainnode.model.encoding import pack, unpack
from chainnode.model.genesis import ConsensusParams
from chainnode.model.layout import u64
from chainnode.model.snapshot import Entry, Manifest
from chainnode.model.types import BlockHeader, StateCheckpoint
from storage import Reader, Snapshot, StorageError, Store
from storage.background import thread_cpu_seconds
from storage.keys import meta_key

log = logging.getLogger(__name__)

STATE_START, STATE_STOP = b"s", b"t"  # the store's state key space
MAX_JOBS = 4
#: The computing thread's nice value (Linux: per thread; lowering one's own needs no rights).
CHECKPOINT_NICE = 19
#: The share of a core (its CPU time over wall time) a paced computation uses. Validators that
#: share a host compute the same checkpoint at once: four at 25% took a whole core of two from
#: a sweep at 70% of its peak; 10% fits beside it (with network init's lag of 512 blocks there
#: is time: a 570k-entry state is ~0.6 s of CPU, ~6 s at this share).
PACE_SHARE = 0.1
#: Paced at most until this fraction of checkpoint_lag blocks has committed since its height;
#: meanwhile only while on schedule to finish by ON_TIME of them.
HURRY_AT = 0.5
ON_TIME = 0.5


class _ComputationCPU:
    """CPU time of this process's checkpoint computations: the finished ones' and the running
    ones' so far (read from another thread through /proc), for the node's per-stage
    accounting (``background``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = 0.0
        self._running: dict[int, float] = {}  # native thread id -> its CPU when it began

    def begin(self) -> None:
        """On the computing thread, first."""
        tid = threading.get_native_id()
        start = thread_cpu_seconds(tid)
        if start is not None:
            with self._lock:
                self._running[tid] = start

    def end(self, spent: float) -> None:
        """On the computing thread, last: `spent` s of its own CPU clock, used only when its
        start was not read through /proc (the same clock as :meth:`seconds` reads, under the
        lock: the total never goes back)."""
        tid = threading.get_native_id()
        with self._lock:
            start = self._running.pop(tid, None)
            now = thread_cpu_seconds(tid) if start is not None else None
            self._done += now - start if start is not None and now is not None else spent

    def seconds(self) -> float:
        with self._lock:
            total = self._done
            for tid, start in self._running.items():
                now = thread_cpu_seconds(tid)
                if now is not None:
                    total += now - start
        return total


_CPU = _ComputationCPU()


def computation_cpu_seconds() -> float:
    """CPU time of every checkpoint computation of this process so far, the running ones'
    included."""
    return _CPU.seconds()


def undo_key(height: int) -> bytes:
    """Meta key of the values block `height`'s writes replaced (kept while a checkpoint runs)."""
    return b"undo/" + u64(height)


def entry_key(ns: bytes, key: bytes) -> bytes:
    """A state entry's key in a snapshot: the store's state key without its ``s`` byte."""
    return bytes((len(ns),)) + ns + key


def state_entries(
    reader: Reader, overrides: Mapping[bytes, bytes | None] | None = None
) -> Iterator[Entry]:
    """Every state entry of `reader` in key order, with `overrides` (key -> value, None:
    absent) taking the place of the stored ones."""
    stored = ((k[1:], v) for k, v in reader.raw_items(STATE_START, STATE_STOP))
    if not overrides:
        yield from stored
        return
    # merge: an override comes first at an equal key, and hides the stored entry
    marked = heapq.merge(
        ((k, 0, v) for k, v in sorted(overrides.items())),
        ((k, 1, v) for k, v in stored),
    )
    last = None
    for k, rank, v in marked:
        if k == last:
            continue
        last = k
        if rank == 0 and v is None:
            continue
        assert v is not None
        yield k, v


def state_source(
    reader: Reader, overrides: Mapping[bytes, bytes | None] | None = None
) -> tuple[Iterable[Entry], int]:
    """:func:`state_entries` as a computation reads them: (entries, strip). Without
    overrides, the store's own (key, value) pairs with their key-space byte left on the key
    (strip=1: the Builder skips it, no Python copy of each key)."""
    if not overrides:
        return reader.raw_items(STATE_START, STATE_STOP), 1
    return state_entries(reader, overrides), 0


class Pacer:
    """Keeps a background computation to a share of a core while it is on schedule:
    :meth:`pause` between its steps sleeps so that its CPU time since the last pause is at
    most `share` of the wall time. Sleeping releases the GIL and a core: the node's event
    loop gets them at once, and the validators sharing the machine (each computing its own
    checkpoint at the same height) are not all slowed at once.

    On schedule: the share of the work done (of the state's bytes: ``Checkpoints._progress``)
    at least the share committed of the ON_TIME of ``lag`` blocks it has. Behind schedule a
    step runs flat out. :meth:`hurry` (a block waits for it, HURRY_AT of the lag has
    committed, or the node closes) ends the pacing and wakes a sleeping pause. The computing
    thread calls :meth:`begin` first (CPU time is per thread)."""

    __slots__ = ("share", "lag", "blocks", "_hurry", "_mark")

    def __init__(self, share: float, lag: int = 0) -> None:
        if not 0 < share <= 1:
            raise ValueError("share: in (0, 1]")
        self.share = share
        self.lag = lag
        self.blocks = 0  # committed since the checkpoint's height
        self._hurry = threading.Event()
        self._mark = 0.0

    def begin(self) -> None:
        self._mark = time.thread_time()

    def hurry(self) -> None:
        self._hurry.set()

    @property
    def hurried(self) -> bool:
        return self._hurry.is_set()

    def wait_hurried(self) -> None:
        self._hurry.wait()

    def committed(self, blocks: int) -> None:
        """`blocks` blocks have committed since the checkpoint's height."""
        self.blocks = blocks
        if self.lag and blocks >= HURRY_AT * self.lag:
            self.hurry()

    def on_schedule(self, done: float) -> bool:
        """Whether `done` (the share of the work done, 0 to 1) is ahead of the pace that
        finishes in time (see above)."""
        return not self.lag or done * ON_TIME * self.lag >= self.blocks

    def pause(self, done: float = 1.0) -> None:
        if self._hurry.is_set() or self.share >= 1:
            return
        work = time.thread_time() - self._mark
        if work > 0 and self.on_schedule(done):
            self._hurry.wait(work * (1 - self.share) / self.share)
        self._mark = time.thread_time()


class _Computation:
    """One checkpoint computation's steps (:meth:`SnapshotFiles.steps`) and the two threads
    that take them in turn. :meth:`paced` lowers its thread to CHECKPOINT_NICE and paces
    the steps; once hurried it stops between two steps and :meth:`hurried`, a thread at the
    priority of the one that started the computation, waiting until then, takes the rest
    flat out. Why two: a thread cannot raise its priority back without privileges, and
    hurried means a block waits (or soon will) for a result that, at the lowest priority on
    a busy host, waits behind every other process: ``python -m bench.hurry`` (a 50,000-entry
    state, two cores, three busy processes) had it done 12.4 s after the hurry at the lowest
    priority throughout, 0.30 s handed over. A lock keeps the steps on one thread at a
    time."""

    def __init__(
        self,
        owner: Checkpoints,
        height: int,
        snap: Snapshot,
        overrides: Mapping[bytes, bytes | None] | None,
        fut: Future[Manifest | None],
        pacer: Pacer,
    ) -> None:
        self.owner = owner
        self.height = height
        self.snap = snap
        self.overrides = overrides
        self.fut = fut
        self.pacer = pacer
        self._lock = threading.Lock()
        self._steps: Generator[bytes, None, Manifest] | None = None
        self._progress: Callable[[bytes], float] = lambda key: 1.0

    def paced(self) -> None:
        with contextlib.suppress(OSError):  # lowest CPU priority: the validators' loops first
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECKPOINT_NICE)
        self._drive(paced=True)

    def hurried(self) -> None:
        self.pacer.wait_hurried()
        self._drive(paced=False)

    def _drive(self, paced: bool) -> None:
        """Take steps until done, or (paced) until hurried; the one that finishes sets the
        future and closes the snapshot."""
        with self._lock:
            if self.fut.done():
                return
            t0 = time.thread_time()
            _CPU.begin()
            self.pacer.begin()
            try:
                m = self._take_steps(paced)
                if m is False:
                    return  # handed over to the hurried thread
                self.owner._finished(self.height, m)
                self.fut.set_result(m)
            except BaseException as e:  # noqa: BLE001  # reported through the future
                if self._steps is not None:
                    self._steps.close()  # its scratch directory goes now, not when collected
                if not self.owner._closing:
                    log.error(
                        "state checkpoint %d failed: %s: %s", self.height, type(e).__name__, e
                    )
                self.fut.set_exception(e)
            finally:
                _CPU.end(time.thread_time() - t0)
                if self.fut.done():
                    self.snap.close()
                    self.pacer.hurry()  # the hurried thread: nothing left to take

    def _take_steps(self, paced: bool) -> Manifest | None | Literal[False]:
        """The manifest, None (closing: the steps closed, nothing left behind) or False
        (paced and hurried: the rest is the other thread's)."""
        if self._steps is None:
            entries, strip = state_source(self.snap, self.overrides)
            self._progress = self.owner._progress(strip)
            self._steps = self.owner.files.steps(self.height, entries, strip)
        try:
            while True:
                key = next(self._steps)
                if paced:
                    self.pacer.pause(self._progress(key))
                if self.owner._closing:
                    self._steps.close()
                    return None
                if paced and self.pacer.hurried:
                    return False
        except StopIteration as done:
            manifest: Manifest = done.value
            return manifest


class Checkpoints:
    """The checkpoint computations of one ledger and what headers must carry."""

    def __init__(self, params: ConsensusParams, files: SnapshotFiles, store: Store) -> None:
        self.params = params
        self.files = files
        self._store = store
        self._jobs: dict[int, Future[Manifest | None]] = {}
        self._pacers: dict[int, Pacer] = {}
        self._threads: list[threading.Thread] = []
        self._closing = False

    # -- computing ----------------------------------------------------------------------------
    def start(
        self, height: int, snap: Snapshot, overrides: Mapping[bytes, bytes | None] | None = None
    ) -> Future[Manifest | None]:
        """Compute the checkpoint at `height` from `snap` (closed when done) in a thread."""
        fut: Future[Manifest | None] = Future()
        pacer = Pacer(PACE_SHARE, self.params.checkpoint_lag)
        self._jobs[height] = fut
        self._pacers[height] = pacer
        while len(self._jobs) > MAX_JOBS:
            del self._jobs[min(self._jobs)]
        for old in [h for h in self._pacers if h not in self._jobs]:
            self._pacers.pop(old).hurry()
        run = _Computation(self, height, snap, overrides, fut, pacer)
        paced = threading.Thread(target=run.paced, name=f"checkpoint-{height}", daemon=True)
        hurried = threading.Thread(
            target=run.hurried, name=f"checkpoint-{height}-hurried", daemon=True
        )
        self._threads = [x for x in self._threads if x.is_alive()] + [hurried, paced]
        hurried.start()
        paced.start()
        return fut

    def _progress(self, strip: int) -> Callable[[bytes], float]:
        """The share of the state before an entry's key (as the computation reads it, see
        :func:`state_source`), by LevelDB's estimate of the bytes on each side, both taken
        at the same moment (commits go on meanwhile): the tables' indexes, microseconds a
        call, within a percent or two on a big state, whose entry count nothing tells in
        advance. A state all in the memtable (no bytes in tables) is small: done as far as
        pacing goes."""
        size = self._store.approximate_size
        prefix = b"" if strip else STATE_START

        def progress(key: bytes) -> float:
            total = size(STATE_START, STATE_STOP)
            return min(1.0, size(STATE_START, prefix + key) / total) if total > 0 else 1.0

        return progress

    def _finished(self, height: int, m: Manifest | None) -> None:
        if m is not None:
            self._forget_undo(height + self.params.checkpoint_lag)
            log.info(
                "state checkpoint %d: %d entries, %d chunks", height, m.entries, len(m.chunk_hashes)
            )

    def hurry(self, height: int) -> None:
        """The checkpoint of `height` is needed now (or soon): compute it flat out."""
        pacer = self._pacers.get(height)
        if pacer is not None:
            pacer.hurry()

    def close(self) -> None:
        """Stop running computations (they leave nothing behind) and wait for their threads."""
        self._closing = True
        for pacer in self._pacers.values():
            pacer.hurry()
        for t in self._threads:
            t.join()

    def _forget_undo(self, upto: int) -> None:
        """Delete the undo records of heights <= `upto`: their checkpoint is computed (a
        record written meanwhile by a racing commit goes with the next one)."""
        lo = meta_key(undo_key(0))
        hi = meta_key(undo_key(upto + 1))
        try:
            keys = [k[1:] for k, _ in self._store.raw_items(lo, hi)]
            if keys:
                self._store.delete_meta(keys)
        except StorageError as e:  # closing; the next computation or open sweeps them
            log.debug("undo records not deleted: %s", e)

    def resume(self, height: int, snapshot: Snapshot, meta: Reader) -> None:
        """After opening at `height`: restart the computation of a checkpoint whose header is
        still to come (its files are not here), from the store with the recorded undo."""
        every = self.params.snapshot_every
        if not every:
            snapshot.close()
            return
        c = height - height % every
        if c == 0 or height >= c + self.params.checkpoint_lag or self.files.manifest(c):
            snapshot.close()
            self._forget_undo(height)
            return
        overrides: dict[bytes, bytes | None] = {}
        for h in range(c + 1, height + 1):
            raw = meta.get_meta(undo_key(h))
            if raw is None:
                log.warning("cannot recompute state checkpoint %d: no undo of block %d", c, h)
                snapshot.close()
                return
            for k, v in unpack(raw):
                overrides.setdefault(k, v)  # the earliest block's: the value at c
        log.info("state checkpoint %d: recomputing (reopened at %d)", c, height)
        self.start(c, snapshot, overrides)

    def _running_below(self, height: int) -> int | None:
        """The height of the checkpoint below block `height` if its computation still runs."""
        every = self.params.snapshot_every
        if not every:
            return None
        c = (height - 1) - (height - 1) % every
        fut = self._jobs.get(c)
        return None if fut is None or fut.done() else c

    def will_record_undo(self, height: int) -> bool:
        """Whether committing block `height` would record an undo now (no side effect): its
        execution then keeps what it reads (``BlockResult.base_reads``) for the record."""
        return self._running_below(height) is not None

    def recording_undo(self, height: int) -> bool:
        """Whether committing block `height` must record the values it replaces: a
        computation of the checkpoint below it is still running."""
        c = self._running_below(height)
        if c is None:
            return False
        pacer = self._pacers.get(c)
        if pacer is not None:
            pacer.committed(height - c)
        return True

    @staticmethod
    def undo_record(old: Mapping[bytes, bytes | None]) -> bytes:
        return pack([[k, v] for k, v in sorted(old.items())])

    # -- what headers carry -------------------------------------------------------------------
    def pending(self, block_height: int) -> Future[Manifest | None] | None:
        """The running computation the header of `block_height` waits for (None: none)."""
        c = self.params.checkpoint_carried_by(block_height)
        fut = None if c is None else self._jobs.get(c)
        if c is None or fut is None or fut.done():
            return None
        self.hurry(c)  # a block is waiting for it
        return fut

    def carried(self, block_height: int) -> tuple[bool, StateCheckpoint | None]:
        """(known, checkpoint) the header of `block_height` must carry; waits for our own
        computation if it runs. known=False: it needs one and this node has none (its
        computation failed, or it could not recompute after a restart)."""
        c = self.params.checkpoint_carried_by(block_height)
        if c is None:
            return True, None
        fut = self._jobs.get(c)
        m = None
        if fut is not None:
            self.hurry(c)
            try:
                m = fut.result()
            except Exception:  # noqa: BLE001  # logged by the computation
                m = None
        if m is None:
            m = self.files.manifest(c)
        return (True, m.checkpoint) if m is not None else (False, None)

    def check(self, header: BlockHeader) -> None:
        """Raise InvalidBlock unless `header` carries exactly the checkpoint it must."""
        c = self.params.checkpoint_carried_by(header.height)
        got = header.checkpoint
        if c is None:
            if got is not None:
                raise InvalidBlock(Code.BAD_CHECKPOINT, "this header carries no checkpoint")
            return
        if got is None:
            raise InvalidBlock(Code.BAD_CHECKPOINT, f"the checkpoint of height {c} is missing")
        known, want = self.carried(header.height)
        if not known:
            log.warning(
                "block %d: cannot check the checkpoint of height %d (none computed here)",
                header.height,
                c,
            )
            if got.height != c:
                raise InvalidBlock(Code.BAD_CHECKPOINT, f"checkpoint height {got.height}, not {c}")
            return
        if got != want:
            raise InvalidBlock(
                Code.BAD_CHECKPOINT, f"the checkpoint of height {c} is not the state's"
            )
