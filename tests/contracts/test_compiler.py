"""The Python subset: what compiles, what it computes, and what is refused (line, column)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from contracts import CompileError, MemoryHost, compile_source, stdlib
from tests.conftest import subprocess_env
from tests.contracts.helpers import run_src, value_of


def fn(body: str, params: str = "") -> str:
    """A contract with one public ``main(params)`` whose body is ``body``."""
    return f"@public\ndef main({params}):\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return 7 + 3 * 2 - 10 // 3 % 2", 12),
        ("return -(2 ** 0 if False else 5)", -5),
        ("return 'ab' + 'cd'", "abcd"),
        ("return b'\\x00' + b'\\x01'", b"\x00\x01"),
        ("return [1, 2] + [3]", [1, 2, 3]),
        ("return {'a': 1, 'b': [True, None]}", {"a": 1, "b": [True, None]}),
        ("return (1, 'x')", [1, "x"]),
        ("return 1 < 2 <= 2 < 3", True),
        ("return 1 < 3 < 2", False),
        ("return 0 or '' or 'x'", "x"),
        ("return 1 and 0", 0),
        ("return not []", True),
        ("return 3 if 1 > 2 else 4", 4),
        ("x = None\nreturn x is None and 1 is not None", True),
        ("return 'b' in 'abc' and 5 not in [1, 2]", True),
        ("return 'k' in {'k': 1}", True),
        ("return len('héllo') + len(b'ab') + len([1]) + len({})", 8),
        ("return str(-12) + str(True) + str(None)", "-12TrueNone"),
        ("return int('-42') + int(True)", -41),
        ("return bool(0) or bool([0])", True),
        ("return bytes('é')", "é".encode()),
        ("return hex(b'\\xab\\x01') + hex(255)", "ab010xff"),
        ("return unhex('0xAB01') + bytes.fromhex('ff')", b"\xab\x01\xff"),
        ("return abs(-3) + min(4, 2) + max(4, 2)", 9),
        ("return min('b', 'a')", "a"),
        ("x = [3, 1]\nx.append(2)\nx.extend([0])\nreturn sorted(x)", [0, 1, 2, 3]),
        ("d = {'a': 1}\nreturn [d.get('a'), d.get('z'), d.get('z', 9)]", [1, None, 9]),
        (
            "d = {'a': 1, 'b': 2}\nreturn [d.keys(), d.values(), d.items()]",
            [["a", "b"], [1, 2], [["a", 1], ["b", 2]]],
        ),
        ("x = [1, 2, 3]\ny = x.pop()\nz = x.pop(0)\nreturn [x, y, z]", [[2], 3, 1]),
        ("d = {'a': 1, 'b': 2}\nv = d.pop('a')\nreturn [d, v]", [{"b": 2}, 1]),
        ("return 'a,b'.split(',') + [', '.join(['x', 'y'])]", ["a", "b", "x, y"]),
        (
            "return ['Ab'.lower(), 'Ab'.upper(), 'abc'.startswith('ab'), 'abc'.endswith('x')]",
            ["ab", "AB", True, False],
        ),
        (
            "return ['é'.encode(), b'\\xc3\\xa9'.decode(), b'\\x01'.hex()]",
            ["é".encode(), "é", "01"],
        ),
        ("return list({'a': 1}) + list([2]) + list() + [dict()]", ["a", 2, {}]),
        ("return 'hello'[1:3] + 'hello'[-2:] + 'hello'[:1]", "elloh"),
        ("return [1, 2, 3][-1]", 3),
        ("x = 5\nreturn f'x={x} ok {\"s\"}'", "x=5 ok s"),
        ("return f''", ""),
        ("a, b = [1, 2]\nreturn [b, a]", [2, 1]),
        ("a = b = 3\nreturn a + b", 6),
        ("x: int = 4\nx += 1\nx -= 2\nx *= 3\nx //= 2\nx %= 3\nreturn x", 1),
        ("d = {'n': 1}\nd['n'] += 5\nl = [1]\nl[0] -= 1\nreturn [d, l]", [{"n": 6}, [0]]),
        ("d = {'a': 1, 'b': 2}\ndel d['a']\nl = [1, 2]\ndel l[0]\nreturn [d, l]", [{"b": 2}, [2]]),
    ],
)
def test_expressions_and_statements(body: str, expected: object) -> None:
    if "**" in body:  # not allowed: checked by the refusal tests instead
        body = body.replace("2 ** 0", "1")
    assert value_of(fn(body)) == expected


def test_if_elif_else() -> None:
    src = fn(
        """
        if x < 0:
            return "neg"
        elif x == 0:
            return "zero"
        elif x < 10:
            pass
        else:
            return "big"
        return "small"
        """,
        "x: int",
    )
    assert [value_of(src, args=[v]) for v in (-1, 0, 5, 50)] == ["neg", "zero", "small", "big"]


def test_loops_break_continue() -> None:
    src = fn(
        """
        total = 0
        i = 0
        while True:
            i += 1
            if i > 10:
                break
            if i % 2 == 0:
                continue
            total += i
        for j in range(3):
            total += 100
        for j in range(10, 0, -3):
            total += j
        for j in range(2, 4):
            total += j * 1000
        for v in [1, 2]:
            for w in ['a', 'b']:
                if w == 'b':
                    break
                total += v
        for k in {'x': 1, 'y': 2}:
            total += len(k)
        for k, v in {'x': 5}.items():
            total += v
        return total
        """
    )
    assert value_of(src) == 25 + 300 + (10 + 7 + 4 + 1) + 5000 + 3 + 2 + 5


def test_loop_target_rebinding_does_not_change_iteration() -> None:
    src = fn("out = []\nfor i in range(3):\n    out.append(i)\n    i = 100\nreturn out")
    assert value_of(src) == [0, 1, 2]


def test_functions_recursion_and_constants() -> None:
    src = textwrap.dedent(
        """
        \"\"\"A docstring.\"\"\"
        BASE = 10
        NEG = -3

        def fact(n):
            if n <= 1:
                return 1
            return n * fact(n - 1)

        def nothing():
            pass

        @public
        def main(n: int) -> int:
            return fact(n) + BASE + NEG + (0 if nothing() is None else 1)
        """
    )
    assert value_of(src, args=[5]) == 127


def test_storage_and_context() -> None:
    src = textwrap.dedent(
        """
        @public
        def put(k: str, v):
            storage[k] = v
            storage[k + "!"] = 1
            storage[k + "!"] += 1
            return k in storage

        @public
        def take(k: str):
            v = storage[k]
            del storage[k]
            return [v, k in storage, k not in storage, storage.get(k), storage.get(k, 0),
                    storage[k + "!"]]

        @view
        def info():
            return [ctx.caller, ctx.tx_hash, ctx.block_height, ctx.timestamp]
        """
    )
    host = MemoryHost(caller=b"\x05" * 20, tx_hash=b"\x06" * 32, block_height=9, timestamp=77)
    put = run_src(src, "put", ["a", [1]], host=host)
    assert put.ok and put.return_value is True
    take = run_src(src, "take", ["a"], host=host)
    assert take.ok, take.error
    assert take.return_value == [[1], False, True, None, 0, 2]
    info = run_src(src, "info", [], host=host)
    assert info.return_value == [b"\x05" * 20, b"\x06" * 32, 9, 77]


def test_emit_require_revert_sm3() -> None:
    src = textwrap.dedent(
        """
        @public
        def main(x: int):
            require(x > 0, "x must be positive")
            require(x != 5)
            if x == 7:
                revert("seven")
            emit("Seen", x=x, who=ctx.caller)
            emit("Map", {"y": x + 1})
            return sm3("abc") + sm3(b"")
        """
    )
    ok = run_src(src, args=[3])
    assert ok.ok, ok.error
    sm3 = hashlib.new("sm3")
    sm3.update(b"abc")
    assert ok.return_value == sm3.digest() + hashlib.new("sm3", b"").digest()
    assert [(e.name, e.fields) for e in ok.events] == [
        ("Seen", {"x": 3, "who": b"\x01" * 20}),
        ("Map", {"y": 4}),
    ]
    assert run_src(src, args=[0]).error == "revert: x must be positive"
    assert run_src(src, args=[5]).error == "revert: requirement failed"
    assert run_src(src, args=[7]).error == "revert: seven"


def test_internal_functions_are_not_entry_points() -> None:
    src = "def helper():\n    return 1\n\n@public\ndef main():\n    return helper()\n"
    assert value_of(src) == 1
    result = run_src(src, "helper")
    assert not result.ok and "no public method" in (result.error or "")


REFUSED = [
    ("import os", "import is not allowed", 1, 1),
    ("from os import path", "import is not allowed", 1, 1),
    ("class A:\n    pass", "class definitions", 1, 1),
    ("x = 1.5", "float literals", 1, 5),
    ("x = []", "constant value", 1, 5),
    ("print('x')", "not allowed", 1, 1),
    (fn("return 1.0"), "float literals", 3, 12),
    (fn("return lambda: 1"), "lambda", 3, 12),
    (fn("try:\n    pass\nexcept Exception:\n    pass"), "try", 3, 5),
    (fn("with x:\n    pass"), "with", 3, 5),
    (fn("global y"), "global", 3, 5),
    (fn("return x.y", "x"), "attribute 'y'", 3, 12),
    (fn("return x.__class__", "x"), "attribute '__class__'", 3, 12),
    (fn("return x.format()", "x"), "method 'format'", 3, 12),
    (fn("return ctx.gas"), "ctx has no attribute 'gas'", 3, 12),
    (fn("return 1 / 2"), "use //", 3, 12),
    (fn("return 2 ** 3"), "Pow", 3, 12),
    (fn("return 1 << 3"), "LShift", 3, 12),
    (fn("return ~1"), "Invert", 3, 12),
    (fn("return y"), "unknown name 'y'", 3, 12),
    (fn("return foo()"), "unknown function 'foo'", 3, 12),
    (fn("return storage"), "only usable through", 3, 12),
    (fn("return storage.keys()"), "storage has no method", 3, 12),
    (fn("return len"), "can only be called", 3, 12),
    (fn("len = 3"), "cannot assign to 'len'", 3, 5),
    (fn("storage = 3"), "cannot assign to 'storage'", 3, 5),
    (fn("return x is 5", "x"), "only compares with None", 3, 12),
    (fn("return [i for i in [1]]"), "comprehensions", 3, 12),
    (fn("return {1, 2}"), "sets", 3, 12),
    (fn("assert 1"), "use require", 3, 5),
    (fn("raise 1"), "use revert", 3, 5),
    (fn("while 1:\n    pass\nelse:\n    pass"), "while/else", 3, 5),
    (fn("for i in [1]:\n    pass\nelse:\n    pass"), "for/else", 3, 5),
    (fn("break"), "outside a loop", 3, 5),
    (fn("def inner():\n    pass"), "nested functions", 3, 5),
    (fn("x = range(3)"), "only allowed as the iterable", 3, 9),
    (fn("for i in range(0, 5, x):\n    pass", "x"), "constant", 3, 26),
    (fn("for i in range(0, 5, 0):\n    pass"), "non-zero", 3, 26),
    (fn("yield 1"), "generators", 3, 5),
    (fn("return (x := 1)"), "walrus", 3, 13),
    (fn("return len(*[1])"), "star", 3, 16),
    (fn("return len(1, 2)"), "takes 1 argument", 3, 12),
    (fn("return len(x=1)"), "keyword", 3, 12),
    (fn("return f'{1:>3}'"), "format spec", 3, 12),
    (fn("return 'abc'[::2]"), "slice steps", 3, 12),
    (fn("del x", "x"), "del only deletes", 3, 9),
    (fn("x.y = 1", "x"), "cannot assign to an attribute", 3, 5),
    (fn("return 2 ** 300 ** 2"), "Pow", 3, 17),
    (fn(f"return {2**256}"), "256-bit", 3, 12),
    (fn("return {**{}}"), "** in a dict", 3, 15),
    (fn("match 1:\n    case 1:\n        pass"), "match", 3, 5),
    ("@public\nasync def main():\n    pass", "async", 2, 1),
    ("@public\ndef main(a=1):\n    pass", "plain positional", 2, 1),
    ("@public\ndef main(*a):\n    pass", "plain positional", 2, 1),
    ("@public\ndef main(a: float):\n    pass", "annotation", 2, 13),
    ("@public\n@other\ndef main():\n    pass", "only @public and @view", 2, 2),
    ("@public\ndef len():\n    pass", "cannot be named 'len'", 2, 1),
    ("@public\ndef f(storage):\n    pass", "parameter cannot be named", 2, 7),
    ("@public\ndef é():\n    pass", "ASCII", 2, 1),
    ("@public\ndef f(é):\n    pass", "ASCII", 2, 7),
    ("@public\ndef f():\n    pass\n@public\ndef f():\n    pass", "defined twice", 5, 1),
    ("def f():\n    pass", "at least one @public", 1, 1),
    ("@view\ndef f():\n    storage['a'] = 1", "view method 'f' cannot modify state", 3, 5),
    ("@view\ndef f():\n    emit('E')", "cannot modify state", 3, 5),
    ("@view\ndef f():\n    del storage['a']", "cannot modify state", 3, 9),
    ("def g(a):\n    pass\n@public\ndef f():\n    g()", "takes 1 argument", 5, 5),
    ("@public\ndef f(:\n    pass", "syntax error", 2, 7),
    ("x = 1\nx = 2\n@public\ndef f():\n    pass", "cannot define 'x'", 2, 1),
]


@pytest.mark.parametrize(("source", "reason", "line", "col"), REFUSED,
                         ids=[r[1] for r in REFUSED])  # fmt: skip
def test_refused_with_position(source: str, reason: str, line: int, col: int) -> None:
    with pytest.raises(CompileError) as info:
        compile_source(source)
    err = info.value
    assert reason in err.reason, err
    assert (err.line, err.col) == (line, col), err
    assert str(err).startswith(f"line {line}, col {col}: ")


def test_pathological_sources_are_compile_errors() -> None:
    with pytest.raises(CompileError):
        compile_source("@public\ndef f():\n    return " + "(" * 500 + "1" + ")" * 500)
    with pytest.raises(CompileError, match="more than 512 items"):
        compile_source(fn("return [" + ", ".join(["1"] * 70_000) + "]"))
    with pytest.raises(CompileError, match="more than 512 items"):
        compile_source(fn("return {" + ", ".join([f"{i}: 1" for i in range(600)]) + "}"))
    pairs = ", ".join(f"{i}: 1" for i in range(512))
    with pytest.raises(CompileError, match="stack depth"):
        compile_source(fn("return [0, {" + pairs + "}]"))


def test_constant_pool_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import contracts.lang

    monkeypatch.setattr(contracts.lang, "MAX_CONSTS", 10)
    many = "\n".join(f"    x = {i}" for i in range(11))
    with pytest.raises(CompileError, match="more than 10 distinct constants"):
        compile_source("@public\ndef f():\n" + many)
    with pytest.raises(CompileError):
        compile_source("x" * 300_000)
    with pytest.raises(CompileError):
        compile_source(b"not str")  # type: ignore[arg-type]
    with pytest.raises(CompileError):
        compile_source("\x00")


def test_same_source_same_bytes_across_processes() -> None:
    """Bytecode must not depend on hash seeds or anything else of the process."""
    script = (
        "import sys; from contracts import stdlib\n"
        "sys.stdout.write(b''.join(stdlib.compiled(n) for n in stdlib.NAMES).hex())"
    )
    outputs = set()
    for seed in ("1", "2"):
        env = subprocess_env()
        env["PYTHONHASHSEED"] = seed
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True, timeout=60)  # fmt: skip
        outputs.add(out.stdout)
    here = b"".join(compile_source(stdlib.source(n)) for n in stdlib.NAMES).hex()
    assert outputs == {here}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("{'a': [1], 'b': {2: b'x'}} == {'b': {2: b'x'}, 'a': [1]}", True),
        ("{'a': 1} == {'b': 1}", False),
        ("{'a': 1} == {'a': 1, 'b': 2}", False),
        ("{'a': [1]} == {'a': [2]}", False),
        ("{'a': [1]} == {'a': 'x'}", False),
        ("[1, [2, [3]]] == [1, [2, [3]]]", True),
        ("[1, [2, [3]]] == [1, [2, [4]]]", False),
        ("[1] == [True]", False),
        ("[[1]] != [[1]]", False),
        ("[{'k': 1}] in [[{'k': 1}]]", True),
        ("{'k': None} == {'k': None}", True),
    ],
)
def test_deep_equality(expr: str, expected: bool) -> None:
    assert value_of(fn(f"return {expr}")) is expected


class OddHost(MemoryHost):
    def hash(self, data: bytes) -> bytes:
        return "not bytes"  # type: ignore[return-value]


def test_host_misbehaviour_is_reported() -> None:
    result = run_src(fn("return sm3(b'x')"), host=OddHost())
    assert not result.ok and "non-bytes" in (result.error or "")
    bad_ctx = MemoryHost(block_height="7")  # type: ignore[arg-type]
    result = run_src(fn("return ctx.block_height"), host=bad_ctx)
    assert not result.ok and "host context field of type str" in (result.error or "")


def test_case_mapping_is_ascii_only() -> None:
    src = fn("return ['ÀBÉß'.lower(), 'àbéß'.upper(), b'AB\\xc3'.lower(), b'ab'.upper()]")
    assert value_of(src) == ["ÀbÉß", "àBéß", b"ab\xc3", b"AB"]
