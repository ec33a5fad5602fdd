"""At least 2,000 random seeded fault schedules, every invariant checked after every step."""

from __future__ import annotations

from consensus.sim.schedules import run_seed

SEEDS = 2000


def test_random_schedules_keep_every_invariant() -> None:
    failures = []
    ns = set()
    for seed in range(SEEDS):
        out = run_seed(seed)
        ns.add(out.n)
        if not out.ok:
            failures.append(f"{out.error}\n{out.script}")
    assert ns == {4, 7}
    assert not failures, f"{len(failures)} schedules failed; first:\n" + failures[0]
