"""Gas bounds the resources of one execution (issue 16): the attacks measured on the VM.

Each test states a bound as a ratio of gas (memory per gas, bytes compared per gas) or an
exact outcome, never a wall time.
"""

from __future__ import annotations

import tracemalloc

from contracts import MemoryHost, compile_source, execute
from contracts import opcodes as op
from contracts.machine import Machine
from contracts.values import MAP_INT_MAX, decode_value, encode_value
from tests.contracts.helpers import run_src
from tests.contracts.test_compiler import fn

# 64 KiB strings, each a new object, kept in nested lists: the memory bomb of the issue
# (~31 live bytes per gas before: 1 gas per 32 bytes of new str).
BOMB = fn(
    """
base = "a"
for k in range(16):
    base = base + base
outer = []
i = 0
while True:
    inner = []
    for j in range(8):
        inner.append(base[:65535 - (i % 7)] + str(j))
    outer.append([inner])
    i += 1
""",
)


def _peak(code: bytes, method: str, args: list[object], gas: int) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = execute(code, method, args, MemoryHost(), gas)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_memory_bomb_holds_at_most_four_bytes_per_gas() -> None:
    code = compile_source(BOMB)
    execute(code, "main", [], MemoryHost(), 1_000)  # load (and translate) outside the count
    gas = 2_000_000
    result, peak = _peak(code, "main", [], gas)
    assert not result.ok and result.error == "out of gas"  # type: ignore[attr-defined]
    assert peak <= op.MEM_BYTES_PER_GAS * gas


def test_memory_cap_fails_the_execution_deterministically() -> None:
    code = compile_source(BOMB)
    gas = 10**9  # more than the cap can ever pay for: the cap, not gas, stops it
    outcomes = set()
    for _ in range(2):
        result, peak = _peak(code, "main", [], gas)
        assert not result.ok  # type: ignore[attr-defined]
        assert peak < op.MAX_MEMORY * 1.25
        outcomes.add((result.error, result.gas_used))  # type: ignore[attr-defined]
    (error, used), *_ = outcomes
    assert len(outcomes) == 1
    assert error == f"memory limit of {op.MAX_MEMORY} bytes exceeded"
    assert used >= op.MAX_MEMORY // op.MEM_BYTES_PER_GAS  # every byte was paid for


def _gas(src: str, args: list[object] | None = None) -> int:
    r = run_src(src, args=args or [], gas=10**9)
    assert r.ok, r.error
    return r.gas_used


def test_membership_in_a_list_pays_for_every_byte_compared() -> None:
    # n strings of equal length differing in the last byte: C compares each one in full
    src = fn(
        """
items = []
for i in range(256):
    items.append(prefix + str(i % 10))
found = 0
for k in range(rounds):
    if needle in items:
        found += 1
return found
""",
        "prefix: str, needle: str, rounds: int",
    )
    long, short = "x" * 65_000, "x" * 8

    def per_search(prefix: str) -> int:
        one = _gas(src, [prefix, prefix + "z", 1])
        return _gas(src, [prefix, prefix + "z", 11]) - one

    long_cost = per_search(long) // 10
    short_cost = per_search(short) // 10
    # 256 comparisons of 65,001 bytes each: at least one gas per 32 bytes compared
    assert long_cost >= 256 * (65_001 // 32) * op.GAS_CMP_WORD
    assert short_cost < 256 * 4


def test_substring_search_pays_for_the_needle_too() -> None:
    src = fn("return needle in text", "text: str, needle: str")
    text = "a" * 65_000
    cheap = _gas(src, [text, "b"])
    costly = _gas(src, [text, "a" * 63 + "b"])  # the worst case of CPython's short search
    assert costly - cheap >= (65_000 * 7 // 32) * op.GAS_CMP_WORD


def test_colliding_int_map_keys_cannot_be_inserted() -> None:
    # i * (2**61 - 1) all share CPython's int hash: a chain walk per probe before
    src = fn("d = {}\nfor i in range(1, 100):\n    d[i * 2305843009213693951] = i\nreturn len(d)")
    r = run_src(src, gas=10**7)
    assert not r.ok and "map int key outside" in (r.error or "")
    assert run_src(fn(f"d = {{}}\nd[{MAP_INT_MAX}] = 1\nreturn len(d)")).return_value == 1
    bad = encode_value({MAP_INT_MAX: 1}).replace(  # decoding refuses them as well
        encode_value(MAP_INT_MAX), encode_value(MAP_INT_MAX + 1)
    )
    try:
        decode_value(bad)
    except Exception as exc:  # noqa: BLE001
        assert "map int key" in str(exc)
    else:
        raise AssertionError("a colliding key was decoded")


def test_shared_containers_cannot_make_encoding_exponential() -> None:
    # a DAG: 20 levels of a list holding one list 4,096 times (4096**20 leaves if walked)
    src = fn(
        """
x = [1]
for level in range(20):
    y = []
    for i in range(4096):
        y.append(x)
    x = y
storage['k'] = x
""",
    )
    r = run_src(src, gas=10**8)
    assert not r.ok and "storage value" in (r.error or "")


def test_frames_and_containers_are_charged_by_size() -> None:
    m = Machine(MemoryHost(), 10**6, False)
    from contracts.natives import new_list, new_map

    new_list(m, [1, 2**100, "s"])
    assert m.mem == op.MEM_LIST + 3 * op.MEM_LIST_SLOT + op.MEM_INT + 2 * op.MEM_INT
    before = m.mem
    new_map(m, {"a": 1})
    assert m.mem - before == op.MEM_MAP + op.MEM_MAP_ENTRY + op.MEM_INT
    per = op.MEM_BYTES_PER_GAS  # one gas per that many bytes, rounded up per object
    assert 10**6 - m.gas == -(-before // per) + -(-(m.mem - before) // per)


def test_ascii_case_mapping_matches_the_reference_tables() -> None:
    from contracts.natives import _ASCII_LOWER, _ASCII_UPPER, _ascii_case

    for text in ["", "ABC xyz", "ÄÖÜ äöü AZ az", "\U0001f600Aa" * 50, "\u0130\u212a K I", "ǅ"]:
        assert _ascii_case(text, False) == text.translate(_ASCII_LOWER)
        assert _ascii_case(text, True) == text.translate(_ASCII_UPPER)
