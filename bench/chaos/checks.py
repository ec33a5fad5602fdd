"""The invariants of CONSENSUS_TESTS.md, checked against what every node serves over HTTP."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.chaos.cluster import ChaosNetwork
    from bench.chaos.load import TxRecord

#: Lies an honest node can see for itself (a replay or a flood of stale or far-future
#: messages is dropped quietly, by design: logging each would be a log flood).
DETECTABLE = {
    "bad_signature": re.compile(r"bad signature"),
    "double_vote": re.compile(r"equivocation|conflicting|double"),
    "equivocate": re.compile(r"equivocation|conflicting|invalid proposal|rejected proposal"),
    "forged_sync": re.compile(r"does not verify|block sync"),
    "future_block": re.compile(r"ahead of ours|invalid proposal"),
}
#: Lies every honest node must notice whenever they were told.
MUST_DETECT = ("bad_signature", "forged_sync", "future_block")
HALT_ON_FULL_DISK = re.compile(r"No space left|ENOSPC|disk full|IO error", re.IGNORECASE)


@dataclass
class Outcome:
    """What the runner saw besides the chains: faults applied, memory, exits, lies told."""

    faults: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    rss: dict[int, list[float]] = field(default_factory=dict)
    unplanned_exits: list[str] = field(default_factory=list)
    byzantine: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)


@dataclass
class Chain:
    node: int
    hashes: list[str]  # block hash by height
    txs: dict[str, list[int]]  # tx hash -> heights it appears at


def fetch_chains(net: ChaosNetwork) -> list[Chain]:
    chains = []
    for i in range(net.validators):
        top = int(net.get(i, "/v1/status", timeout=10)["height"])
        hashes: list[str] = []
        txs: dict[str, list[int]] = {}
        for h in range(top + 1):
            blk = net.get(i, f"/v1/blocks/{h}?txs=false", timeout=10)["block"]
            hashes.append(blk["hash"])
            for t in blk["tx_hashes"]:
                txs.setdefault(t, []).append(h)
        chains.append(Chain(i, hashes, txs))
    return chains


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": bool(ok), "detail": detail}


# long: the invariants side by side, one verdict each
def evaluate(
    *,
    chains: list[Chain],
    txs: list[TxRecord],
    liveness: dict[str, Any],
    outcome: Outcome,
    net: ChaosNetwork,
    memory_limit_mib: float,
) -> dict[str, Any]:
    inv: dict[str, dict[str, Any]] = {}
    # A agreement: the same hash at every height any two nodes both have.
    forks = []
    for a in chains:
        for b in chains:
            if a.node < b.node:
                common = min(len(a.hashes), len(b.hashes))
                forks += [(a.node, b.node, h) for h in range(common) if a.hashes[h] != b.hashes[h]]
    heights = [len(c.hashes) - 1 for c in chains]
    inv["agreement"] = _check(
        not forks, f"heights 0..{min(heights)} identical on {len(chains)} nodes"
        if not forks else f"forks at {forks[:5]}",
    )  # fmt: skip
    # D no duplicates: no tx in two blocks.
    dups = {t: hs for c in chains for t, hs in c.txs.items() if len(hs) > 1}
    inv["no_duplicates"] = _check(not dups, f"{len(dups)} txs committed more than once")
    # P durability: every acknowledged tx is in every node's chain.
    acked = {r.tx.hash.hex() for r in txs if r.acked}
    lost_on = {c.node: len(acked - c.txs.keys()) for c in chains}
    lost = max(lost_on.values(), default=0)
    inv["no_loss"] = _check(lost == 0, f"{len(acked)} acknowledged; missing per node {lost_on}")
    # L liveness after the last heal.
    live_ok = (
        liveness["new_blocks_s"] is not None
        and liveness["pending_committed_s"] is not None
        and liveness["levelled"]
    )
    inv["liveness"] = _check(
        live_ok,
        f">=10 new blocks in {liveness['new_blocks_s']}s, every pending tx committed "
        f"{liveness['pending_committed_s']}s after the last heal",
    )
    # Recovery after every fault.
    stuck = [f for f in outcome.faults if not f["recovered"]]
    inv["recovery"] = _check(not stuck, f"{len(stuck)} faults without recovery: {stuck[:3]}")
    # No honest node crashed: only planned stops, and a full disk may halt its node loudly.
    halts = [f for f in outcome.faults if f["kind"] == "disk_full" and f.get("node_halted")]
    bad_halts = [f for f in halts if not HALT_ON_FULL_DISK.search(f.get("halt_reason", ""))]
    inv["no_crash"] = _check(
        not outcome.unplanned_exits and not bad_halts,
        f"unplanned exits: {outcome.unplanned_exits[:3]}; disk-full halts {len(halts)} "
        f"(unexplained {len(bad_halts)})",
    )
    # Memory bounded.
    peaks = {i: round(max(s), 1) for i, s in outcome.rss.items() if s}
    over = {i: p for i, p in peaks.items() if p > memory_limit_mib}
    inv["memory_bounded"] = _check(not over, f"peak RSS MiB {peaks} (limit {memory_limit_mib})")
    # Every Byzantine act logged by the liar, and the detectable ones by an honest node.
    inv["byzantine_logged"] = _byzantine(outcome, net)
    # E no self-equivocation: every signed message each core handed out (kill -9, torn WAL
    # tails and restarts included; a Byzantine node's lies are made after this log).
    inv["no_equivocation"] = _equivocation(net)
    committed = set().union(*(c.txs.keys() for c in chains)) if chains else set()
    return {
        "invariants": inv,
        "txs": {
            "submitted": len(txs),
            "acknowledged": len(acked),
            "committed": len(committed & {r.tx.hash.hex() for r in txs}),
            "lost": lost,
            "duplicated": len(dups),
            "rejected": Counter(r.rejections[-1] for r in txs if r.rejections and not r.acked),
        },
        "height": max(heights, default=0),
        "faults": outcome.faults,
        "skipped": outcome.skipped,
        "liveness": liveness,
        "peak_rss_mib": peaks,
    }


def _byzantine(outcome: Outcome, net: ChaosNetwork) -> dict[str, Any]:
    if not outcome.byzantine:
        return _check(True, "no Byzantine fault in this run")
    keys = net.public_keys()
    logs = {i: _read_log(net, i) for i in range(net.validators)}
    missing: list[str] = []
    seen: dict[str, str] = {}
    for victim, lies in outcome.byzantine:
        prefix = keys[victim][:16]
        honest = "\n".join(text for i, text in logs.items() if i != victim)
        for lie in lies:
            if f"BYZANTINE {lie}" not in logs[victim]:
                continue  # no occasion for this lie in the window (e.g. never primary)
            pattern = DETECTABLE.get(lie)
            if pattern is None:
                seen[lie] = "told (dropped quietly by design)"
                continue
            found = any(prefix in line and pattern.search(line) for line in honest.splitlines())
            seen[lie] = "detected" if found else "not seen by any single honest node"
            if not found and lie in MUST_DETECT:
                missing.append(f"node{victim} {lie}")
    return _check(not missing, f"{seen}; undetected: {missing}")


def _equivocation(net: ChaosNetwork) -> dict[str, Any]:
    from bench.chaos.sentlog import SENT_LOG, conflicting_pairs, read_sent_log

    found, total = [], 0
    for i in range(net.validators):
        msgs = read_sent_log(net.data_dir(i) / SENT_LOG)
        total += len(msgs)
        found += [
            f"node{i} {type(a).__name__} at (height {a.height}, view {a.view})"
            for a, _ in conflicting_pairs(msgs)
        ]
    return _check(
        not found and total > 0,
        f"{total} signed messages collected, conflicting pairs: {found[:5]}",
    )


def _read_log(net: ChaosNetwork, i: int) -> str:
    try:
        return (net.workdir / f"node{i}" / "node.log").read_text(errors="replace")
    except OSError:
        return ""
