"""State checkpoint benchmark: how fast a node hashes its whole state into snapshot files.

    python -m bench.snapshot [--entries 200000] [--value-bytes 64] [--repeat 3] [--json PATH]

A checkpoint (issue 21) reads every state entry at height c from a LevelDB snapshot, in key
order, cuts it into chunks, hashes them (SM3) and writes the chunk files and the manifest
(``SnapshotFiles.write``), in a background thread of the node. This builds a real store of
``--entries`` state entries (contract-like keys: a 20-byte address namespace, a 30-40 byte
key, ``--value-bytes`` values) and reports, in one run:

- ``iterate``: reading the entries from a LevelDB snapshot alone
- ``chunk+hash plain``: the same plus cutting and hashing the chunks in Python, one
  ``Builder.add`` per entry (the plain reference; no files)
- ``chunk+hash``: the same with ``Builder.add_many`` (the C chunker, GIL released) in steps
  of ``BATCH_ENTRIES`` store pairs, as the node does
- ``checkpoint``: the whole computation as the node runs it (files written and synced)

each as entries/s and MB/s of keys and values, and the files' bytes per entry. Then the GIL
each chunk+hash path holds per entry, from this thread's CPU time: the path's total minus
the part that runs with the GIL released (``_gil_held``).

Then what a computation costs the node's event loop (issue 19): the checkpoint runs on a
thread, as in the node, while the main thread runs (a) a busy loop of small Python steps, (b) a
loop of 0.5 ms sleeps (an event loop waking from ``select``) and (c) an asyncio loop busy 70%
of the time (0.7 ms of Python, then 0.3 ms in its poll: a node at 70% of its peak), and the
same loops run alone. Reported per mode (the Python chunker, the C one, the C one paced as the
node paces it: :class:`~chainnode.ledger.checkpoints.Pacer`): the checkpoint's wall and CPU
time; the busy loop's share of its solo speed and the time it lost (``main lost s``: on a
loaded machine also the cores other processes take); the time it waited for the GIL (``GIL wait
s`` and per entry: wall minus CPU minus run-queue time, from Linux schedstat, so free of the
machine's load: the GIL the computation holds plus the handovers); the wake-up lateness of (b);
and beside (c), the checkpoint's wall time and what (c) lost. (a) is the worst case: a loop
that never waits makes the thread win the GIL back for every entry (150 s for 400k entries).
(c) is the node's case: the thread runs while the loop waits, and the loop loses next to
nothing (issue 19: why checkpoints stay on a thread). The modes run interleaved ``--repeat``
times; each figure is a median. The machine's other load makes absolute figures noisy: compare
the modes of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from chainnode.ledger.checkpoints import PACE_SHARE, Pacer, state_entries, state_source
from chainnode.ledger.snapfiles import BATCH_ENTRIES, SnapshotFiles
from chainnode.model import snapshot
from chainnode.model.snapshot import Builder
from storage import CommitBatch, Snapshot, Store

BATCH = 20_000


def _fill(store: Store, entries: int, value_bytes: int, seed: int) -> int:
    """Commit `entries` state entries in blocks of BATCH; returns their bytes."""
    rng = random.Random(seed)
    contracts = [rng.randbytes(20) for _ in range(50)]
    total = 0
    height = 0
    left = entries
    while left:
        n = min(BATCH, left)
        writes: dict[tuple[bytes, bytes], bytes | None] = {}
        for _ in range(n):
            ns = rng.choice(contracts)
            key = b"doc/" + rng.randbytes(rng.randrange(26, 36)).hex().encode()[:36]
            value = rng.randbytes(value_bytes)
            writes[(ns, key)] = value
            total += 1 + len(ns) + len(key) + len(value)
        store.commit(
            CommitBatch(
                height=height,
                block_hash=height.to_bytes(32, "big"),
                block=b"b",
                txs=[],
                receipts=[],
                state_writes=writes,
                meta={},
            )
        )
        height += 1
        left -= n
    return total


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


@contextlib.contextmanager
def _python_chunker() -> Iterator[None]:
    """Builder.add_many on its plain path (as without the C extension), for the A/B."""
    names = vars(snapshot)  # the module's own namespace: what Builder.add_many looks up
    native = names["_native"]
    names["_native"] = None
    try:
        yield
    finally:
        names["_native"] = native


def _chunk_hash(store: Store, native: bool) -> int:
    b = Builder(1, strip=1)
    with store.snapshot() as snap:
        entries, strip = state_source(snap)
        assert strip == 1
        if native:
            it = iter(entries)
            while batch := list(islice(it, BATCH_ENTRIES)):
                b.add_many(batch)
        else:
            for k, v in entries:
                b.add(k, v)
    return len(b.finish()[1].chunk_hashes)


def _cpu(fn: Callable[[], object]) -> float:
    """This thread's CPU seconds for fn(), best of 3 (others' load barely moves it)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best


def _gil_held(store: Store, count: int) -> list[dict[str, Any]]:
    """GIL held per entry by chunk+hash, by decomposition of this thread's CPU time: the
    path's total minus its part that runs without the GIL (plain: hashlib's SM3, which lets
    the GIL go for buffers over 2 KiB; C: the encoding and SM3 of each chunk, timed alone
    as one call per chunk minus the same calls that close none, i.e. the gather)."""
    with store.snapshot() as snap:
        entries = list(state_entries(snap))
    chunks = list(snapshot.chunks_of(entries))
    datas = [snapshot.encode_chunk(c) for c in chunks]
    del entries
    plain = _cpu(lambda: _chunk_hash(store, native=False))
    plain_free = _cpu(lambda: [snapshot.chunk_hash_of_bytes(d) for d in datas])
    rows = [("python chunker", plain, plain_free)]
    native = vars(snapshot)["_native"]
    if native is not None:
        domain, n = snapshot.CHUNK_DOMAIN, 1 << 40
        fill = _cpu(lambda: [native.encode_chunks(c, 0, domain, n, n, True) for c in chunks])
        gather = _cpu(lambda: [native.encode_chunks(c, 0, domain, n, n, False) for c in chunks])
        rows.append(("C chunker", _cpu(lambda: _chunk_hash(store, native=True)), fill - gather))
    return [
        {
            "path": name,
            "CPU us/entry": total / count * 1e6,
            "GIL-free us/entry": free / count * 1e6,
            "GIL held us/entry": (total - free) / count * 1e6,
        }
        for name, total, free in rows
    ]


def _write(files: SnapshotFiles, snap: Snapshot, stop: Callable[[bytes], bool]) -> Any:
    entries, strip = state_source(snap)
    return files.write(1, entries, stop, strip)


def _schedstat() -> tuple[float, float]:
    """This thread's (CPU s, s waiting for a CPU) from Linux schedstat ((nan, nan) elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            cpu_ns, runq_ns, _ = f.read().split()
    except (OSError, ValueError):
        return float("nan"), float("nan")
    return int(cpu_ns) / 1e9, int(runq_ns) / 1e9


def _busy_steps(
    until: Callable[[], bool], seconds: float | None = None
) -> tuple[int, float, float]:
    """Small Python steps (a few us each) until `until()` (or for `seconds`): (steps, s,
    s blocked). A busy loop never sleeps, so the time it neither ran nor waited for a CPU
    (schedstat) is time it waited for the GIL: the GIL wait, free of the machine's load."""
    t0 = time.perf_counter()
    cpu0, runq0 = _schedstat()
    n = 0
    while not until():
        sum(range(50))
        n += 1
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
    wall = time.perf_counter() - t0
    cpu1, runq1 = _schedstat()
    return n, wall, wall - (cpu1 - cpu0) - (runq1 - runq0)


def _wakeups(until: Callable[[], bool], seconds: float | None = None) -> list[float]:
    """0.5 ms sleeps until `until()` (or for `seconds`): each one's lateness in ms."""
    t0 = time.perf_counter()
    late = []
    while not until():
        a = time.perf_counter()
        time.sleep(0.0005)
        late.append((time.perf_counter() - a - 0.0005) * 1000)
        if seconds is not None and time.perf_counter() - t0 >= seconds:
            break
    return late


#: The node-like loop: each iteration BUSY_S of Python, then WAIT_S in the event loop's poll
#: (a node at 70% of its peak waits for messages 30% of the time).
BUSY_S, WAIT_S = 0.0007, 0.0003


def _duty(until: Callable[[], bool], seconds: float | None = None) -> tuple[int, float]:
    """An asyncio loop 70% busy (see BUSY_S) until `until()` (or for `seconds`): (its
    iterations, s)."""

    async def run() -> tuple[int, float]:
        t0 = time.perf_counter()
        n = 0
        while not until():
            a = time.perf_counter()
            while time.perf_counter() - a < BUSY_S:
                sum(range(50))
            await asyncio.sleep(WAIT_S)
            n += 1
            if seconds is not None and time.perf_counter() - t0 >= seconds:
                break
        return n, time.perf_counter() - t0

    return asyncio.run(run())


def _beside(store: Store, files: SnapshotFiles, paced: bool, loop: str) -> tuple[float, float, Any]:
    """Run the checkpoint on a thread while the main thread runs `loop`: (its wall s, its
    CPU s, the loop's result)."""
    out: dict[str, float] = {}
    pacer = Pacer(PACE_SHARE)

    def compute() -> None:
        pacer.begin()

        def stop(key: bytes) -> bool:
            if paced:
                pacer.pause()  # no lag: always on schedule, the share alone
            return False

        t0, c0 = time.perf_counter(), time.thread_time()
        with store.snapshot() as snap:
            _write(files, snap, stop)
        out["s"], out["cpu"] = time.perf_counter() - t0, time.thread_time() - c0

    t = threading.Thread(target=compute)
    t.start()
    running = t.is_alive
    res: Any = (
        _busy_steps(lambda: not running())
        if loop == "busy"
        else _duty(lambda: not running())
        if loop == "duty"
        else _wakeups(lambda: not running())
    )
    t.join()
    return out["s"], out["cpu"], res


def _p(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


MODES = (("python chunker", False, False), ("C chunker", True, False), ("C, paced", True, True))


# long: one table: the solo loops, then each mode `repeat` times, interleaved, medians
def _event_loop_cost(
    store: Store, files: SnapshotFiles, count: int, repeat: int, solo_s: float
) -> list[dict[str, Any]]:
    """Per mode: what a checkpoint on a thread costs the main thread (see the docstring);
    the modes interleaved `repeat` times, each figure the median of its runs."""
    solo_rates, solo_late, duty_rates = [], [], []
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in MODES}
    for _ in range(repeat):
        steps, secs, _blocked = _busy_steps(lambda: False, solo_s)
        solo_rates.append(steps / secs)
        solo_late += _wakeups(lambda: False, solo_s)
        iterations, secs = _duty(lambda: False, solo_s)
        duty_rates.append(iterations / secs)
        for name, native, paced in MODES:
            with contextlib.nullcontext() if native else _python_chunker():
                wall, cpu, (steps, secs, blocked) = _beside(store, files, paced, "busy")
                _wall, _cpu, late = _beside(store, files, paced, "wake")
                duty_wall, _cpu, (iterations, duty_secs) = _beside(store, files, paced, "duty")
            runs[name].append(
                {"wall": wall, "cpu": cpu, "rate": steps / secs, "secs": secs, "gil": blocked}
                | {"p50": statistics.median(late), "p99": _p(late, 0.99), "max": max(late)}
                | {"duty_wall": duty_wall, "duty_rate": iterations / duty_secs}
                | {"duty_secs": duty_secs}
            )
    solo = statistics.median(solo_rates)
    duty_solo = statistics.median(duty_rates)
    rows: list[dict[str, Any]] = [
        {
            "mode": "no checkpoint",
            "checkpoint s": None,
            "its CPU s": None,
            "main share": 1.0,
            "main lost s": None,
            "GIL wait s": None,
            "GIL us/entry": None,
            "wake p50 ms": statistics.median(solo_late),
            "wake p99 ms": _p(solo_late, 0.99),
            "wake max ms": max(solo_late),
            "70% loop: checkpoint s": None,
            "70% loop: main lost s": None,
        }
    ]
    for name, _, _ in MODES:
        rs = runs[name]

        def med(key: str, rs: list[dict[str, float]] = rs) -> float:
            return statistics.median(r[key] for r in rs)

        lost = statistics.median((1 - r["rate"] / solo) * r["secs"] for r in rs)
        rows.append(
            {
                "mode": name,
                "checkpoint s": med("wall"),
                "its CPU s": med("cpu"),
                "main share": med("rate") / solo,
                "main lost s": lost,
                "GIL wait s": med("gil"),
                "GIL us/entry": med("gil") / count * 1e6,
                "wake p50 ms": med("p50"),
                "wake p99 ms": med("p99"),
                "wake max ms": med("max"),
                "70% loop: checkpoint s": med("duty_wall"),
                "70% loop: main lost s": statistics.median(
                    (1 - r["duty_rate"] / duty_solo) * r["duty_secs"] for r in rs
                ),
            }
        )
    return rows


def run(
    entries: int, value_bytes: int, seed: int = 1, repeat: int = 3, solo_s: float = 1.0
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        store = Store.open(str(Path(tmp) / "ledger"), b"bench", create=True)
        try:
            nbytes = _fill(store, entries, value_bytes, seed)
            with store.snapshot() as snap:
                t_iter, count = _timed(lambda: sum(1 for _ in state_entries(snap)))
            t_plain, chunks_plain = _timed(lambda: _chunk_hash(store, native=False))
            t_hash, chunks = _timed(lambda: _chunk_hash(store, native=True))
            gil_rows = _gil_held(store, count)
            files = SnapshotFiles(Path(tmp) / "snapshots", keep=1)
            with store.snapshot() as snap:
                t_all, manifest = _timed(lambda: _write(files, snap, lambda key: False))
            disk = sum(p.stat().st_size for p in (Path(tmp) / "snapshots" / "1").iterdir())
            loop_rows = _event_loop_cost(store, files, count, repeat, solo_s)
        finally:
            store.close()
    assert (
        manifest is not None
        and manifest.entries == count
        and len(manifest.chunk_hashes) == chunks == chunks_plain
    )
    rows = [
        {
            "step": step,
            "seconds": t,
            "entries/s": count / t,
            "MB/s": nbytes / t / 1e6,
        }
        for step, t in (
            ("iterate", t_iter),
            ("chunk+hash plain", t_plain),
            ("chunk+hash", t_hash),
            ("checkpoint", t_all),
        )
    ]
    return {
        "entries": count,
        "state_bytes": nbytes,
        "chunks": chunks,
        "file_bytes_per_entry": disk / count,
        "rows": rows,
        "event_loop": loop_rows,
        "chunk_hash_speedup": t_plain / t_hash,
        "gil_held": gil_rows,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.snapshot", description=__doc__)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--value-bytes", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each event-loop mode")
    ap.add_argument("--json", type=Path, default=Path("bench/results/snapshot.json"))
    args = ap.parse_args(argv)
    result = run(args.entries, args.value_bytes, repeat=args.repeat)
    print(table(result["rows"]))
    print(f"chunk+hash: {result['chunk_hash_speedup']:.2f}x the plain path")
    print(table(result["gil_held"]))
    print(table(result["event_loop"]))
    print(
        f"{result['entries']:,} entries ({result['state_bytes'] / 1e6:.1f} MB of keys and "
        f"values), {result['chunks']} chunks, {result['file_bytes_per_entry']:.1f} file bytes "
        "per entry"
    )
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
