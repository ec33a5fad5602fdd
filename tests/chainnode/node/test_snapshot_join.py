"""A fifth node joins a running 4-validator network from a state snapshot (issue 21), with
real processes, sockets and LevelDB: ``chainnode start --sync snapshot`` on an empty data
directory installs the newest checkpoint the peers offer (certified from genesis, every chunk
checked), one of the four peers serving corrupted chunks is named Byzantine and avoided, and
the node follows the chain: same blocks and checkpoints as the others, proofs of records after
its checkpoint that verify against genesis, 410 PRUNED below it."""

from __future__ import annotations

import json
import tomllib
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import tomli_w

from chainnode.client.sdk import Account
from chainnode.deploy.layout import GENESIS
from chainnode.model.genesis import ConsensusParams, Genesis
from chainnode.proofs.bundle import verify_bundle
from tests.chainnode.node.cluster import Cluster, add_node_dir
from tests.chainnode.ops.helpers import http_get

pytestmark = pytest.mark.slow

INTERVAL, LAG = 8, 2
JOINER = 4
LIAR = 3  # runs through bench.chaos.node: it serves corrupted chunks
BIG = "x" * 60_000  # records of ~60 kB: the state spans more chunks than there are peers


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, bytes]]:
    params = ConsensusParams(
        block_interval_ms=50,
        view_change_timeout_ms=1000,
        snapshot_interval=INTERVAL,
        snapshot_lag=LAG,
    )
    c = Cluster(tmp_path_factory.mktemp("snapjoin"), 4, consensus=params)
    pub, _, _ = add_node_dir(c, "joiner")
    for e in c.entries[:4]:  # the validators admit the joiner's key
        data = tomllib.loads(e.config_path.read_text())
        data["observers"] = [pub.hex()]
        e.config_path.write_text(tomli_w.dumps(data))
    try:
        for i in range(4):
            c.start(i, chaos=i == LIAR)
        c.wait_height(1, [0, 1, 2, 3], timeout=60)
        yield c, pub
    finally:
        c.close()


def _advance(c: Cluster, user: Account, to_height: int) -> list[str]:
    """Commit small records one by one until the chain reaches ``to_height``."""
    hashes: list[str] = []
    n = 0
    while c.height(0) < to_height:
        n += 1
        out = c.clients[0].send(user, "records", "put", [f"tick-{to_height}-{n}", n], wait=20)
        assert out.committed, out
        hashes += out.hashes
    return hashes


def _checkpoint(c: Cluster, node: int, height: int) -> dict[str, Any]:
    header = c.clients[node].block(height)["block"]["header"]
    cp: dict[str, Any] = header["checkpoint"]
    return cp


def test_a_fifth_node_joins_by_snapshot_despite_a_byzantine_peer(
    net: tuple[Cluster, bytes],
) -> None:
    c, _ = net
    user = Account.generate()
    chain_id = c.status(0)["chain_id"]
    height = c.height(0)
    big = [
        user.sign(
            chain_id,
            "records",
            "put",
            [f"big-{i}", BIG],
            block_limit=height + 500,
            gas_limit=5_000_000,
        )
        for i in range(80)
    ]
    before: list[str] = []
    for k in range(0, len(big), 10):
        out = c.clients[k // 10 % 3].submit(big[k : k + 10], wait=60)
        assert out.committed and out.receipts, out
        assert all(r is not None and r["status"] == "ok" for r in out.receipts), out.receipts
        before += out.hashes
    first_block = int(c.clients[0].transaction(before[0])["height"])
    _advance(c, user, c.height(0) + INTERVAL + LAG)  # a checkpoint above every big record
    # every validator at that height, the liar too: each then serves that checkpoint (a
    # slow liar that does not offer it yet is never asked for a chunk, as a run beside busy
    # processes once showed: the joiner takes what f + 1 peers offer)
    c.wait_height(c.height(0), [0, 1, 2, 3], timeout=60)
    assert _post(f"{c.url(LIAR)}/v1/_test/snapshot", {"corrupt_chunks": True}) == {
        "corrupt_chunks": True
    }

    c.start(JOINER, args=["--sync", "snapshot"])
    joined = c.wait_node(
        JOINER,
        lambda: (m := _installed(c.log(JOINER))) is not None and m,
        90,
        "the joiner to install a snapshot",
    )
    base = int(joined)
    assert base % INTERVAL == 0 and base >= first_block
    log = c.log(JOINER)
    genesis = Genesis.load(c.root / GENESIS)
    liar = next(v for v in genesis.validators if v.node_id == c.entries[LIAR].node_id)
    assert f"Byzantine snapshot peer {liar.public_key[1:7].hex()} ({liar.public_key.hex()})" in log
    assert log.count("Byzantine snapshot peer") == 1, log[-3000:]  # only the liar
    assert "chunks" in log and "MB/s" in log

    # it follows: more records, through another node, reach it; it becomes ready
    after = _advance(c, user, c.height(0) + INTERVAL + LAG + 1)
    top = c.height(0)
    c.wait_node(JOINER, lambda: c.height(JOINER) >= top, 60, "the joiner to follow")
    c.wait_node(
        JOINER, lambda: http_get(f"{c.url(JOINER)}/readyz")[0] == 200, 30, "the joiner ready"
    )

    # agreement: the same blocks from its checkpoint up, the same checkpoints
    for h in range(base + 1, top + 1):
        assert c.clients[JOINER].block(h)["block"]["hash"] == c.clients[0].block(h)["block"]["hash"]
    later = (top - LAG) // INTERVAL * INTERVAL  # a checkpoint the joiner computed itself
    assert later > base
    # against node 0, at `top` already (another validator may still be behind it: a run
    # beside busy processes once asked node 1 for a block it had not committed yet)
    assert _checkpoint(c, JOINER, later + LAG) == _checkpoint(c, 0, later + LAG)

    # proofs of records after its checkpoint verify against genesis alone
    for tx in after[-3:]:
        status, body = http_get(f"{c.url(JOINER)}/v1/proofs/{tx}")
        assert status == 200, body
        proven = verify_bundle(body, genesis)
        assert proven.record.tx.hash.hex() == tx.removeprefix("0x")
    # bodies below its checkpoint are not here: 410 PRUNED, as on a pruned node
    status, body = http_get(f"{c.url(JOINER)}/v1/blocks/{first_block}")
    assert status == 410 and json.loads(body)["error"]["code"] == "PRUNED", body
    # and its txs are known as committed (their hashes came checked against the headers):
    # pruned here, not unknown, so that one proposed again is a DUPLICATE here as everywhere
    status, body = http_get(f"{c.url(JOINER)}/v1/transactions/{before[0]}")
    assert status == 410 and json.loads(body)["error"]["code"] == "PRUNED", body

    # a restart with --sync snapshot on its data directory keeps the chain and says so
    c.stop(JOINER)
    c.start(JOINER, args=["--sync", "snapshot"])
    c.wait_node(JOINER, lambda: c.height(JOINER) >= top, 60, "the joiner back")
    assert "sync = snapshot ignored" in c.log(JOINER)


def _installed(log: str) -> str | None:
    marker = "snapshot "
    for line in log.splitlines():
        if " installed (" in line and marker in line:
            return line.split(marker, 1)[1].split(" ", 1)[0]
    return None
