"""Ledger benchmark: the node's per-transaction Python work beside one SM2 verify.

    python -m bench.ledger [--txs 2000] [--rounds 3] [--workload W ...] [--json PATH]

PERFORMANCE.md says a node is crypto-bound: ~300 us of SM2 verification per tx, and every
microsecond of Python above a few dozen is overhead we chose. This measures, in one run and
per transaction, each stage the ledger adds on one node (real LevelDB, real VM):

- ``decode``: Transaction.decode of the wire bytes (canonical check + suite hash)
- ``admit``: mempool admission of a batch with signature checks stubbed out (decode,
  chain/duplicate/window checks, contract/method/permission lookup, args check, insertion)
- ``build``: build_block on the proposer: take from the mempool, execute, roots
- ``commit``: commit_block (two synced LevelDB batches: the bodies', the rest) on the proposer
- ``peer``: a peer decoding the proposal (``ledger.decode_block``: txs it holds are reused)
  and validate_block (re-execution; signatures cached)
- ``peer commit``: commit_block on the peer (execution reused from validation)

for three workloads: a native system call (``deployment.resolve``: ledger cost alone), a
``records.put`` and an ``evidence.register`` (what the cluster benchmark sends) through the VM. ``SM2 verify`` is timed inline in the same run; the ratio
column is each stage's cost over it. Times are CPU time of the benchmark process (the machine
is shared); the median of ``--rounds`` rounds is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import ConsensusParams, make_genesis
from chainnode.model.genesis import ValidatorInfo as VInfo
from chainnode.model.types import Transaction
from crypto.suite import get_suite

CHAIN = "bench-ledger"


def _keys(n: int) -> list[tuple[bytes, bytes]]:
    suite = get_suite("sm")
    out = []
    for i in range(n):
        priv = (0x5EED + 104729 * (i + 1)).to_bytes(32, "big")
        out.append((priv, suite.public_key(priv)))
    return out


def _genesis(ntx: int) -> Any:
    ks = _keys(5)
    vals = [
        VInfo(ks[i][1], f"n{i}", f"127.0.0.1:{9000 + i}", f"127.0.0.1:{9100 + i}") for i in range(4)
    ]
    params = ConsensusParams(max_block_txs=ntx, block_limit_window=10_000, max_block_bytes=64 << 20)
    return make_genesis(CHAIN, vals, [ks[4][1]], consensus=params, timestamp=1)


def _txs(ntx: int, round_no: int, workload: str) -> list[Transaction]:
    suite = get_suite("sm")
    senders = _keys(16)
    out = []
    for i in range(ntx):
        priv, _ = senders[i % len(senders)]
        if workload == "system":
            call: tuple[str, str, list[Any]] = ("deployment", "resolve", ["records"])
        elif workload == "evidence.register":
            doc = (round_no * 1_000_000 + i + 1).to_bytes(32, "big").hex()
            call = ("evidence", "register", [doc, "contract", "Lease agreement 2026"])
        else:
            call = ("records", "put", [f"k{round_no}-{i}", {"n": i, "note": "benchmark"}])
        out.append(
            Transaction.create(
                suite, priv, CHAIN, round_no * 1_000_000 + i, 5_000, *call, 1_000_000
            )
        )
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """CPU seconds of this process (the machine is shared: wall time would count others)."""
    t = time.process_time()
    out = fn()
    return time.process_time() - t, out


def run_round(tmp: Path, ntx: int, round_no: int, workload: str) -> dict[str, float]:
    g = _genesis(ntx)
    txs = _txs(ntx, round_no, workload)
    raws = [t.encode() for t in txs]
    suite = get_suite("sm")
    proposer = g.validators[0].public_key
    a = Ledger.open(tmp / f"a{round_no}{workload}", g, mempool_capacity=ntx * 2)
    b = Ledger.open(tmp / f"b{round_no}{workload}", g, mempool_capacity=ntx * 2)
    try:
        a.verify_batch = lambda items: [True] * len(items)  # type: ignore[method-assign]
        b.verify_batch = lambda items: [True] * len(items)  # type: ignore[method-assign]
        res: dict[str, float] = {}
        res["decode"], _ = _timed(lambda: [Transaction.decode(r, suite) for r in raws])
        res["admit"], adm = _timed(lambda: a.mempool.submit(raws))
        assert all(x.accepted for x in adm), adm[:3]
        b.mempool.submit(txs)  # the peer saw them by gossip (signatures cached)
        res["build"], blk = _timed(lambda: a.build_block(1, 0, proposer, 1000, ntx))
        assert len(blk.txs) == ntx
        res["commit"], _ = _timed(lambda: a.commit_block(blk, b"cert"))
        payload = blk.encode()

        def peer() -> Any:
            pb = b.decode_block(payload)
            b.validate_block(pb)
            return pb

        res["peer"], pb = _timed(peer)
        res["peer commit"], _ = _timed(lambda: b.commit_block(pb, b"cert"))
        assert a.state_root == b.state_root
        n = min(ntx, 300)
        items = [(t.sender, t.payload, t.signature) for t in txs[:n]]
        t0 = time.process_time()
        assert all(suite.verify(*it) for it in items)
        res["SM2 verify"] = (time.process_time() - t0) * ntx / n
        return {k: v / ntx * 1e6 for k, v in res.items()}
    finally:
        a.close()
        b.close()


WORKLOADS = ("system", "records.put", "evidence.register")


def run(ntx: int, rounds: int, workloads: Sequence[str] = WORKLOADS) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as d:
        for workload in workloads:
            per: dict[str, list[float]] = {}
            for r in range(rounds):
                for k, v in run_round(Path(d), ntx, r, workload).items():
                    per.setdefault(k, []).append(v)
            med = {k: statistics.median(v) for k, v in per.items()}
            verify = med["SM2 verify"]
            for stage, us in med.items():
                rows.append(
                    {
                        "workload": workload,
                        "stage": stage,
                        "us/tx": us,
                        "x SM2 verify": us / verify if verify else float("nan"),
                    }
                )
            for role, stages in (
                ("proposer total (admit+build+commit)", ("admit", "build", "commit")),
                ("peer total (admit+peer+peer commit)", ("admit", "peer", "peer commit")),
            ):
                us = sum(med[k] for k in stages)
                rows.append(
                    {
                        "workload": workload,
                        "stage": role,
                        "us/tx": us,
                        "x SM2 verify": us / verify if verify else float("nan"),
                    }
                )
    return {"txs": ntx, "rounds": rounds, "rows": rows, "machine": machine_info()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__)
    ap.add_argument("--txs", type=int, default=2000, help="txs per block")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workload", choices=WORKLOADS, action="append", help="default: all")
    ap.add_argument("--json", type=Path, default=Path("bench/results/ledger.json"))
    args = ap.parse_args(argv)
    result = run(args.txs, args.rounds, args.workload or WORKLOADS)
    print(table(result["rows"]))
    write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
