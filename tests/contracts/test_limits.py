"""Every limit trips with a clear error, and a tripped limit writes nothing."""

from __future__ import annotations

import pytest

from contracts import MemoryHost, compile_source, execute
from contracts.machine import MAX_CALL_DEPTH, MAX_EVENTS
from tests.contracts.helpers import build, run_code, run_src
from tests.contracts.test_compiler import fn

BIG_GAS = 50_000_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("s = 'x'\nwhile True:\n    s = s + s", "str of length 131072 exceeds 65536"),
        ("b = b'x'\nwhile True:\n    b = b + b", "bytes of length 131072 exceeds 65536"),
        ("l = [0]\nwhile True:\n    l = l + l", "list of 8192 items exceeds 4096"),
        ("l = []\nwhile True:\n    l.append(1)", "list of more than 4096 items"),
        ("l = []\nwhile True:\n    l.extend([1, 2, 3])", "list of more than 4096 items"),
        ("d = {}\ni = 0\nwhile True:\n    d[i] = 1\n    i += 1", "map of more than 4096 items"),
        ("x = []\nfor i in range(40):\n    x = [x]\nstorage['k'] = x", "nest deeper than 32"),
        ("x = []\nx.append(x)\nstorage['k'] = x", "nest deeper than 32"),
        ("x = []\nx.append(x)\ny = []\ny.append(y)\nreturn x == y", "nest deeper than 32"),
        ("x = []\nx.append(x)\ny = []\ny.append(y)\nreturn x in [y]", "nest deeper than 32"),
        ("k = 'k'\nwhile len(k) < 2000:\n    k = k + k\nstorage[k] = 1", "storage key"),
        ("v = 'v'\nwhile len(v) < 40000:\n    v = v + v\nstorage['a'] = [v, v]", "storage value"),
        ("v = 'v'\nwhile len(v) < 40000:\n    v = v + v\nreturn [v, v]", "return value"),
        ("v = 'v'\nwhile len(v) < 9000:\n    v = v + v\nemit('E', v=v)", "event 'E'"),
        (f"for i in range({MAX_EVENTS + 1}):\n    emit('E', i=i)", "more than 256 events"),
        ("s = ''\nfor i in range(79):\n    s += '1'\nreturn int(s)", "int() of"),
        ("return 'x' * 3", "unsupported operand types for *: str and int"),
        ("return 'a,b'.split('')", "empty separator"),
    ],
)
def test_limit_trips(body: str, message: str) -> None:
    host = MemoryHost()
    result = run_src(fn(body), host=host, gas=BIG_GAS)
    assert not result.ok
    assert message in (result.error or ""), result.error
    assert host.storage == {}
    assert result.events == []


def test_call_depth() -> None:
    src = (
        "def down(n):\n    if n == 0:\n        return 0\n    return down(n - 1) + 1\n\n"
        "@public\ndef main(n: int):\n    return down(n)\n"
    )
    ok = run_src(src, args=[MAX_CALL_DEPTH - 2])
    assert ok.ok and ok.return_value == MAX_CALL_DEPTH - 2
    deep = run_src(src, args=[MAX_CALL_DEPTH])
    assert not deep.ok and "call depth limit 64 exceeded" in (deep.error or "")
    forever = run_src(src, args=[-1], gas=BIG_GAS)
    assert not forever.ok and "call depth" in (forever.error or "")


def test_stack_depth_is_a_static_limit() -> None:
    code = build([("CONST", 0)] * 1025 + ["RET"], [1])
    result = run_code(code)
    assert not result.ok and "stack depth limit 1024 exceeded" in (result.error or "")


def test_arguments_are_checked() -> None:
    src = fn("return [a, b]", "a: bytes, b")
    c = compile_source(src)
    h = MemoryHost()
    ok = execute(c, "main", [b"x", {"k": [1]}], h, 10**6)
    assert ok.ok and ok.return_value == [b"x", {"k": [1]}]
    for args, message in [
        (["x", 1], "argument 0 (a) must be bytes, got str"),
        ([b"x"], "takes 2 arguments, got 1"),
        ([b"x", 1.5], "argument 1"),
        ([b"x", 2**300], "256-bit"),
        ([b"x", "\ud800"], "UTF-8"),
        ([b"x" * 70_000, 1], "longer than 65536"),
        ([b"x", ["y" * 40_000, "y" * 40_000]], "argument 1"),
        ([b"x", {(1, 2): 1}], "argument 1"),
    ]:
        result = execute(c, "main", args, h, 10**6)
        assert not result.ok and message in (result.error or ""), (args, result.error)
    assert not execute(c, "main", "notalist", h, 10**6).ok  # type: ignore[arg-type]
    assert not execute(c, 5, [], h, 10**6).ok  # type: ignore[arg-type]


def test_arguments_are_copied_not_shared() -> None:
    c = compile_source(fn("x.append(1)\nreturn x", "x: list"))
    mine = [0]
    result = execute(c, "main", [mine], MemoryHost(), 10**6)
    assert result.ok and result.return_value == [0, 1]
    assert mine == [0]


def test_emitted_fields_are_a_snapshot() -> None:
    result = run_src(fn("d = {'a': 1}\nemit('E', d)\nd['a'] = 2\nreturn d"))
    assert result.ok and result.events[0].fields == {"a": 1}
    assert result.return_value == {"a": 2}


def test_comparing_big_shared_structures_is_paid_for() -> None:
    body = """
    a = [0]
    b = [0]
    while len(a) < 4096:
        a = a + a
        b = b + b
    x = [a]
    y = [b]
    while len(x) < 4096:
        x = x + x
        y = y + y
    return x == y
    """
    result = run_src(fn(body), gas=2_000_000)
    assert not result.ok and result.error == "out of gas"
    same = run_src(fn(body.replace("x == y", "x == x")), gas=2_000_000)
    assert same.ok and same.return_value is True
