"""A real node whose every block goes through the commit thread (``commit_thread_min_txs =
0``: the storage write and the WAL appends off the event loop) commits block after block and
answers receipts and reads of what it wrote; the default commits the small blocks of the other node tests in
line (the mechanism: tests/chainnode/node/test_driver_background_commit.py)."""

from __future__ import annotations

from pathlib import Path

from chainnode.client.sdk import Account
from tests.chainnode.node.single import SingleNode


def test_a_node_committing_on_its_commit_thread_commits_block_after_block(tmp_path: Path) -> None:
    user = Account.generate()
    node = SingleNode(tmp_path / "a", commit_thread_min_txs=0)
    try:
        heights = []
        for i in range(4):
            out = node.client.send(user, "records", "put", [f"k{i}", i], wait=30)
            assert out.committed and out.receipts[0]["status"] == "ok", out
            heights.append(node.client.transaction(out.hashes[0])["height"])
        assert heights == sorted(set(heights)) and heights[0] >= 2  # a block each, in order
        top = node.client.status()["height"]
        view = node.client.call("records", "get", ["k3"])
    finally:
        node.close()
    assert top >= heights[-1]
    assert view["ok"] and view["result"]["value"] == 3, view
