"""What each benchmark transaction calls: contract, method and arguments.

Calls are a pure function of (workload, index) so that a cache of signed transactions can be
reused and a run can be reproduced. Methods and arguments follow the docstrings of the standard
contracts in ``contracts/stdlib``. ``traceability`` appends events to batches that a setup phase
registers first (untimed); ``mix`` cycles through the three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

EVENTS_PER_BATCH = 50
TRACE_BATCHES = 100
"""Batches the setup phase registers; events go round them, 50 in a row to each."""


@dataclass(frozen=True, slots=True)
class Call:
    contract: str
    method: str
    args: tuple[Any, ...]


def _digest(tag: str, i: int) -> bytes:
    """A stand-in 32-byte document hash; distinct per (tag, index)."""
    return sha256(f"{tag}:{i}".encode()).digest()


def records_call(i: int) -> Call:
    return Call("records", "put", (f"bench/{i}", _digest("record", i)))


def evidence_call(i: int) -> Call:
    return Call("evidence", "register", (_digest("evidence", i), f"bench doc {i}"))


def batch_id(b: int) -> str:
    return f"bench-batch-{b}"


def traceability_setup_call(b: int) -> Call:
    return Call("traceability", "create_batch", (batch_id(b), "bench product", "farm"))


def traceability_call(i: int) -> Call:
    b = (i // EVENTS_PER_BATCH) % TRACE_BATCHES
    return Call("traceability", "add_event", (batch_id(b), "ship", f"stop {i}"))


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    call: Callable[[int], Call]
    setup_count: int
    setup_call: Callable[[int], Call]


def _mix_call(i: int) -> Call:
    kind, j = i % 3, i // 3
    if kind == 0:
        return records_call(j)
    if kind == 1:
        return evidence_call(j)
    return traceability_call(j)


def _none(i: int) -> Call:
    raise IndexError("this workload has no setup phase")


WORKLOADS: dict[str, Workload] = {
    "records": Workload("records", records_call, 0, _none),
    "evidence": Workload("evidence", evidence_call, 0, _none),
    "traceability": Workload(
        "traceability", traceability_call, TRACE_BATCHES, traceability_setup_call
    ),
    "mix": Workload("mix", _mix_call, TRACE_BATCHES, traceability_setup_call),
}


def get(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(
            f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}"
        ) from None
