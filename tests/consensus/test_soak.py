"""At least 2,000 random seeded fault schedules, every invariant checked after every step.

Split into chunks so a slow, shared machine never trips the per-test timeout.
"""

from __future__ import annotations

import pytest

from consensus.sim.schedules import run_seed

SEEDS = 2000
CHUNKS = 8


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_schedules_keep_every_invariant(chunk: int) -> None:
    size = SEEDS // CHUNKS
    failures = []
    ns = set()
    for seed in range(chunk * size, (chunk + 1) * size):
        out = run_seed(seed)
        ns.add(out.n)
        if not out.ok:
            failures.append(f"{out.error}\n{out.script}")
    assert ns == {4, 7}
    assert not failures, f"{len(failures)} schedules failed; first:\n" + failures[0]
