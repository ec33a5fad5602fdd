"""Bounded body parsing: the shapes it accepts, and the bounds it relies on."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainnode.api import bodies
from chainnode.api.errors import ApiError
from chainnode.api.ratelimit import ClientLimiter, LogLimiter

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=40,
)


def _count(v: Any) -> int:
    if isinstance(v, list):
        return 1 + sum(_count(x) for x in v)
    if isinstance(v, dict):
        return 1 + sum(1 + _count(x) for x in v.values())  # a key is a value too
    return 1


@given(json_values, st.booleans())
def test_values_bound_is_at_least_what_json_builds(value: Any, spaced: bool) -> None:
    text = json.dumps(value, indent=1 if spaced else None).encode()
    assert bodies.json_values_bound(text) >= _count(value)


def test_msgpack_shapes() -> None:
    a, b = b"tx-one", b"tx-two"
    assert bodies.msgpack_txs(msgpack.packb(a), 10) == ([a], True)
    assert bodies.msgpack_txs(msgpack.packb([a, b]), 10) == ([a, b], False)
    canonical = msgpack.packb([b"c", b"s", 1, 2, b"k", b"m", b"a", 3, b"sig"])
    assert bodies.msgpack_txs(canonical, 10) == ([canonical], True)
    cases = {
        msgpack.packb([]): "EMPTY_BATCH",
        msgpack.packb([a] * 11): "BATCH_TOO_LARGE",
        msgpack.packb([a, 1]): "INVALID_BODY",
        msgpack.packb({"a": 1}): "INVALID_BODY",
        msgpack.packb([a, b]) + b"\x00": "MALFORMED_MSGPACK",
        msgpack.packb([a, b])[:-1]: "MALFORMED_MSGPACK",
        b"\xc1": "MALFORMED_MSGPACK",
        b"\xdd\xff\xff\xff\xff" + b"\x90" * 100: "BATCH_TOO_LARGE",
    }
    for body, code in cases.items():
        with pytest.raises(ApiError) as e:
            bodies.msgpack_txs(body, 10)
        assert e.value.code == code, body[:20]


def test_json_shapes() -> None:
    one = {"nonce": 1}
    assert bodies.json_txs(json.dumps(one).encode(), 3, 1000) == ([one], True)
    assert bodies.json_txs(b' [ {"a":1} ,\n{} ] ', 3, 1000) == ([{"a": 1}, {}], False)
    cases = {
        b"[]": "EMPTY_BATCH",
        b"[{},{},{},{}]": "BATCH_TOO_LARGE",
        b"[{}, 1]": "INVALID_BODY",
        b"7": "INVALID_BODY",
        b"[{}] x": "MALFORMED_JSON",
        b"[{} {}]": "MALFORMED_JSON",
        b"[{}": "MALFORMED_JSON",
        b"\xff": "MALFORMED_JSON",
        b"[" + b"{}," * 600 + b"{}]": "TOO_MANY_VALUES",
        b'[{"a":' + b"[" * 40 + b"]" * 40 + b"}]": "TOO_DEEP",
    }
    for body, code in cases.items():
        with pytest.raises(ApiError) as e:
            bodies.json_txs(body, 3, 1000)
        assert e.value.code == code, body[:20]


def test_client_limiter_and_log_limiter() -> None:
    now = [0.0]
    lim = ClientLimiter(rate=2.0, burst=3, max_clients=2, clock=lambda: now[0])
    assert [lim.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert lim.take("a") == pytest.approx(0.5)  # one token every 0.5 s
    assert lim.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert lim.take("a") == 0.0
    log = LogLimiter(interval=10.0, burst=2, clock=lambda: now[0])
    assert [log.allow() for _ in range(5)] == [0, 0, None, None, None]
    now[0] += 10.0
    assert log.allow() == 3  # the next line says three were held back
