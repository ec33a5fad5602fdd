"""A checkpoint a block waits for, on a busy machine: how long from the wait to the result.

    python -m bench.hurry [--entries 50000] [--value-bytes 200] [--busy 3] [--repeat 5]
                          [--json PATH]

A state checkpoint is computed by a paced thread at the lowest CPU priority
(``CHECKPOINT_NICE``): the validators' event loops come first. Once a block waits for it the
node hurries it, and at that priority, beside processes that keep every core busy, it would
wait behind all of them (Linux gives a nice-19 thread ~1.5% of a core beside one busy
nice-0 thread). So the node hands the rest of the steps to a thread at its own priority
(:class:`chainnode.ledger.checkpoints.Checkpoints`).

This builds a real store of ``--entries`` state entries, starts ``--busy`` processes that
spin at normal priority, and times, interleaved ``--repeat`` times:

- ``node``: ``Checkpoints.start``, hurried 20 ms later (as a block that waits for it does),
  until its result;
- ``lowest priority throughout`` (the reference, as before the hand-over): the same steps,
  paced and hurried the same way, on one thread at ``CHECKPOINT_NICE`` to the end;

and the same two with no busy process. Figures are medians (min-max); compare the rows of
one run: the machine's other load moves them all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from bench.snapshot import _fill
from chainnode.ledger.checkpoints import (
    CHECKPOINT_NICE,
    PACE_SHARE,
    Checkpoints,
    Pacer,
    state_source,
)
from chainnode.ledger.snapfiles import SnapshotFiles
from chainnode.model.genesis import ConsensusParams
from storage import Store

HEIGHT, LAG = 10, 8
HURRY_AFTER = 0.02  # seconds of paced work before a block waits for it


@contextmanager
def _busy(n: int) -> Iterator[None]:
    """`n` processes spinning at normal priority until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _node(params: ConsensusParams, store: Store, root: Path) -> float:
    cp = Checkpoints(params, SnapshotFiles(root), store)
    try:
        fut = cp.start(HEIGHT, store.snapshot())
        time.sleep(HURRY_AFTER)
        t0 = time.monotonic()
        cp.hurry(HEIGHT)
        if fut.result(600) is None:
            raise RuntimeError("the computation gave up")
        return time.monotonic() - t0
    finally:
        cp.close()


def _lowest_throughout(params: ConsensusParams, store: Store, root: Path) -> float:
    pacer = Pacer(PACE_SHARE, params.checkpoint_lag)
    snap = store.snapshot()

    def run() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECKPOINT_NICE)
        pacer.begin()

        def stop(key: bytes) -> bool:
            pacer.pause()
            return False

        try:
            entries, strip = state_source(snap)
            SnapshotFiles(root).write(HEIGHT, entries, stop, strip)
        finally:
            snap.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(HURRY_AFTER)
    t0 = time.monotonic()
    pacer.hurry()
    t.join()
    return time.monotonic() - t0


def _row(mode: str, busy: int, samples: list[float]) -> dict[str, Any]:
    return {
        "mode": mode,
        "busy processes": busy,
        "hurry to result s": statistics.median(samples),
        "min s": min(samples),
        "max s": max(samples),
    }


def run(entries: int, value_bytes: int, busy: int, repeat: int) -> dict[str, Any]:
    params = ConsensusParams().with_snapshots(HEIGHT, LAG)
    modes: dict[str, Callable[[ConsensusParams, Store, Path], float]] = {
        "node": _node,
        "lowest priority throughout": _lowest_throughout,
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="chainnode-bench-hurry-") as d:
        store = Store.open(str(Path(d) / "ledger"), b"bench", create=True)
        try:
            _fill(store, entries, value_bytes, seed=1)
            for n in (busy, 0):
                samples: dict[str, list[float]] = {m: [] for m in modes}
                with _busy(n):
                    for r in range(repeat):
                        for mode, fn in modes.items():
                            samples[mode].append(fn(params, store, Path(d) / f"{mode}-{n}-{r}"))
                rows += [_row(mode, n, s) for mode, s in samples.items()]
        finally:
            store.close()
    loaded = {r["mode"]: r["hurry to result s"] for r in rows if r["busy processes"] == busy}
    return {
        "entries": entries,
        "value_bytes": value_bytes,
        "repeat": repeat,
        "rows": rows,
        "speedup_busy": loaded["lowest priority throughout"] / loaded["node"],
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.hurry",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--entries", type=int, default=50_000, help="state entries")
    ap.add_argument("--value-bytes", type=int, default=200)
    ap.add_argument("--busy", type=int, default=3, help="spinning processes beside it")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved runs of each mode")
    ap.add_argument("--json", type=Path, default=Path("bench/results/hurry.json"))
    args = ap.parse_args(argv)
    result = run(args.entries, args.value_bytes, args.busy, args.repeat)
    print(table(result["rows"]))
    print(
        f"beside {args.busy} busy processes, a hurried checkpoint of {args.entries:,} entries "
        f"is done {result['speedup_busy']:.1f}x sooner than at the lowest priority throughout"
    )
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
