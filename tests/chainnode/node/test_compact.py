"""Proposals by tx hash (chainnode.node.compact): the wire form, the fetch answer's checks, and
the block check on a compact proposal whose txs never arrived."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import MalformedError
from chainnode.model.encoding import pack
from chainnode.model.types import Block
from chainnode.node import compact
from chainnode.node.proposals import BlockCache, ProposalCheck
from consensus.types import Proposal
from tests.chainnode.ledger.helpers import genesis, keys, make_block, open_ledger, tx


def _ledgers(tmp_path: Path, n: int = 3) -> tuple[Ledger, Ledger, Block]:
    g = genesis(std=True)
    a, b = open_ledger(tmp_path / "a", g), open_ledger(tmp_path / "b", g)
    a.mempool.submit([tx(a, keys()[0], "records", "put", [f"k{i}", i]) for i in range(n)])
    block = make_block(a)
    assert len(block.txs) == n
    return a, b, block


def _check(ledger: Ledger) -> ProposalCheck:
    return ProposalCheck(ledger, BlockCache(), clock_ms=lambda: 1_700_000_000_000 + 10**9)


def _proposal(block: Block, payload: bytes) -> Proposal:
    return Proposal(block.height, block.header.prev_hash, block.hash, payload)


def test_the_compact_form_names_the_txs_and_rebuilds_the_same_block(tmp_path: Path) -> None:
    a, b, block = _ledgers(tmp_path)
    with a, b:
        payload = compact.compact_payload(block)
        assert compact.is_compact(payload) and not compact.is_compact(block.raw)
        header, hashes = compact.parse_compact(payload)
        assert header == block.header
        assert hashes == [t.hash for t in block.txs]
        assert len(payload) < len(block.raw)
        rebuilt, missing = compact.rebuild(payload, a.mempool.get, a.suite)
        assert missing == [] and rebuilt is not None
        assert rebuilt.raw == block.raw and rebuilt.hash == block.hash
        lacking, missing = compact.rebuild(payload, b.mempool.get, b.suite)
        assert lacking is None and missing == hashes


def test_a_malformed_compact_payload_is_refused() -> None:
    with pytest.raises(MalformedError):
        compact.parse_compact(pack([compact.COMPACT_TAG, [1, 2], []]))
    with pytest.raises(MalformedError):
        compact.parse_compact(pack([2, [], []]))
    with pytest.raises(MalformedError):
        compact.parse_compact(b"\x93\x01\xc1")


def test_a_compact_proposal_passes_where_the_txs_are_and_fails_where_they_are_not(
    tmp_path: Path,
) -> None:
    a, b, block = _ledgers(tmp_path)
    with a, b:
        payload = compact.compact_payload(block)
        assert _check(b)(_proposal(block, payload)) is False  # b never got the txs
        b.mempool.submit(list(block.txs))  # now gossip brought them
        assert _check(b)(_proposal(block, payload)) is True


def test_the_answer_is_checked_tx_by_tx(tmp_path: Path) -> None:
    a, b, block = _ledgers(tmp_path)
    with a, b:
        wanted = [t.hash for t in block.txs]
        good = compact.answer(wanted, block, lambda h: None)
        got = compact.check_answer(good, wanted, b.suite)
        assert [t.raw for t in got.values()] == [t.raw for t in block.txs]
        # from the mempool when the block is not held
        assert compact.answer(wanted, None, a.mempool.get) == good
        with pytest.raises(compact.FetchError, match="unknown here"):
            compact.answer(wanted, None, b.mempool.get)
        swapped = pack([t.raw for t in reversed(block.txs)])
        with pytest.raises(compact.FetchError, match="asked for tx"):
            compact.check_answer(swapped, wanted, b.suite)
        with pytest.raises(compact.FetchError, match="asked for 3 txs, got 2"):
            compact.check_answer(pack([t.raw for t in block.txs[:2]]), wanted, b.suite)
        with pytest.raises(compact.FetchError, match="undecodable tx"):
            compact.check_answer(pack([b"\x01", b"\x02", b"\x03"]), wanted, b.suite)
        with pytest.raises(compact.FetchError, match="undecodable answer"):
            compact.check_answer(b"\xc1", wanted, b.suite)


def test_the_request_is_bounded_and_typed(tmp_path: Path) -> None:
    digest, hashes = b"\x01" * 32, [b"\x02" * 32, b"\x03" * 32]
    assert compact.decode_request(compact.encode_request(digest, hashes)) == (digest, hashes)
    for junk in (b"\xc1", pack([digest]), pack([digest, [b"short"]]), pack(["x", []])):
        with pytest.raises(compact.FetchError):
            compact.decode_request(junk)


def test_a_compact_proposal_carries_a_state_checkpoint(tmp_path: Path) -> None:
    import dataclasses

    from chainnode.model.types import StateCheckpoint

    a, b, block = _ledgers(tmp_path)
    with a, b:
        cp = StateCheckpoint(0, bytes([9]) * 32, 0, 0)
        carrying = Block(
            dataclasses.replace(block.header, checkpoint=cp), block.txs, hasher=a.suite.hash
        )
        header, hashes = compact.parse_compact(compact.compact_payload(carrying))
        assert header.checkpoint == cp and hashes == [t.hash for t in block.txs]


def test_prefilled_bodies_need_no_mempool_and_junk_bodies_are_refused(tmp_path: Path) -> None:
    a, b, block = _ledgers(tmp_path)
    with a, b:
        first = block.txs[0].hash
        payload = compact.compact_payload(block, prefill=lambda h: h == first)
        _, items = compact.parse_compact(payload)
        assert items[0] == block.txs[0].raw and items[1:] == [t.hash for t in block.txs[1:]]
        lacking, missing = compact.rebuild(payload, b.mempool.get, b.suite)
        assert lacking is None and missing == [t.hash for t in block.txs[1:]]
        full = compact.compact_payload(block, prefill=lambda h: True)
        rebuilt, missing = compact.rebuild(full, b.mempool.get, b.suite)
        assert missing == [] and rebuilt is not None and rebuilt.raw == block.raw
        assert _check(b)(_proposal(block, full)) is True  # b never had any of them
        header, _ = compact.parse_compact(full)
        junk = pack([compact.COMPACT_TAG, header.to_list(), [b"\x01" * 40]])
        with pytest.raises(MalformedError):
            compact.rebuild(junk, b.mempool.get, b.suite)
        assert _check(b)(_proposal(block, junk)) is False


def test_recent_txs_are_fresh_for_the_window_only() -> None:
    now = [100.0]
    recent = compact.RecentTxs(window_s=0.5, clock=lambda: now[0], capacity=3)
    recent.add([b"a" * 32, b"b" * 32])
    now[0] = 100.4
    fresh = recent.fresh()
    assert fresh(b"a" * 32) and fresh(b"b" * 32) and not fresh(b"c" * 32)
    now[0] = 100.6
    assert not recent.fresh()(b"a" * 32)
    recent.add([b"c" * 32])  # the expired ones are dropped on the way
    assert len(recent._at) == 1
    recent.add([b"d" * 32, b"e" * 32, b"f" * 32, b"g" * 32])  # capacity 3
    assert len(recent._at) == 3 and recent.fresh()(b"g" * 32)
