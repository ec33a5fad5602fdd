"""Proposals by tx hash on real processes: backups that missed a tx's gossip fetch it from the
primary and commit; a primary that withholds them is treated as one proposing an invalid
block (the backups change view and the chain goes on without it).

The primary is cut from every peer (bench.chaos partition) while a client's tx reaches it, so
the tx is gossiped to no one, and it is told not to offer it when its links come back (mode
no_gossip; withhold_txs implies it); once healed, its PRE-PREPARE (compact: the tx by hash)
reaches backups that do not hold the tx.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams
from tests.chainnode.node.cluster import Cluster, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Cluster]:
    params = ConsensusParams(
        block_interval_ms=50, view_change_timeout_ms=3000, request_timeout_ms=3000
    )
    c = Cluster(tmp_path, 4, consensus=params)
    try:
        for i in range(4):
            c.start(i, chaos=True)
        c.wait_height(1, timeout=60)
        wait_for(lambda: all(len(c.status(i)["peers"]) == 3 for i in range(4)), 30, "a mesh")
        yield c
    finally:
        c.close()


def _post(c: Cluster, i: int, path: str, body: Any) -> Any:
    req = urllib.request.Request(
        c.url(i) + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _isolate_primary_with_a_tx(c: Cluster) -> tuple[int, list[str], str]:
    """Cut the next primary from every peer, hand it one tx (gossiped to no one): its index,
    its peers' keys, and the tx hash."""
    p = int(c.status(0)["primary_node_id"].removeprefix("node"))
    peers = [peer["public_key"] for peer in c.status(p)["peers"]]
    assert len(peers) == 3
    _post(c, p, "/v1/_test/partition", {"cut": peers})
    wait_for(lambda: not c.status(p)["peers"], 20, "the primary to be cut off")
    client = c.clients[p]
    tx = client.build(Account.generate(), "records", "put", ["missed-gossip", 1])
    (tx_hash,) = client.submit([tx]).hashes
    assert all(c.status(i)["mempool"] == 0 for i in range(4) if i != p)
    return p, peers, tx_hash


def test_backups_that_missed_the_gossip_fetch_the_tx_and_commit(four: Cluster) -> None:
    p, _, tx_hash = _isolate_primary_with_a_tx(four)
    _post(four, p, "/v1/_test/byzantine", {"modes": ["no_gossip"]})
    _post(four, p, "/v1/_test/partition", {"cut": []})
    for i in range(4):
        (receipt,) = four.clients[i].wait_receipts([tx_hash], timeout=60)
        assert receipt["status"] == "ok" or receipt.get("status") == 0, receipt
    backups = [i for i in range(4) if i != p]
    fetched = [i for i in backups if "txs of the proposal from its primary" in four.log(i)]
    assert fetched, "no backup fetched the tx: the test did not exercise the fetch"


def test_a_primary_that_withholds_the_txs_is_replaced(four: Cluster) -> None:
    p, _, tx_hash = _isolate_primary_with_a_tx(four)
    _post(four, p, "/v1/_test/byzantine", {"modes": ["withhold_txs"]})
    start = {i: four.height(i) for i in range(4)}
    _post(four, p, "/v1/_test/partition", {"cut": []})
    backups = [i for i in range(4) if i != p]
    # (a backup the PRE-PREPARE did not reach joins the view change the others start)
    wait_for(
        lambda: any("did not supply 1 txs" in four.log(i) for i in backups),
        60,
        "a backup to find the primary withholding",
    )
    wait_for(lambda: all(four.status(i)["view"] > 0 for i in backups), 60, "a view change")
    assert any("misbehaved (1 times): invalid proposal" in four.log(i) for i in backups)
    # The chain goes on without the liar: a tx sent to a backup commits.
    other = backups[0]
    client = four.clients[other]
    tx = client.build(Account.generate(), "records", "put", ["after-the-liar", 2])
    (honest,) = client.submit([tx]).hashes
    for i in backups:
        four.clients[i].wait_receipts([honest], timeout=60)
        assert four.clients[i].receipt(tx_hash) is None  # the withheld tx never committed
        assert four.height(i) > start[i]
