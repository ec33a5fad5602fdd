"""A validator added by an admin's governance vote syncs the chain and then signs blocks."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from chainnode.client.sdk import Account
from chainnode.deploy.layout import ADMIN_KEY
from chainnode.model.genesis import ConsensusParams
from consensus.certificate import decode_certificate
from tests.chainnode.node.cluster import Cluster, add_node_dir, assert_same_chains

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    params = ConsensusParams(block_interval_ms=50, view_change_timeout_ms=1000)
    c = Cluster(tmp_path_factory.mktemp("gov"), 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def test_added_validator_syncs_and_signs(four: Cluster) -> None:
    admin = Account.load(four.root / ADMIN_KEY)
    user = Account.generate()
    c0 = four.clients[0]
    # some history for the newcomer to sync
    for i in range(3):
        assert c0.send(user, "records", "put", [f"before-{i}", i], wait=20).committed
    pub, p2p_addr, api_addr = add_node_dir(four, "node4")
    res = c0.send(admin, "governance", "add_validator", [pub, "node4", p2p_addr, api_addr], wait=20)
    assert res.committed and res.receipts and res.receipts[0]["status"] == "ok", res
    assert res.receipts[0]["return_value_json"] is True
    vals = c0.validators()["validators"]
    assert pub.hex() in [v["public_key"] for v in vals] and len(vals) == 5
    four.start(4)
    four.wait_height(four.height(0), [4], timeout=60)
    assert four.status(4)["validator"] is True
    # With node3 stopped, a quorum of 5 (4 votes) needs the newcomer's vote on every block.
    assert four.stop(3, signal.SIGTERM) == 0
    hashes = []
    for i in range(3):
        out = four.clients[(i % 2) * 4].send(user, "records", "put", [f"after-{i}", i], wait=30)
        assert out.committed, out
        hashes += out.hashes
    head = four.height(0)
    cert = decode_certificate(bytes.fromhex(c0.block(head)["certificate"]))
    assert pub in [k for k, _ in cert.signatures]
    four.wait_height(max(four.height(i) for i in (0, 4)), [0, 1, 2, 4])  # answered by 0 or 4
    assert_same_chains(four, [0, 1, 2, 4], hashes)


def test_removed_validator_no_longer_counts(four: Cluster) -> None:
    admin = Account.load(four.root / ADMIN_KEY)
    c0 = four.clients[0]
    vals = c0.validators()["validators"]
    gone = next(v for v in vals if v["node_id"] == "node4")
    pub = bytes.fromhex(gone["public_key"])
    res = c0.send(admin, "governance", "remove_validator", [pub], wait=30)
    assert res.committed and res.receipts and res.receipts[0]["status"] == "ok", res
    removed_at = c0.transaction(res.hashes[0])["height"]
    assert pub.hex() not in [v["public_key"] for v in c0.validators()["validators"]]
    user = Account.generate()
    hashes = []
    for i in range(3):
        out = c0.send(user, "records", "put", [f"after-removal-{i}", i], wait=30)
        assert out.committed, out
        hashes += out.hashes
    # node4 still runs and still hears consensus, but no later certificate counts it
    assert four.procs[4].poll() is None
    for h in range(removed_at + 1, four.height(0) + 1):
        cert = decode_certificate(bytes.fromhex(c0.block(h)["certificate"]))
        assert pub not in [k for k, _ in cert.signatures], f"height {h}"
    # node0 answered once it committed the last put; the others commit that block on their own
    four.wait_height(four.height(0), [0, 1, 2])
    assert_same_chains(four, [0, 1, 2], hashes)
