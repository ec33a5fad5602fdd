"""Property: any sequence of blocks gives identical hashes and roots on independent nodes,
including a node that replays the chain later from block bytes (as block sync does)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.ledger.ledger import Ledger
from tests.chainnode.ledger.helpers import genesis, keys, make_block, open_ledger, tx

KS = keys()
OPS = st.one_of(
    st.tuples(
        st.just("records"), st.just("put"), st.tuples(st.sampled_from("abc"), st.integers(-5, 5))
    ),
    st.tuples(st.just("records"), st.just("delete"), st.tuples(st.sampled_from("abc"))),
    st.tuples(
        st.just("evidence"),
        st.just("register"),
        st.tuples(st.sampled_from(["aa" * 32, "bb" * 32]), st.just("t"), st.just("")),
    ),
    st.tuples(
        st.just("governance"),
        st.just("add_admin"),
        st.tuples(st.sampled_from([KS[9].pub, KS[10].pub])),
    ),
    st.tuples(
        st.just("permissions"),
        st.just("grant"),
        st.tuples(
            st.sampled_from([KS[0].address, KS[1].address]), st.sampled_from(["writer", "deployer"])
        ),
    ),
)
STEP = st.tuples(st.integers(0, 6), OPS)  # (sender index: 0-3 users, 4-6 admins), op


@settings(max_examples=25)
@given(st.lists(st.lists(STEP, max_size=5), min_size=1, max_size=4))
def test_same_blocks_same_roots_everywhere(blocks: list[list[tuple[int, Any]]]) -> None:
    g = genesis(admins=3, std=True)
    with tempfile.TemporaryDirectory() as d:
        a, b = open_ledger(Path(d) / "a", g), open_ledger(Path(d) / "b", g)
        try:
            for steps in blocks:
                txs = [tx(a, KS[who], c, m, list(args)) for who, (c, m, args) in steps]
                admitted = [
                    t for t, x in zip(txs, a.mempool.submit(txs), strict=True) if x.accepted
                ]
                blk = make_block(a)
                assert [t.hash for t in blk.txs] == [t.hash for t in admitted]
                peer = b.decode_block(blk.encode())
                b.validate_block(peer)
                ra = a.commit_block(blk, b"c")
                rb = b.commit_block(peer, b"c")
                assert ra == rb
                assert a.head_hash == b.head_hash and a.state_root == b.state_root
        finally:
            a.close()
            b.close()
        late = open_ledger(Path(d) / "late", g)
        src = Ledger.open(Path(d) / "a", g)
        try:
            for h in range(1, src.height + 1):
                raw = src.block_bytes(h)
                assert raw is not None
                late.commit_block(late.decode_block(raw), src.certificate(h) or b"")
            assert late.head_hash == src.head_hash and late.state_root == src.state_root
            for k in "abc":
                assert late.state_value("records", k) == src.state_value("records", k)
        finally:
            late.close()
            src.close()
