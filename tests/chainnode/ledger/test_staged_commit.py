"""``commit_block`` in its three steps (stage, write on another thread, finish), as the node
commits: the same store and answers as one ``commit_block`` on a twin ledger; until finished
the ledger stays at the parent and refuses to build, validate or commit another block."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from chainnode.ledger.ledger import Ledger
from tests.chainnode.ledger.helpers import genesis, keys, make_block, open_ledger, tx


def _txs(ledger: Ledger, first_nonce: int) -> list:
    ks = keys()
    return [
        tx(ledger, ks[i % 3], "records", "put", [f"k{i}", i], nonce=first_nonce + i)
        for i in range(6)
    ]


def test_staged_commit_matches_commit_block_and_holds_the_parent(tmp_path: Path) -> None:
    g = genesis(std=True)
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        for round_ in range(3):
            txs = _txs(a, 100 * round_)
            for ledger in (a, b):
                assert all(x.accepted for x in ledger.mempool.submit(txs))
            block = make_block(a)
            peer = b.decode_block(block.encode())
            b.validate_block(peer)
            parent = (a.height, a.head_hash)
            staged = a.stage_commit(block, b"cert")
            # still the parent, and nothing else may move the chain meanwhile
            assert (a.height, a.head_hash) == parent
            assert all(a.mempool.has(t.hash) for t in txs)
            with pytest.raises(RuntimeError, match="being committed"):
                make_block(a)
            with pytest.raises(RuntimeError, match="being committed"):
                a.validate_block(block)
            with pytest.raises(RuntimeError, match="being committed"):
                a.commit_block(block, b"cert")
            with pytest.raises(RuntimeError, match="not written"):
                a.finish_commit(staged)
            writer = threading.Thread(target=a.write_commit, args=(staged,))
            writer.start()
            writer.join()
            assert staged.written
            got = a.finish_commit(staged)
            want = b.commit_block(peer, b"cert")
            assert got == want
            assert (a.height, a.head_hash) == (b.height, b.head_hash) == (block.height, block.hash)
            assert not any(a.mempool.has(t.hash) for t in txs)
        for t in txs:
            assert a.receipt(t.hash) == b.receipt(t.hash) is not None
        assert a.head.state_root == b.head.state_root
