"""Storage benchmark: our commit path vs raw plyvel write batches of the same bytes.

    python -m bench.storage [--blocks 40] [--txs 1000] [--json bench/results/storage.json]

Each block has ``--txs`` transactions, each with a receipt and one state write. Every block
is committed three ways into three databases, rotating which goes first, in the same run:
``Store.commit`` (validation, key encoding, one synced batch), the same with
``check_duplicates=True`` (plus one point read per tx), and a raw plyvel synced
``write_batch`` of the identical key/value pairs, pre-encoded outside the timer. Then txs are
read back by hash (``Store.tx`` vs raw ``get``) and ``has_tx`` is timed on hits and misses.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import plyvel

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from storage import CommitBatch, Store
from storage import keys as K
from storage.store import _DB_OPTIONS

CHAIN = b"bench-chain"


def make_block(rng: random.Random, height: int, ntx: int, tx_size: int) -> CommitBatch:
    txs = [(rng.randbytes(32), rng.randbytes(tx_size)) for _ in range(ntx)]
    receipts = [(h, rng.randbytes(100)) for h, _ in txs]
    writes: dict[tuple[bytes, bytes], bytes | None] = {
        (rng.randbytes(20), rng.randbytes(32)): rng.randbytes(64) for _ in range(ntx)
    }
    return CommitBatch(
        height=height,
        block_hash=rng.randbytes(32),
        block=rng.randbytes(400),
        txs=txs,
        receipts=receipts,
        state_writes=writes,
    )


def raw_entries(b: CommitBatch) -> list[tuple[bytes, bytes]]:
    """Exactly the key/value pairs Store.commit writes for ``b`` (see storage's layout)."""
    hb = K.height_bytes(b.height)
    out = [(K.tx_key(h), K.TX_LOC.pack(b.height, i) + tx) for i, (h, tx) in enumerate(b.txs)]
    out += [(K.receipt_key(h), r) for h, r in b.receipts]
    out += [(K.state_key(ns, k), v) for (ns, k), v in b.state_writes.items() if v is not None]
    out += [
        (K.block_key(b.height), b.block),
        (K.block_hash_at_key(b.height), b.block_hash),
        (K.height_of_hash_key(b.block_hash), hb),
        (K.block_txs_key(b.height), K.encode_tx_hashes([h for h, _ in b.txs])),
        (K.K_HEAD, hb + b.block_hash),
    ]
    return out


def raw_write(db: Any, keys: list[bytes], values: list[bytes]) -> None:
    """The fastest plain way to drive plyvel: puts mapped in C, one synced batch."""
    wb = db.write_batch(sync=True)
    deque(map(wb.put, keys, values), maxlen=0)
    wb.write()


def _row(path: str, times: list[float], ntx: int, nbytes: int) -> dict[str, Any]:
    total = sum(times)
    return {
        "path": path,
        "blocks": len(times),
        "txs/s": len(times) * ntx / total,
        "MB/s": nbytes / total / 1e6,
        "median ms/block": statistics.median(times) * 1e3,
        "p90 ms/block": sorted(times)[int(0.9 * (len(times) - 1))] * 1e3,
    }


def _timed_reads(label: str, f: Any, items: list[bytes]) -> dict[str, Any]:
    t = time.perf_counter()
    for h in items:
        f(h)
    dt = time.perf_counter() - t
    return {"read": label, "ops/s": len(items) / dt, "us/op": dt / len(items) * 1e6}


def run(blocks: int, ntx: int, tx_size: int, reads: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        store = Store.open(os.path.join(tmp, "ours"), CHAIN)
        checked = Store.open(os.path.join(tmp, "checked"), CHAIN)
        raw = plyvel.DB(os.path.join(tmp, "raw"), create_if_missing=True, **_DB_OPTIONS)
        times: dict[str, list[float]] = {"ours": [], "checked": [], "raw": []}
        nbytes = 0
        all_hashes: list[bytes] = []
        for height in range(blocks):
            batch = make_block(rng, height, ntx, tx_size)
            entries = raw_entries(batch)
            keys, values = [k for k, _ in entries], [v for _, v in entries]
            nbytes += sum(map(len, keys)) + sum(map(len, values))
            all_hashes += [h for h, _ in batch.txs]
            jobs: dict[str, Callable[[], None]] = {
                "ours": partial(store.commit, batch),
                "checked": partial(checked.commit, batch, check_duplicates=True),
                "raw": partial(raw_write, raw, keys, values),
            }
            order = list(jobs)
            order = order[height % 3 :] + order[: height % 3]  # rotate who goes first
            for name in order:
                t = time.perf_counter()
                jobs[name]()
                times[name].append(time.perf_counter() - t)

        sample = [rng.choice(all_hashes) for _ in range(reads)]
        misses = [rng.randbytes(32) for _ in range(reads)]
        assert all(store.tx(h) is not None for h in sample[:100])
        assert not any(store.has_tx(h) for h in misses[:100])
        read_rows = [
            _timed_reads("Store.tx(hash) hit", store.tx, sample),
            _timed_reads("raw get(t+hash) hit", lambda h: raw.get(b"t" + h), sample),
            _timed_reads("Store.has_tx hit", store.has_tx, sample),
            _timed_reads("Store.has_tx miss", store.has_tx, misses),
            _timed_reads("raw get(t+hash) miss", lambda h: raw.get(b"t" + h), misses),
        ]
        store.close()
        checked.close()
        raw.close()

    rows = [
        _row("Store.commit", times["ours"], ntx, nbytes),
        _row("Store.commit(check_duplicates)", times["checked"], ntx, nbytes),
        _row("raw plyvel batch", times["raw"], ntx, nbytes),
    ]
    raw_total = sum(times["raw"])
    return {
        "params": {"blocks": blocks, "txs_per_block": ntx, "tx_size": tx_size, "seed": seed},
        "bytes_per_block": nbytes / blocks,
        "commit": rows,
        "reads": read_rows,
        "ratio_ours_to_raw": raw_total / sum(times["ours"]),
        "ratio_checked_to_raw": raw_total / sum(times["checked"]),
        "ratio_median_block": statistics.median(times["raw"]) / statistics.median(times["ours"]),
        "target": 0.8,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    ap.add_argument("--blocks", type=int, default=90)
    ap.add_argument("--txs", type=int, default=1000, help="txs per block")
    ap.add_argument("--tx-size", type=int, default=300)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=Path("bench/results/storage.json"))
    args = ap.parse_args(argv)
    result = run(args.blocks, args.txs, args.tx_size, args.reads, args.seed)
    result["machine"] = machine_info()
    print(
        f"storage commit: {args.blocks} blocks x {args.txs} txs "
        f"(tx {args.tx_size} B + receipt 100 B + 1 state write), "
        f"{result['bytes_per_block'] / 1e6:.2f} MB/block, synced batches"
    )
    print(table(result["commit"]))
    print()
    print(table(result["reads"]))
    ratio = result["ratio_ours_to_raw"]
    verdict = "meets" if ratio >= result["target"] else "BELOW"
    print(
        f"\nStore.commit / raw plyvel throughput: {ratio:.1%} "
        f"(median block: {result['ratio_median_block']:.1%}); {verdict} the 80% target. "
        f"With check_duplicates: {result['ratio_checked_to_raw']:.1%}"
    )
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
