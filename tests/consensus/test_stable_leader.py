"""A faulty primary costs once, not every n heights (issue 18).

The view carries across heights (a height starts in the view its predecessor was decided in)
and the primary of view v is ``keys[v % n]``: a stable leader, replaced only by a view change.
"""

from __future__ import annotations

import pytest

from consensus import Commit as CommitAction
from consensus import (
    CommitVote,
    Executed,
    MessageReceived,
    PendingWork,
    PrePrepare,
    Replica,
    ReplicaConfig,
    RequestProposal,
    SetTimer,
    Start,
    TimerKind,
    ValidatorSet,
)
from consensus.sim import SimConfig, Simulation, parse_plan
from consensus.sim.app import GENESIS_HASH, make_validator
from tests.consensus.helpers import CHAIN, Keys, proposal

SIG = b"\x01" * 64


def test_primary_is_the_views_key_whatever_the_height() -> None:
    keys = Keys(4).pubs
    vset = ValidatorSet(keys)
    assert [vset.primary(h, 0) for h in (1, 2, 3, 99)] == [keys[0]] * 4
    assert [vset.primary(7, v) for v in range(5)] == [keys[0], keys[1], keys[2], keys[3], keys[0]]


def replica(keys: Keys, me: int, **cfg: int) -> Replica:
    pub = keys.pubs[me]
    return Replica(
        ReplicaConfig(CHAIN, **cfg), pub, keys.signers[pub], keys.suite.verify, make_validator(set)
    )


def test_the_next_height_starts_in_the_view_this_one_was_decided_in() -> None:
    keys = Keys(4)
    rep = replica(keys, 2, base_timeout=100, request_timeout=700)
    rep.step(Start(1, GENESIS_HASH, tuple(keys.pubs), view=1))  # as if the head was decided in 1
    assert (rep.view, rep.start_view) == (1, 1)
    out = rep.step(PendingWork(b"tx"))
    (timer,) = [a for a in out if isinstance(a, SetTimer)]
    assert (timer.kind, timer.delay) == (TimerKind.REQUEST, 700)  # request_timeout_ms is used
    # the leader of view 1 proposes at the start view without a NEW-VIEW, and we vote
    leader, p = keys.pubs[1], proposal(1)
    out = rep.step(MessageReceived(leader, keys.sign(PrePrepare(1, p, leader, SIG))))
    assert any(
        isinstance(a, SetTimer) and a.kind is TimerKind.PROGRESS and a.delay == 100 for a in out
    )  # back-off counts from the start view: no 2x for "view 1"
    decided = []
    for who in keys.pubs[:3]:
        vote = keys.sign(CommitVote(1, 1, p.digest, who, SIG))
        decided += [a for a in rep.step(MessageReceived(who, vote)) if isinstance(a, CommitAction)]
    assert [d.certificate.view for d in decided] == [1]
    rep.step(Executed(1))
    assert (rep.height, rep.view, rep.start_view) == (2, 1, 1)  # same leader, no view change


def test_leader_of_the_carried_view_proposes_at_once() -> None:
    keys = Keys(4)
    parent = proposal(4, (9,)).digest
    out = replica(keys, 1).step(Start(5, parent, tuple(keys.pubs), view=5))  # 5 % 4 == 1: us
    assert RequestProposal(5, parent, 5) in out
    out = replica(keys, 0).step(Start(5, parent, tuple(keys.pubs), view=5))
    assert not [a for a in out if isinstance(a, RequestProposal)]


@pytest.mark.parametrize("n,dead", [(4, "0"), (7, "0,1")])
def test_a_dead_primary_costs_one_view_change_not_one_every_n_heights(n: int, dead: str) -> None:
    plan, _ = parse_plan(f"crash {dead} at=0\n")
    tau = 200
    cfg = SimConfig(
        n=n, seed=3, base_timeout=tau, max_timeout=8 * tau, delay=(1, 10), tx_interval=20
    )
    sim = Simulation(cfg, plan)
    sim.run(20_000)
    for h in sim.honest_hosts():
        if not h.alive:
            continue
        assert len(h.chain) >= 100
        slow = [
            i + 1
            for i, t in enumerate(h.commit_times)
            if i > 0 and t - h.commit_times[i - 1] > tau // 2
        ]
        assert slow == [], slow  # after the first height, no height waits for a timeout
        views = [cert.view for _, cert in h.chain]
        assert views[0] == len(dead.split(","))  # the first height paid for the dead leader(s)
        assert set(views[1:]) == {views[0]}  # and every later one was decided in that view
