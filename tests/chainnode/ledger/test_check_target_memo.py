"""Admission's (sender, contract, method) memo (``Ledger.check_target``) answers exactly as
the plain check (``check_target_plain``), also after a commit changes a sender's permission."""

from __future__ import annotations

from pathlib import Path

from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import Code
from chainnode.model.types import Transaction
from tests.chainnode.ledger.helpers import commit, genesis, keys, open_ledger, tx


def _calls(ledger: Ledger) -> list[Transaction]:
    ks = keys()
    out = []
    for k in (ks[0], ks[1], ks[4]):  # two users and the admin
        out += [
            tx(ledger, k, "records", "put", ["k", 1]),
            tx(ledger, k, "records", "put", ["k", 2]),  # the same triple again (a memo hit)
            tx(ledger, k, "records", "put", [1, 1]),  # INVALID_ARGS
            tx(ledger, k, "records", "put", ["k", 1], gas_limit=10**9),  # GAS_LIMIT
            tx(ledger, k, "records", "nope"),  # UNKNOWN_METHOD
            tx(ledger, k, "nothing", "put", ["k", 1]),  # UNKNOWN_CONTRACT
            tx(ledger, k, "permissions", "grant", [ks[2].address, "writer"]),  # admin only
            tx(ledger, k, "deployment", "resolve", ["records"]),
        ]
    return out


def _answers(ledger: Ledger, txs: list[Transaction]) -> list[object]:
    # twice each: the second call of a triple is answered from the memo
    fast = [ledger.check_target(t) for t in txs + txs]
    plain = [ledger.check_target_plain(t) for t in txs + txs]
    assert fast == plain
    return plain


def test_the_memo_answers_as_the_plain_check_across_commits(tmp_path: Path) -> None:
    ks = keys()
    with open_ledger(tmp_path, genesis(permissions="closed", std=True)) as a:
        before = _answers(a, _calls(a))
        codes = [None if r is None else r[0] for r in before]  # type: ignore[index]
        assert Code.NO_PERMISSION in codes and None in codes  # the users may not write yet
        assert {Code.INVALID_ARGS, Code.GAS_LIMIT, Code.UNKNOWN_METHOD} <= set(codes)
        assert Code.UNKNOWN_CONTRACT in codes
        commit(a, [tx(a, ks[4], "permissions", "grant", [ks[0].address, "writer"])])
        after = _answers(a, _calls(a))
        assert after != before  # the grant reached the memo's answers too
        user0_put = after[0]
        assert user0_put is None and before[0] is not None
