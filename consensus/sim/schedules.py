"""Random seeded fault schedules: one seed -> one DSL script -> one reproducible run.

Faults are transient (they end by ``heal``) except Byzantine roles and permanent crashes,
which together never exceed f. After the heal the run continues for the liveness window and
invariant L is checked on top of the safety invariants checked after every step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from consensus.sim.faults import FaultPlan, parse_plan
from consensus.sim.sim import SimConfig, Simulation, Violation

BEHAVIOURS = (
    "silent",
    "equivocate",
    "double_vote",
    "forge",
    "nosig",
    "selective",
    "flood",
    "tamper_view_change",
    "invalid field=digest",
    "invalid field=parent",
    "invalid field=height",
    "invalid field=view",
    "censor tx=3",
)
TYPES = ("pre_prepare", "prepare", "commit", "view_change", "new_view", "status", "blocks")
TAU = 200
WINDOW = 10 * TAU  # T = 10 tau (CONSENSUS_TESTS.md)
MIN_BLOCKS = 10


@dataclass
class Outcome:
    seed: int
    n: int
    script: str
    ok: bool
    error: str
    heights: list[int]
    steps: int
    live_after: int


def random_script(seed: int, n: int | None = None) -> str:
    rng = random.Random(seed)
    n = n or rng.choice((4, 4, 4, 4, 7))
    f = (n - 1) // 3
    nodes = list(range(n))
    rng.shuffle(nodes)
    lines = [f"n {n}", f"seed {seed}"]
    span = rng.randint(2, 6) * TAU
    permanent = rng.randint(0, f)
    for node in nodes[:permanent]:
        roll = rng.random()
        if roll < 0.7:
            lines.append(f"byzantine {node} {rng.choice(BEHAVIOURS)}")
        elif roll < 0.85:
            lines.append(f"crash {node} at={rng.randint(0, span)}")
        else:  # an honest replica with a 10x shorter timeout: a lone complainer
            lines.append(f"timeout {node} base={TAU // 10}")
    others = nodes[permanent:]

    def window() -> str:
        a = rng.randint(0, span)
        return f"at={a} until={rng.randint(a + 1, span + 1)}"

    def nodeset() -> str:
        if rng.random() < 0.4:
            return "*"
        return ",".join(str(x) for x in rng.sample(range(n), rng.randint(1, n - 1)))

    for _ in range(rng.randint(0, 4)):
        kind = rng.choice(("drop", "delay", "duplicate", "reorder"))
        typ = f" type={rng.choice(TYPES)}" if rng.random() < 0.3 else ""
        ms = f" ms=0..{rng.randint(10, 2 * TAU)}" if kind in ("delay", "reorder") else ""
        pct = rng.choice((5, 10, 30, 50, 100))
        lines.append(f"{kind} from={nodeset()} to={nodeset()}{typ} pct={pct}{ms} {window()}")
    if rng.random() < 0.3:
        cut = rng.randint(1, n - 1)
        order = list(range(n))
        rng.shuffle(order)
        groups = ",".join(map(str, order[:cut])) + "|" + ",".join(map(str, order[cut:]))
        lines.append(f"partition {groups} {window()}")
    for node in rng.sample(others, min(len(others), rng.choice((0, 0, 1, 2)))):
        at = rng.randint(0, span)
        restart = rng.randint(at, span + TAU)
        # a third of the crashes also tear the WAL's tail (records already sent are lost)
        tear = f" tear={rng.randint(1, 3)}" if rng.random() < 1 / 3 else ""
        if rng.random() < 0.5:
            typ = rng.choice(("pre_prepare", "prepare", "commit", "view_change"))
            lines.append(
                f"crash_on_persist {node} type={typ} nth={rng.randint(1, 3)} restart={restart}"
                + tear
            )
        else:
            lines.append(f"crash {node} at={at} restart={restart}{tear}")
    return "\n".join(lines) + "\n"


def permanent_faults(plan: FaultPlan) -> int:
    dead = {c.node for c in plan.crashes if c.restart is None}
    return len(dead | plan.byzantine_nodes() | set(plan.timeouts))


def run_script(script: str, seed: int | None = None) -> Outcome:
    plan, header = parse_plan(script)
    n = int(header.get("n", "4"))
    seed = int(header.get("seed", "0")) if seed is None else seed
    cfg = SimConfig(
        n=n,
        seed=seed,
        base_timeout=TAU,
        max_timeout=4 * TAU,
        delay=(1, TAU // 20),
        tx_interval=TAU // 2,
        block_txs=2,
    )
    heal = plan.heal_time()
    # Permanent faults (Byzantine roles, dead replicas) keep costing back-off timeouts after
    # the heal: e.g. two adjacent faulty primaries at n=7 cost (1+2+4) tau at one height.
    window = WINDOW if not permanent_faults(plan) else 2 * WINDOW
    sim = Simulation(cfg, plan)
    error = ""
    live_after = -1
    try:
        live_after = sim.run_until_live(heal, window, MIN_BLOCKS, TAU // 4)
    except Violation as exc:
        error = str(exc)
    return Outcome(
        seed,
        n,
        script,
        not error,
        error,
        [len(h.chain) for h in sim.hosts],
        sim.stats.steps,
        live_after,
    )


def run_seed(seed: int) -> Outcome:
    return run_script(random_script(seed), seed)
