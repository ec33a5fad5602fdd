"""Block sync framing: hostile requests and responses raise SyncError, never anything else."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainnode.client.sdk import Account
from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import ValidatorInfo, make_genesis
from chainnode.model.types import Block
from chainnode.node.blocksync import SyncError, decode_response, encode_request, serve
from crypto import sm2


def _no_blocks(data: bytes) -> Block:
    raise AssertionError("must not decode a block from a malformed response")


@given(st.binary(max_size=256))
def test_garbage_requests_are_sync_errors(data: bytes) -> None:
    try:
        serve(None, data)  # type: ignore[arg-type] # rejected before the ledger is touched
    except SyncError:
        return
    except AttributeError:
        # a well-formed [from, to] reached the (absent) ledger: it must really be well-formed
        req = msgpack.unpackb(data)
        assert isinstance(req, list) and len(req) == 2


@given(
    st.one_of(
        st.binary(max_size=256),
        st.builds(lambda x: msgpack.packb(x), st.recursive(
            st.one_of(st.integers(-(2**63), 2**64 - 1), st.binary(max_size=8), st.none()),
            lambda c: st.lists(c, max_size=4), max_leaves=12,
        )),
    )
)  # fmt: skip
def test_garbage_responses_are_sync_errors(data: bytes) -> None:
    try:
        out = decode_response(data, Block.decode, 1, 10)
    except SyncError:
        return
    assert out == []  # only an empty list is a valid "nothing to give"


def test_serve_and_decode_round_trip(tmp_path: Path) -> None:
    key = sm2.PrivateKey.generate()
    admin = Account.generate()
    genesis = make_genesis(
        "sync-test",
        [ValidatorInfo(key.public_key().to_bytes(), "n0", "127.0.0.1:1", "127.0.0.1:2")],
        [admin.public_key],
    )
    ledger = Ledger.open(tmp_path, genesis)
    try:
        # nothing past the head: an empty answer; a reversed range: empty too
        assert decode_response(serve(ledger, encode_request(1, 5)), Block.decode, 1, 5) == []
        assert decode_response(serve(ledger, encode_request(5, 1)), Block.decode, 5, 1) == []
        with pytest.raises(SyncError):
            serve(ledger, msgpack.packb([-1, 3]))
        with pytest.raises(SyncError):
            serve(ledger, msgpack.packb([1, 2, 3]))
        # an item with a block outside the range or a bogus certificate is refused
        genesis_block = ledger.block(0)
        assert genesis_block is not None
        forged = msgpack.packb([[genesis_block.encode(), b"\x90"]])
        with pytest.raises(SyncError):
            decode_response(forged, ledger.decode_block, 1, 5)
    finally:
        ledger.close()
