"""Four validators as real processes on loopback: load, restarts, crashes, a dead primary."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from chainnode.client.sdk import Account, Client
from chainnode.model.genesis import ConsensusParams
from tests.chainnode.node.cluster import Cluster, Load, assert_same_chains, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    params = ConsensusParams(
        block_interval_ms=50, view_change_timeout_ms=1000, request_timeout_ms=1000
    )
    c = Cluster(tmp_path_factory.mktemp("four"), 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def wait_receipts_everywhere(
    c: Cluster, nodes: list[int], hashes: list[str], timeout: float
) -> None:
    for i in nodes:
        c.clients[i].wait_receipts(hashes, timeout=timeout, poll=0.1)


def test_thousand_txs_committed_once_on_every_node(four: Cluster) -> None:
    acct = Account.generate()
    st = four.status(0)
    txs = [
        acct.sign(st["chain_id"], "records", "put", [f"k{i}", i], block_limit=st["height"] + 500)
        for i in range(1000)
    ]
    hashes: list[str] = []
    for j in range(0, len(txs), 50):
        hashes += four.clients[(j // 50) % 4].submit(txs[j : j + 50]).hashes
    assert hashes == [t.hash.hex() for t in txs]
    wait_receipts_everywhere(four, [0, 1, 2, 3], hashes, timeout=120)
    four.wait_height(max(four.height(i) for i in range(4)))
    assert_same_chains(four, [0, 1, 2, 3], hashes)


def primary_index(c: Cluster, live: list[int]) -> int:
    addrs = [v["address"] for v in c.clients[live[0]].validators()["validators"]]
    return addrs.index(c.status(live[0])["primary"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_backup_restarts_mid_load_and_catches_up(four: Cluster, sig: signal.Signals) -> None:
    victim = (primary_index(four, [0, 1, 2, 3]) + 2) % 4
    others = [i for i in range(4) if i != victim]
    load = Load(four, others).start()
    wait_for(lambda: len(load.acked) >= 100, 60, "load before the stop")
    code = four.stop(victim, sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    target = max(four.height(i) for i in others) + 3
    four.wait_height(target, others, timeout=60)
    four.start(victim)
    wait_for(lambda: len(load.acked) >= 400, 90, "load after the restart")
    acked = load.stop()
    wait_receipts_everywhere(four, others, acked, timeout=90)
    top = max(four.height(i) for i in others)
    four.wait_height(top, [victim], timeout=90)
    assert_same_chains(four, [0, 1, 2, 3], acked)


def test_primary_killed_mid_load_view_change_no_acked_tx_lost(four: Cluster) -> None:
    victim = primary_index(four, [0, 1, 2, 3])
    others = [i for i in range(4) if i != victim]
    load = Load(four, others).start()
    wait_for(lambda: len(load.acked) >= 100, 60, "load before the kill")
    four.kill(victim)
    start = max(four.height(i) for i in others)
    # Whenever the dead node is primary its height needs a view change; the chain moves on.
    four.wait_height(start + 6, others, timeout=90)
    views: set[int] = set()

    def saw_view_change() -> bool:
        views.update(four.status(i)["view"] for i in others)
        return max(views) > 0

    wait_for(saw_view_change, 60, "a view change", poll=0.02)
    acked = load.stop()
    wait_receipts_everywhere(four, others, acked, timeout=90)
    assert_same_chains(four, others, acked)
    four.start(victim)
    four.wait_height(max(four.height(i) for i in others), [victim], timeout=90)
    assert_same_chains(four, [0, 1, 2, 3], acked)
    Client(four.url(victim)).close()


def test_full_stop_and_start_of_every_validator(four: Cluster) -> None:
    """CONSENSUS_TESTS scenario 23: all stop (one of them by kill -9), all start; the chain
    continues from disk with nothing lost."""
    acct = Account.generate()
    before = four.clients[0].send(acct, "records", "put", ["before-restart", 1], wait=30)
    assert before.committed
    height = max(four.height(i) for i in range(4))
    four.wait_height(height)
    for i in range(3):
        assert four.stop(i) == 0
    four.kill(3)
    four.start_all()
    four.wait_height(height, timeout=60)
    after = four.clients[3].send(acct, "records", "put", ["after-restart", 2], wait=60)
    assert after.committed, after
    four.wait_height(max(four.height(i) for i in range(4)))
    assert_same_chains(four, [0, 1, 2, 3], before.hashes + after.hashes)
