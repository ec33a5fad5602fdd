"""Per-tx work on ingress: a request's txs decoded once, the first bad one named; the decode's
memo of names (chain id, contract, method) holds only fields that passed their patterns."""

from __future__ import annotations

import pytest

from chainnode.api.convert import decode_txs
from chainnode.api.errors import ApiError
from chainnode.model import types as T
from chainnode.model.types import Transaction
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import keys

SUITE = get_suite("sm")


def _tx(method: str = "put", contract: str = "records") -> Transaction:
    return Transaction.create(
        SUITE, keys()[0].priv, "test-chain", 1, 10, contract, method, ["k", 1], 100_000
    )


def test_decode_txs_decodes_each_and_names_the_first_bad_one() -> None:
    good = _tx().raw
    txs = decode_txs([good, good], single=False, suite=SUITE)
    assert [t.raw for t in txs] == [good, good]
    with pytest.raises(ApiError) as e:
        decode_txs([good, b"\x93junk", b"\xc1"], single=False, suite=SUITE)
    assert e.value.field == "[1]" and e.value.code == "MALFORMED"
    with pytest.raises(ApiError) as e1:
        decode_txs([b"\xc1"], single=True, suite=SUITE)
    assert e1.value.field == "body"


def test_the_names_memo_keeps_only_valid_names_and_changes_no_outcome() -> None:
    T._NAMES.clear()
    tx = _tx()
    cold = Transaction.decode(tx.raw, SUITE)
    assert (b"test-chain", b"records", b"put") in T._NAMES
    warm = Transaction.decode(tx.raw, SUITE)
    assert (cold.chain_id, cold.contract, cold.method) == ("test-chain", "records", "put")
    assert (warm.chain_id, warm.contract, warm.method, warm.hash) == (
        cold.chain_id,
        cold.contract,
        cold.method,
        cold.hash,
    )
    bad = bytearray(tx.raw)
    at = bytes(bad).index(b"put")
    bad[at] = ord("9")  # "9ut": not a method name
    for _ in range(2):  # refused the same way with the memo warm
        with pytest.raises(T.MalformedError) as e:
            Transaction.decode(bytes(bad), SUITE)
        assert "method" in e.value.message
    assert all(k[2] != b"9ut" for k in T._NAMES)
