"""Storage benchmark: our commit path vs raw plyvel write batches of the same bytes.

    python -m bench.storage [--blocks 40] [--txs 1000] [--json bench/results/storage.json]

Each block has ``--txs`` transactions, each with a receipt and one state write. Every block
is committed three ways into three stores, rotating which goes first, in the same run:
``Store.commit`` (validation, key encoding, two synced batches: the bodies' database's, then
the main one's), the same with ``check_duplicates=True`` (plus one point read per tx), and raw
plyvel synced ``write_batch``es of the identical key/value pairs into the same two databases,
pre-encoded outside the timer. Then txs are read back by hash (``Store.tx`` vs raw ``get``)
and ``has_tx`` is timed on hits and misses.

Then the layouts (issue 21): ``--layout-blocks`` blocks written four ways, into databases
with the same options and a 4 MiB write buffer: layout 1 (txs and receipts keyed by hash),
layout 2 (keyed by height and index, with a hash index), layout 3 (layout 2's keys, the bodies
in a LevelDB of their own) and layout 4, the store's (layout 3 with the bodies keyed height
first there, so a flushed table of them overlaps none before it). The blocks are shaped like the evidence
workload's (``--layout-workload evidence``, the default: a real ledger's entry sizes and key
shapes) or the commit test's uniform ones. LevelDB's own ``leveldb.stats`` gives the bytes its
flushes and compactions wrote once they are done (write amplification = those / the bytes the
batches carried), and the directory size gives bytes per transaction. ``s writing`` is noisy:
the databases share LevelDB's one background thread, so one's write stall can come from
another's compaction.
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
from storage.store import _BODY_OPTIONS, _DB_OPTIONS

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


# The evidence workload as a real ledger stores it, in bytes per tx (tests/bench/
# test_storage_layout.py checks them against one); evidence.register also writes the owner's
# count and the sender's nonce (32 bytes).
EVIDENCE_TX = 277  # the tx body
EVIDENCE_RECEIPT = 481
EVIDENCE_BLOB = 281  # its share of the block blob
EVIDENCE_RECORD = 258  # the record under "doc:<hash>"
EVIDENCE_INDEX = 66  # the owner index entry
EVIDENCE_SENDERS = 16


def _vm_str(text: bytes) -> bytes:
    """A contract's string key as the VM stores it (msgpack str8: 0xd9, length, bytes)."""
    return b"\xd9" + bytes((len(text),)) + text


def evidence_block(rng: random.Random, height: int, ntx: int) -> CommitBatch:
    """A block of ``ntx`` evidence.register txs, entry for entry the sizes and key shapes a
    ledger writes (hash-ordered doc keys and nonces, per-owner index keys, 16 senders)."""
    contract = bytes(range(20))  # the contract's namespace: its address
    senders = [bytes([i + 1]) * 20 for i in range(EVIDENCE_SENDERS)]
    txs = [(rng.randbytes(32), rng.randbytes(EVIDENCE_TX)) for _ in range(ntx)]
    writes: dict[tuple[bytes, bytes], bytes | None] = {}
    for i, (tx_hash, _) in enumerate(txs):
        sender = senders[i % EVIDENCE_SENDERS]
        owner = b"0x" + sender.hex().encode()
        n = (height * ntx + i) // EVIDENCE_SENDERS  # the owner's count before this tx
        doc = _vm_str(b"doc:" + rng.randbytes(32).hex().encode())
        writes[(contract, doc)] = rng.randbytes(EVIDENCE_RECORD)
        writes[(contract, _vm_str(b"owner:" + owner + b":" + str(n).encode()))] = rng.randbytes(
            EVIDENCE_INDEX
        )
        writes[(contract, _vm_str(b"count:" + owner))] = str(n + 1).encode()
        writes[(b"sys.nonce", sender + (height * ntx + i).to_bytes(8, "big"))] = tx_hash
    return CommitBatch(
        height=height,
        block_hash=rng.randbytes(32),
        block=rng.randbytes(EVIDENCE_BLOB * ntx),
        txs=txs,
        receipts=[(h, rng.randbytes(EVIDENCE_RECEIPT)) for h, _ in txs],
        state_writes=writes,
    )


def raw_entries(b: CommitBatch) -> list[tuple[bytes, bytes]]:
    """Exactly the key/value pairs Store.commit writes for ``b`` (see storage's layout), the
    bodies by name (the bodies' database keys them by ``K.body_key`` of it)."""
    hb = K.height_bytes(b.height)
    locs = [K.TX_LOC.pack(b.height, i) for i in range(len(b.txs))]
    out = [(K.tx_index_key(h), loc) for (h, _), loc in zip(b.txs, locs, strict=True)]
    out += [(K.P_TX + loc, tx) for (_, tx), loc in zip(b.txs, locs, strict=True)]
    at = {h: loc for (h, _), loc in zip(b.txs, locs, strict=True)}
    out += [(K.P_RECEIPT + at[h], r) for h, r in b.receipts]
    return out + _common_entries(b, hb)


def raw_entries_v1(b: CommitBatch) -> list[tuple[bytes, bytes]]:
    """The pairs of layout 1 (txs and receipts keyed by hash), for the before/after figures."""
    hb = K.height_bytes(b.height)
    out = [(K.P_TX + h, K.TX_LOC.pack(b.height, i) + tx) for i, (h, tx) in enumerate(b.txs)]
    out += [(K.P_RECEIPT + h, r) for h, r in b.receipts]
    return out + _common_entries(b, hb)


def _common_entries(b: CommitBatch, hb: bytes) -> list[tuple[bytes, bytes]]:
    out = [(K.state_key(ns, k), v) for (ns, k), v in b.state_writes.items() if v is not None]
    out += [
        (K.block_key(b.height), b.block),
        (K.block_hash_at_key(b.height), b.block_hash),
        (K.height_of_hash_key(b.block_hash), hb),
        (K.block_txs_key(b.height), K.encode_tx_hashes([h for h, _ in b.txs])),
        (K.K_HEAD, hb + b.block_hash),
    ]
    return out


def raw_write(
    dbs: tuple[Any, Any],
    main: tuple[list[bytes], list[bytes]],
    bodies: tuple[list[bytes], list[bytes]],
) -> None:
    """The fastest plain way to drive plyvel in our layout: puts mapped in C, one synced
    batch of (keys, values) into the bodies' database (``dbs[1]``), then one into the main
    one (``dbs[0]``)."""
    for db, (keys, values) in ((dbs[1], bodies), (dbs[0], main)):
        wb = db.write_batch(sync=True)
        deque(map(wb.put, keys, values), maxlen=0)
        wb.write()


def _raw_databases(tmp: str) -> tuple[Any, Any]:
    """The raw path's two databases (main, bodies), with the store's options."""
    return (
        plyvel.DB(os.path.join(tmp, "raw"), create_if_missing=True, **_DB_OPTIONS),
        plyvel.DB(os.path.join(tmp, "raw-bodies"), create_if_missing=True, **_BODY_OPTIONS),
    )


def _columns(pairs: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[bytes]]:
    return [k for k, _ in pairs], [v for _, v in pairs]


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
        raw = _raw_databases(tmp)
        times: dict[str, list[float]] = {"ours": [], "checked": [], "raw": []}
        nbytes = 0
        all_hashes: list[bytes] = []
        for height in range(blocks):
            batch = make_block(rng, height, ntx, tx_size)
            entries = raw_entries(batch)
            nbytes += sum(len(k) + len(v) for k, v in entries)
            main = _columns([kv for kv in entries if kv[0][0] not in K.BODY_CODES])
            bodies = _columns([(K.body_key(k), v) for k, v in entries if k[0] in K.BODY_CODES])
            all_hashes += [h for h, _ in batch.txs]
            jobs: dict[str, Callable[[], None]] = {
                "ours": partial(store.commit, batch),
                "checked": partial(checked.commit, batch, check_duplicates=True),
                "raw": partial(raw_write, raw, main, bodies),
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
            _timed_reads("raw get(x+hash) hit", lambda h: raw[0].get(b"x" + h), sample),
            _timed_reads("Store.has_tx hit", store.has_tx, sample),
            _timed_reads("Store.has_tx miss", store.has_tx, misses),
            _timed_reads("raw get(x+hash) miss", lambda h: raw[0].get(b"x" + h), misses),
        ]
        store.close()
        checked.close()
        for db in raw:
            db.close()

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


#: a small write buffer so that a run of a minute goes through many flushes and compactions
#: (the node's larger memtable would need far more data); the same for both layouts
LAYOUT_BUFFER = 4 << 20


def _compaction_written(db: Any) -> int:
    """Bytes LevelDB wrote to table files (flushes + compactions), from ``leveldb.stats``."""
    stats = db.get_property(b"leveldb.stats").decode()
    total = 0.0
    for line in stats.splitlines():
        cols = line.split()
        if len(cols) == 6 and cols[0].isdigit():
            total += float(cols[5])
    return int(total * 1024 * 1024)


def _settled_written(dbs: list[Any], quiet_s: float = 1.5, timeout_s: float = 300.0) -> int:
    """What ``dbs`` wrote to table files once their background compactions are done (the
    figure stops moving for ``quiet_s``; at most ``timeout_s``): the work a layout causes,
    not the part of it done by the time the writes return."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while True:
        now = sum(_compaction_written(db) for db in dbs)
        t = time.monotonic()
        if now != last:
            last, since = now, t
        elif t - since >= quiet_s or t >= deadline:
            return now
        time.sleep(0.25)


def _dir_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).iterdir() if p.is_file())


Entries = Callable[[CommitBatch], list[tuple[bytes, bytes]]]


def _named(key: bytes) -> bytes:
    return key


#: (name, the pairs of a block, how many LevelDB directories: 2 puts the bodies in their own,
#: the key a body's name is stored under there)
VARIANTS: tuple[tuple[str, Entries, int, Callable[[bytes], bytes]], ...] = (
    ("1: txs, receipts by hash", raw_entries_v1, 1, _named),
    ("2: by height + hash index", raw_entries, 1, _named),
    ("3: bodies in their own LevelDB", raw_entries, 2, _named),
    ("4: ... keyed height first", raw_entries, 2, K.body_key),
)


def layouts(
    blocks: int, ntx: int, tx_size: int, seed: int, workload: str = "evidence"
) -> list[dict[str, Any]]:
    """Write amplification and bytes per tx of each of ``VARIANTS``: the same blocks, the same
    LevelDB options (but the write buffer), unsynced batches, one run; rows in that order.
    ``workload``: ``evidence`` (:func:`evidence_block`) or ``uniform`` (:func:`make_block`,
    ``tx_size``-byte txs, 100-byte receipts, one 64-byte state write per tx)."""
    rows = []
    opts = {**_DB_OPTIONS, "write_buffer_size": LAYOUT_BUFFER}
    with tempfile.TemporaryDirectory(prefix="bench-layout-") as tmp:
        dbs: list[list[Any]] = []
        for v, (_, _, n, _) in enumerate(VARIANTS):
            paths = [os.path.join(tmp, f"v{v}-{k}") for k in range(n)]
            dbs.append([plyvel.DB(p, create_if_missing=True, **opts) for p in paths])
        written = [0] * len(VARIANTS)
        seconds = [0.0] * len(VARIANTS)
        rng = random.Random(seed)
        for height in range(blocks):
            batch = (
                evidence_block(rng, height, ntx)
                if workload == "evidence"
                else make_block(rng, height, ntx, tx_size)
            )
            order = list(range(len(VARIANTS)))
            turn = height % len(order)
            order = order[turn:] + order[:turn]  # rotate who goes first
            for v in order:
                _, entries_of, n, stored = VARIANTS[v]
                entries = entries_of(batch)
                written[v] += sum(len(k) + len(x) for k, x in entries)
                t = time.perf_counter()
                wbs = [db.write_batch() for db in dbs[v]]
                for key, value in entries:
                    if n == 2 and key[0] in K.BODY_CODES:
                        wbs[1].put(stored(key), value)
                    else:
                        wbs[0].put(key, value)
                for wb in wbs:
                    wb.write()
                seconds[v] += time.perf_counter() - t
        txs = blocks * ntx
        for v, (name, _, n, _) in enumerate(VARIANTS):
            tables = _settled_written(dbs[v])  # since open: their whole life
            size = sum(_dir_bytes(os.path.join(tmp, f"v{v}-{k}")) for k in range(n))
            for db in dbs[v]:
                db.close()
            rows.append(
                {
                    "layout": name,
                    "user MB": written[v] / 1e6,
                    "table MB written": tables / 1e6,
                    "write amp (tables/user)": tables / written[v],
                    "bytes/tx on disk": size / txs,
                    "s writing": seconds[v],
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    ap.add_argument("--blocks", type=int, default=90)
    ap.add_argument("--txs", type=int, default=1000, help="txs per block")
    ap.add_argument("--tx-size", type=int, default=300)
    ap.add_argument("--reads", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--layout-blocks", type=int, default=200, help="blocks for the layout comparison"
    )
    ap.add_argument(
        "--layout-workload",
        choices=("evidence", "uniform"),
        default="evidence",
        help="entries of the layout comparison: shaped like evidence.register's (default), or"
        " the commit test's uniform ones",
    )
    ap.add_argument("--json", type=Path, default=Path("bench/results/storage.json"))
    args = ap.parse_args(argv)
    result = run(args.blocks, args.txs, args.tx_size, args.reads, args.seed)
    result["layouts"] = layouts(
        args.layout_blocks, args.txs, args.tx_size, args.seed, args.layout_workload
    )
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
    before, after, split, height_first = result["layouts"]
    print(
        f"\nlayouts: {args.layout_blocks} blocks x {args.txs} txs ({args.layout_workload}), "
        f"write buffer {LAYOUT_BUFFER >> 20} MiB (same for both), unsynced batches"
    )
    print(table(result["layouts"]))
    print(
        f"write amplification (tables/user): {before['write amp (tables/user)']:.2f} -> "
        f"{after['write amp (tables/user)']:.2f} "
        f"({before['table MB written'] / after['table MB written']:.2f}x fewer bytes written); "
        f"bytes/tx {before['bytes/tx on disk']:.0f} -> {after['bytes/tx on disk']:.0f}; "
        f"layout 3 (bodies in their own LevelDB): {split['write amp (tables/user)']:.2f} "
        f"({before['table MB written'] / split['table MB written']:.2f}x fewer); layout 4 "
        f"(... keyed height first): {height_first['write amp (tables/user)']:.2f} "
        f"({before['table MB written'] / height_first['table MB written']:.2f}x fewer)"
    )
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
