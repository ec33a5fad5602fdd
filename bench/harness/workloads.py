"""What each benchmark transaction calls: contract, method and arguments.

Calls are a pure function of (workload, index, salt), so a cache of signed transactions can be
reused and a run reproduced; the salt keeps documents, keys and batch ids fresh on a chain that
has seen earlier runs (0 on the fresh chain of a local run). Methods and arguments follow the
docstrings of ``contracts/stdlib``:

- ``evidence``: ``register(doc_hash, doc_type, title)`` of a fresh 32-byte digest;
- ``records``: ``put(key, value)`` of a fresh key;
- ``traceability``: ``add_event(batch_id, stage, location, data_hash, note)`` on batches that
  an untimed setup phase creates first with ``create_batch(batch_id, product, producer)``
  (``EVENTS_PER_BATCH`` consecutive events per batch, under the contract's 256);
- ``mix``: the three in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

EVENTS_PER_BATCH = 200


@dataclass(frozen=True, slots=True)
class Call:
    contract: str
    method: str
    args: tuple[Any, ...]


def _digest(tag: str, i: int, salt: int) -> str:
    """A stand-in document digest (64 hex characters), distinct per (tag, index, salt)."""
    return sha256(f"{tag}:{salt}:{i}".encode()).hexdigest()


def records_call(i: int, salt: int = 0) -> Call:
    return Call("records", "put", (f"bench/{salt}/{i}", _digest("record", i, salt)))


def evidence_call(i: int, salt: int = 0) -> Call:
    return Call("evidence", "register", (_digest("evidence", i, salt), "bench", f"bench doc {i}"))


def batch_id(b: int, salt: int = 0) -> str:
    return f"bench-{salt}-{b}"


def traceability_setup_call(b: int, salt: int = 0) -> Call:
    return Call("traceability", "create_batch", (batch_id(b, salt), "bench product", "bench farm"))


def traceability_call(i: int, salt: int = 0) -> Call:
    b = i // EVENTS_PER_BATCH
    return Call(
        "traceability",
        "add_event",
        (batch_id(b, salt), "transport", f"stop {i}", _digest("trace", i, salt), ""),
    )


def _mix_call(i: int, salt: int = 0) -> Call:
    kind, j = i % 3, i // 3
    if kind == 0:
        return records_call(j, salt)
    if kind == 1:
        return evidence_call(j, salt)
    return traceability_call(j, salt)


def _batches(lo: int, hi: int) -> range:
    """Batches holding traceability call indices ``lo .. hi`` (inclusive; empty if hi < lo)."""
    if hi < lo:
        return range(0)
    return range(lo // EVENTS_PER_BATCH, hi // EVENTS_PER_BATCH + 1)


def _trace_setup(first: int, count: int) -> range:
    return _batches(first, first + count - 1)


def _mix_setup(first: int, count: int) -> range:
    # Traceability calls are the indices i = 2 mod 3, with event index i // 3.
    idx = [i // 3 for i in range(first, first + count) if i % 3 == 2]
    return _batches(idx[0], idx[-1]) if idx else range(0)


def _round_robin(i: int, senders: int) -> int:
    return i % senders


def _trace_sender(i: int, senders: int) -> int:
    """Only a batch's owner (its creator, sender ``b % senders``) may add events to it."""
    return (i // EVENTS_PER_BATCH) % senders


def _mix_sender(i: int, senders: int) -> int:
    return _trace_sender(i // 3, senders) if i % 3 == 2 else i % senders


def _no_setup(first: int, count: int) -> range:
    return range(0)


def _none(i: int, salt: int = 0) -> Call:
    raise IndexError("this workload has no setup phase")


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    call: Callable[[int, int], Call]
    setup_needed: Callable[[int, int], range]
    """Setup calls (indices) that calls ``first .. first + count - 1`` depend on."""
    setup_call: Callable[[int, int], Call]
    sender: Callable[[int, int], int] = _round_robin
    """Which of ``senders`` keys signs load call ``i`` (setup call ``b`` is signed by
    ``b % senders``)."""


WORKLOADS: dict[str, Workload] = {
    "records": Workload("records", records_call, _no_setup, _none),
    "evidence": Workload("evidence", evidence_call, _no_setup, _none),
    "traceability": Workload(
        "traceability", traceability_call, _trace_setup, traceability_setup_call, _trace_sender
    ),
    "mix": Workload("mix", _mix_call, _mix_setup, traceability_setup_call, _mix_sender),
}


def get(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ValueError(
            f"unknown workload {name!r}; choose one of {', '.join(WORKLOADS)}"
        ) from None
