"""Transactions, blocks and receipts: canonical encoding, hashes, signatures, JSON."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainnode.model.codes import Code, MalformedError
from chainnode.model.types import (
    MAX_ARGS_BYTES,
    ZERO_HASH,
    Block,
    BlockHeader,
    Event,
    Receipt,
    Transaction,
    encode_args,
)
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import CHAIN, keys, tx

SM = get_suite("sm")


def test_tx_round_trip_and_signature() -> None:
    k = keys()[0]
    t = tx(SM, k, "evidence", "put", [b"\x01" * 32, "note", 7, None, [1, 2]])
    assert t.sender == k.pub and t.chain_id == CHAIN
    assert t.verify(SM)
    back = Transaction.decode(t.encode(), SM)
    assert back == t and back.hash == t.hash and back.encode() == t.encode()
    assert back.decoded_args() == [b"\x01" * 32, "note", 7, None, [1, 2]]
    assert t.hash == SM.hash(t.payload)
    j = Transaction.from_json(t.to_json(), SM)
    assert j == t and j.hash == t.hash
    assert t.to_json()["args_value"] == ["0x" + "01" * 32, "note", 7, None, [1, 2]]


def test_vm_args_reuse_the_admission_decode_and_equal_a_fresh_one() -> None:
    t = Transaction.decode(tx(SM, keys()[0], "records", "put", ["k", {"n": [1, 2]}]).encode(), SM)
    fresh = t.vm_args()  # not admitted yet: a fresh decode each time
    assert fresh == ["k", {"n": [1, 2]}] and t.vm_args() is not fresh
    t.check_args()
    kept = t.vm_args()
    assert kept == fresh and t.vm_args() is kept  # decoded once at admission
    assert t.decoded_args() == fresh and t.decoded_args() is not kept  # callers get their own


def test_check_args_rejects_non_canonical_args_and_keeps_nothing() -> None:
    bad = b"\x93\x00\xa1s\xd9\x01s"  # ["s", "s"] with the second str in str8 form
    t = dataclasses.replace(tx(SM, keys()[0], "records", "put", ["k", 1]), args=bad)
    with pytest.raises(MalformedError):
        t.check_args()
    assert t.vm_args() == ["s", "s"]  # execution still decodes it (leniently), each time
    assert t.vm_args() is not t.vm_args()


def test_hash_excludes_signature_so_a_resigned_copy_is_the_same_tx() -> None:
    k = keys()[0]
    a = tx(SM, k, "records", "set", ["k", "v"], nonce=5)
    b = tx(SM, k, "records", "set", ["k", "v"], nonce=5)
    assert a.signature != b.signature  # SM2 signatures are randomised
    assert a.hash == b.hash
    c = tx(SM, k, "records", "set", ["k", "v"], nonce=6)
    assert c.hash != a.hash


@pytest.mark.parametrize(
    "field,value",
    [
        ("chain_id", "other-chain"),
        ("nonce", 999),
        ("block_limit", 12345),
        ("contract", "records"),
        ("method", "other"),
        ("gas_limit", 77),
    ],
)
def test_tampering_any_signed_field_breaks_the_signature(field: str, value: object) -> None:
    t = tx(SM, keys()[0], "evidence", "put", [b"x"])
    fields: dict[str, Any] = {f.name: getattr(t, f.name) for f in dataclasses.fields(t) if f.init}
    fields[field] = value
    forged = Transaction(**fields, hasher=SM.hash)
    assert forged.hash != t.hash
    assert not forged.verify(SM)


def test_tampered_args_and_sender_fail() -> None:
    t = tx(SM, keys()[0], "evidence", "put", [b"x"])
    other = keys()[1].pub
    f1 = Transaction(
        t.chain_id,
        other,
        t.nonce,
        t.block_limit,
        t.contract,
        t.method,
        t.args,
        t.gas_limit,
        t.signature,
    )
    f2 = Transaction(
        t.chain_id,
        t.sender,
        t.nonce,
        t.block_limit,
        t.contract,
        t.method,
        encode_args([b"y"]),
        t.gas_limit,
        t.signature,
    )
    assert not f1.verify(SM) and not f2.verify(SM)


def test_bit_flips_in_the_encoding_never_pass() -> None:
    t = tx(SM, keys()[0], "evidence", "put", [b"abc"])
    raw = bytearray(t.encode())
    for i in range(0, len(raw), 3):
        bad = bytearray(raw)
        bad[i] ^= 0x01
        try:
            d = Transaction.decode(bytes(bad), SM)
        except MalformedError:
            continue
        assert not d.verify(SM) or d == t


def test_non_canonical_and_malformed_encodings_rejected() -> None:
    t = tx(SM, keys()[0], "evidence", "put", [b"abc"])
    fields = msgpack.unpackb(t.encode())
    # nonce as a 64-bit int instead of a fixint: same value, other bytes
    wide = (
        b"\x99"
        + b"".join(msgpack.packb(f, use_bin_type=True) for f in fields[:2])
        + b"\xcf"
        + fields[2].to_bytes(8, "big")
        + b"".join(msgpack.packb(f, use_bin_type=True) for f in fields[3:])
    )
    with pytest.raises(MalformedError, match="canonical"):
        Transaction.decode(wide, SM)
    for junk in [b"", b"\xc1", b"\x93\x01\x02\x03", msgpack.packb({"a": 1}), t.encode() + b"\x00"]:
        with pytest.raises(MalformedError):
            Transaction.decode(junk, SM)
    with pytest.raises(MalformedError) as e:
        Transaction.decode(b"\x00" * 300_000, SM)
    assert e.value.code == Code.TOO_LARGE


@given(st.binary(max_size=400))
def test_decode_random_bytes_only_raises_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        Transaction.decode(data, SM)


def test_field_validation() -> None:
    t = tx(SM, keys()[0], "evidence", "put", [])
    base = dict(
        chain_id=t.chain_id,
        sender=t.sender,
        nonce=1,
        block_limit=1,
        contract="evidence",
        method="put",
        args=t.args,
        gas_limit=10,
        signature=t.signature,
    )
    for field, bad in [
        ("chain_id", ""),
        ("chain_id", "a b"),
        ("sender", b"\x04" * 10),
        ("sender", b"\x02" * 65),
        ("nonce", -1),
        ("nonce", 2**64),
        ("nonce", True),
        ("contract", "Bad!"),
        ("contract", "ab" * 21),
        ("method", "1x"),
        ("gas_limit", 0),
        ("signature", b"\x00" * 63),
    ]:
        with pytest.raises(MalformedError):
            Transaction(**{**base, field: bad})  # type: ignore[arg-type]
    Transaction(**{**base, "contract": "ab" * 20})  # type: ignore[arg-type]


def test_json_rejects_bad_hex_and_missing_fields() -> None:
    j = tx(SM, keys()[0], "evidence", "put", []).to_json()
    for mutate in [
        lambda d: d.pop("nonce"),
        lambda d: d.update(sender="zz"),
        lambda d: d.update(hash="00" * 32),
        lambda d: d.update(nonce="1"),
    ]:
        d = dict(j)
        mutate(d)  # type: ignore[no-untyped-call]
        with pytest.raises(MalformedError):
            Transaction.from_json(d, SM)
    with pytest.raises(MalformedError):
        Transaction.from_json([1, 2], SM)


def test_ecdsa_suite_hashes_and_signs_differently() -> None:
    p256 = get_suite("ecdsa-p256")
    k = keys("ecdsa-p256")[0]
    t = tx(p256, k, "evidence", "put", [b"x"])
    assert t.verify(p256) and not t.verify(SM)
    back = Transaction.decode(t.encode(), p256)
    assert back.hash == p256.hash(t.payload) != SM.hash(t.payload)


def test_block_and_receipt_round_trip() -> None:
    ks = keys()
    txs = tuple(tx(SM, ks[0], "records", "set", [str(i), i]) for i in range(3))
    h = BlockHeader(5, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 1234, ks[1].pub, 2)
    b = Block(h, txs, hasher=SM.hash)
    assert b.hash == SM.hash(h.encode())
    back = Block.decode(b.encode(), SM)
    assert back == b and back.hash == b.hash and back.height == 5
    assert Block.from_json(b.to_json(), SM) == b
    assert BlockHeader.from_json(h.to_json()) == h
    r = Receipt(
        txs[0].hash, 0, 55, encode_args([1]), (Event(b"\x09" * 20, "Put", encode_args([b"z"])),), ""
    )
    rb = Receipt.decode(r.encode())
    assert rb == r and rb.ok
    j = r.to_json()
    assert j["status"] == "ok" and j["events"][0]["name"] == "Put" and j["error"] is None
    assert j["return_value_json"] == [1]
    with pytest.raises(MalformedError):
        Block.decode(b.encode()[:-1], SM)
    wide = r.encode().replace(b"\x00\x37", b"\x00\xcc\x37", 1)  # gas_used 55 as uint8
    assert msgpack.unpackb(wide) == msgpack.unpackb(r.encode())
    with pytest.raises(MalformedError, match="canonical"):
        Receipt.decode(wide)
    with pytest.raises(MalformedError):
        BlockHeader(1, b"\x00", ZERO_HASH, ZERO_HASH, ZERO_HASH, 0, b"", 0)


@given(
    chain=st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True),
    nonce=st.integers(0, 2**64 - 1),
    limit=st.integers(0, 2**64 - 1),
    contract=st.one_of(
        st.from_regex(r"[a-z][a-z0-9_.\-]{0,31}", fullmatch=True),
        st.binary(min_size=20, max_size=20).map(bytes.hex),
    ),
    method=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,63}", fullmatch=True),
    args=st.binary(max_size=300),
    gas=st.integers(1, 1_000_000_000),
    sig=st.binary(min_size=64, max_size=64),
)
def test_fast_decode_matches_the_constructor(
    chain: str,
    nonce: int,
    limit: int,
    contract: str,
    method: str,
    args: bytes,
    gas: int,
    sig: bytes,
) -> None:
    t = Transaction(chain, keys()[0].pub, nonce, limit, contract, method, args, gas, sig)
    d = Transaction.decode(t.encode())
    assert d == t and d.hash == t.hash and d.payload == t.payload and d.raw == t.raw


@given(st.binary(max_size=600))
def test_block_and_receipt_decoding_of_random_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedError):
        Block.decode(data, SM)
    with contextlib.suppress(MalformedError):
        Receipt.decode(data)


_BLOCK = Block(
    BlockHeader(3, b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 9, keys()[1].pub, 1),
    tuple(
        Transaction(CHAIN, keys()[0].pub, i, 10, "records", "put", b"\x91\x01", 5, b"\x07" * 64)
        for i in range(2)
    ),
    hasher=SM.hash,
)
_RECEIPT = Receipt(b"\x05" * 32, 1, 7, b"\x01", (Event(b"\x09" * 20, "E", b"\x90"),), "x")


@given(st.data())
def test_mutated_blocks_and_receipts_decode_or_raise_malformed(data: st.DataObject) -> None:
    for raw, decode in (
        (_BLOCK.encode(), lambda b: Block.decode(b, SM)),
        (_RECEIPT.encode(), Receipt.decode),
    ):
        buf = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(buf) - 1))
            op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
            if op == "flip":
                buf[i] ^= 1 << data.draw(st.integers(0, 7))
            elif op == "insert":
                buf.insert(i, data.draw(st.integers(0, 255)))
            else:
                del buf[i]
        try:
            obj = decode(bytes(buf))
        except MalformedError:
            continue
        assert obj.encode() == bytes(buf)


_VALID_TX = tx(SM, keys()[0], "evidence", "put", [b"abc"]).encode()


def _outcome(decode: Any, data: bytes) -> tuple[Any, ...]:
    try:
        d = decode(data, SM)
    except MalformedError as e:
        return ("refused", e.code)
    return ("accepted", d, d.hash, d.payload, d.raw)


_NEAR_MISSES = [
    0, 1, -1, 2**63, 2**64 - 1, 10**9, 10**12, True, None, "text", 1.5, [], {},
    b"", b"a", b"a b", b"\xc3\xa9t\xc3\xa9", b"x" * 64, b"x" * 65, b"A" * 40, b"0" * 40,
    b"0" * 41, b"Zz", b"_m", b"1m", b"m" * 64, b"m" * 65, b"\x04" + b"\x01" * 64,
    b"\x03" + b"\x01" * 64, b"\x01" * 63, b"\x01" * 64, b"\x01" * (MAX_ARGS_BYTES - 200),
    b"\x01" * MAX_ARGS_BYTES, b"\x01" * (MAX_ARGS_BYTES + 1),
]  # fmt: skip


def test_decode_agrees_with_the_plain_path_on_every_single_near_miss() -> None:
    """Every field of a valid transaction replaced by every near miss, one at a time."""
    valid = msgpack.unpackb(_VALID_TX)
    for i in range(len(valid)):
        for value in _NEAR_MISSES:
            fields = list(valid)
            fields[i] = value
            data = msgpack.packb(fields, use_bin_type=True)
            assert _outcome(Transaction.decode, data) == _outcome(Transaction.decode_plain, data), (
                i,
                value,
            )


def _wide(value: Any) -> bytes:
    """A valid but non-canonical msgpack encoding of an int or bytes (the widest form)."""
    if isinstance(value, int):
        return b"\xcf" + value.to_bytes(8, "big")
    return b"\xc6" + len(value).to_bytes(4, "big") + value


def test_decode_agrees_with_the_plain_path_on_non_canonical_fields() -> None:
    valid = msgpack.unpackb(_VALID_TX)
    for i in range(len(valid)):
        parts = [msgpack.packb(f, use_bin_type=True) for f in valid]
        parts[i] = _wide(valid[i])
        data = b"\x99" + b"".join(parts)
        outcome = _outcome(Transaction.decode, data)
        assert outcome == _outcome(Transaction.decode_plain, data), i
        assert outcome[0] == "refused", i


@given(
    length=st.integers(8, 10),
    replaced=st.dictionaries(st.integers(0, 9), st.sampled_from(_NEAR_MISSES), max_size=2),
)
def test_decode_agrees_with_the_plain_path(length: int, replaced: dict[int, Any]) -> None:
    """The fast decode accepts and refuses exactly what the constructor path does: a valid
    transaction's fields with a few replaced by near misses of every kind (wrong types, out
    of range, non-ASCII, bad names), and a field too few or too many."""
    fields = (msgpack.unpackb(_VALID_TX) + [b"extra"])[:length]
    for i, value in replaced.items():
        if i < length:
            fields[i] = value
    data = msgpack.packb(fields, use_bin_type=True)
    assert _outcome(Transaction.decode, data) == _outcome(Transaction.decode_plain, data)


@given(st.data())
def test_decode_agrees_with_the_plain_path_on_mutated_encodings(data: st.DataObject) -> None:
    raw = bytearray(_VALID_TX)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, 2))
    blob = bytes(raw[: len(raw) - cut]) if cut else bytes(raw)
    assert _outcome(Transaction.decode, blob) == _outcome(Transaction.decode_plain, blob)


def test_made_receipts_and_events_equal_constructed_ones() -> None:
    """The executor's make_event/make_receipt give what the dataclass constructors give:
    equal, same encoding, same hash, still frozen."""
    from chainnode.model.types import Event, Receipt, make_event, make_receipt

    e = make_event(b"\x01" * 20, "Registered", b"\x91\x01")
    assert e == Event(b"\x01" * 20, "Registered", b"\x91\x01") and type(e) is Event
    for args in [
        (b"\x02" * 32, 0, 5231, b"\xa1x", (e, e), ""),
        (b"\x03" * 32, 1, 0, b"", (), "DUPLICATE: nonce already used"),
    ]:
        made, built = make_receipt(*args), Receipt(*args)
        assert made == built and type(made) is Receipt
        assert made.encode() == built.encode() and hash(made) == hash(built)
        assert Receipt.decode(made.encode()) == built
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.status = 0  # type: ignore[misc]
