"""State checkpoint benchmark: how fast a node hashes its whole state into snapshot files.

    python -m bench.snapshot [--entries 200000] [--value-bytes 64] [--json PATH]

A checkpoint (issue 21) reads every state entry at height c from a LevelDB snapshot, in key
order, cuts it into chunks, hashes them (SM3) and writes the chunk files and the manifest
(``SnapshotFiles.write``), in a background thread of the node. This builds a real store of
``--entries`` state entries (contract-like keys: a 20-byte address namespace, a 30-40 byte
key, ``--value-bytes`` values) and reports, in one run:

- ``iterate``: reading the entries from a LevelDB snapshot alone
- ``chunk+hash``: the same plus cutting and hashing the chunks (no files)
- ``checkpoint``: the whole computation as the node runs it (files written and synced)

each as entries/s and MB/s of keys and values, and the files' bytes per entry.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from chainnode.ledger.checkpoints import state_entries
from chainnode.ledger.snapfiles import SnapshotFiles
from chainnode.model.snapshot import Builder
from storage import CommitBatch, Store

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


def run(entries: int, value_bytes: int, seed: int = 1) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as tmp:
        store = Store.open(str(Path(tmp) / "ledger"), b"bench", create=True)
        try:
            nbytes = _fill(store, entries, value_bytes, seed)
            with store.snapshot() as snap:
                t_iter, count = _timed(lambda: sum(1 for _ in state_entries(snap)))

            def chunk_hash_only() -> int:
                b = Builder(1)
                with store.snapshot() as snap:
                    for k, v in state_entries(snap):
                        b.add(k, v)
                return len(b.finish()[1].chunk_hashes)

            t_hash, chunks = _timed(chunk_hash_only)
            files = SnapshotFiles(Path(tmp) / "snapshots", keep=1)
            with store.snapshot() as snap:
                t_all, manifest = _timed(lambda: files.write(1, state_entries(snap)))
            disk = sum(p.stat().st_size for p in (Path(tmp) / "snapshots" / "1").iterdir())
        finally:
            store.close()
    assert (
        manifest is not None and manifest.entries == count and len(manifest.chunk_hashes) == chunks
    )
    rows = [
        {
            "step": step,
            "seconds": t,
            "entries/s": count / t,
            "MB/s": nbytes / t / 1e6,
        }
        for step, t in (("iterate", t_iter), ("chunk+hash", t_hash), ("checkpoint", t_all))
    ]
    return {
        "entries": count,
        "state_bytes": nbytes,
        "chunks": chunks,
        "file_bytes_per_entry": disk / count,
        "rows": rows,
        "machine": machine_info(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.snapshot", description=__doc__)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--value-bytes", type=int, default=64)
    ap.add_argument("--json", type=Path, default=Path("bench/results/snapshot.json"))
    args = ap.parse_args(argv)
    result = run(args.entries, args.value_bytes)
    print(table(result["rows"]))
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
