"""Issue 21 on real processes: a backup of a running validator under load, a damaged archive
refused, the backup restored on a wiped validator that then catches up and agrees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.model.genesis import ConsensusParams
from tests.chainnode.backup.test_restore import tree
from tests.chainnode.node.cluster import Cluster, Load, assert_same_chains, wait_for
from tests.conftest import subprocess_env

pytestmark = pytest.mark.slow


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Cluster]:
    params = ConsensusParams(block_interval_ms=50)
    c = Cluster(tmp_path / "net", 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
        check=False,
    )


def manifest(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as t:
        f = t.extractfile("manifest.json")
        assert f is not None
        out: dict[str, object] = json.load(f)
        return out


def test_backup_under_load_restores_on_a_wiped_node(four: Cluster, tmp_path: Path) -> None:
    c = four
    load = Load(c, [0, 1, 2]).start()
    wait_for(lambda: len(load.acked) >= 300, 60, "300 txs acknowledged")
    archive = tmp_path / "node1.backup"
    r = cli("backup", "--config", c.entries[1].config_path, "--out", archive)
    assert r.returncode == 0, r.stderr
    m = manifest(archive)
    height = int(str(m["height"]))
    assert height >= 1 and m["chain_id"] == c.status(0)["chain_id"]
    # one consistent committed moment: the head is the block every node has at that height
    assert m["head_hash"] == c.clients[0].block(height)["block"]["hash"]
    assert m["state_root"] == c.clients[0].block(height)["block"]["header"]["state_root"]
    # the backed-up node went on committing (it never stopped)
    wait_for(lambda: c.height(1) > height + 2, 60, "node1 committing after the backup")

    c.stop(3)
    data3 = c.data_dir(3)
    shutil.rmtree(data3)

    # a damaged copy is refused and leaves the (wiped) data directory as it is
    bad = tmp_path / "bad.backup"
    raw = bytearray(archive.read_bytes())
    with tarfile.open(archive) as t:
        part = t.getmember("parts/txs.kv")
    raw[part.offset_data + part.size // 3] ^= 0x40
    bad.write_bytes(bytes(raw))
    node_dir = c.entries[3].config_path.parent
    before = tree(node_dir)
    r = cli("restore", "--config", c.entries[3].config_path, bad)
    assert r.returncode == 1
    assert "restore refused" in r.stderr and "txs" in r.stderr and "damaged" in r.stderr
    assert tree(node_dir) == before and not data3.exists()

    r = cli("restore", "--config", c.entries[3].config_path, archive)
    assert r.returncode == 0, r.stderr
    assert f"at height {height}" in r.stdout
    c.start(3)
    # under the same load, node3 syncs from its peers past the backup's height …
    wait_for(lambda: c.height(3) > height + 5, 90, "node3 syncing past the backup")
    acked = load.stop()
    wait_for(lambda: all(c.clients[0].receipt(h) for h in acked[-60:]), 60, "the last txs")
    # every mempool drained: the last txs committing says nothing of earlier ones that another
    # node admitted and the primary had queued behind them
    wait_for(lambda: all(c.status(i)["mempool"] == 0 for i in range(4)), 60, "mempools drained")
    top = max(c.height(i) for i in range(4))
    c.wait_height(top, timeout=60)  # … and catches up with the others
    assert assert_same_chains(c, [0, 1, 2, 3], acked) >= top
