"""Properties: deterministic execution, stable compilation, and fuzzed bytecode never crashes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import (
    CompileError,
    ExecutionResult,
    MemoryHost,
    VerifyError,
    compile_source,
    encode_value,
    execute,
    stdlib,
)
from contracts import vm as vm_module
from contracts.verifier import verify

# The "fuzz" profile runs thousands of programs per test: longer than the suite's default
# per-test timeout on a loaded machine, though each example is quick.
pytestmark = pytest.mark.timeout(3600)

INT_VARS = ("a", "b", "x", "y")
KEYS = ("'k1'", "'k2'", "b'k3'", "7")


@st.composite
def int_expr(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 3 or draw(st.booleans()):
        return draw(st.sampled_from(INT_VARS) | st.integers(-1000, 1000).map(str))
    left = draw(int_expr(depth + 1))
    right = draw(int_expr(depth + 1))
    if draw(st.integers(0, 5)) == 0:
        return f"(-{left})"
    opr = draw(st.sampled_from(["+", "-", "*", "//", "%"]))
    return f"({left} {opr} {right})"


@st.composite
def cond(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 4 if depth < 2 else 1))
    if kind <= 1:
        cmp = draw(st.sampled_from(["<", "<=", "==", "!=", ">", ">="]))
        return f"{draw(int_expr())} {cmp} {draw(int_expr())}"
    if kind == 2:
        return f"not ({draw(cond(depth + 1))})"
    if kind == 3:
        return f"{draw(st.sampled_from(KEYS))} in storage"
    joiner = draw(st.sampled_from(["and", "or"]))
    return f"({draw(cond(depth + 1))}) {joiner} ({draw(cond(depth + 1))})"


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines] or ["    pass"]


@st.composite
def statements(draw: st.DrawFn, depth: int = 0) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 9 if depth < 2 else 5))
        if kind == 0:
            out.append(f"{draw(st.sampled_from(('x', 'y')))} = {draw(int_expr())}")
        elif kind == 1:
            out.append(f"s = s + str({draw(int_expr())})")
        elif kind == 2:
            out.append(f"l.append({draw(int_expr())})")
        elif kind == 3:
            out.append(f"storage[{draw(st.sampled_from(KEYS))}] = [x, s]")
        elif kind == 4:
            out.append(f"emit('E', v={draw(int_expr())}, s=s)")
        elif kind == 5:
            out.append(f"x = len(storage.get({draw(st.sampled_from(KEYS))}, l))")
        elif kind == 6:
            out += [f"if {draw(cond())}:", *indent(draw(statements(depth + 1))),
                    "else:", *indent(draw(statements(depth + 1)))]  # fmt: skip
        elif kind == 7:
            out += [f"for i in range({draw(st.integers(0, 4))}):",
                    *indent(draw(statements(depth + 1))), "    y = y + i"]  # fmt: skip
        elif kind == 8:
            out.append(f"require({draw(cond())}, 'failed ' + str(x))")
        else:
            out.append(f"if {draw(st.sampled_from(KEYS))} in storage:")
            out.append(f"    del storage[{draw(st.sampled_from(KEYS))}]")
    return out


@st.composite
def programs(draw: st.DrawFn) -> str:
    body = ["x = 0", "y = 1", "s = ''", "l = []", *draw(statements()), "return [x, y, s, l]"]
    return "@public\ndef main(a: int, b: int):\n" + "\n".join(indent(body)) + "\n"


def snapshot(result: ExecutionResult, host: MemoryHost) -> tuple[object, ...]:
    return (
        result.ok,
        result.gas_used,
        encode_value(result.return_value),
        [encode_value([e.name, e.fields]) for e in result.events],
        result.error,
        sorted(host.storage.items()),
    )


small_ints = st.integers(-(2**70), 2**70)


@given(programs(), small_ints, small_ints)
def test_random_programs_compile_stably_and_run_deterministically(
    source: str, a: int, b: int
) -> None:
    code = compile_source(source)
    assert compile_source(source) == code
    verify(code)
    seen = []
    for _ in range(2):
        vm_module.clear_cache()  # a fresh VM: nothing cached from the previous run
        host = MemoryHost(storage={encode_value("k1"): encode_value(5)})
        result = execute(code, "main", [a, b], host, 200_000)
        assert "internal" not in (result.error or ""), result.error
        seen.append(snapshot(result, host))
    assert seen[0] == seen[1]


def check_never_crashes(data: bytes) -> None:
    with contextlib.suppress(VerifyError):
        verify(data)
    result = execute(data, "main", [1, 2], MemoryHost(), 20_000)
    assert isinstance(result, ExecutionResult)
    assert "internal" not in (result.error or ""), result.error
    for method in ("register", "get", "put"):
        result = execute(data, method, ["ab" * 32, "t", "x"], MemoryHost(), 20_000)
        assert "internal" not in (result.error or ""), result.error


@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    check_never_crashes(data)
    check_never_crashes(b"CNVM\x01" + data)


VALID = [stdlib.compiled(name) for name in stdlib.NAMES]


@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                        min_size=1, max_size=4))  # fmt: skip
def test_mutated_bytecode_never_crashes(code: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(code)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    check_never_crashes(bytes(data))


@given(st.text(max_size=200))
def test_random_text_compiles_or_compile_error(source: str) -> None:
    with contextlib.suppress(CompileError):
        compile_source(source)


@given(programs(), small_ints, small_ints)
def test_superinstructions_do_not_change_results(source: str, a: int, b: int) -> None:
    code = compile_source(source)
    seen = []
    original = vm_module._fuse
    vm_module.TRANSLATE = False  # superinstructions are the interpreter's
    try:
        for fuse in (original, tuple):
            vm_module._fuse = fuse  # type: ignore[assignment]
            vm_module.clear_cache()
            host = MemoryHost(storage={encode_value("k1"): encode_value(5)})
            seen.append(snapshot(execute(code, "main", [a, b], host, 200_000), host))
    finally:
        vm_module._fuse = original
        vm_module.TRANSLATE = True
        vm_module.clear_cache()
    assert seen[0] == seen[1]


# Mixed-type programs: every builtin, method and operator applied to values of every type,
# so that each handler's type checks are exercised. Failures are fine (they are typed VM
# errors); an "internal VM error" (a Python exception escaping a handler) is not.
SEEDS = ("0", "-7", str(2**200), "''", "'ab,c'", "b'xy'", "[]", "[1, 'a']", "{}", "{'k': [1]}",
         "None", "True", "[[1], [2]]", "{1: 'a', b'k': 2}")  # fmt: skip
UNARY = ("len", "str", "int", "bool", "bytes", "hex", "unhex", "sm3", "abs", "list", "sorted")
BINARY = ("min", "max")
METHODS0 = ("keys", "values", "items", "pop", "encode", "decode", "lower", "upper", "hex")
METHODS1 = ("append", "extend", "get", "pop", "startswith", "endswith", "split", "join")
OPERATORS = ("+", "-", "*", "//", "%", "==", "!=", "<", "<=", ">", ">=", "in", "not in",
             "and", "or")  # fmt: skip
VARS = tuple(f"v{i}" for i in range(6))


@st.composite
def mixed_statement(draw: st.DrawFn) -> str:
    x, y, z = (draw(st.sampled_from(VARS)) for _ in range(3))
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return f"{x} = {draw(st.sampled_from(UNARY))}({y})"
    if kind == 1:
        return f"{x} = {draw(st.sampled_from(BINARY))}({y}, {z})"
    if kind == 2:
        return f"{x} = {y}.{draw(st.sampled_from(METHODS0))}()"
    if kind == 3:
        return f"{x} = {y}.{draw(st.sampled_from(METHODS1))}({z})"
    if kind == 4:
        return f"{x} = {y} {draw(st.sampled_from(OPERATORS))} {z}"
    if kind == 5:
        return f"{x} = {y}[{z}]"
    if kind == 6:
        return f"{y}[{z}] = {x}"
    if kind == 7:
        return f"{x} = {y}[{z}:{draw(st.sampled_from(VARS + ('',)))}]"
    if kind == 8:
        return f"del {y}[{z}]"
    if kind == 9:
        return f"for {x} in {y}:\n        {z} = {x}"
    if kind == 10:
        return f"storage[{x}] = {y}\n    {z} = storage.get({x})"
    return f"emit('E', f={x})\n    {x} = -{y} if not {z} else {y}.get({x}, {z})"


@st.composite
def mixed_programs(draw: st.DrawFn) -> str:
    init = [f"{v} = {draw(st.sampled_from(SEEDS))}" for v in VARS]
    body = init + draw(st.lists(mixed_statement(), min_size=1, max_size=8))
    body.append("return [" + ", ".join(VARS) + "]")
    return "@public\ndef main():\n" + "\n".join("    " + line for line in body) + "\n"


@given(mixed_programs())
def test_mixed_type_programs_fail_only_with_vm_errors(source: str) -> None:
    code = compile_source(source)
    result = execute(code, "main", [], MemoryHost(), 100_000)
    assert "internal" not in (result.error or ""), (result.error, source)
    again = execute(code, "main", [], MemoryHost(), 100_000)
    assert (again.ok, again.gas_used, again.error) == (result.ok, result.gas_used, result.error)
