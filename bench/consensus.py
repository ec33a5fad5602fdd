"""Consensus-core benchmark: `python -m bench.consensus [--blocks N] [--txs T] [--json PATH]`.

Drives n in-process replicas (n = 4 and 7) over a zero-latency in-memory network: every
message is encoded and decoded, every signature is real SM2 (`crypto.sm2`, signer ID per
GM/T 0009) and verified by every receiver. Proposals carry `--txs` pseudo transactions
(default 1,000 of 250 bytes), so the ratio of consensus signatures to transactions per block
is measured at that block size. The same run with a no-op signer separates what SM2 costs
from what the state machine costs. Prints a table, writes JSON (default
bench/results/consensus.json). All replicas share this process: blocks/s is the throughput
of the whole n-replica cluster on one core, i.e. n times the per-replica work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from consensus import (
    Broadcast,
    Commit,
    Executed,
    MessageReceived,
    Proposal,
    ProposalReady,
    Replica,
    ReplicaConfig,
    RequestProposal,
    Send,
    Start,
    decode_message,
    encode_message,
)
from crypto import sm2, sm3

CHAIN_ID = b"bench-chain"
GENESIS = sm3.digest(b"bench-genesis")
TARGET_SIG_PER_TX = 0.02


class Counter:
    def __init__(self) -> None:
        self.signs = 0
        self.verifies = 0


def sm2_suite(
    n: int, counter: Counter
) -> tuple[
    list[bytes], dict[bytes, Callable[[bytes], bytes]], Callable[[bytes, bytes, bytes], bool]
]:
    privs = [sm2.PrivateKey.generate() for _ in range(n)]
    pubs = [p.public_key().to_bytes() for p in privs]
    parsed = {pub: sm2.PublicKey.from_bytes(pub) for pub in pubs}

    def signer(priv: sm2.PrivateKey) -> Callable[[bytes], bytes]:
        def sign(data: bytes) -> bytes:
            counter.signs += 1
            return priv.sign(data)

        return sign

    def verify(pub: bytes, data: bytes, sig: bytes) -> bool:
        counter.verifies += 1
        key = parsed.get(pub)
        return key is not None and key.verify(data, sig)

    return pubs, {pub: signer(p) for pub, p in zip(pubs, privs, strict=True)}, verify


def noop_suite(
    n: int, counter: Counter
) -> tuple[
    list[bytes], dict[bytes, Callable[[bytes], bytes]], Callable[[bytes, bytes, bytes], bool]
]:
    pubs = [b"\x04" + sm3.digest(bytes([i])) * 2 for i in range(n)]

    def sign(data: bytes) -> bytes:
        counter.signs += 1
        return b"\x01" * 64

    def verify(pub: bytes, data: bytes, sig: bytes) -> bool:
        counter.verifies += 1
        return True

    return pubs, {pub: sign for pub in pubs}, verify


def block_digest(height: int, parent: bytes, payload_hash: bytes) -> bytes:
    return sm3.digest(msgpack.packb([height, parent, payload_hash]))


# long: the benchmark's one linear script
def run_cluster(n: int, blocks: int, txs: int, tx_size: int, real_sm2: bool) -> dict[str, Any]:
    counter = Counter()
    pubs, signers, verify = (sm2_suite if real_sm2 else noop_suite)(n, counter)
    body = os.urandom(tx_size)
    payloads: dict[int, tuple[bytes, bytes]] = {}

    def payload_for(height: int) -> tuple[bytes, bytes]:
        if height not in payloads:  # block building is the node's job: prepared up front
            payload = msgpack.packb([height.to_bytes(8, "big") + body] * txs)
            payloads[height] = (payload, sm3.digest(payload))
        return payloads[height]

    for h in range(1, blocks + 1):
        payload_for(h)

    def validate(p: Proposal) -> bool:
        payload, payload_hash = payload_for(p.height)
        return p.payload == payload and p.digest == block_digest(p.height, p.parent, payload_hash)

    replicas = {
        pub: Replica(ReplicaConfig(CHAIN_ID), pub, signers[pub], verify, validate) for pub in pubs
    }
    wire: deque[tuple[bytes, bytes, bytes]] = deque()
    events: deque[tuple[bytes, Any]] = deque()
    decided = {pub: 0 for pub in pubs}
    messages = 0
    wire_bytes = 0
    payload_bytes = 0

    def carry(pub: bytes, actions: list[Any]) -> None:
        nonlocal messages, wire_bytes, payload_bytes
        for a in actions:
            if isinstance(a, Send | Broadcast):
                data = encode_message(a.message)
                targets = [a.to] if isinstance(a, Send) else [p for p in pubs if p != pub]
                for t in targets:
                    wire.append((t, pub, data))
                messages += len(targets)
                wire_bytes += len(data) * len(targets)
                proposal = getattr(a.message, "proposal", None)
                if proposal is not None:
                    payload_bytes += len(proposal.payload) * len(targets)
            elif isinstance(a, Commit):
                decided[pub] += 1
                events.append((pub, Executed(a.proposal.height)))
            elif isinstance(a, RequestProposal):
                payload, payload_hash = payload_for(a.height)
                digest = block_digest(a.height, a.parent, payload_hash)
                prop = Proposal(a.height, a.parent, digest, payload)
                events.append((pub, ProposalReady(prop, a.view)))

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for pub, r in replicas.items():
        carry(pub, r.step(Start(1, GENESIS, tuple(pubs))))
    while min(decided.values()) < blocks:
        if events:
            pub, ev = events.popleft()
            if isinstance(ev, Executed) and ev.height >= blocks:
                continue
            carry(pub, replicas[pub].step(ev))
        elif wire:
            to, sender, data = wire.popleft()
            carry(to, replicas[to].step(MessageReceived(sender, decode_message(data))))
        else:
            raise RuntimeError("cluster stalled")
    wall = time.perf_counter() - start_wall
    cpu = time.process_time() - start_cpu
    q = n - (n - 1) // 3
    return {
        "n": n,
        "signer": "sm2" if real_sm2 else "none",
        "blocks": blocks,
        "txs_per_block": txs,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "blocks_per_s": round(blocks / wall, 2),
        "blocks_per_cpu_s": round(blocks / max(cpu, 1e-9), 2),
        "ms_per_block": round(1000 * wall / blocks, 2),
        "replica_cpu_ms_per_block": round(1000 * cpu / blocks / n, 2),
        "messages_per_block": round(messages / blocks, 1),
        "consensus_bytes_per_block": round((wire_bytes - payload_bytes) / blocks),
        "signatures_per_block": round(counter.signs / blocks, 2),
        "verifies_per_block": round(counter.verifies / blocks, 2),
        "verifies_per_replica_per_block": round(counter.verifies / blocks / n, 2),
        "certificate_signatures": q,
        "sig_per_tx": round(counter.signs / blocks / txs, 5),
        "verify_per_tx_per_replica": round(counter.verifies / blocks / n / txs, 5),
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("n", "n"),
        ("signer", "signer"),
        ("blocks_per_s", "blocks/s"),
        ("blocks_per_cpu_s", "blocks/cpu-s"),
        ("ms_per_block", "ms/block"),
        ("replica_cpu_ms_per_block", "cpu ms/replica/block"),
        ("messages_per_block", "msgs/block"),
        ("consensus_bytes_per_block", "bytes/block*"),
        ("signatures_per_block", "sigs/block"),
        ("verifies_per_replica_per_block", "verifies/replica/block"),
        ("sig_per_tx", "sigs/txs"),
    ]
    head = " | ".join(h for _, h in cols)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = []
        for key, h in cols:
            v = r[key]
            if key == "sig_per_tx":
                v = f"{100 * v:.2f}%"
            cells.append(str(v).rjust(len(h)))
        lines.append(" | ".join(cells))
    lines.append("* consensus message bytes per block on the wire, proposal payload excluded")
    lines.append(
        "blocks/s: wall clock of the whole cluster in one process; blocks/cpu-s: per CPU second"
        " of this process (stable on a shared machine); cpu ms/replica/block: one validator's"
        " share"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.consensus", description=__doc__)
    ap.add_argument("--blocks", type=int, default=40)
    ap.add_argument("--txs", type=int, default=1000, help="transactions per block")
    ap.add_argument("--tx-size", type=int, default=250)
    ap.add_argument("--json", default="bench/results/consensus.json")
    args = ap.parse_args(argv)

    rows = []
    for n in (4, 7):
        for real in (True, False):
            rows.append(run_cluster(n, args.blocks, args.txs, args.tx_size, real))
    sm2_rows = [r for r in rows if r["signer"] == "sm2"]
    worst = max(r["sig_per_tx"] for r in sm2_rows)
    doc = {
        "benchmark": "consensus",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "sm2_backend": sm2.backend_name(),
        },
        "txs_per_block": args.txs,
        "rows": rows,
        "target_sig_per_tx": TARGET_SIG_PER_TX,
        "worst_sig_per_tx": worst,
        "meets_target": worst <= TARGET_SIG_PER_TX,
    }
    print(f"consensus core, {args.blocks} blocks of {args.txs} txs, all replicas in one process")
    print(table(rows))
    print(
        f"signatures per block / txs per block: worst {100 * worst:.2f}% "
        f"(target <= {100 * TARGET_SIG_PER_TX:.0f}%): {'OK' if doc['meets_target'] else 'MISSED'}"
    )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
