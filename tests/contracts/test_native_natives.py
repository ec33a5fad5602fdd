"""The C natives (``contracts._natives``) do exactly what the Python natives do.

Each C function handles its native's common case and hands everything else, failures
included, to the Python function (``contracts.natives``, the reference). Here both run on
identical machines (gas and memory near their limits, read-only or not, buffered writes, a
host that fails) with random values, and every observable must match: the result (type and
value), the error (type and message), the gas and memory left, the buffered writes and the
events. Then the common case is checked to stay in C (the references, swapped for recording
wrappers, are not called), so the comparison is not of the reference with itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import MemoryHost, _natives, natives, natives_c, stdlib
from contracts import opcodes as op
from contracts.errors import OutOfGas
from contracts.machine import Event, HostFault, Machine

MAX_MEMORY = op.MAX_MEMORY


class FailingHost(MemoryHost):
    """A host whose reads fail: the machine must raise its HostFault either way."""

    def storage_get(self, key: bytes) -> bytes | None:
        raise OSError("disk gone")

    def storage_has(self, key: bytes) -> bool:
        raise OSError("disk gone")


ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
texts = st.one_of(
    ascii_text,
    st.text(max_size=12),  # any code point, lone surrogates included
    st.sampled_from(["a" * 31, "a" * 32, "k" * 255, "k" * 256, "x" * 70_000, "", "0x", "0XaB"]),
    st.text("0123456789abcdefABCDEF xX", max_size=70),
)
ints = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**60 - 1, 2**60, -(2**60), -(2**60) - 1, 2**255 - 1, -(2**255)]),
)
scalars = st.one_of(st.none(), st.booleans(), ints, texts, st.binary(max_size=40))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(ascii_text, ints), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def machines(draw: st.DrawFn) -> dict[str, Any]:
    """The state of a machine (built twice, once per side)."""
    return {
        "gas": draw(st.one_of(st.sampled_from([0, 1, 3, 7, 40, 200]), st.integers(0, 10**7))),
        "mem": draw(st.sampled_from([0, 1000, MAX_MEMORY - 200, MAX_MEMORY - 8, MAX_MEMORY])),
        "readonly": draw(st.booleans()),
        "writes": draw(
            st.dictionaries(
                st.sampled_from([b"\xa1k", b"\xa1a", b"\xa3doc"]),
                st.one_of(st.none(), st.sampled_from([b"\x05", b"\xa1v"])),
                max_size=2,
            )
        ),  # fmt: skip
        "stored": draw(
            st.dictionaries(
                st.sampled_from([b"\xa1k", b"\xa1b", b"\xa3doc"]),
                st.sampled_from([b"\x07", b"\xa2vv", b"\x92\x00\x01"]),
                max_size=3,
            )
        ),  # fmt: skip
        "failing": draw(st.integers(0, 9)) == 0,
        "events": draw(st.sampled_from([0, 1, 255, 256])),
    }


def build(state: dict[str, Any]) -> Machine:
    host_type = FailingHost if state["failing"] else MemoryHost
    m = Machine(host_type(storage=dict(state["stored"])), state["gas"], state["readonly"])
    m.mem = state["mem"]
    m.writes.update(state["writes"])
    m.events.extend([Event("E", {}, b"\x91\x01")] * state["events"])
    return m


def observe(fn: Callable[..., Any], m: Machine, args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        result: tuple[Any, ...] = ("ok", type(result_value := fn(m, *args)), repr(result_value))
    except HostFault as exc:
        result = ("host fault", type(exc.exc))
    except Exception as exc:  # noqa: BLE001  # the error itself is what is compared
        result = ("error", type(exc), str(exc))
    events = [(e.name, repr(e.fields), e.data) for e in m.events]
    return result, m.gas, m.mem, repr(list(m.writes.items())), events


def same(name: str, state: dict[str, Any], *args: Any) -> None:
    reference = getattr(natives, name) if name in natives_c.NATIVES else None
    fast = natives_c.NATIVES.get(name)
    if reference is None:
        reference = natives.BUILTIN_IMPLS[name]
        fast = natives_c.BUILTINS[name]
    assert fast is not None
    assert observe(fast, build(state), args) == observe(reference, build(state), args)


keys = st.one_of(texts, ints, st.binary(max_size=4), st.lists(ints, max_size=2))


@settings(max_examples=400)
@given(machines(), st.one_of(texts, values), st.one_of(texts, values))
def check_add(state: dict[str, Any], a: Any, b: Any) -> None:
    same("add", state, a, b)


@settings(max_examples=400)
@given(machines(), keys, values)
def check_sstore(state: dict[str, Any], key: Any, value: Any) -> None:
    same("sstore", state, key, value)


@settings(max_examples=400)
@given(machines(), st.one_of(st.sampled_from(["k", "b", "a", "doc", "zz"]), keys), values)
def check_sget(state: dict[str, Any], key: Any, default: Any) -> None:
    same("sget", state, key, default)


@settings(max_examples=400)
@given(machines(), st.one_of(st.sampled_from(["k", "b", "a", "doc", "zz"]), keys))
def check_shas(state: dict[str, Any], key: Any) -> None:
    same("shas", state, key)


@settings(max_examples=300)
@given(machines(), st.dictionaries(st.one_of(ascii_text, ints), values, max_size=6))
def check_new_map(state: dict[str, Any], d: dict[Any, Any]) -> None:
    same("new_map", state, d)


@settings(max_examples=300)
@given(machines(), st.lists(values, max_size=6))
def check_new_list(state: dict[str, Any], items: list[Any]) -> None:
    same("new_list", state, items)


@settings(max_examples=400)
@given(
    machines(),
    st.one_of(st.sampled_from(["Registered", "E" * 64, "E" * 65, ""]), texts, ints),
    st.one_of(st.dictionaries(ascii_text, scalars, max_size=5), values),
)
def check_emit(state: dict[str, Any], name: Any, fields: Any) -> None:
    same("emit", state, name, fields)


@settings(max_examples=300)
@given(machines(), st.one_of(texts, values))
def check_one_argument_builtins(state: dict[str, Any], x: Any) -> None:
    for name in ("len", "str", "hex", "unhex", "lower"):
        same(name, state, x)


@settings(max_examples=300)
@given(
    machines(), st.one_of(texts, st.binary(max_size=20)), st.one_of(texts, st.binary(max_size=9))
)
def check_startswith(state: dict[str, Any], a: Any, b: Any) -> None:
    same("startswith", state, a, b)


def check_big_values_at_the_limits() -> None:
    roomy = {"gas": 10**7, "mem": 0, "readonly": False, "writes": {}, "stored": {},
             "failing": False, "events": 0}  # fmt: skip
    same("add", roomy, "x" * 40_000, "y" * 25_536)  # exactly MAX_BYTES_LEN
    same("add", roomy, "x" * 40_000, "y" * 25_537)  # one over
    same("hex", roomy, b"\x01" * 32_768)
    same("hex", roomy, b"\x01" * 32_769)
    same("unhex", roomy, "ab" * 65_536)
    same("unhex", roomy, "ab" * 65_537)
    same("lower", roomy, "Q" * 65_536)
    same("sstore", roomy, "k", "v" * 65_533)
    same("sstore", roomy, "k", "v" * 65_534)
    same("emit", roomy, "E", {"a": "v" * 8_180})
    same("emit", roomy, "E", {"a": "v" * 8_190})


def test_c_natives_match_the_python_natives() -> None:
    """Every C native against its reference: random calls, then values at the limits."""
    for check in (check_add, check_sstore, check_sget, check_shas, check_new_map,
                  check_new_list, check_emit, check_one_argument_builtins, check_startswith,
                  check_big_values_at_the_limits):  # fmt: skip
        check()


@contextmanager
def recorded() -> Iterator[list[str]]:
    """The C module's references swapped for wrappers that record their names."""
    config = natives_c._config()
    calls: list[str] = []

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def recording(*args: Any) -> Any:
            calls.append(name)
            return fn(*args)

        return recording

    spied = {k: wrap(k, v) if callable(v) and k not in ("encode", "Event") else v
             for k, v in config.items()}  # fmt: skip
    _natives.init(spied)
    try:
        yield calls
    finally:
        _natives.init(config)


def test_translated_programs_use_the_c_natives() -> None:
    assert natives_c.NATIVES["add"] is _natives.add
    assert natives_c.BUILTINS["len"] is _natives.b_len


def test_the_common_case_stays_in_c() -> None:
    """A standard contract's calls reach no Python native but ``decoded`` (what sget hands
    a stored value to), and a failure does reach its reference."""
    from contracts import execute, vm

    vm.clear_cache()
    storage: dict[bytes, bytes] = {}
    code = stdlib.compiled("evidence")
    with recorded() as calls:
        for i in range(3):
            host = MemoryHost(caller=b"\x11" * 20, storage=storage)
            r = execute(code, "register", [f"{i:064x}", "contract", "Lease"], host, 1_000_000)
            assert r.ok, r.error
        assert set(calls) <= {"_decoded"}, calls
        assert calls.count("_decoded") == 2  # the owner's count, stored by the first call
        m = Machine(MemoryHost(), 0, False)
        with pytest.raises(OutOfGas):
            natives_c.NATIVES["add"](m, "a", "b")
        assert calls[-1] == "add"
    vm.clear_cache()
