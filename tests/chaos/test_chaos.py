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


def test_checks_see_a_fork_and_a_lost_tx(tmp_path: Path) -> None:
    """The checker itself: a fork, a duplicate, a missing acknowledged tx and a node that
    signed two different PREPAREs for one (height, view) all fail."""
    from types import SimpleNamespace

    from bench.chaos.checks import Chain, Outcome, evaluate
    from bench.chaos.sentlog import SentLog
    from consensus.messages import Prepare

    me = b"\x04" + b"\x01" * 64
    for i in range(2):
        (tmp_path / f"n{i}").mkdir()
    log = SentLog(tmp_path / "n0", me)
    log(Prepare(5, 1, b"\xaa" * 32, me, b"\x01" * 64))
    log(Prepare(5, 2, b"\xbb" * 32, me, b"\x01" * 64))  # another view: fine
    log(Prepare(5, 1, b"\xcc" * 32, me, b"\x01" * 64))  # same (height, view): equivocation

    tx = SimpleNamespace(tx=SimpleNamespace(hash=bytes(32)), acked=True, rejections=[])
    chains = [
        Chain(0, ["g", "a", "b"], {"ff" * 32: [1, 2]}),
        Chain(1, ["g", "a", "X"], {}),
    ]
    net = SimpleNamespace(
        public_keys=lambda: [], validators=2, data_dir=lambda i: tmp_path / f"n{i}"
    )
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
    assert not inv["no_equivocation"]["ok"]
    assert "node0 Prepare at (height 5, view 1)" in inv["no_equivocation"]["detail"]
    assert inv["no_crash"]["ok"] and inv["recovery"]["ok"]
