"""A checkpoint computation is paced (it sleeps between steps, releasing the GIL and a core)
while on schedule; behind schedule it runs flat out, and a block waiting for it, or half the
lag gone by, ends the pacing at once."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from itertools import chain, pairwise
from pathlib import Path

import pytest

from chainnode.ledger import checkpoints
from chainnode.ledger.checkpoints import (
    CHECKPOINT_NICE,
    HURRY_AT,
    ON_TIME,
    Checkpoints,
    Pacer,
)
from chainnode.ledger.snapfiles import BATCH_BYTES, BATCH_ENTRIES, FIRST_BATCH, SnapshotFiles
from chainnode.ledger.stages import CHECKPOINT, StageClock
from chainnode.model.genesis import ConsensusParams
from chainnode.model.snapshot import Builder, Entry, Manifest
from storage import CommitBatch, Snapshot, Store
from storage.background import thread_nice
from tests.chainnode.ledger.helpers import genesis
from tests.chainnode.node.cluster import wait_for

EVERY, LAG = 10, 8


def _pausing(t: threading.Thread) -> bool:
    """Whether thread `t` is inside Pacer.pause (sleeping)."""
    frame = sys._current_frames().get(t.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "pause":
            return True
        frame = frame.f_back
    return False


def _paced_worker(pacer: Pacer, done: list[float]) -> threading.Thread:
    def run() -> None:
        pacer.begin()
        t0 = time.thread_time()
        while time.thread_time() - t0 < 0.02:  # 20 ms of work: at 0.1% a 20 s pause
            pass
        pacer.pause()
        done.append(time.monotonic())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_on_schedule_is_ahead_of_finishing_in_time() -> None:
    pacer = Pacer(0.25, lag=100)
    assert pacer.on_schedule(0.0)  # nothing committed yet
    pacer.committed(10)  # a tenth of ON_TIME's 50 blocks: a tenth of the work is the pace
    due = 10 / (ON_TIME * 100)
    assert pacer.on_schedule(due) and pacer.on_schedule(1.0)
    assert not pacer.on_schedule(due - 0.01) and not pacer.hurried
    assert Pacer(0.25).on_schedule(0.0)  # no lag: no schedule to keep


def test_behind_schedule_a_step_does_not_sleep() -> None:
    pacer = Pacer(0.001, lag=100)
    pacer.committed(40)  # 40 of ON_TIME's 50 blocks: 80% of the work was due
    done: list[float] = []

    def run() -> None:
        pacer.begin()
        t0 = time.thread_time()
        while time.thread_time() - t0 < 0.02:
            pass
        pacer.pause(0.01)  # far behind: would sleep 20 s if it paced
        done.append(time.monotonic())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert done and not pacer.hurried


def _state_store(path: Path, entries: int, value_bytes: int = 100) -> Store:
    """A real store whose state holds `entries` entries of namespace ``ns``, in batches (so
    most are in table files, not the memtable)."""
    store = Store.open(str(path), b"test", create=True)
    per = max(1, entries // 8)
    for h, lo in enumerate(range(0, entries, per)):
        writes: dict[tuple[bytes, bytes], bytes | None] = {
            (b"ns", b"k%07d" % i): b"v" * value_bytes for i in range(lo, min(entries, lo + per))
        }
        store.commit(
            CommitBatch(
                height=h,
                block_hash=h.to_bytes(32, "big"),
                block=b"b",
                txs=[],
                receipts=[],
                state_writes=writes,
                meta={},
            ),
        )
    store.compact()  # the memtable into tables
    return store


def test_progress_is_the_share_of_the_state_before_a_key(tmp_path: Path) -> None:
    """A computation's progress is read off LevelDB's size estimate: a key a quarter of the way
    through a real state is ~0.25 of it, whether keys carry their key-space byte (the
    store's own, strip=1) or not (a resumed computation's merged entries)."""
    store = _state_store(tmp_path / "ledger", 40_000)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        stored, merged = cp._progress(1), cp._progress(0)
        ns = bytes((2,)) + b"ns"
        for i, want in ((0, 0.0), (10_000, 0.25), (30_000, 0.75)):
            key = ns + b"k%07d" % i
            assert stored(b"s" + key) == pytest.approx(want, abs=0.03), i
            assert merged(key) == pytest.approx(want, abs=0.03), i
        assert stored(b"s\xff") == 1.0
    finally:
        store.close()


def test_a_state_only_in_the_memtable_counts_as_done(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "ledger"), b"test", create=True)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        assert cp._progress(1)(b"s\x02nsk") == 1.0  # no table bytes: paced, never behind
    finally:
        store.close()


def test_pause_sleeps_after_work_until_hurried() -> None:
    pacer = Pacer(0.001)
    done: list[float] = []
    t = _paced_worker(pacer, done)
    wait_for(lambda: _pausing(t), 10, "the worker pausing")
    assert not done and not pacer.hurried  # sleeping its share, not returned
    pacer.hurry()
    t.join(10)
    assert done and not t.is_alive()
    pacer.pause()  # hurried: returns at once, whatever the work since
    assert pacer.hurried


def _checkpoints(tmp_path: Path) -> tuple[Checkpoints, ConsensusParams]:
    params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
    files = SnapshotFiles(tmp_path / "snapshots")
    return Checkpoints(params, files, None), params  # type: ignore[arg-type]  # no store used


def _running(cp: Checkpoints, c: int) -> Pacer:
    pacer = Pacer(0.001, LAG)
    cp._jobs[c] = Future[Manifest | None]()
    cp._pacers[c] = pacer
    return pacer


def test_a_block_waiting_for_the_checkpoint_hurries_it(tmp_path: Path) -> None:
    cp, params = _checkpoints(tmp_path)
    pacer = _running(cp, EVERY)
    assert cp.pending(EVERY + 1) is None and not pacer.hurried  # carries nothing
    assert params.checkpoint_carried_by(EVERY + LAG) == EVERY
    assert cp.pending(EVERY + LAG) is cp._jobs[EVERY]
    assert pacer.hurried


def test_half_the_lag_committed_hurries_it(tmp_path: Path) -> None:
    cp, _ = _checkpoints(tmp_path)
    pacer = _running(cp, EVERY)
    half = EVERY + int(HURRY_AT * LAG)
    for h in range(EVERY + 1, half):
        assert cp.recording_undo(h)
        assert not pacer.hurried, h
    assert cp.recording_undo(half)
    assert pacer.hurried


def test_closing_wakes_a_paused_computation(tmp_path: Path) -> None:
    cp, _ = _checkpoints(tmp_path)
    pacer = _running(cp, EVERY)
    done: list[float] = []
    t = _paced_worker(pacer, done)
    cp._threads.append(t)
    wait_for(lambda: _pausing(t), 10, "the worker pausing")
    cp.close()  # joins: returns only because the pause ended
    assert done and not t.is_alive()


def test_a_computation_runs_at_the_lowest_cpu_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The computing thread lowers its own priority to CHECKPOINT_NICE (the node's loop and
    the other validators' first); the thread that started it keeps its own."""
    monkeypatch.setattr(checkpoints, "PACE_SHARE", 0.0001)  # the first pause lasts seconds
    store = _state_store(tmp_path / "ledger", 3 * BATCH_ENTRIES)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        mine = thread_nice(threading.get_native_id())
        fut = cp.start(EVERY, store.snapshot())
        t = cp._threads[-1]
        wait_for(lambda: _pausing(t), 10, "the computation pausing")
        assert thread_nice(t.native_id or 0) == CHECKPOINT_NICE
        assert thread_nice(threading.get_native_id()) == mine != CHECKPOINT_NICE
        cp.hurry(EVERY)
        manifest = fut.result(30)
        assert manifest is not None and manifest.entries == 3 * BATCH_ENTRIES
        cp.close()
    finally:
        store.close()


def test_a_hurried_computation_goes_on_at_the_starters_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hurried mid-way (a block waits for it), the rest of the steps run on a thread at the
    priority of the thread that started the computation: at CHECKPOINT_NICE on a busy host
    the block would wait behind every other process. The files are those of one pass."""
    monkeypatch.setattr(checkpoints, "PACE_SHARE", 0.0001)  # the first pause lasts seconds
    store = _state_store(tmp_path / "ledger", 4 * BATCH_ENTRIES)
    source = checkpoints.state_source
    readers: list[int | None] = []  # the nice of the thread reading each step's first entry

    def recorded(
        snap: Snapshot, overrides: Mapping[bytes, bytes | None] | None
    ) -> tuple[Iterable[Entry], int]:
        entries, strip = source(snap, overrides)

        def each() -> Iterator[Entry]:
            for n, entry in enumerate(entries):
                if n % BATCH_ENTRIES == 0:
                    readers.append(thread_nice(threading.get_native_id()))
                yield entry

        return each(), strip

    monkeypatch.setattr(checkpoints, "state_source", recorded)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        mine = thread_nice(threading.get_native_id())
        fut = cp.start(EVERY, store.snapshot())
        paced = next(t for t in cp._threads if t.name == f"checkpoint-{EVERY}")
        wait_for(lambda: _pausing(paced), 10, "the computation pausing")
        cp.hurry(EVERY)
        manifest = fut.result(30)
        cp.close()
        assert readers == [CHECKPOINT_NICE] + [mine] * 3 and mine != CHECKPOINT_NICE
        snap = store.snapshot()
        entries, strip = source(snap, None)
        plain = SnapshotFiles(tmp_path / "plain").write(EVERY, entries, strip=strip)
        snap.close()
        assert manifest is not None and manifest == plain and manifest.entries == 4 * BATCH_ENTRIES
        for i in range(len(manifest.chunk_hashes)):
            ours = (tmp_path / "snapshots" / str(EVERY) / f"{i}.chunk").read_bytes()
            assert ours == (tmp_path / "plain" / str(EVERY) / f"{i}.chunk").read_bytes()
    finally:
        store.close()


def test_a_failing_computation_leaves_no_scratch_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure between two steps (here the pacing's progress estimate) is the future's, and
    the steps' scratch directory is gone when it is reported, not whenever the steps are
    collected (the failure's traceback keeps them alive)."""

    def progress(self: Checkpoints, strip: int) -> Callable[[bytes], float]:
        def fail(key: bytes) -> float:
            raise RuntimeError("no estimate")

        return fail

    monkeypatch.setattr(Checkpoints, "_progress", progress)
    store = _state_store(tmp_path / "ledger", 3 * BATCH_ENTRIES)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        fut = cp.start(EVERY, store.snapshot())
        with pytest.raises(RuntimeError, match="no estimate"):
            fut.result(30)
        assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == []
        cp.close()
    finally:
        store.close()


def test_a_step_holds_about_a_chunks_bytes(tmp_path: Path) -> None:
    """Between two steps (where the caller pauses, or hands over to a hurried thread) lie at
    most BATCH_ENTRIES entries, at most twice the last step's count, and about BATCH_BYTES
    once the last step's entries were like them: a state of big values is cut in steps as
    short as one of small values. The chunks are those of adding the entries one by one."""
    small = [(b"a%05d" % i, b"v" * 20) for i in range(100)]
    big = [(b"k%05d" % i, bytes([i % 251]) * 60_000) for i in range(300)]  # 18 MB
    for name, entries in (("mixed", small + big), ("small", _small(5 * BATCH_ENTRIES))):
        steps = SnapshotFiles(tmp_path / name).steps(EVERY, entries)
        keys = [k for k, _ in entries]
        ends: list[int] = []  # the index of each step's last entry
        try:
            while True:
                ends.append(keys.index(next(steps)))
        except StopIteration as done:
            manifest = done.value
        starts = [0] + [e + 1 for e in ends[:-1]]
        counts = [e + 1 - a for a, e in zip(starts, ends, strict=True)]
        sizes = [
            sum(map(len, chain(*entries[a : e + 1]))) for a, e in zip(starts, ends, strict=True)
        ]
        assert ends[-1] == len(entries) - 1 and counts[0] == FIRST_BATCH
        assert all(n <= min(BATCH_ENTRIES, 2 * m) for m, n in pairwise(counts)), counts
        like_the_last = [size for k, size in enumerate(sizes) if k > 1 and starts[k - 1] >= 100]
        if name == "mixed":
            assert len(like_the_last) >= 10 and max(like_the_last) <= BATCH_BYTES + 60_010, sizes
        else:
            assert counts[:3] == [16, 32, 64] and max(counts) == BATCH_ENTRIES
        reference = Builder(EVERY)
        chunks = [c for k, v in entries if (c := reference.add(k, v)) is not None]
        tail, expected = reference.finish()
        assert manifest == expected
        for i, data in enumerate([*chunks, *([tail] if tail else [])]):
            assert (tmp_path / name / str(EVERY) / f"{i}.chunk").read_bytes() == data


def _small(n: int) -> list[Entry]:
    return [(b"s%06d" % i, b"v" * 20) for i in range(n)]


def test_a_computations_cpu_is_the_stage_clocks_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A computation's thread CPU counts as ``checkpoint`` while it runs (read through /proc)
    and once done (its own clock): at least what 60,000 entries cost at the least (reading,
    encoding and hashing each: far above 0.3 us), at most what the process spent beside this
    thread (other threads may add to that, never take from it)."""
    monkeypatch.setattr(checkpoints, "PACE_SHARE", 0.0001)  # the first pause lasts seconds
    store = _state_store(tmp_path / "ledger", 60_000)
    try:
        params = genesis(std=True).consensus.with_snapshots(EVERY, LAG)
        cp = Checkpoints(params, SnapshotFiles(tmp_path / "snapshots"), store)
        clock = StageClock()
        b0, p0, m0 = clock.totals()[CHECKPOINT], time.process_time(), time.thread_time()
        fut = cp.start(EVERY, store.snapshot())
        t = cp._threads[-1]
        wait_for(lambda: _pausing(t), 10, "the computation pausing")
        assert clock.totals()[CHECKPOINT] > b0  # its first step, read while it runs
        cp.hurry(EVERY)
        manifest = fut.result(30)
        t.join(10)
        assert manifest is not None and manifest.entries == 60_000
        spent = clock.totals()[CHECKPOINT] - b0
        beside = (time.process_time() - p0) - (time.thread_time() - m0)  # the other threads'
        assert 60_000 * 0.3e-6 <= spent <= beside + 0.01
        cp.close()
    finally:
        store.close()
