"""Canonical value encoding: exact bytes, round trips, rejection of anything non-canonical."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import EncodingError, decode_value, encode_value
from contracts.values import (
    INT_MAX,
    INT_MIN,
    MAX_BYTES_LEN,
    MAX_DEPTH,
    MAX_ITEMS,
    values_equal,
)


def pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (None, None),
        (True, True),
        (0, 0),
        (-1, -1),
        (2**64 - 1, 2**64 - 1),
        (-(2**63), -(2**63)),
        (2**64, [2, b"\x01\x00\x00\x00\x00\x00\x00\x00\x00"]),
        (-(2**63) - 1, [2, b"\xff\x7f\xff\xff\xff\xff\xff\xff\xff"]),
        (INT_MAX, [2, b"\x7f" + b"\xff" * 31]),
        (INT_MIN, [2, b"\x80" + b"\x00" * 31]),
        (b"\x00\x01", b"\x00\x01"),
        ("héllo", "héllo"),
        ([], [0]),
        ([1, "a", [b""]], [0, 1, "a", [0, b""]]),
        ({}, [1]),
        ({"b": 1, "a": 2}, [1, "b", 1, "a", 2]),
        ({1: None, b"k": [True]}, [1, 1, None, b"k", [0, True]]),
    ],
)
def test_exact_encoding(value: object, wire: object) -> None:
    data = encode_value(value)
    assert data == pack(wire)
    back = decode_value(data)
    assert values_equal(back, value)


def test_map_order_is_part_of_the_value_encoding() -> None:
    assert encode_value({"a": 1, "b": 2}) != encode_value({"b": 2, "a": 1})
    assert list(decode_value(encode_value({"b": 2, "a": 1}))) == ["b", "a"]


def test_bool_and_int_stay_distinct() -> None:
    assert decode_value(encode_value(True)) is True
    assert type(decode_value(encode_value(1))) is int
    assert encode_value([1]) != encode_value([True])


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\xcd\x00\x05", "non-canonical"),  # 5 as uint16
        (b"\xd9\x01a", "non-canonical"),  # "a" as str8
        (pack([2, b"\x05"]), "non-canonical"),  # small int in bigint form
        (pack([2, b"\x00\x01" + b"\x00" * 8]), "non-canonical"),  # bigint with a leading zero
        (pack({"a": 1}), "malformed"),  # msgpack maps are not values
        (pack(1.5), "not allowed"),
        (msgpack.packb(msgpack.ExtType(1, b"x")), "malformed"),
        (pack([]), "tag"),
        (pack([9, 1]), "unknown container tag"),
        (pack(["x"]), "tag"),
        (pack([1, "a"]), "odd number"),
        (pack([1, "a", 1, "a", 2]), "duplicate"),
        (pack([1, [0], 1]), "map key"),
        (pack([1, True, 1]), "map key"),
        (pack(1) + b"\x00", "malformed"),
        (b"", "malformed"),
        (b"\xc1", "malformed"),
        (b"\xa2\xff\xfe", "malformed"),  # invalid UTF-8
        (pack([2, b"\x01" + b"\x00" * 32]), "range"),  # 2**256
    ],
)
def test_rejects(data: bytes, why: str) -> None:
    with pytest.raises(EncodingError, match=why):
        decode_value(data)


def test_non_canonical_allowed_only_when_asked() -> None:
    assert decode_value(b"\xcd\x00\x05", canonical=False) == 5


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (1.0, "not a VM value"),
        ((1, 2), "not a VM value"),
        ({1, 2}, "not a VM value"),
        (INT_MAX + 1, "256-bit"),
        (INT_MIN - 1, "256-bit"),
        ("x" * (MAX_BYTES_LEN + 1), "exceeds"),
        (b"x" * (MAX_BYTES_LEN + 1), "exceeds"),
        ([0] * (MAX_ITEMS + 1), "exceeds"),
        ({i: 0 for i in range(MAX_ITEMS + 1)}, "exceeds"),
        ({True: 1}, "map key"),
        ({None: 1}, "map key"),
        ({(1,): 1}, "map key"),
        ("\ud800", "cannot encode"),
        (["y" * 60_000, "y" * 60_000], "too large"),
    ],
)
def test_encode_rejects(value: object, why: str) -> None:
    with pytest.raises(EncodingError, match=why):
        encode_value(value)


def test_depth_limit_and_cycles() -> None:
    deep: list[object] = []
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    assert decode_value(encode_value(deep)) == deep
    with pytest.raises(EncodingError, match="nest"):
        encode_value([deep])
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(EncodingError):
        encode_value(cyclic)


def test_shared_references_cannot_blow_up_encoding() -> None:
    inner = ["x" * 1000] * 100  # 100 KB when encoded
    outer = [inner] * 1000  # would be 100 MB: must stop early, not allocate it
    with pytest.raises(EncodingError, match="too large"):
        encode_value(outer)


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(EncodingError):
        decode_value("abc")  # type: ignore[arg-type]


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=INT_MIN, max_value=INT_MAX)
    | st.binary(max_size=40)
    | st.text(max_size=20)
)
keys = (  # map int keys are limited to [-2^60, 2^60] (values.MAP_INT_MIN/MAX)
    st.integers(min_value=-(2**60), max_value=2**60) | st.text(max_size=8) | st.binary(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)


@given(values)
def test_round_trip_is_exact(value: object) -> None:
    data = encode_value(value)
    back = decode_value(data)
    assert values_equal(back, value)
    assert encode_value(back) == data


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_encoding_error(data: bytes) -> None:
    try:
        value = decode_value(data)
    except EncodingError:
        return
    assert encode_value(value) == data
