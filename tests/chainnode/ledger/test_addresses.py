"""Addresses in one form: shown as 0x + 40 lower-case hex, taken with or without 0x."""

from __future__ import annotations

import pytest

from chainnode.model.addresses import address_hex, contract_display, contract_ref, parse_address
from chainnode.model.codes import MalformedError
from chainnode.model.types import Event, Transaction, encode_args
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import keys, tx

SM = get_suite("sm")
RAW = bytes(range(20))
BARE = "000102030405060708090a0b0c0d0e0f10111213"


def test_parse_and_show() -> None:
    assert address_hex(RAW) == "0x" + BARE
    for text in (BARE, "0x" + BARE, "0X" + BARE.upper(), BARE.upper()):
        assert parse_address(text) == RAW
        assert contract_ref(text) == BARE  # the on-chain form
        assert contract_display(text) == "0x" + BARE
    for bad in ("", "0x", BARE[:-1], BARE + "00", "0x" + BARE[:-2] + "zz", "records"):
        assert parse_address(bad) is None
    assert contract_ref("records") == "records" == contract_display("records")


def test_tx_signs_the_on_chain_form_of_a_contract_address() -> None:
    k = keys()[0]
    t = Transaction.create(SM, k.priv, "c", 1, 10, "0X" + BARE.upper(), "get", [], 1000)
    assert t.contract == BARE and t.verify(SM)
    assert t.payload == Transaction.signing_payload(
        "c", k.pub, 1, 10, BARE, "get", encode_args([]), 1000
    )


def test_tx_json_takes_the_key_with_the_sender_as_its_address() -> None:
    k = keys()[0]
    t = tx(SM, k, "records", "put", ["k", 1])
    shown = dict(t.to_json(), sender="0x" + SM.address(k.pub).hex(), sender_public_key=k.pub.hex())
    assert Transaction.from_json(shown, SM) == t
    assert Transaction.from_json(dict(shown, contract="records"), SM) == t
    with pytest.raises(MalformedError, match="sender_public_key"):
        Transaction.from_json(dict(shown, sender="0x" + "11" * 20), SM)
    with pytest.raises(MalformedError, match="sender_public_key"):
        Transaction.from_json(dict(shown, sender=keys()[1].pub.hex()), SM)
    assert Transaction.from_json({**shown, "sender": None}, SM) == t  # the key alone will do


def test_event_json_shows_the_contract_address() -> None:
    assert Event(RAW, "E", b"\x90").to_json()["contract"] == "0x" + BARE
