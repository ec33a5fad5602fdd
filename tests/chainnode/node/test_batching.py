"""The primary's batching rule (chainnode.node.batching): at once at light load, a short wait
for a larger block under load (judged by the commit rate), the genesis block interval after
a full block."""

from __future__ import annotations

import pytest

from chainnode.model.genesis import ConsensusParams
from chainnode.node.batching import Batching


def rule(target: int = 512, wait_s: float = 0.08) -> Batching:
    return Batching(interval_s=0.2, full=2000, target=target, wait_s=wait_s)


def waits(b: Batching, until: float, txs: int) -> bool:
    w = b.wait()
    return w is not None and w[0] == pytest.approx(until) and w[1] == txs


def feed(b: Batching, blocks: list[tuple[int, float]]) -> Batching:
    for txs, at in blocks:
        b.committed(txs, at)
    return b


def test_a_new_chain_and_a_first_commit_propose_at_once() -> None:
    b = rule()
    assert b.wait() is None
    b.committed(0, 1.0)
    assert b.rate == 0 and b.wait() is None


def test_light_load_proposes_at_once() -> None:
    # 100 txs every 0.1 s: 1,000 tx/s; 80 ms would bring 80 txs, under a quarter of 512
    b = feed(rule(), [(100, 1.0 + i / 10) for i in range(20)])
    assert abs(b.rate - 1000) < 1e-6
    assert not b.loaded and b.wait() is None


def test_under_load_the_primary_waits_from_the_last_commit_for_the_target() -> None:
    # 200 txs every 0.1 s: 2,000 tx/s; 80 ms brings 160 txs, a quarter of 512 or more
    b = feed(rule(), [(200, 1.0 + i / 10) for i in range(20)])
    assert abs(b.rate - 2000) < 1e-6
    assert waits(b, 2.98, 512)


def test_the_rate_not_the_block_size_tells_load() -> None:
    # the same 1,000 tx/s batched into blocks twice as large: still light load
    b = feed(rule(), [(200, 1.0 + i / 5) for i in range(20)])
    assert abs(b.rate - 1000) < 1e-6 and b.wait() is None


def test_the_rate_follows_recent_commits() -> None:
    b = feed(rule(), [(200, 1.0 + i / 10) for i in range(20)])
    assert b.loaded
    feed(b, [(1, 3.0 + i) for i in range(1, 11)])  # then a tx a second for ten seconds
    assert not b.loaded and b.wait() is None


def test_after_a_full_block_the_block_interval_bounds_a_wait_for_a_full_block() -> None:
    for b in (rule(), rule(target=0), rule(wait_s=0)):
        b.committed(0, 1.0)
        b.committed(2000, 5.0)  # full, however slow the chain
        assert b.wait() == (5.2, 2000)
    for b in (rule(), rule(target=0), rule(wait_s=0)):
        feed(b, [(0, 1.0), (2000, 1.1), (1999, 1.2)])  # then not full, at ~20,000 tx/s
        if b.target == 0 or b.wait_s == 0:
            assert b.wait() is None
        else:
            assert waits(b, 1.28, 512)


def test_a_target_above_a_full_block_waits_for_a_full_block() -> None:
    b = feed(Batching(0.2, 100, 512, 0.08), [(99, 1.0 + i / 100) for i in range(20)])
    assert waits(b, 1.27, 100)


def test_a_chains_rule_takes_its_interval_and_full_block_from_genesis() -> None:
    params = ConsensusParams(block_interval_ms=250, max_block_txs=300)
    b = Batching.of(params)
    assert (b.interval_s, b.full, b.target, b.wait_s) == (0.25, 300, 0, 0)
    b.committed(300, 2.0)
    assert b.wait() == (2.25, 300)
    assert Batching.of(params, 64, 40).wait_s == 0.04
