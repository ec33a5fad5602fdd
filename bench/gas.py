"""Gas accounting benchmark: is every opcode and native priced by its real work?

    python -m bench.gas [--gas 200000] [--repeat 11] [--only NAME] [--json bench/results/gas.json]

One row per scenario: a contract that runs one opcode or builtin over and over with
adversarial inputs (the longest strings, equal-length strings that differ in their last
byte, non-ASCII text compared character by character, clustered map keys, the deepest and
widest containers, the largest storage values and events) until it runs out of gas, or once
for what ends an execution (REVERT) or is capped per execution (EMIT). Measured in this run:

* ``ns_per_gas``: wall time of the execution over the gas it used, the fastest of
  ``--repeat`` rounds over all the scenarios (short runs, many rounds: on a shared machine
  a busy moment then spoils single runs, not a scenario, nor the ratios between them). The loop around the operation is part of every scenario,
  as in a real contract; a mispriced operation shows as a row far above the median.
* ``bytes_per_gas``: peak traced memory (``tracemalloc``) of the execution over its gas, in
  a separate run (tracing slows execution).

Targets (issue 16): the worst ``ns_per_gas`` at most 4x the median, and at most 4 bytes
live per gas. ``scenarios()`` is shared with the accounting test (tests/contracts), which
checks the memory ratio of every scenario without timing anything.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from contracts import MemoryHost, compile_source, execute, vm
from contracts import opcodes as op
from contracts.bytecode import CodeBuilder, FunctionEntry, assemble
from contracts.values import MAX_BYTES_LEN, Value

BIG = 2**254 + 12345
"""A 255-bit int: the widest arithmetic operand."""
WIDE = "\U0001f600"
"""A 4-byte character: str of it compare and copy 4 bytes per character."""


@dataclass(frozen=True)
class Scenario:
    """A contract exercising ``name`` (opcode or builtin) in a loop of ``main(n, *args)``."""

    name: str
    covers: tuple[str, ...]
    code: bytes
    args: tuple[Value, ...] = ()
    once: bool = False
    """Runs once to completion (REVERT ends it, EMIT is capped per execution)."""
    storage: dict[bytes, bytes] = field(default_factory=dict)


def _loop(setup: str, body: str, params: str = "", helpers: str = "") -> bytes:
    ind = "    "
    setup_src = "".join(f"{ind}{line}\n" for line in setup.strip().splitlines())
    body_src = "".join(f"{ind * 2}{line}\n" for line in body.strip().splitlines())
    sig = "n: int" + (", " + params if params else "")
    return compile_source(
        f"{helpers}\n@public\ndef main({sig}):\n{setup_src}{ind}i = 0\n"
        f"{ind}while i < n:\n{body_src}{ind * 2}i = i + 1\n{ind}return 0\n"
    )


def _asm_loop(body: Sequence[tuple[int, int]]) -> bytes:
    """``main(n)``: ``while n: n -= 1; body`` in hand-written bytecode (NOP, DUP, CTX...)."""
    cb = CodeBuilder()
    top, end = cb.label(), cb.label()
    cb.place(top)
    cb.emit(op.LOAD, 0)
    cb.jump(op.JUMP_IF_FALSE, end)
    cb.emit(op.LOAD, 0)
    cb.emit(op.CONST, 0)
    cb.emit(op.SUB)
    cb.emit(op.STORE, 0)
    for opcode, arg in body:
        cb.emit(opcode, arg)
    cb.jump(op.JUMP, top)
    cb.place(end)
    cb.emit(op.CONST, 1)
    cb.emit(op.RET)
    code = cb.finish(0)
    entry = FunctionEntry("main", True, False, ("n",), ("int",), 2, 0, len(code))
    return assemble([1, None], [entry], code)


def _text(n: int, last: str = "a", char: str = "a") -> str:
    return char * (n - 1) + last


# long: the scenario table, one entry per opcode and builtin
def scenarios() -> list[Scenario]:
    """Every opcode and builtin, each with its adversarial inputs."""
    s64 = MAX_BYTES_LEN
    long_a, long_b = _text(s64), _text(s64, "b")  # equal length, differ in the last byte
    wide_a, wide_b = _text(16_384, "a", WIDE), _text(16_384, "b", WIDE)
    half = "a" * (s64 // 2)
    out: list[Scenario] = [
        Scenario("loop (plain)", ("LOAD", "STORE", "CONST", "JUMP", "JUMP_IF_FALSE", "LT"),
                 _loop("x = 0", "x = x + 1")),
        Scenario("NOP", ("NOP",), _asm_loop([(op.NOP, 0)] * 20)),
        Scenario("DUP/POP", ("DUP", "POP"), _asm_loop([(op.LOAD, 0), (op.DUP, 0), (op.POP, 0),
                                                        (op.POP, 0)] * 8)),
        Scenario("CTX", ("CTX",), _asm_loop([(op.CTX, 0), (op.POP, 0)] * 8)),
        Scenario("ADD int", ("ADD",), _loop("x = 0", f"x = i + {2**200}")),
        Scenario("ADD str 64 KiB", ("ADD",), _loop("", "x = a + a", "a: str"), (half,)),
        Scenario("ADD str wide", ("ADD",), _loop("", "x = a + a", "a: str"), (WIDE * 8192,)),
        Scenario("ADD list", ("ADD",), _loop("", "x = a + a", "a: list"), (list(range(2048)),)),
        Scenario("SUB", ("SUB",), _loop("", f"x = {BIG} - i")),
        Scenario("MUL 255-bit", ("MUL",), _loop("", f"x = {2**127 + 7} * {2**126 + 5}")),
        Scenario("FLOORDIV", ("FLOORDIV",), _loop("", f"x = {BIG} // (i + 3)")),
        Scenario("MOD", ("MOD",), _loop("", f"x = {BIG} % (i + 3)")),
        Scenario("NEG", ("NEG",), _loop(f"y = {BIG}", "x = -y")),
        Scenario("NOT", ("NOT",), _loop("", "x = not i")),
        Scenario("EQ str 64 KiB", ("EQ",), _loop("", "x = a == b", "a: str, b: str"),
                 (long_a, long_b)),
        Scenario("NE str wide", ("NE",), _loop("", "x = a != b", "a: str, b: str"),
                 (wide_a, wide_b)),
        Scenario("EQ list deep", ("EQ",), _loop(
            "a = [1]\nb = [1]\nfor k in range(30):\n    a = [a, a]\n    b = [b, b]",
            "x = a == b")),
        Scenario("LT str 64 KiB", ("LT",), _loop("", "x = a < b", "a: str, b: str"),
                 (long_a, long_b)),
        Scenario("LE str wide", ("LE",), _loop("", "x = a <= b", "a: str, b: str"),
                 (wide_a, wide_b)),
        Scenario("GT bytes", ("GT",), _loop("", "x = a > b", "a: bytes, b: bytes"),
                 (long_a.encode(), long_b.encode())),
        Scenario("GE str", ("GE",), _loop("", "x = a >= b", "a: str, b: str"),
                 (long_a, long_b)),
        Scenario("IN list of long str", ("IN",), _loop(
            "items = []\nfor k in range(8):\n    items.append(a[:-1] + str(k))",
            "x = b in items", "a: str, b: str"), (long_a, long_b)),
        Scenario("IN list of lists", ("IN",), _loop(
            "items = []\nfor k in range(64):\n    items.append([k, [k, [k]]])",
            "x = [99, [99, [99]]] in items")),
        Scenario("IN substring worst", ("IN",), _loop("", "x = b in a", "a: str, b: str"),
                 ("a" * s64, "a" * 63 + "b")),
        Scenario("IN substring wide", ("IN",), _loop("", "x = b in a", "a: str, b: str"),
                 (WIDE * 16_384, WIDE * 63 + "b")),
        Scenario("IN map clustered keys", ("IN",), _loop(
            "d = {}\nfor k in range(1, 4096):\n    d[k * 281474976710656] = k",
            "x = (i % 4096) * 281474976710655 in d")),
        Scenario("CALL/RET", ("CALL", "RET"), _loop("", "x = f(i)", helpers=(
            "def f(a):\n    return a\n"))),
        Scenario("CALL deep frames", ("CALL", "RET"), _loop("", "x = f(0)", helpers=(
            "def f(d):\n" + "".join(f"    v{k} = d\n" for k in range(60))
            + "    if d < 60:\n        return f(d + 1)\n    return d\n"))),
        Scenario("REVERT", ("REVERT",), compile_source(
            "@public\ndef main(n: int, m: str):\n    revert(m)\n"), ("x" * s64,), once=True),
        Scenario("BUILD_LIST", ("BUILD_LIST",), _loop(
            "", "x = [" + ", ".join(["i"] * 64) + "]")),
        Scenario("BUILD_MAP int keys", ("BUILD_MAP",), _loop(
            "", "x = {" + ", ".join(f"i + {k}: {BIG}" for k in range(32)) + "}")),
        Scenario("BUILD_MAP str keys", ("BUILD_MAP",), _loop(
            "", "x = {" + ", ".join(f"'k{k}': i" for k in range(32)) + "}")),
        Scenario("INDEX", ("INDEX",), _loop("l = [1, 2, 3]\nd = {'a': 1}", "x = l[1]\ny = d['a']")),
        Scenario("INDEX str wide", ("INDEX",), _loop("", "x = a[i % 100]", "a: str"),
                 (WIDE * 100,)),
        Scenario("SET_INDEX map", ("SET_INDEX",), _loop(
            "d = {}", f"d[i % 4096] = {BIG} + i")),
        Scenario("SET_INDEX list", ("SET_INDEX",), _loop(
            "l = [0]", f"l[0] = {BIG} + i")),
        Scenario("DEL_INDEX list front", ("DEL_INDEX",), _loop(
            "l = []\nfor k in range(4000):\n    l.append(k)", "l.append(i)\ndel l[0]")),
        Scenario("DEL_INDEX map", ("DEL_INDEX",), _loop(
            "d = {}", "d[i] = i\ndel d[i]")),
        Scenario("SLICE str", ("SLICE",), _loop("", "x = a[1:]", "a: str"), (long_a,)),
        Scenario("SLICE list", ("SLICE",), _loop("", "x = a[1:]", "a: list"),
                 (list(range(4096)),)),
        Scenario("UNPACK", ("UNPACK",), _loop(
            "t = [" + ", ".join(str(k) for k in range(16)) + "]",
            ", ".join(f"a{k}" for k in range(16)) + " = t")),
        Scenario("SSTORE 64 KiB", ("SSTORE",), _loop("", "storage[i % 8] = a", "a: bytes"),
                 (b"\x01" * (s64 - 8),)),
        Scenario("SLOAD map value", ("SLOAD",), _loop(
            "d = {}\nfor k in range(4096):\n    d[k] = k\nstorage['m'] = d",
            "x = storage['m']")),
        Scenario("SLOAD str value", ("SLOAD",), _loop(
            "storage['s'] = a", "x = storage['s']", "a: str"), ("a" * (s64 - 16),)),
        Scenario("SGET", ("SGET",), _loop("", "x = storage.get(i, 0)")),
        Scenario("SHAS", ("SHAS",), _loop("", "x = i in storage")),
        Scenario("SDEL", ("SDEL",), _loop("", "del storage[i]")),
        Scenario("EMIT", ("EMIT",), compile_source(
            "@public\ndef main(n: int):\n    d = {}\n    for k in range(800):\n"
            "        d[str(k)] = k\n    for i in range(256):\n        emit('E', d)\n"
        ), once=True),
        Scenario("len", ("len",), _loop("", "x = len(a)", "a: str"), (long_a,)),
        Scenario("str", ("str",), _loop("", f"x = str({-BIG} + i)")),
        Scenario("int", ("int",), _loop("", "x = int(a)", "a: str"), (str(-(BIG // 10)),)),
        Scenario("bool", ("bool",), _loop("", "x = bool(a)", "a: str"), (long_a,)),
        Scenario("bytes", ("bytes",), _loop("", "x = bytes(a)", "a: str"), (WIDE * 16_384,)),
        Scenario("hex", ("hex",), _loop("", "x = a.hex()", "a: bytes"), (b"\xff" * (s64 // 2),)),
        Scenario("unhex", ("unhex",), _loop("", "x = bytes.fromhex(a)", "a: str"),
                 ("ab" * (s64 // 2),)),
        Scenario("sm3", ("sm3",), _loop("", "x = sm3(a)", "a: bytes"), (b"\x00" * s64,)),
        Scenario("abs", ("abs",), _loop("", f"x = abs({-BIG} + i)")),
        Scenario("min/max str", ("min", "max"), _loop(
            "", "x = min(a, b)\ny = max(a, b)", "a: str, b: str"), (wide_a, wide_b)),
        Scenario("append", ("append",), _loop(
            "l = []", f"l.append({BIG} + i)\nif len(l) >= 4000:\n    l = []")),
        Scenario("get", ("get",), _loop("d = {'a': 1}", "x = d.get(i, 0)")),
        Scenario("keys/values", ("keys", "values"), _loop(
            "d = {}\nfor k in range(4096):\n    d[k] = k", "x = d.keys()\ny = d.values()")),
        Scenario("items", ("items",), _loop(
            "d = {}\nfor k in range(4096):\n    d[k] = k", "x = d.items()")),
        Scenario("pop/pop_at", ("pop", "pop_at"), _loop(
            "l = []\nfor k in range(4000):\n    l.append(k)",
            "l.append(i)\nx = l.pop()\nl.append(i)\ny = l.pop(0)")),
        Scenario("encode", ("encode",), _loop("", "x = a.encode()", "a: str"),
                 (WIDE * 16_384,)),
        Scenario("decode", ("decode",), _loop("", "x = a.decode()", "a: bytes"),
                 ((WIDE * 16_384).encode(),)),
        Scenario("startswith/endswith", ("startswith", "endswith"), _loop(
            "", "x = a.startswith(b)\ny = a.endswith(b)", "a: str, b: str"), (wide_a, wide_b)),
        Scenario("lower/upper wide", ("lower", "upper"), _loop(
            "", "x = a.lower()\ny = a.upper()", "a: str"), ("Ä" * 8192,)),
        Scenario("lower/upper ascii", ("lower", "upper"), _loop(
            "", "x = a.lower()\ny = a.upper()", "a: str"), ("A" * s64,)),
        Scenario("split many", ("split",), _loop("", "x = a.split(',')", "a: str"),
                 (",a" * 4000,)),
        Scenario("split worst search", ("split",), _loop("", "x = a.split(b)", "a: str, b: str"),
                 ("a" * s64, "a" * 63 + "b")),
        Scenario("join", ("join",), _loop("", "x = ','.join(a)", "a: list"),
                 (["ab" * 8] * 3000,)),
        Scenario("list", ("list",), _loop("", "x = list(a)", "a: list"), (list(range(4096)),)),
        Scenario("sorted str", ("sorted",), _loop(
            "l = []\nfor k in range(64):\n    l.append(a[:-3] + str(100 + (k * 37) % 64))",
            "x = sorted(l)", "a: str"), (_text(4096),)),
        Scenario("sorted int", ("sorted",), _loop(
            "l = []\nfor k in range(4096):\n    l.append((k * 7919) % 4096)", "x = sorted(l)")),
        Scenario("iter (for)", ("iter",), _loop(
            "l = []\nfor k in range(4096):\n    l.append(k)", "for v in l:\n    pass")),
        Scenario("extend", ("extend",), _loop(
            "l = []\nm = []\nfor k in range(2000):\n    m.append(k)",
            "l.extend(m)\nif len(l) >= 4000:\n    l = []")),
    ]  # fmt: skip
    return out


def covered(items: Sequence[Scenario]) -> set[str]:
    return {name for s in items for name in s.covers} | {
        "JUMP_IF_TRUE",
        "JUMP_IF_FALSE_OR_POP",
        "JUMP_IF_TRUE_OR_POP",
        "BUILTIN",
    }  # fmt: skip  (the other jumps are JUMP_IF_FALSE's code; BUILTIN is every builtin row)


def run(s: Scenario, gas: int) -> tuple[Any, float]:
    """(result, seconds) of one execution; the program is loaded (translated) before."""
    n = 1 if s.once else 10**9
    host = MemoryHost(storage=dict(s.storage))
    vm.prepare(s.code)
    gc.collect()  # no collection owed by an earlier scenario's garbage lands in this one
    start = time.perf_counter()
    result = execute(s.code, "main", [n, *s.args], host, gas)
    return result, time.perf_counter() - start


def peak_bytes(s: Scenario, gas: int) -> tuple[int, int]:
    """(peak traced bytes of one execution, its gas used)."""
    vm.prepare(s.code)
    args = [1 if s.once else 10**9, *s.args]
    host = MemoryHost(storage=dict(s.storage))
    tracemalloc.start()
    try:
        result = execute(s.code, "main", args, host, gas)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result.gas_used


def measure(items: Sequence[Scenario], gas: int, repeat: int) -> list[dict[str, Any]]:
    """One row per scenario. The timed runs go round the scenarios ``repeat`` times and keep
    each one's fastest: on a shared machine a slow moment then hits one run of a scenario,
    not all of them, and never the ratio between two scenarios measured far apart."""
    best = [float("inf")] * len(items)
    outcome: list[tuple[int, str]] = [(0, "")] * len(items)
    for _ in range(repeat):
        for i, s in enumerate(items):
            result, seconds = run(s, gas)
            best[i] = min(best[i], seconds / result.gas_used)
            outcome[i] = (result.gas_used, result.error or "ok")
    rows = []
    for i, s in enumerate(items):
        peak, traced_gas = peak_bytes(s, gas)
        rows.append({
            "scenario": s.name,
            "gas": outcome[i][0],
            "ns_per_gas": best[i] * 1e9,
            "bytes_per_gas": peak / traced_gas,
            "ends": outcome[i][1][:40],
        })  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gas", description=__doc__)
    parser.add_argument("--gas", type=int, default=200_000, help="gas of each execution")
    parser.add_argument("--repeat", type=int, default=11, help="timed runs per scenario")
    parser.add_argument("--only", default="", help="scenarios whose name contains this")
    parser.add_argument("--json", type=Path, default=Path("bench/results/gas.json"))
    args = parser.parse_args(argv)

    items = [s for s in scenarios() if args.only in s.name]
    missing = {o.name for o in op.OPS} | {b.name for b in op.BUILTINS}
    missing -= covered(items)
    rows = measure(items, args.gas, args.repeat)
    median = statistics.median(r["ns_per_gas"] for r in rows)
    for r in rows:
        r["x_median"] = r["ns_per_gas"] / median
    print(table(rows, ["scenario", "gas", "ns_per_gas", "x_median", "bytes_per_gas", "ends"]))
    worst = max(rows, key=lambda r: r["ns_per_gas"])
    fattest = max(rows, key=lambda r: r["bytes_per_gas"])
    summary = {
        "median_ns_per_gas": median,
        "worst": worst["scenario"],
        "worst_over_median": worst["x_median"],
        "max_bytes_per_gas": fattest["bytes_per_gas"],
        "max_bytes_scenario": fattest["scenario"],
        "targets": {"worst_over_median": 4.0, "bytes_per_gas": 4.0},
        "met": worst["x_median"] <= 4.0 and fattest["bytes_per_gas"] <= 4.0,
        "not_covered": sorted(missing),
    }
    print(
        f"\nmedian {median:.1f} ns/gas; worst {worst['scenario']!r} "
        f"{worst['x_median']:.2f}x the median (target <= 4); most memory "
        f"{fattest['scenario']!r} {fattest['bytes_per_gas']:.2f} bytes/gas (target <= 4): "
        f"{'met' if summary['met'] else 'NOT met'}"
        + (f"; not covered: {sorted(missing)}" if missing else "")
    )
    write_json(args.json, {"bench": "gas", "machine": machine_info(), "rows": rows, **summary})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
