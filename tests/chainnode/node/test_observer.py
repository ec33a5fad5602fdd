"""An observer node (its key in no validator set, admitted by the validators' ``observers``):
syncs from genesis, follows, serves proofs that verify offline, gossips a client's transaction
to the validators, never signs; governance adds it and it signs certificates without a restart;
removed again, it keeps following as an observer. Real processes, sockets and LevelDB."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import pytest
import tomli_w

from chainnode.client.sdk import Account
from chainnode.deploy.layout import ADMIN_KEY
from chainnode.model.genesis import ConsensusParams
from consensus.certificate import decode_certificate
from tests.chainnode.node.cluster import Cluster, add_node_dir, assert_same_chains, wait_for
from tests.chainnode.ops.helpers import SSEReader, http_get
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow

OBS = 4  # the observer's index in the cluster


def _signers(cluster: Cluster, node: int, height: int) -> list[bytes]:
    cert = decode_certificate(bytes.fromhex(cluster.clients[node].block(height)["certificate"]))
    return [k for k, _ in cert.signatures]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, bytes, str, str]]:
    params = ConsensusParams(block_interval_ms=50, view_change_timeout_ms=1000)
    c = Cluster(tmp_path_factory.mktemp("observer"), 4, consensus=params)
    pub, p2p_addr, api_addr = add_node_dir(c, "obs")
    for e in c.entries[:4]:  # the validators admit the observer's key
        data = tomllib.loads(e.config_path.read_text())
        data["observers"] = [pub.hex()]
        e.config_path.write_text(tomli_w.dumps(data))
    try:
        for i in range(4):
            c.start(i)
        c.wait_height(1, [0, 1, 2, 3], timeout=60)
        yield c, pub, p2p_addr, api_addr
    finally:
        c.close()


def test_observer_syncs_follows_serves_proofs_and_never_signs(
    net: tuple[Cluster, bytes, str, str],
) -> None:
    c, pub, _, _ = net
    user = Account.generate()
    before = []
    for i in range(3):  # history from before the observer exists
        out = c.clients[0].send(user, "records", "put", [f"before-{i}", i], wait=20)
        assert out.committed, out
        before += out.hashes
    c.start(OBS)
    c.wait_height(c.height(0), [OBS], timeout=60)
    st = c.status(OBS)
    assert st["role"] == "observer" and st["validator"] is False
    assert c.status(0)["role"] == "validator"
    _, metrics = http_get(f"{c.url(OBS)}/metrics")
    assert b'chainnode_role{role="observer"} 1.0' in metrics
    assert b'chainnode_role{role="validator"} 0.0' in metrics

    # A client's transaction sent to the observer reaches the validators and commits; the
    # observer follows the new block, answers the receipt itself and streams the block event.
    start = c.height(OBS) + 1
    sse = SSEReader(c.url(OBS), f"/v1/events?from_height={start}")
    try:
        out = c.clients[OBS].send(user, "records", "put", ["via-observer", 1], wait=30)
        assert out.committed and out.receipts[0]["status"] == "ok", out
        tx = out.hashes[0]
        height = c.clients[OBS].transaction(tx)["height"]
        c.wait_height(height, [0], timeout=30)  # node0 commits that block on its own
        assert c.clients[0].transaction(tx)["height"] == height
        blocks = [sse.next_block()["data"] for _ in range(height - start + 1)]
        assert [b["height"] for b in blocks] == list(range(start, height + 1))
        assert tx in blocks[-1]["tx_hashes"], blocks
    finally:
        sse.close()

    # Its proof bundle, served by the observer, verifies offline from genesis.
    status, body = http_get(f"{c.url(OBS)}/v1/proofs/{tx}")
    assert status == 200, body
    path = c.root / "obs-proof.json"
    path.write_bytes(body)
    r = subprocess.run(
        [sys.executable, "-m", "chainnode", "verify-proof", str(path)]
        + ["--genesis", str(c.root / "genesis.json")],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert r.returncode == 0 and r.stdout.startswith("VALID") and tx in r.stdout, r
    assert len(json.loads(body)["validators"]) == 4  # the set in force: not the observer

    # No certificate carries the observer's signature.
    head = c.height(OBS)
    assert all(pub not in _signers(c, OBS, h) for h in range(1, head + 1))
    c.wait_height(height, [0, 1, 2, 3, OBS], timeout=30)
    assert_same_chains(c, [0, 1, 2, 3, OBS], before + [tx])


def test_observer_promoted_by_governance_signs_then_removed_keeps_following(
    net: tuple[Cluster, bytes, str, str],
) -> None:
    c, pub, p2p_addr, api_addr = net
    admin = Account.load(c.root / ADMIN_KEY)
    user = Account.generate()
    c0 = c.clients[0]
    pid = c.procs[OBS].pid
    res = c0.send(admin, "governance", "add_validator", [pub, "obs", p2p_addr, api_addr], wait=20)
    assert res.committed and res.receipts[0]["status"] == "ok", res
    wait_for(lambda: c.status(OBS)["role"] == "validator" or None, 30, "observer promoted")
    # With node3 stopped, a quorum of 5 (4 votes) needs the promoted node's vote on each block.
    assert c.stop(3, signal.SIGTERM) == 0
    hashes = []
    for i in range(3):
        out = c.clients[(i % 2) * OBS].send(user, "records", "put", [f"after-{i}", i], wait=30)
        assert out.committed, out
        hashes += out.hashes
    assert c.procs[OBS].pid == pid  # promoted without a restart
    assert pub in _signers(c, 0, c.height(0))
    _, metrics = http_get(f"{c.url(OBS)}/metrics")
    assert b'chainnode_role{role="validator"} 1.0' in metrics

    # Removed again, it is still admitted as an observer: it follows and serves reads.
    res = c0.send(admin, "governance", "remove_validator", [pub], wait=30)
    assert res.committed and res.receipts[0]["status"] == "ok", res
    removed_at = c0.transaction(res.hashes[0])["height"]
    wait_for(lambda: c.status(OBS)["role"] == "observer" or None, 30, "demoted to observer")
    for i in range(3):
        out = c0.send(user, "records", "put", [f"after-removal-{i}", i], wait=30)
        assert out.committed, out
        hashes += out.hashes
    c.wait_height(c.height(0), [1, 2, OBS], timeout=30)
    assert all(pub not in _signers(c, 0, h) for h in range(removed_at + 1, c.height(0) + 1))
    assert_same_chains(c, [0, 1, 2, OBS], hashes)
