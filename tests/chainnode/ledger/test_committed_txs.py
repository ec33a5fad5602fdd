"""A tx is committed once: admission, building and validation ask the tx index only about
txs whose nonce is already used (a committed tx always used its own), and refuse a committed
tx again whether its nonce holds its own hash or, when it failed as a duplicate, another's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.ledger.executor import roots_of
from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import Code, InvalidBlock
from chainnode.model.types import Block, Transaction
from storage import Store
from tests.chainnode.ledger.helpers import commit, keys, make_block, open_ledger, tx

RESOLVE = ("deployment", "resolve", ["evidence"])


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The tx hashes every store is asked ``has_tx`` about, in order."""
    seen: list[bytes] = []
    real = Store.has_tx

    def spy(self: Store, tx_hash: bytes) -> bool:
        seen.append(tx_hash)
        return real(self, tx_hash)

    monkeypatch.setattr(Store, "has_tx", spy)
    yield seen


def _with_txs(led: Ledger, blk: Block, txs: tuple[Transaction, ...]) -> Block:
    h = dataclasses.replace(blk.header, tx_root=roots_of(led.suite.hash, [t.hash for t in txs]))
    return Block(h, txs, hasher=led.suite.hash)


def _message(led: Ledger, t: Transaction) -> tuple[Code, str]:
    (adm,) = led.mempool.submit([t])
    assert not adm.accepted
    return adm.code, adm.message


def test_new_txs_cost_no_tx_index_lookup(tmp_path: Path, asked: list[bytes]) -> None:
    ks = keys()
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        txs = [tx(a, ks[i % 3], *RESOLVE) for i in range(6)]
        assert all(x.accepted for x in a.mempool.submit([t.encode() for t in txs]))
        assert all(x.accepted for x in b.mempool.submit(txs))  # the peer's gossip
        commit(a, txs, b)  # build on a, validate and commit on b, commit on a
        assert asked == []
        assert all(a.is_committed(t.hash) and b.is_committed(t.hash) for t in txs)


def test_a_reused_nonce_asks_the_index_about_that_tx_only(
    tmp_path: Path, asked: list[bytes]
) -> None:
    k = keys()[0]
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        first = tx(a, k, *RESOLVE, nonce=41)
        commit(a, [first], b)
        again = tx(a, k, "deployment", "resolve", ["records"], nonce=41)
        a.mempool._pool[again.hash] = again  # bypass admission, as a faulty proposer would
        asked.clear()
        blk = make_block(a)
        assert blk.txs == (again,) and asked == [again.hash]
        b.validate_block(b.decode_block(blk.encode()))
        assert asked == [again.hash, again.hash]
        assert _message(b, first) == (Code.DUPLICATE, "transaction already known")
        assert _message(b, again) == (Code.DUPLICATE, "nonce already used")


def test_a_committed_duplicate_is_refused_again(tmp_path: Path) -> None:
    """``again`` reused ``first``'s nonce and committed with a failed receipt: its nonce
    holds ``first``'s hash, yet it is committed, so no block may hold it again."""
    k, other = keys()[0], keys()[1]
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        first = tx(a, k, *RESOLVE, nonce=7)
        commit(a, [first], b)
        again = tx(a, k, "deployment", "resolve", ["records"], nonce=7)
        a.mempool._pool[again.hash] = again
        blk = make_block(a)
        b.commit_block(b.decode_block(blk.encode()), b"c")
        (r,) = a.commit_block(blk, b"c")
        assert r.error == "DUPLICATE: nonce already used"
        assert a.is_committed(again.hash) and b.is_committed(again.hash)

        assert _message(a, again) == (Code.DUPLICATE, "transaction already known")
        fresh = tx(a, other, *RESOLVE)
        a.mempool.submit([fresh])
        good = make_block(a)
        for txs in ((fresh, again), (again,), (first, fresh)):
            with pytest.raises(InvalidBlock) as e:
                b.validate_block(b.decode_block(_with_txs(a, good, txs).encode()))
            assert e.value.code == Code.DUPLICATE and "committed before" in e.value.message
        b.validate_block(b.decode_block(good.encode()))

        # one of them slipped into the mempool (admitted while its block committed): the
        # proposal is built without it, and it leaves the mempool
        a.mempool._pool[again.hash] = again
        rebuilt = make_block(a)
        assert rebuilt.txs == (fresh,) and not a.mempool.has(again.hash)
        assert rebuilt.header.state_root == good.header.state_root
        b.validate_block(b.decode_block(rebuilt.encode()))
