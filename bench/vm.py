"""Contract VM benchmark: interpreter speed and standard-contract calls beside an SM2 verify.

    python -m bench.vm [--seconds 1.0] [--json bench/results/vm.json]

Rows, all measured in this run and process:

* ``instructions``: a tight arithmetic ``while`` loop; instructions executed per second
  (counted exactly from the decoded loop, not estimated from gas).
* ``evidence.register``: one call each with a fresh document hash, a fresh host object per
  call (as the node builds one per transaction) over shared in-memory storage.
* ``traceability.add_event``: one lifecycle event appended per call, by a granted actor.
* ``evidence.register (interpreter)``: the same calls on the interpreter alone (programs
  are translated into Python functions when loaded; the interpreter is the reference).
* ``sm2 verify``: ``crypto.sm2`` ``PublicKey.verify`` of a 200-byte message.

Each cost is the fastest of many short batches (the machine is shared; see ``timed``).

The target of the contract issue is ``evidence.register`` <= 1/4 of an SM2 verify, so that
execution never bounds the chain's throughput (signature verification does).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness.machine import machine_info
from bench.harness.report import table, write_json
from contracts import MemoryHost, compile_source, execute, stdlib, vm
from contracts import opcodes as op
from contracts.verifier import verify

LOOP_SOURCE = """
@public
def loop(n: int) -> int:
    i = 0
    s = 0
    while i < n:
        s = s + i
        i = i + 1
    return s
"""
LOOP_N = 1_000
GAS = 10**9


def timed(fn: Callable[[int], None], seconds: float, batch: int = 10) -> tuple[int, float]:
    """Cost of ``fn(i)`` (i = 0, 1, ...): (calls made, best seconds per call).

    Calls run in short batches for ``seconds``; the cost is the fastest batch, as ``timeit``
    recommends: the machine is shared, and a batch that was preempted or slowed by another
    process measures the load, not the work. Every row, SM2 included, is measured this way.
    """
    fn(-1)  # warm-up (also fills the program cache)
    n = 0
    clock = time.perf_counter
    best = float("inf")
    deadline = clock() + seconds
    while True:
        start = clock()
        for _ in range(batch):
            fn(n)
            n += 1
        now = clock()
        best = min(best, (now - start) / batch)
        if now >= deadline:
            return n, best


def loop_instructions(code: bytes, n: int) -> int:
    """Instructions ``loop(n)`` executes: prologue, n iterations, exit test, return."""
    decoded = [i for i in verify(code).functions[0].code if i[0] != op.CHARGE]
    prologue, body, exit_test, ret = 4, 13, 4, 2
    assert len(decoded) == prologue + body + ret + 2, "loop source compiles differently now"
    return prologue + n * body + exit_test + ret


def bench_instructions(seconds: float) -> dict[str, Any]:
    code = compile_source(LOOP_SOURCE)
    host = MemoryHost()

    def call(_: int) -> None:
        r = execute(code, "loop", [LOOP_N], host, GAS)
        assert r.ok and r.return_value == LOOP_N * (LOOP_N - 1) // 2, r.error

    _, per_call_s = timed(call, seconds, batch=1)
    per_call = loop_instructions(code, LOOP_N)
    return {
        "work": "instructions (while loop)",
        "ops_per_s": per_call / per_call_s,
        "us_per_op": per_call_s / per_call * 1e6,
    }


def bench_register(seconds: float, interpreted: bool = False) -> dict[str, Any]:
    code = stdlib.compiled("evidence")
    saved = vm.TRANSLATE
    vm.TRANSLATE = not interpreted
    storage: dict[bytes, bytes] = {}
    caller = b"\x11" * 20

    def call(i: int) -> None:
        host = MemoryHost(caller=caller, block_height=7, tx_hash=b"\x22" * 32, storage=storage)
        doc = (i + 1).to_bytes(32, "big").hex()
        r = execute(code, "register", [doc, "contract", "Lease agreement 2026"], host, 1_000_000)
        assert r.ok, r.error

    try:
        _, cost = timed(call, seconds)
    finally:
        vm.TRANSLATE = saved
    work = "evidence.register" + (" (interpreter)" if interpreted else "")
    return {"work": work, "ops_per_s": 1 / cost, "us_per_op": cost * 1e6}


def bench_add_event(seconds: float) -> dict[str, Any]:
    code = stdlib.compiled("traceability")
    storage: dict[bytes, bytes] = {}
    owner, actor = b"\x11" * 20, b"\x33" * 20
    per_batch = 250
    made: set[int] = set()

    def ensure_batch(b: int) -> None:
        if b in made:
            return
        host = MemoryHost(caller=owner, storage=storage)
        for method, args in (("create_batch", [f"B{b}", "apples", "Orchard Co"]),
                             ("grant", [f"B{b}", actor.hex()])):  # fmt: skip
            r = execute(code, method, args, host, 1_000_000)
            assert r.ok, r.error
        made.add(b)

    def call(i: int) -> None:
        b = (i + 1) // per_batch
        ensure_batch(b)
        host = MemoryHost(caller=actor, block_height=9, storage=storage)
        args = [f"B{b}", "transport", "Truck 12, Route A", "ab" * 32, "cold chain 4C"]
        r = execute(code, "add_event", args, host, 1_000_000)
        assert r.ok, r.error

    for b in range(400):  # batch setup outside the timer
        ensure_batch(b)
    _, cost = timed(call, seconds)
    return {"work": "traceability.add_event", "ops_per_s": 1 / cost, "us_per_op": cost * 1e6}


def bench_sm2(seconds: float) -> dict[str, Any] | None:
    try:
        from crypto import sm2
    except ImportError:
        return None
    priv = sm2.PrivateKey.generate()
    pub = priv.public_key()
    msg = bytes(range(200))
    sig = priv.sign(msg)

    def call(_: int) -> None:
        assert pub.verify(msg, sig)

    _, cost = timed(call, seconds)
    return {"work": f"sm2 verify ({pub.backend})", "ops_per_s": 1 / cost, "us_per_op": cost * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vm", description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0, help="time per row")
    parser.add_argument("--json", type=Path, default=Path("bench/results/vm.json"))
    args = parser.parse_args(argv)

    rows = [bench_instructions(args.seconds), bench_register(args.seconds),
            bench_add_event(args.seconds), bench_register(args.seconds, interpreted=True)]  # fmt: skip
    sm2_row = bench_sm2(args.seconds)
    if sm2_row is not None:
        rows.append(sm2_row)
        verify_us = sm2_row["us_per_op"]
        for row in rows:
            row["x_sm2_verify"] = row["us_per_op"] / verify_us
    print(table(rows, ["work", "ops_per_s", "us_per_op", "x_sm2_verify"]))
    summary: dict[str, Any] = {}
    if sm2_row is not None:
        ratio = rows[1]["us_per_op"] / sm2_row["us_per_op"]
        summary = {"register_over_sm2_verify": ratio, "target": 0.25, "met": ratio <= 0.25}
        print(f"\nevidence.register / sm2 verify = {ratio:.3f} (target <= 0.25: "
              f"{'met' if ratio <= 0.25 else 'NOT met'})")  # fmt: skip
    write_json(args.json, {"bench": "vm", "machine": machine_info(), "rows": rows, **summary})
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
