"""The seeded fault schedule: which fault, on which nodes, for how long.

Faults run one at a time (each is healed and the network recovers before the next), so at
most f validators misbehave at once except where a fault kind is about exceeding f on purpose
(two paused backups, a 2-2 partition): there the chain may stall while the fault lasts, and
must stay safe and recover once it heals.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("kill", "pause", "partition", "byzantine", "wal_truncate", "disk_full")

#: Lies a Byzantine validator tells in one window (each window draws a few of these).
BYZANTINE_LIES = (
    "equivocate", "future_block", "double_vote", "bad_signature", "view_bomb", "replay", "flood",
)  # fmt: skip


def DISK_NODE(n: int) -> int:  # reads as a constant of the network size
    return n - 1


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    hold_s: float
    targets: tuple[int, ...] = ()
    #: Extra choices of the kind: ``primary`` (kill), ``split`` (partition), Byzantine modes.
    detail: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        nodes = ",".join(f"node{i}" for i in self.targets) or " ".join(self.detail)
        extra = f" [{' '.join(self.detail)}]" if self.detail and self.targets else ""
        return f"{self.kind} {nodes} for {self.hold_s:.1f}s{extra}"


def plan(
    rng: random.Random,
    validators: int,
    kinds: tuple[str, ...],
    count: int,
    hold: tuple[float, float],
) -> list[Fault]:
    """``count`` faults: every kind once first (in a random order), then random kinds."""
    order = list(kinds)
    rng.shuffle(order)
    while len(order) < count:
        order.append(rng.choice(kinds))
    return [draw(rng, kind, validators, hold) for kind in order[: max(count, len(kinds))]]


def draw(rng: random.Random, kind: str, n: int, hold: tuple[float, float]) -> Fault:
    hold_s = round(rng.uniform(*hold), 1)
    nodes = list(range(n))
    if kind == "kill":
        if rng.random() < 0.5:
            return Fault(kind, hold_s, (), ("primary",))  # resolved when it runs
        return Fault(kind, hold_s, (rng.choice(nodes),))
    if kind == "pause":
        # One backup, or two: more than f for n=4 (the chain stalls until they resume).
        k = 2 if n >= 4 and rng.random() < 0.3 else 1
        return Fault(kind, hold_s, (), ("backups", str(k)))
    if kind == "partition":
        if n >= 4 and rng.random() < 0.3:
            rng.shuffle(nodes)
            half = n // 2
            return Fault(kind, hold_s, tuple(sorted(nodes[:half])), ("split",))
        return Fault(kind, hold_s, (rng.choice(nodes),), ("isolate",))
    if kind == "byzantine":
        lies = rng.sample(BYZANTINE_LIES, rng.randint(2, len(BYZANTINE_LIES)))
        if rng.random() < 0.5:
            lies.append("equivocate")
        victim = rng.choice(nodes)
        helper = rng.choice([i for i in nodes if i != victim])
        # Second part of the window: only forged sync answers, while `helper` catches up.
        return Fault(kind, hold_s, (victim, helper), tuple(sorted(set(lies))))
    if kind == "wal_truncate":
        return Fault(kind, hold_s, (rng.choice(nodes),))
    if kind == "disk_full":
        return Fault(kind, hold_s, (DISK_NODE(n),))  # the node whose data dir is a small tmpfs
    raise ValueError(f"unknown fault kind {kind!r}")
