"""Translated functions (``contracts.translate``) behave exactly like the interpreter.

Results, errors, events, storage bytes and gas are consensus-critical, so the fast path is
pinned two ways: golden figures of the standard contracts measured with the interpreter
before translation existed, and differential runs of both paths on random and mutated
programs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import MemoryHost, VerifyError, abi, compile_source, execute, stdlib
from contracts import vm as vm_module
from contracts.translate import MAX_SOURCE, TranslationError, TranslationTooLarge
from contracts.verifier import verify
from tests.contracts.helpers import build
from tests.contracts.test_compiler import fn
from tests.contracts.test_properties import (
    mixed_programs,
    programs,
    small_ints,
    snapshot,
)

pytestmark = pytest.mark.timeout(3600)

ALICE, BOB = b"\xaa" * 20, b"\xbb" * 20
DOC = "AB" * 32
DEEP: object = 1
for _ in range(33):
    DEEP = [DEEP]

# (sender, contract, method, args, gas limit): successes, every kind of failure, out of gas
SCENARIO: list[tuple[bytes, str, str, list[object], int]] = [
    (ALICE, "evidence", "register", ["0x" + DOC, "contract", "Lease 2026"], 1_000_000),
    (BOB, "evidence", "register", [DOC, "x", "y"], 1_000_000),
    (ALICE, "evidence", "register", ["cd" * 32, "invoice", ""], 1_000_000),
    (ALICE, "evidence", "register", ["zz" * 32, "invoice", ""], 1_000_000),
    (ALICE, "evidence", "register", ["ab" * 31, "invoice", ""], 1_000_000),
    (ALICE, "evidence", "register", ["ef" * 32, "", ""], 1_000_000),
    (ALICE, "evidence", "register", ["ef" * 32, "t", "x" * 257], 1_000_000),
    (ALICE, "evidence", "register", ["ef" * 32, "t", "x"], 2_500),
    (ALICE, "evidence", "register", ["ef" * 32, "t", "x"], 5_000),
    (ALICE, "evidence", "register", ["ef" * 32, "t"], 1_000_000),
    (ALICE, "evidence", "register", ["ef" * 32, "t", 5], 1_000_000),
    (ALICE, "evidence", "get", [DOC], 1_000_000),
    (ALICE, "evidence", "exists", ["00" * 32], 1_000_000),
    (ALICE, "evidence", "count_by_owner", [ALICE.hex()], 1_000_000),
    (ALICE, "evidence", "list_by_owner", [ALICE.hex(), 0, 10], 1_000_000),
    (ALICE, "evidence", "list_by_owner", [ALICE.hex(), 0, 0], 1_000_000),
    (ALICE, "traceability", "create_batch", ["B1", "apples", "Orchard"], 1_000_000),
    (BOB, "traceability", "add_event", ["B1", "transport", "Truck", "ab" * 32, "4C"], 1_000_000),
    (ALICE, "traceability", "grant", ["B1", BOB.hex()], 1_000_000),
    (BOB, "traceability", "add_event", ["B1", "transport", "Truck", "ab" * 32, "4C"], 1_000_000),
    (BOB, "traceability", "add_event", ["B1", "bogus", "Truck", "", ""], 1_000_000),
    (BOB, "traceability", "add_event", ["B1", "retail", "Shop", "", "sold"], 3_000),
    (ALICE, "traceability", "revoke", ["B1", BOB.hex()], 1_000_000),
    (ALICE, "traceability", "history", ["B1"], 1_000_000),
    (ALICE, "traceability", "history_page", ["B1", 0, 5], 1_000_000),
    (ALICE, "traceability", "get_batch", ["B1"], 1_000_000),
    (ALICE, "records", "put", ["k", {"z": 1, "a": [True, None, b"\x00", -(2**200)]}], 1_000_000),
    (BOB, "records", "put", ["k", "stolen"], 1_000_000),
    (ALICE, "records", "put", ["k", "v2"], 1_000_000),
    (ALICE, "records", "put", ["", "v"], 1_000_000),
    (ALICE, "records", "put", ["big", "x" * 70_000], 1_000_000),
    (ALICE, "records", "put", ["deep", DEEP], 1_000_000),
    (ALICE, "records", "delete", ["k"], 1_000_000),
    (ALICE, "records", "delete", ["k"], 1_000_000),
    (ALICE, "records", "history", ["k", 0, 10], 1_000_000),
    (ALICE, "records", "get", ["k"], 1_000_000),
    (ALICE, "records", "owner_of", ["k"], 1_000_000),
]  # fmt: skip


def scenario_results() -> Iterator[tuple[object, ...]]:
    """Every receipt field of SCENARIO in order, then the final storage bytes."""
    storages: dict[str, dict[bytes, bytes]] = {name: {} for name in stdlib.NAMES}
    for height, (sender, name, method, args, gas) in enumerate(SCENARIO, 1):
        host = MemoryHost(caller=sender, block_height=height, timestamp=1_700_000_000 + height,
                          tx_hash=height.to_bytes(32, "big"), storage=storages[name])  # fmt: skip
        r = execute(stdlib.compiled(name), method, args, host, gas)
        yield ("receipt", r.ok, r.gas_used, r.return_data, r.error,
               [(e.name, e.data) for e in r.events])  # fmt: skip
    for name in stdlib.NAMES:
        yield ("storage", name, sorted(storages[name].items()))


def scenario_digest() -> tuple[list[int], str]:
    h = hashlib.sha256()
    gas: list[int] = []
    for item in scenario_results():
        h.update(repr(item).encode())
        if item[0] == "receipt":
            gas.append(item[2])  # type: ignore[arg-type]
    return gas, h.hexdigest()


# Measured with the interpreter of the resource-priced gas (issue 16: every object the VM
# makes is charged by its size, comparisons and searches by the bytes they touch, call frames
# by their slots, instructions re-priced by bench.gas), which changed every figure; the
# figures before it were recorded at commit 163632a. Re-measured on the interpreter when the
# standard contracts began to store and emit addresses as "0x" + hex (issue 15): exactly the
# calls that touch an owner, actor or "by" changed (2 more bytes per address stored, read,
# hashed or emitted, and the concatenation); failures before that point kept their figures.
# The translator must reproduce them exactly (this test runs both paths).
GOLDEN_GAS = [
    10230, 891, 10046, 625, 713, 644, 942, 2500, 5000, 280, 280, 3588, 752, 825, 2171, 622, 5223,
    996, 3334, 7569, 1017, 1021, 3187, 4368, 4430, 2261, 7492, 2442, 8391, 331, 278, 278, 7327,
    1886, 9309, 1818, 1791,
]  # fmt: skip
GOLDEN_DIGEST = "557e58117228b07da442d5d49c6aa510be62a1289423c40352bec037526e9597"


@contextlib.contextmanager
def translation(on: bool) -> Iterator[None]:
    saved = vm_module.TRANSLATE
    vm_module.TRANSLATE = on  # run translated, or on the interpreter
    vm_module.clear_cache()
    try:
        yield
    finally:
        vm_module.TRANSLATE = saved
        vm_module.clear_cache()


def test_stdlib_figures_are_the_interpreters() -> None:
    for on in (True, False):
        with translation(on):
            gas, digest = scenario_digest()
        assert gas == GOLDEN_GAS
        assert digest == GOLDEN_DIGEST


def test_programs_are_translated_at_load_whatever_their_history() -> None:
    vm_module.clear_cache()
    for name in stdlib.NAMES:
        abi(stdlib.compiled(name))  # loading for the ABI (deployment) translates already
        program = vm_module.load_program(stdlib.compiled(name))
        assert all(f.py is not None for f in program.functions)
        assert vm_module.load_program(stdlib.compiled(name)) is program


def test_program_cache_is_a_real_lru() -> None:
    vm_module.clear_cache()
    size = vm_module._CACHE_SIZE
    codes = [compile_source(fn(f"return {i}")) for i in range(size + 1)]
    first = vm_module.load_program(codes[0])
    for code in codes[1:size]:
        vm_module.load_program(code)
    assert vm_module.load_program(codes[0]) is first  # used again: now the most recent
    vm_module.load_program(codes[size])  # one more than fits: evicts the least recent only
    assert len(vm_module._programs) == size
    assert vm_module.load_program(codes[0]) is first
    keys = [k for k, _ in vm_module._programs]
    assert codes[1] not in keys and codes[2] in keys


def test_repeated_use_of_many_programs_translates_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 129+ programs used in turn: the old cache (128, cleared whole when full) translated
    # them again on every round
    from contracts import translate as translate_module

    vm_module.clear_cache()
    done: list[int] = []
    real = translate_module.translate

    def counting(verified: object, *rest: object) -> object:
        done.append(1)
        return real(verified, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(vm_module, "translate", counting)
    codes = [compile_source(fn(f"x = [a, a, a]\nreturn {i}", "a: int")) for i in range(200)]
    for _ in range(3):
        for i, code in enumerate(codes):
            assert execute(code, "main", [1], MemoryHost(), 10**5).return_value == i
    assert len(done) == len(codes)
    vm_module.clear_cache()


def test_program_cache_is_bounded_by_generated_source(monkeypatch: pytest.MonkeyPatch) -> None:
    vm_module.clear_cache()
    one = vm_module.load_program(stdlib.compiled("evidence")).source_size
    monkeypatch.setattr(vm_module, "_CACHE_SOURCE", 2 * one + 1)
    for name in stdlib.NAMES:
        vm_module.load_program(stdlib.compiled(name))
    kept = [code for code, _ in vm_module._programs]
    assert stdlib.compiled("records") in kept and len(kept) < 3
    assert vm_module._cached_source <= 2 * one + 1
    vm_module.clear_cache()


def _bomb(pairs: int) -> bytes:
    """``UNPACK 255`` / ``BUILD_LIST 255`` pairs: ~3 KB of generated source per 5 bytes."""
    body: list[str | tuple[str, int | str]] = [("LOAD", 0)]
    for _ in range(pairs):
        body += [("UNPACK", 255), ("BUILD_LIST", 255)]
    return build([*body, "RET"], params=("x",), n_locals=1)


def test_translation_bombs_are_refused_from_their_bytes() -> None:
    vm_module.clear_cache()
    small, bomb = _bomb(8), _bomb(2_000)  # the bomb: ~10 KB of bytecode
    assert len(bomb) < 11_000
    assert abi(small)["main"].params == ("x",)
    with pytest.raises(TranslationTooLarge):
        abi(bomb)
    with pytest.raises(VerifyError):  # a VerifyError: deployment refuses it as malformed
        vm_module.load_program(bomb)
    r = execute(bomb, "main", [list(range(255))], MemoryHost(), 10**6)
    assert not r.ok and r.error is not None and "larger than" in r.error
    # the refusal is remembered (no new work for the same bytes) and costs MAX_SOURCE
    refusal = vm_module._programs[(bomb, True)]
    assert isinstance(refusal, TranslationTooLarge)
    assert vm_module.load_cost(bomb) == MAX_SOURCE
    assert vm_module.load_cost(small) == vm_module.load_program(small).source_size < MAX_SOURCE


def test_a_translator_failure_is_an_error_not_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    from contracts import translate as translate_module

    def broken(*_: object, **__: object) -> str:
        raise KeyError("bug")

    vm_module.clear_cache()
    monkeypatch.setattr(translate_module, "_function_source", broken)
    code = compile_source(fn("return 1"))
    with pytest.raises(TranslationError, match="translator failed: KeyError"):
        vm_module.load_program(code)
    r = execute(code, "main", [], MemoryHost(), 10**6)
    assert not r.ok and r.error == "invalid bytecode: translator failed: KeyError"
    vm_module.clear_cache()


@pytest.mark.parametrize("local_failure", [MemoryError])
def test_a_local_failure_is_not_remembered_as_a_refusal(
    monkeypatch: pytest.MonkeyPatch, local_failure: type[BaseException]
) -> None:
    """Out of memory depends on this machine, not on the bytes: it must propagate and
    leave no cached refusal, so the next load (with memory back) translates as every node does."""
    from contracts import translate as translate_module

    real = translate_module._function_source

    def starved(*_: object, **__: object) -> str:
        raise local_failure()

    vm_module.clear_cache()
    code = compile_source(fn("return 7"))
    monkeypatch.setattr(translate_module, "_function_source", starved)
    with pytest.raises(local_failure):
        vm_module.load_program(code)
    monkeypatch.setattr(translate_module, "_function_source", real)
    r = execute(code, "main", [], MemoryHost(), 10**6)
    assert r.ok and r.return_value == 7
    vm_module.clear_cache()


def both(code: bytes, method: str, args: list[object], gas: int) -> list[tuple[object, ...]]:
    seen = []
    for on in (True, False):
        with translation(on):
            host = MemoryHost(storage={b"\xa2k1": b"\x05"})
            result = execute(code, method, args, host, gas)
            seen.append(snapshot(result, host))
    return seen


@given(programs(), small_ints, small_ints, st.sampled_from([200_000, 3_000, 700, 300]))
def test_random_programs(source: str, a: int, b: int, gas: int) -> None:
    first, second = both(compile_source(source), "main", [a, b], gas)
    assert first == second


@given(mixed_programs(), st.sampled_from([100_000, 2_000, 500]))
def test_mixed_type_programs(source: str, gas: int) -> None:
    first, second = both(compile_source(source), "main", [], gas)
    assert first == second


VALID = [stdlib.compiled(name) for name in stdlib.NAMES]


@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                        min_size=1, max_size=4))  # fmt: skip
def test_mutated_bytecode(code: bytes, edits: list[tuple[int, int]]) -> None:
    data = bytearray(code)
    for pos, byte in edits:
        data[pos % len(data)] = byte
    with contextlib.suppress(VerifyError):
        verify(bytes(data))
    calls: list[tuple[str, list[object]]] = [
        ("register", ["ab" * 32, "t", "x"]),
        ("put", ["k", [1, "v"]]),
        ("create_batch", ["B", "p", "q"]),
    ]
    for method, args in calls:
        first, second = both(bytes(data), method, args, 50_000)
        assert first == second


def test_deep_recursion_and_loops_match() -> None:
    source = """
@public
def main(n: int) -> int:
    return down(n)

def down(n):
    if n <= 0:
        return 0
    i = 0
    s = 0
    while i < n:
        s = s + i
        i = i + 1
    return s + down(n - 1)
"""
    code = compile_source(source)
    for n, gas in ((10, 1_000_000), (63, 1_000_000), (64, 1_000_000), (200, 1_000_000),
                   (30, 2_000)):  # fmt: skip
        first, second = both(code, "main", [n], gas)
        assert first == second
    assert "call depth" in str(both(code, "main", [80], 10**7)[0])


# Hand-assembled control flow the compiler never emits: blocks that jump anywhere (also
# backwards and into loops), conditional jumps that keep their operand, unreachable code.
_STEPS = [
    ["LOAD 0", "CONST 1", "ADD", "STORE 0"],
    ["LOAD 1", "CONST 2", "SUB", "STORE 1"],
    ["LOAD 0", "LOAD 1", "MUL", "STORE 2"],
    ["LOAD 0", "LOAD 2", "LT", "STORE 3"],
    ["LOAD 3", "NOT", "STORE 3"],
    ["LOAD 2", "LOAD 0", "EQ", "STORE 3"],
    ["CONST 0", "LOAD 0", "BUILD_LIST 2", "STORE 2"],
    ["CONST 3", "LOAD 0", "BUILD_MAP 1", "STORE 2"],
    ["LOAD 2", "LOAD 1", "INDEX", "STORE 3"],
    ["CONST 3", "LOAD 0", "SSTORE"],
    ["CONST 3", "CONST 0", "SGET", "STORE 1"],
    ["LOAD 0", "DUP", "POP", "STORE 1"],
    ["CONST 4", "LOAD 2", "BUILD_MAP 1", "POP"],
    ["LOAD 0", "CALL 1", "STORE 1"],
]
# function 1: counts its argument down to 0 by recursion (deep enough to hit the call limit)
_DOWN = [("down", [("LOAD", 0), ("CONST", 0), "LT", ("JUMP_IF_TRUE", "out"), ("LOAD", 0),
                   ("CONST", 0), "SUB", ("CALL", 1), "RET", "out:", ("LOAD", 0), "RET"], 1)]  # fmt: skip
_ENDS = ["JUMP", "JUMP_IF_FALSE", "JUMP_IF_TRUE", "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP",
         "RET", "FALL"]  # fmt: skip
CONSTS = [1, 3, -7, "k", "e"]


@st.composite
def jumpy_programs(draw: st.DrawFn) -> list[str | tuple[str, int | str]]:
    n = draw(st.integers(2, 6))
    out: list[str | tuple[str, int | str]] = []
    for b in range(n):
        out.append(f"L{b}:")
        for step in draw(st.lists(st.sampled_from(_STEPS), max_size=3)):
            for ins in step:
                name, _, arg = ins.partition(" ")
                out.append((name, int(arg)) if arg else name)
        end = draw(st.sampled_from(_ENDS)) if b < n - 1 else "RET"
        target = f"L{draw(st.integers(0, n - 1))}"
        if end == "RET":
            out += [("LOAD", draw(st.integers(0, 3))), "RET"]
        elif end == "JUMP":
            out.append(("JUMP", target))
        elif end != "FALL":
            out += [("LOAD", draw(st.integers(0, 3))), (end, target)]
            if end.endswith("_OR_POP"):
                out.append("POP")
    return out


@given(jumpy_programs(), st.integers(-5, 70), st.sampled_from([50_000, 900, 150]))
def test_arbitrary_control_flow(
    instrs: list[str | tuple[str, int | str]], a: int, gas: int
) -> None:
    try:
        code = build(instrs, CONSTS, params=("a",), extra=_DOWN)
        verify(code)
    except VerifyError:
        return  # e.g. stack heights that differ at a join: not a program
    first, second = both(code, "main", [a], gas)
    assert first == second


def test_a_cached_refusal_keeps_no_frames() -> None:
    vm_module.clear_cache()
    bomb = _bomb(2_000)
    for _ in range(3):
        with pytest.raises(TranslationTooLarge):
            vm_module.load_program(bomb)
    refusal = vm_module._programs[(bomb, True)]
    assert isinstance(refusal, TranslationTooLarge)
    assert refusal.__cause__ is None and refusal.__context__ is None
    # raised again from the cache: a traceback from that raise only, not one growing
    tb = refusal.__traceback__
    depth = 0
    while tb is not None:
        depth += 1
        tb = tb.tb_next
    assert depth <= 2
    vm_module.clear_cache()
