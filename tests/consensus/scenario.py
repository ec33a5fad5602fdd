"""Run a scenario script from tests/testdata/consensus/ at n=4 or n=7."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consensus.sim import SimConfig, Simulation, parse_plan
from consensus.sim.sim import Host

DATA = Path(__file__).resolve().parent.parent / "testdata" / "consensus"
TAU = 1000
DELTA = 50
T = 10 * TAU


def faulty(n: int) -> list[int]:
    """f faulty replicas: the first primary (node 0 leads view 0, and the view carries across
    heights) and, at n=7, one more that is not next in line (views rotate 0, 1, 2, ...)."""
    return [0] if n == 4 else [0, 3]


def script(name: str, n: int, **values: Any) -> str:
    text = (DATA / f"{name}.txt").read_text(encoding="utf-8")
    base: dict[str, Any] = {
        "n": n,
        "faulty": ",".join(map(str, faulty(n))),
        "all_0": ",".join(str(i) for i in range(n)),
    }
    for i in range(n):
        base[f"not_{i}"] = ",".join(str(j) for j in range(n) if j != i)
    for h in range(12):  # no view change yet: node 0 leads every height (stable leader)
        base[f"p{h}"] = 0
        base[f"not_p{h}"] = ",".join(str(j) for j in range(n) if j != 0)
    base.update(values)
    return text.format(**base)


def simulate(name: str, n: int, seed: int = 1, until: int = 0, **values: Any) -> Simulation:
    cfg_keys = {k: values.pop(k) for k in list(values) if k in SimConfig.__dataclass_fields__}
    plan, _ = parse_plan(script(name, n, **values))
    settings: dict[str, Any] = {
        "base_timeout": TAU,
        "max_timeout": 8 * TAU,
        "delay": (5, DELTA),
        "tx_interval": 250,
        "block_txs": 4,
    }
    settings.update(cfg_keys)
    cfg = SimConfig(n=n, seed=seed, **settings)
    sim = Simulation(cfg, plan)
    if until:
        sim.run(until)
    return sim


def honest(sim: Simulation) -> list[Host]:
    return [h for h in sim.honest_hosts() if h.alive]


def height_durations(host: Host) -> dict[int, int]:
    """Virtual time each height took on ``host``, from entering it to deciding it."""
    first: dict[int, int] = {}
    for t, h, _ in host.view_log:
        first.setdefault(h, t)
    return {h: first[h + 1] - first[h] for h in first if h + 1 in first}


def primary_at_start(sim: Simulation, host: Host, height: int) -> int:
    """Index of the node that led ``height`` at its start view (the view ``height - 1`` was
    decided in, per ``host``'s chain): the stable-leader rule ``keys[view % n]``."""
    view = 0 if height == 1 else host.chain[height - 2][1].view
    keys = sorted(sim.validator_keys_at(height))
    return sim.by_key[keys[view % len(keys)]].idx
