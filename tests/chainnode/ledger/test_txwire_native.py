"""The C decode of transactions (``chainnode/model/_txwire.c``) against the plain decode.

``Transaction.decode`` hands its common case to the extension, which must accept exactly the
canonical, valid encodings the plain decode (``Transaction.decode_plain``, the constructor's
rules) accepts, give the same transaction, and leave everything else to the Python path.
The field values here sit at the edges of msgpack's forms (fixint/uint 8/16/32/64, bin
8/16/32) and of the transaction's limits, where a parser that is almost right goes wrong.
"""

from __future__ import annotations

import resource
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.model import _txwire, types
from chainnode.model.codes import MalformedError
from chainnode.model.types import MAX_ARGS_BYTES, MAX_GAS_LIMIT, MAX_TX_BYTES, Transaction
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import keys, tx

SM = get_suite("sm")
P256 = get_suite("ecdsa-p256")
U64 = 2**64 - 1

_UINTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, U64, -1, -128, -(2**63)]
_GAS = [0, 1, 127, 128, 65536, MAX_GAS_LIMIT, MAX_GAS_LIMIT + 1, 2**32]
_LENGTHS = [0, 1, 255, 256, 65535, 65536, MAX_ARGS_BYTES, MAX_ARGS_BYTES + 1]
_NAMES = [b"evidence", b"records", b"a" * 32, b"a" * 33, b"0" * 40, b"Evidence", b"", b"x y"]
_METHODS = [b"put", b"register", b"_m", b"m" * 64, b"m" * 65, b"1m", b""]
_CHAINS = [b"test-chain", b"c", b"c" * 64, b"c" * 65, b"", b"caf\xc3\xa9"]


def _valid_fields() -> list[Any]:
    return list(msgpack.unpackb(tx(SM, keys()[0], "evidence", "put", [b"abc"]).encode()))


def _outcome(decode: Any, data: bytes, suite: Any = SM) -> tuple[Any, ...]:
    try:
        d = decode(data, suite)
    except MalformedError as e:
        return ("refused", e.code, e.message)
    return ("accepted", d, d.hash, d.payload, d.raw, d.chain_id, d.contract, d.method)


def _both(data: bytes, suite: Any = SM) -> tuple[Any, ...]:
    """The decode's outcome, decoded twice so that the second finds the names the first
    vetted (the C path's cache): the same as the Python decode's without the extension,
    refusals with the same message, and as the plain decode's (which names the field
    differently, so refusals compare by code)."""
    first = _outcome(Transaction.decode, data, suite)
    again = _outcome(Transaction.decode, data, suite)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(types, "_txwire", None)
        python = _outcome(Transaction.decode, data, suite)
    plain = _outcome(Transaction.decode_plain, data, suite)
    assert first == again == python
    assert again[:2] == plain[:2] and (again[0] == "refused" or again == plain)
    return again


def test_the_extension_is_built_and_takes_the_common_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test` builds it; with the Python path's unpack broken, a valid tx still decodes
    (through C), and an invalid one reaches the Python path."""
    assert types._txwire is _txwire  # type: ignore[attr-defined]
    raw = tx(SM, keys()[1], "records", "put", ["k", 1]).encode()
    expected = Transaction.decode_plain(raw, SM)
    Transaction.decode(raw, SM)  # its names vetted once

    def broken(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the Python path ran")

    monkeypatch.setattr(types, "unpack", broken)
    got = Transaction.decode(raw, SM)
    assert got == expected and got.hash == expected.hash and got.payload == expected.payload
    assert got.raw is raw and type(got) is Transaction
    with pytest.raises(AssertionError, match="the Python path ran"):
        Transaction.decode(raw[:-1], SM)


def test_the_extension_leaves_unvetted_names_and_other_types_to_python() -> None:
    raw = tx(SM, keys()[2], "evidence", "register", ["h", "t", ""]).encode()
    assert _txwire.decode(raw, {}) is None  # names not vetted: not decided in C
    Transaction.decode(raw, SM)  # now they are
    assert _txwire.decode(raw, types._NAMES) is not None
    bad: dict[Any, Any] = {key: ("x",) for key in types._NAMES}  # a value of the wrong shape
    assert _txwire.decode(raw, bad) is None
    assert _txwire.decode(bytearray(raw), types._NAMES) is None
    for data in (bytearray(raw), memoryview(raw)):  # decode copies them to bytes first
        assert _both(data)[0] == "accepted"  # type: ignore[arg-type]


def test_every_field_at_the_edges_of_its_forms_and_limits() -> None:
    valid = _valid_fields()
    cases: list[tuple[int, Any]] = []
    cases += [(i, v) for i in (2, 3) for v in _UINTS]
    cases += [(7, v) for v in _GAS]
    cases += [(6, b"\x90" + b"\x01" * (n - 1) if n else b"") for n in _LENGTHS]
    cases += [(1, v) for v in (b"\x04" + b"\x01" * 64, b"\x02" + b"\x01" * 64, b"\x04" * 64)]
    cases += [(8, v) for v in (b"\x01" * 64, b"\x01" * 63, b"\x01" * 65)]
    cases += [(4, v) for v in _NAMES] + [(5, v) for v in _METHODS] + [(0, v) for v in _CHAINS]
    seen = set()
    for i, value in cases:
        fields = list(valid)
        fields[i] = value
        data = msgpack.packb(fields, use_bin_type=True)
        seen.add(_both(data)[0])
    assert seen == {"accepted", "refused"}
    raw = msgpack.packb(valid, use_bin_type=True)
    for data in (raw + b"\x00", b"\x9a" + raw[1:] + b"\xc0", b"\x98" + raw[1:], raw[:-1]):
        assert _both(data)[0] == "refused"  # trailing bytes, a tenth field, one too few, cut


def test_the_largest_args_one_byte_more_and_a_transaction_over_its_limit() -> None:
    valid = _valid_fields()
    for n, expected in (
        (MAX_ARGS_BYTES, "accepted"),
        (MAX_ARGS_BYTES + 1, "refused"),
        (MAX_TX_BYTES, "refused"),  # the whole tx over MAX_TX_BYTES
    ):
        fields = list(valid)
        fields[6] = b"\x01" * n
        assert _both(msgpack.packb(fields, use_bin_type=True))[0] == expected


def _wide(value: Any, form: int) -> bytes:
    """`value` in a wider msgpack form than the shortest (non-canonical)."""
    if isinstance(value, int):
        width = {0: 1, 1: 2, 2: 4, 3: 8}[form]
        tag = {1: 0xCC, 2: 0xCD, 4: 0xCE, 8: 0xCF}[width]
        if value >= 1 << (8 * width):
            return bytes(msgpack.packb(value))
        return bytes([tag]) + value.to_bytes(width, "big")
    width = {0: 2, 1: 4, 2: 4, 3: 4}[form]
    tag = {2: 0xC5, 4: 0xC6}[width]
    return bytes([tag]) + len(value).to_bytes(width, "big") + bytes(value)


def test_fields_in_wider_forms_and_as_str_are_refused_alike() -> None:
    valid = _valid_fields()
    for i, value in enumerate(valid):
        for form in range(4):
            parts = [msgpack.packb(f, use_bin_type=True) for f in valid]
            parts[i] = _wide(value, form)
            _both(b"\x99" + b"".join(parts))
        if isinstance(value, bytes):
            parts = [msgpack.packb(f, use_bin_type=True) for f in valid]
            parts[i] = msgpack.packb(value.decode("latin-1"), use_bin_type=True)
            assert _both(b"\x99" + b"".join(parts))[0] == "refused"


@settings(max_examples=300)
@given(
    replaced=st.dictionaries(
        st.integers(0, 8),
        st.one_of(
            st.sampled_from(_UINTS + _GAS),
            st.integers(0, U64),
            st.sampled_from(_NAMES + _METHODS + _CHAINS),
            st.binary(max_size=300),
        ),
        max_size=3,
    ),
    suite=st.sampled_from([SM, P256]),
)
def test_native_decode_agrees_with_the_plain_decode(replaced: dict[int, Any], suite: Any) -> None:
    """Random fields in place of a valid transaction's (any type, any form, any length), for
    both suites (the C path leaves the hash to the suite)."""
    fields = _valid_fields()
    for i, value in replaced.items():
        fields[i] = value
    _both(msgpack.packb(fields, use_bin_type=True), suite)


@settings(max_examples=300)
@given(st.data())
def test_native_decode_agrees_on_damaged_bytes(data: st.DataObject) -> None:
    raw = bytearray(msgpack.packb(_valid_fields(), use_bin_type=True))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if op == "set":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw.insert(i, data.draw(st.integers(0, 255)))
        else:
            del raw[i]
    _both(bytes(raw))


def test_no_reference_is_kept_or_lost() -> None:
    """A million decodes, valid and refused, leave the memory flat (a leaked bytes object a
    call would be ~100 MB)."""
    raw = tx(SM, keys()[3], "evidence", "put", [b"x" * 40]).encode()
    cut = raw[:-1]
    Transaction.decode(raw, SM)

    def rounds(n: int) -> None:
        for _ in range(n):
            Transaction.decode(raw, SM)
            _txwire.decode(cut, types._NAMES)

    rounds(200_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rounds(500_000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000, (before, after)  # KiB
