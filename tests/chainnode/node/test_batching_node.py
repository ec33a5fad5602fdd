"""A real node batches under load (``proposal_batch_txs``, ``proposal_batch_wait_ms``): after
a loaded block, transactions wait for the target, then go out in one block; a node after an
empty block proposes at once (tests/chainnode/node/test_propose_at_once.py: each lone
transaction its own block)."""

from __future__ import annotations

from pathlib import Path

from chainnode.client.sdk import Account
from tests.chainnode.node.single import SingleNode


def test_after_a_loaded_block_the_primary_waits_for_its_target_then_proposes_them_all(
    tmp_path: Path,
) -> None:
    # target 8: a block of one tx (an eighth) tells load; the wait (a minute) never runs out
    node = SingleNode(tmp_path / "a", proposal_batch_txs=8, proposal_batch_wait_ms=60_000)
    user = Account.generate()
    try:
        first = node.client.send(user, "records", "put", ["k0", 0], wait=30)
        assert first.committed, first  # after the empty block 1: at once, in block 2
        assert node.client.transaction(first.hashes[0])["height"] == 2
        hashes = []
        for i in range(1, 8):
            out = node.client.send(user, "records", "put", [f"k{i}", i])
            hashes += out.hashes
        assert node.client.status()["height"] == 2  # seven wait for the eighth
        last = node.client.send(user, "records", "put", ["k8", 8], wait=30)
        assert last.committed, last
        hashes += last.hashes
        heights = {node.client.transaction(h)["height"] for h in hashes}
    finally:
        node.close()
    assert heights == {3}  # all eight in one block
