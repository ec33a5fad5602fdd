"""The simulator end to end: normal case at n=4 and n=7, determinism of a seed."""

from __future__ import annotations

import pytest

from consensus.sim import SimConfig, Simulation


@pytest.mark.parametrize("n", [4, 7])
def test_normal_case_commits_every_tx_once_everywhere(n: int) -> None:
    sim = Simulation(SimConfig(n=n, seed=3, tx_until=5000))
    sim.run(8000)
    chains = [[p.digest for p, _ in h.chain] for h in sim.hosts]
    assert all(c == chains[0] for c in chains)
    assert len(chains[0]) >= 10
    committed = sorted(t for h in sim.hosts[:1] for t in h.committed_txs)
    assert committed == sorted(sim.submitted)
    assert all(h.replica.view == 0 for h in sim.hosts)


def test_same_seed_same_run() -> None:
    def run() -> list[bytes]:
        sim = Simulation(SimConfig(n=4, seed=11, delay=(1, 200)))
        sim.run(6000)
        return [p.digest for p, _ in sim.hosts[0].chain]

    assert run() == run()
