"""A real node's LevelDB memtable is the size its config says (``storage_memtable_mib``): a
node given 1 MiB has written tables after a few MiB of blocks (the store's default size is
pinned in tests/storage/test_levels.py)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from chainnode.client.sdk import Account
from tests.chainnode.node.cluster import wait_for
from tests.chainnode.node.single import SingleNode


def table_files(url: str) -> int:
    """Table files in all of LevelDB's levels, from the node's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    found = re.findall(r'^chainnode_storage_level_files\{level="\d+"\} ([0-9.e+]+)$', text, re.M)
    return int(sum(float(n) for n in found))


def test_a_node_flushes_its_memtable_at_the_configured_size(tmp_path: Path) -> None:
    user = Account.generate()
    node = SingleNode(tmp_path / "a", storage_memtable_mib=1)
    try:
        assert table_files(node.url) == 0  # a fresh store: everything still in the memtable
        value = "v" * 60_000  # stored as state, in the tx body and in the block: ~0.2 MB a tx
        for i in range(12):
            out = node.client.send(
                user, "records", "put", [f"k{i}", value], wait=30, gas_limit=10_000_000
            )
            assert out.committed and out.receipts[0]["status"] == "ok", out
        wait_for(lambda: table_files(node.url) >= 1, 30, "a table written from the memtable")
    finally:
        node.close()
