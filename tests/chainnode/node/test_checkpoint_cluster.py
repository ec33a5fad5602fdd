"""Four validators as real processes with a state checkpoint every 4 blocks (issue 21): the
headers of blocks c + 2 carry it, every node computes it in the background and writes
byte-identical snapshot files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams
from tests.chainnode.node.cluster import Cluster, wait_for

EVERY, LAG = 4, 2


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    params = ConsensusParams(
        block_interval_ms=50,
        view_change_timeout_ms=2000,
        request_timeout_ms=2000,
        snapshot_interval=EVERY,
        snapshot_lag=LAG,
    )
    c = Cluster(tmp_path_factory.mktemp("ckpt"), 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_checkpoints_are_carried_and_every_node_writes_the_same_files(four: Cluster) -> None:
    acct = Account.generate()
    chain_id = four.status(0)["chain_id"]
    n = 0
    while four.height(0) < 3 * EVERY + LAG:  # blocks come when txs do: a few per round
        top = four.height(0)
        txs = [
            acct.sign(chain_id, "records", "put", [f"k{n + i}", n + i], block_limit=top + 100)
            for i in range(5)
        ]
        n += 5
        res = four.clients[n % 4].submit(txs, wait=30)
        assert res.committed, res
    top = min(four.height(i) for i in range(4))
    four.wait_height(top)
    for h in range(1, top + 1):
        cp = four.clients[h % 4].block(h)["block"]["header"]["checkpoint"]
        if h > LAG and (h - LAG) % EVERY == 0:
            assert cp is not None and cp["height"] == h - LAG, (h, cp)
            assert cp["entries"] > 20 and len(cp["root"]) == 64
        else:
            assert cp is None, (h, cp)
    newest = [c for c in range(EVERY, top + 1, EVERY)][-2:]  # snapshot_keep = 2
    dirs = [four.data_dir(i) / "snapshots" for i in range(4)]

    def written() -> bool:
        return all(
            sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) == newest for d in dirs
        )

    wait_for(written, 30, f"snapshots {newest} on every node")
    for c in newest:
        ref = _files(dirs[0] / str(c))
        assert "manifest" in ref and "0.chunk" in ref
        for d in dirs[1:]:
            assert _files(d / str(c)) == ref, (d, c)
