"""The state root's bytes in C (``chainnode/ledger/_stateroot.c``) against the plain pack.

Every node hashes these bytes for every block, so the two must agree on every input: keys
that sort by their first eight bytes and keys that do not (equal heads, one a prefix of
another, zero bytes where a shorter key has none), every msgpack form of the lengths, the
height and the item count, deletes beside writes. Whatever is not exact dicts of exact bytes
is left to the Python path.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainnode.ledger import _stateroot, executor
from chainnode.ledger.executor import _pack_writes_plain, state_root_nested
from crypto import sm3

U64 = 2**64 - 1
HEIGHTS = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, U64]
# lengths at the bin 8 / bin 16 / bin 32 edges and around an 8-byte head
LENGTHS = [0, 1, 7, 8, 9, 16, 255, 256, 65535, 65536]

keys = st.one_of(
    st.binary(max_size=12),
    st.builds(
        lambda p, t: p + t,
        st.sampled_from([b"", b"ab", b"owner:0x", b"\x00" * 8]),
        st.binary(max_size=4),
    ),
)
values = st.one_of(st.none(), st.binary(max_size=40))
namespaces = st.one_of(st.binary(max_size=21), st.sampled_from([b"sys.nonce", b"sys.gov"]))
writes_st = st.dictionaries(namespaces, st.dictionaries(keys, values, max_size=40), max_size=5)


def _agree(prev: bytes, height: int, writes: Any) -> bytes:
    native = _stateroot.pack_writes(prev, height, writes)
    plain = _pack_writes_plain(prev, height, writes)
    assert native == plain
    assert state_root_nested(sm3.digest, prev, height, writes) == sm3.digest(plain)
    return plain


@settings(max_examples=400)
@given(
    prev=st.binary(max_size=40),
    height=st.one_of(st.sampled_from(HEIGHTS), st.integers(0, U64)),
    writes=writes_st,
)
def test_native_pack_matches_the_plain_pack(prev: bytes, height: int, writes: Any) -> None:
    _agree(prev, height, writes)


def test_keys_alike_in_their_first_eight_bytes_or_all_of_them() -> None:
    ks = [b"", b"\x00", b"\x00" * 8, b"\x00" * 9, b"ab", b"ab\x00", b"ab\x00\x01", b"ab\x01"]
    ks += [b"owner:0x" + t for t in (b"", b"\x00", b"1", b"10", b"2", b"\xff" * 3)]
    ks += [b"\xff" * 8, b"\xff" * 8 + b"\x00", b"\xff" * 7]
    writes = {b"ns": dict.fromkeys(reversed(ks), b"v"), b"n": {k: None for k in ks}}
    _agree(b"p", 7, writes)


def test_every_length_form_and_count_form() -> None:
    for n in LENGTHS:
        blob = os.urandom(n)
        _agree(blob, 1, {blob: {blob: blob, blob + b"k": None}})
    for count in (14, 15, 16, 17, 65535, 65536):  # fixarray, array 16, array 32 of items
        _agree(b"", 2, {b"ns": {i.to_bytes(4, "big"): b"" for i in range(count)}})


def test_what_is_not_exact_is_left_to_python() -> None:
    """None from C, and the state root then the plain path's (or its error)."""

    class Sub(dict[Any, Any]):
        pass

    cases: list[tuple[Any, Any, Any]] = [
        (b"p", 1, {"ns": {b"k": b"v"}}),
        (b"p", 1, {b"ns": {"k": b"v"}}),
        (b"p", 1, {b"ns": {b"k": bytearray(b"v")}}),
        (b"p", 1, {b"ns": {b"k": 5}}),
        (b"p", 1, {b"ns": Sub({b"k": b"v"})}),
        (b"p", 1, OrderedDict({b"ns": {b"k": b"v"}})),
        (b"p", True, {b"ns": {b"k": b"v"}}),
        (b"p", -1, {b"ns": {b"k": b"v"}}),
        (b"p", U64 + 1, {b"ns": {b"k": b"v"}}),
        (bytearray(b"p"), 1, {b"ns": {b"k": b"v"}}),
    ]
    for prev, height, writes in cases:
        assert _stateroot.pack_writes(prev, height, writes) is None, (prev, height, writes)
        try:
            expected: Any = sm3.digest(_pack_writes_plain(prev, height, writes))
        except Exception as e:  # noqa: BLE001  # whatever the plain path raises
            expected = type(e)
        try:
            got: Any = state_root_nested(sm3.digest, prev, height, writes)
        except Exception as e:  # noqa: BLE001
            got = type(e)
        assert got == expected, (prev, height, writes)


def test_the_executor_takes_the_native_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test` builds it; with the plain pack broken, the state root still comes (from
    C) and equals the one computed before."""
    writes = {b"ns": {b"a": b"1", b"b": None}}
    expected = state_root_nested(sm3.digest, b"p", 3, writes)

    def broken(*_a: Any) -> bytes:
        raise AssertionError("the plain pack ran")

    monkeypatch.setattr(executor, "_pack_writes_plain", broken)
    assert state_root_nested(sm3.digest, b"p", 3, writes) == expected


def test_no_reference_is_kept_or_lost() -> None:
    import resource

    writes = {b"ns": {os.urandom(20): os.urandom(30) for _ in range(100)}}
    refused: Any = {b"ns": {b"k": 5}}  # left to Python
    for _ in range(2000):
        _stateroot.pack_writes(b"p", 1, writes)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(20000):
        _stateroot.pack_writes(b"p", 1, writes)
        _stateroot.pack_writes(b"p", 1, refused)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000, (before, after)  # KiB: ~5 KB a call leaked would be 100 MB
