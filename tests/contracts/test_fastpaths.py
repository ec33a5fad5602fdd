"""The fast paths give the very bytes, errors and gas of the reference paths they shortcut.

``encode_value`` first tries the quick encoding (the C extension ``contracts/_values.c``, or
without it cheap type checks and msgpack in Python) and falls back to
``values._encode_general``, the original path, for anything else; these tests pin that they
agree on every input, valid or not.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    EncodingError,
    ExecutionError,
    MemoryHost,
    _values,
    decode_value,
    encode_value,
    natives,
)
from contracts import values as values_module
from contracts import vm as vm
from contracts.errors import LimitExceeded
from contracts.machine import MAX_KEY_SIZE, Machine
from contracts.values import (
    MAX_BYTES_LEN,
    MAX_DEPTH,
    MAX_ITEMS,
    _decode_general,
    _encode_general,
    _encode_quick_plain,
    values_equal,
)

_ints = st.one_of(
    st.integers(-40, 300),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**255 - 1, -(2**255), 2**255]),
)
_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="aé€\U0001f600", min_size=20, max_size=300),
    st.sampled_from(["\ud800", "a" * 255, "a" * 256, "é" * 128, "x" * (MAX_BYTES_LEN + 1)]),
)
_bytes = st.one_of(
    st.binary(max_size=300), st.sampled_from([b"\x00" * 255, b"\x00" * 256, b"\x01" * 70_000])
)
_scalars = st.one_of(st.none(), st.booleans(), _ints, _text, _bytes)
_odd = st.one_of(st.floats(allow_nan=False), st.tuples(st.integers()), st.just(bytearray(b"x")))
_keys = st.one_of(_ints, _text, _bytes, st.booleans(), st.none())
values = st.recursive(
    st.one_of(_scalars, _odd),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_keys, inner, max_size=6)),
    max_leaves=25,
)


def _outcome(fn: object, value: object, limit: int) -> tuple[str, object]:
    try:
        return ("ok", fn(value, limit))  # type: ignore[operator]
    except EncodingError as exc:
        return ("error", str(exc))


@given(values, st.sampled_from([1_000_000, 262_144, 65_537, 65_536, 8_192, 1_024, 40, 3, 1]))
def test_encode_value_matches_the_general_path(value: object, limit: int) -> None:
    assert _outcome(encode_value, value, limit) == _outcome(_encode_general, value, limit)


_limits = st.sampled_from([1_000_000, 262_144, 65_537, 65_536, 8_192, 1_024, 40, 3, 1, 0])


def _native(value: object, limit: int) -> bytes | None:
    return _values.encode(value, min(limit, MAX_BYTES_LEN))


def test_the_native_encoder_is_the_one_in_use() -> None:
    """The build made it (``make`` builds it; setup.py marks it optional) and values uses it."""
    assert values_module._native is _values


@given(values, _limits)
def test_native_encode_matches_the_general_path(value: object, limit: int) -> None:
    """Whatever the C encoder decides is the reference's answer, byte for byte; and it decides
    every value the Python quick path does (so falling back costs no speed it had)."""
    got = _native(value, limit)
    if got is not None:
        assert ("ok", got) == _outcome(_encode_general, value, limit)
    plain = _encode_quick_plain(value, limit)
    if plain is not None:
        assert got == plain


@given(values, _limits)
def test_python_quick_path_matches_the_general_path(value: object, limit: int) -> None:
    got = _encode_quick_plain(value, limit)
    if got is not None:
        assert ("ok", got) == _outcome(_encode_general, value, limit)


class _Str(str):
    pass


class _Map(dict):  # type: ignore[type-arg]
    pass


def test_native_encode_at_the_edges() -> None:
    ints = [
        *(s * 2**k + d for k in (5, 7, 8, 15, 16, 31, 32, 63) for s in (1, -1) for d in (-1, 0, 1)),
        2**64 - 1, 0, -1,
    ]  # fmt: skip
    for n in (n for n in ints if -(2**63) <= n < 2**64):  # msgpack's own ints
        assert _native(n, 100) == msgpack.packb(n) == _encode_general(n, 100), n
    for n in (2**64, -(2**63) - 1, 2**255 - 1):  # big ints: the reference's own encoding
        assert _native(n, 100) is None and _native([n], 100) is None
    assert _native({2**60: 1, -(2**60): 2}, 100) == _encode_general({2**60: 1, -(2**60): 2}, 100)
    for key in (2**60 + 1, -(2**60) - 1, True, None, 1.0):
        assert _native({key: 1}, 100) is None
    for odd in (1.5, (1,), bytearray(b"x"), _Str("a"), _Map(), [_Str("a")], {"k": _Map()}):
        assert _native(odd, 100) is None
    assert _native("\ud800", 100) is None and _native(["a\udfff"], 100) is None
    for text in ("é" * 100, "\U0001f600" * 70, "中" * 11):
        assert _native(text, 65_536) == _encode_general(text, 65_536)
    deep: object = "x"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert _native(deep, 1000) == _encode_general(deep, 1000)
    assert _native([deep], 1000) is None  # one level too deep
    loop: list[object] = []
    loop.append(loop)
    assert _native(loop, 65_536) is None
    assert _native(list(range(MAX_ITEMS)), 65_536) == _encode_general(
        list(range(MAX_ITEMS)), 65_536
    )
    assert _native(list(range(MAX_ITEMS + 1)), 65_536) is None
    wide = list(range(MAX_ITEMS))
    assert _native([wide] * MAX_ITEMS, 65_536) is None  # 16M items by reference: cut at the cap
    exact = _encode_general({"k": "v" * 600}, 65_536)
    assert _native({"k": "v" * 600}, len(exact)) == exact
    assert _native({"k": "v" * 600}, len(exact) - 1) is None
    assert _native("x" * 70_000, 1_000_000) is None  # past MAX_BYTES_LEN


def _wire(v: object) -> object:
    """An independent statement of the format (ISA.md), for valid values only."""
    if type(v) is list:
        return [0, *(_wire(x) for x in v)]
    if type(v) is dict:
        return [1, *(w for k, x in v.items() for w in (_wire(k), _wire(x)))]
    if type(v) is int and not -(2**63) <= v < 2**64:
        return [2, v.to_bytes((v + (v < 0)).bit_length() // 8 + 1, "big", signed=True)]
    return v


_valid_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**200), 2**200), st.text(max_size=300),
    st.binary(max_size=300),
)  # fmt: skip
_valid_keys = st.one_of(
    st.integers(-(2**60), 2**60),  # map int keys are limited (values.MAP_INT_MIN/MAX)
    st.sampled_from([-(2**60), 2**60]),
    st.text(max_size=8),
    st.binary(max_size=8),
)


def _valid_containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.lists(inner, max_size=6), st.dictionaries(_valid_keys, inner, max_size=6))


valid = st.recursive(_valid_scalars, _valid_containers, max_leaves=25)


@given(valid)
def test_encode_value_is_the_documented_msgpack(value: object) -> None:
    assert encode_value(value) == msgpack.packb(_wire(value), use_bin_type=True)


def test_boundaries_of_the_header_tables() -> None:
    for n in (0, 31, 32, 255):
        assert encode_value("a" * n) == msgpack.packb("a" * n, use_bin_type=True)
        assert encode_value(b"a" * n) == msgpack.packb(b"a" * n, use_bin_type=True)
    assert encode_value("a" * 256) == b"\xda\x01\x00" + b"a" * 256
    assert encode_value(b"a" * 256) == b"\xc5\x01\x00" + b"a" * 256
    for n in (-33, -32, -1, 0, 127, 128):
        assert encode_value(n) == msgpack.packb(n)
    assert encode_value(True) == b"\xc3" and encode_value(False) == b"\xc2"


def test_too_deep_and_too_long_keep_their_messages() -> None:
    deep: object = []
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert _outcome(encode_value, deep, 65_536) == ("error", f"values nest deeper than {MAX_DEPTH}")
    assert _outcome(encode_value, {"k": "x" * 300}, 100) == ("error", "encoded value too large")
    assert _outcome(encode_value, "x" * 50, 40) == (
        "error",
        "encoded value of 52 bytes exceeds 40",
    )


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")  # the documented unhex syntax (ISA.md)
_hexish = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF", max_size=20),
    st.text(alphabet="0123456789abcdefxX \t\n\x0b\x0c\r\u3000\u0663g", max_size=12),
    st.text(max_size=8),
)


@given(st.one_of(_hexish, _hexish.map(lambda s: "0x" + s)))
def test_unhex_accepts_exactly_the_hex_syntax(text: str) -> None:
    m = Machine(MemoryHost(), 10**6, False)
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if _HEX.fullmatch(body):
        assert natives.b_unhex(m, text) == bytes.fromhex(body)
    else:
        with pytest.raises(ExecutionError, match="not a hex string"):
            natives.b_unhex(m, text)


@given(valid)
def test_argument_copy_is_the_decoded_encoding(value: object) -> None:
    copy = vm._copy(value)
    assert encode_value(copy) == encode_value(value)
    assert values_equal(copy, decode_value(encode_value(value)))
    if isinstance(value, list | dict) and value:
        assert copy is not value
        for a, b in zip(_containers(copy), _containers(value), strict=True):
            assert a is not b  # nothing shared with the caller's value


def _containers(v: object) -> list[object]:
    if type(v) is list:
        return [v, *(c for x in v for c in _containers(x))]
    if type(v) is dict:
        return [v, *(c for x in v.values() for c in _containers(x))]
    return []


@given(st.one_of(st.text(max_size=30), st.text(alphabet="aZß\u0130ǅ\u212a", max_size=8)))
def test_lower_upper_map_ascii_letters_only(text: str) -> None:
    m = Machine(MemoryHost(), 10**6, False)
    lower = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    upper = "".join(chr(ord(c) - 32) if "a" <= c <= "z" else c for c in text)
    assert natives.b_lower(m, text) == lower
    assert natives.b_upper(m, text) == upper


@given(
    st.one_of(
        values,
        st.text(max_size=80),
        st.text(alphabet="a\u00e9\U0001f600", max_size=70),
        st.text(alphabet="abc:0x", min_size=60, max_size=300),  # the inline ASCII path's edge
    )
)
def test_storage_keys_are_the_general_encoding(key: object) -> None:
    m = Machine(MemoryHost(), 10**6, False)
    expected = _outcome(_encode_general, key, MAX_KEY_SIZE)
    try:
        got: tuple[str, object] = ("ok", m.key(key))
    except LimitExceeded as exc:
        got = ("error", str(exc).removeprefix("storage key: "))
    assert got == expected


def test_long_text_in_a_container_fails_under_any_limit() -> None:
    # bytecode constants and transaction arguments are encoded with limits above 64 KiB
    for limit in (MAX_BYTES_LEN, 262_144, 10**6):
        for value in (["x" * (MAX_BYTES_LEN + 1)], {"k": b"\x00" * (MAX_BYTES_LEN + 1)}):
            assert _outcome(encode_value, value, limit)[0] == "error"
            assert _outcome(encode_value, value, limit) == _outcome(_encode_general, value, limit)
    big = ["x" * 40_000, "y" * 40_000]  # valid, but more than 64 KiB encoded
    assert _outcome(encode_value, big, 262_144) == _outcome(_encode_general, big, 262_144)
    assert _outcome(encode_value, big, 262_144)[0] == "ok"


def _decode_outcome(fn: object, data: object, canonical: bool, limit: int) -> tuple[str, object]:
    try:
        value = fn(data, canonical=canonical, limit=limit)  # type: ignore[operator]
        return ("ok", (type(value), value))
    except EncodingError as exc:
        return ("error", str(exc))


def _decode_general_kw(data: object, canonical: bool, limit: int) -> object:
    return _decode_general(data, canonical, limit)  # type: ignore[arg-type]


def _same_decode(data: object) -> None:
    for canonical in (True, False):
        for limit in (0, 1, 2, 3, 5, 8, 9, 65_536):
            fast = _decode_outcome(decode_value, data, canonical, limit)
            assert fast == _decode_outcome(_decode_general_kw, data, canonical, limit), (
                data,
                canonical,
                limit,
            )


def test_decode_value_of_a_counter_matches_the_general_path() -> None:
    """A stored counter decodes without msgpack: every one-byte input, every unsigned int
    form at and around the edges of its range (shortest or not, truncated, too long), under
    every limit and both canonical modes, gives what the reference decode gives (value or
    error)."""
    for b in range(256):
        for data in (bytes([b]), bytearray([b]), memoryview(bytes([b]))):
            _same_decode(data)
    for head, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        top = 1 << (8 * size)
        for value in (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, (1 << 32) - 1, 1 << 32,
                      top - 2, top - 1):  # fmt: skip
            if value >= top:
                continue
            body = bytes([head]) + value.to_bytes(size, "big")
            for data in (body, body[:-1], body + b"\x00", bytearray(body)):
                _same_decode(data)
    assert decode_value(b"\x05") == 5 and decode_value(b"\x7f") == 127
    assert decode_value(b"\xcc\x80") == 128 and decode_value(b"\xcf" + bytes([1] * 8)) == int(
        "01" * 8, 16
    )


@given(st.integers(0, 2**64 - 1))
def test_decode_value_of_random_unsigned_ints(value: int) -> None:
    _same_decode(msgpack.packb(value))


def _encodings(value: object) -> list[bytes]:
    """A value's encoding (when it has one) and damaged copies of it."""
    try:
        data = _encode_general(value, 1 << 30)
    except EncodingError:
        return []
    out = [data, data + b"\x00", data[:-1]]
    for i in range(0, len(data), max(1, len(data) // 7)):
        out.append(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
        out.append(data[:i] + bytes([0xC1]) + data[i + 1 :])
    return out


@given(values)
def test_native_decode_matches_the_general_path(value: object) -> None:
    """decode_value with the C decoder gives the reference's value or error, for canonical
    encodings, damaged ones (bits flipped, a byte replaced, cut short, one byte too many), under
    limits around their length, in both modes; and the C decoder answers every canonical
    encoding of a value the C encoder makes (it is really used)."""
    for data in _encodings(value):
        for canonical in (True, False):
            for limit in (len(data) - 1, len(data), 65_536, 1 << 30):
                fast = _decode_outcome(decode_value, data, canonical, limit)
                assert fast == _decode_outcome(_decode_general_kw, data, canonical, limit), data
    quick = _values.encode(value, MAX_BYTES_LEN)
    if quick is not None:
        found = _values.decode(quick)
        assert found is not None and values_equal(found[0], value), quick


def test_native_decode_at_the_unpackers_bounds() -> None:
    """The reference's unpacker refuses bins past MAX_BYTES_LEN, strs past 4x that and arrays
    past 2 x MAX_ITEMS + 1 entries, nesting past MAX_DEPTH fails: so does this path."""
    cases: list[object] = [
        b"\x00" * MAX_BYTES_LEN,
        b"\x00" * (MAX_BYTES_LEN + 1),
        "€" * MAX_BYTES_LEN,
        "€" * (MAX_BYTES_LEN + 1),
        list(range(MAX_ITEMS)),
        list(range(MAX_ITEMS + 1)),
        {str(i): i for i in range(MAX_ITEMS)},
    ]
    nested: object = 1
    for _ in range(MAX_DEPTH + 1):
        nested = [nested]
        cases.append(nested)
    raw = [  # msgpack itself, so that what the encoder refuses is there too
        msgpack.packb(b"\x00" * n, use_bin_type=True) for n in (MAX_BYTES_LEN, MAX_BYTES_LEN + 1)
    ] + [
        msgpack.packb("a" * n) for n in (4 * MAX_BYTES_LEN, 4 * MAX_BYTES_LEN + 1)
    ] + [
        msgpack.packb([0] + [1] * n) for n in (2 * MAX_ITEMS, 2 * MAX_ITEMS + 1)
    ] + [
        msgpack.packb([1] + [1] * n) for n in (2 * MAX_ITEMS, 2 * MAX_ITEMS + 2)
    ]  # fmt: skip
    for data in [d for value in cases for d in _encodings(value)[:3]] + raw:
        for canonical in (True, False):
            fast = _decode_outcome(decode_value, data, canonical, 1 << 30)
            assert fast == _decode_outcome(_decode_general_kw, data, canonical, 1 << 30)
    big = msgpack.packb([1, "k", 1, "k", 2])  # a map with a key twice
    assert _values.decode(big) is None
    assert _decode_outcome(decode_value, big, False, 100)[0] == "error"


def test_the_c_extension_limits_are_the_python_ones() -> None:
    """``_values.c`` repeats a few limits as #defines (C needs them at compile time): each is
    the Python constant it names."""
    source = Path(values_module.__file__ or "").with_name("_values.c").read_text(encoding="utf-8")
    defines = dict(re.findall(r"^#define (\w+) (\S+)", source, re.M))
    assert int(defines["MAX_DEPTH"]) == MAX_DEPTH
    assert int(defines["MAX_ITEMS"]) == MAX_ITEMS
    assert int(defines["MAX_BYTES_LEN"]) == MAX_BYTES_LEN
    assert defines["MAP_INT_LIMIT"] == "(1LL" and values_module.MAP_INT_MAX == 2**60
    assert int(defines["TAG_LIST"]) == values_module.TAG_LIST
    assert int(defines["TAG_MAP"]) == values_module.TAG_MAP
