"""A short nemesis schedule on a real 4-validator network: every fault kind once.

Real processes, LevelDB, sockets and signals; the invariants are checked from what each node
serves over HTTP (bench/chaos/checks.py). `make chaos` runs the same harness for longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos.__main__ import render
from bench.chaos.nemesis import KINDS
from bench.chaos.run import Options, Runner


@pytest.mark.timeout(240)
def test_every_fault_kind_once_keeps_every_invariant(tmp_path: Path) -> None:
    opts = Options(
        validators=4, duration_s=0, seed=7, rate=15, hold=(1.5, 3.0),
        min_faults=len(KINDS), workdir=tmp_path / "net",
    )  # fmt: skip
    result = Runner(opts).run()
    print(render(result))
    injected = {f["kind"] for f in result["faults"]}
    assert injected | set(result["skipped"]) == set(KINDS)
    assert set(result["skipped"]) <= {"disk_full"}, result["skipped"]
    for name, check in result["invariants"].items():
        assert check["ok"], f"{name}: {check['detail']}"
    assert result["txs"]["acknowledged"] > 100
    assert result["txs"]["lost"] == 0 and result["txs"]["duplicated"] == 0


def test_checks_see_a_fork_and_a_lost_tx() -> None:
    """The checker itself: a fork, a duplicate and a missing acknowledged tx all fail."""
    from types import SimpleNamespace

    from bench.chaos.checks import Chain, Outcome, evaluate

    tx = SimpleNamespace(tx=SimpleNamespace(hash=bytes(32)), acked=True, rejections=[])
    chains = [
        Chain(0, ["g", "a", "b"], {"ff" * 32: [1, 2]}),
        Chain(1, ["g", "a", "X"], {}),
    ]
    net = SimpleNamespace(public_keys=lambda: [], validators=2)
    out = evaluate(
        chains=chains, txs=[tx], outcome=Outcome(rss={0: [10.0], 1: [2000.0]}), net=net,
        liveness={"new_blocks_s": None, "pending_committed_s": 1.0, "levelled": True},
        memory_limit_mib=1024,
    )  # type: ignore[arg-type]  # fmt: skip
    inv = out["invariants"]
    assert not inv["agreement"]["ok"] and "2" in inv["agreement"]["detail"]
    assert not inv["no_duplicates"]["ok"]
    assert not inv["no_loss"]["ok"]
    assert not inv["liveness"]["ok"]
    assert not inv["memory_bounded"]["ok"]
    assert inv["no_crash"]["ok"] and inv["recovery"]["ok"]
