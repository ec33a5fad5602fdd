"""Gas accounting of every opcode and builtin (issue 16), by ratios, never by wall time.

The scenarios are the adversarial ones of ``python -m bench.gas`` (longest strings, colliding
keys, deepest containers...). For each, one short execution checks:

* memory: the peak traced memory is at most 4 bytes per gas (the issue's target), so a
  mispriced allocation (an object charged less than its size) fails here;
* Python-level work: the Python frames entered and C functions called per gas stay below
  ``MAX_CALLS_PER_GAS``. One such call costs about as much as 10 gas of the median work
  measured by bench.gas, so a native or handler that walks items in Python at a price meant
  for C-speed work (the deep equality and membership of containers before this issue) fails.

Byte-proportional work done in C (memcmp, search, copies) is pinned by test_resources.
"""

from __future__ import annotations

import sys
import tracemalloc
from types import FrameType
from typing import Any

import pytest

from bench.gas import Scenario, covered, scenarios
from contracts import MemoryHost, execute, vm
from contracts import opcodes as op

GAS = 150_000
MAX_BYTES_PER_GAS = 4
MAX_CALLS_PER_GAS = 0.2
ARGS_SLACK = 96 * 1024
"""The VM's copy of a container argument and its frame, made once per execution."""

SCENARIOS = scenarios()


def test_every_opcode_and_builtin_has_a_scenario() -> None:
    names = {o.name for o in op.OPS} | {b.name for b in op.BUILTINS}
    assert names <= covered(SCENARIOS)


def _args(s: Scenario) -> list[Any]:
    return [1 if s.once else 10**9, *s.args]


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_memory_per_gas(s: Scenario) -> None:
    vm.prepare(s.code)
    args = _args(s)
    tracemalloc.start()
    try:
        result = execute(s.code, "main", args, MemoryHost(storage=dict(s.storage)), GAS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.gas_used > 0
    assert peak <= MAX_BYTES_PER_GAS * result.gas_used + ARGS_SLACK, (peak, result.gas_used)


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_python_calls_per_gas(s: Scenario) -> None:
    vm.prepare(s.code)
    args = _args(s)
    calls = [0]

    def count(frame: FrameType, event: str, arg: object) -> None:
        if event in {"call", "c_call"}:
            calls[0] += 1

    host = MemoryHost(storage=dict(s.storage))
    sys.setprofile(count)
    try:
        result = execute(s.code, "main", args, host, GAS)
    finally:
        sys.setprofile(None)
    assert calls[0] <= MAX_CALLS_PER_GAS * result.gas_used, (calls[0], result.gas_used)
