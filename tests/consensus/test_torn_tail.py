"""Never sign twice after a torn WAL tail (issue 18): unit rules and many simulated seeds.

A torn tail loses records that were already sent (the chaos harness cuts up to 64 bytes off a
killed node's WAL). The replica must then sign nothing at that height in a view the durable
``Reserve`` mark covers. The simulator's checker collects every message an honest replica
sends, across restarts, and fails on two different ones for one (type, height, view).
"""

from __future__ import annotations

import random

import pytest

from consensus import (
    Broadcast,
    CommitVote,
    MessageReceived,
    Persist,
    Prepare,
    PrePrepare,
    ProposalReady,
    Replica,
    ReplicaConfig,
    RequestProposal,
    Reserve,
    Start,
    ViewChange,
)
from consensus import Commit as CommitAction
from consensus.sim.app import GENESIS_HASH, make_validator
from consensus.sim.schedules import run_script
from tests.consensus.helpers import CHAIN, Keys, proposal

SIG = b"\x01" * 64


def replica(keys: Keys, me: int) -> Replica:
    return Replica(
        ReplicaConfig(CHAIN),
        keys.pubs[me],
        keys.signers[keys.pubs[me]],
        keys.suite.verify,
        make_validator(set),
    )


def signed(out: list, kind: type) -> list:
    return [
        a.record.message
        for a in out
        if isinstance(a, Persist) and isinstance(a.record.message, kind)
    ]


def test_every_signature_is_covered_by_a_reserve_mark_first() -> None:
    keys = Keys(4)
    rep = replica(keys, 0)  # the leader of view 0
    out = rep.step(Start(1, GENESIS_HASH, tuple(keys.pubs)))
    assert RequestProposal(1, GENESIS_HASH, 0) in out
    out = rep.step(ProposalReady(proposal(1), 0))
    marks = [a for a in out if isinstance(a, Reserve)]
    assert len(marks) == 1 and out[0] is marks[0]  # before the Persist of the PRE-PREPARE
    assert marks[0].height >= 1 and marks[0].view >= 0
    # covered already: the next signature at (1, 0) needs no new mark
    pp = out[[type(a) for a in out].index(Persist)].record.message
    others = [p for p in keys.pubs if p != keys.pubs[0]]
    out = []
    for who in others[:2]:
        vote = keys.sign(Prepare(1, 0, pp.digest, who, SIG))
        out += rep.step(MessageReceived(who, vote))
    assert signed(out, CommitVote) and not [a for a in out if isinstance(a, Reserve)]


def test_torn_tail_primary_restarts_past_the_mark_and_never_reproposes() -> None:
    keys = Keys(4)
    rep = replica(keys, 0)
    start = Start(1, GENESIS_HASH, tuple(keys.pubs), (), torn=True, reserved=(64, 0))
    out = rep.step(start)
    # it may have proposed at (1, 0): no RequestProposal, a VIEW-CHANGE to view 1 instead
    assert not [a for a in out if isinstance(a, RequestProposal)]
    (vc,) = signed(out, ViewChange)
    assert vc.view == 1 and rep.view == 1
    assert isinstance(out[0], Reserve) and out[0].view >= 1  # the new view is marked first
    assert rep.step(ProposalReady(proposal(1, (7,)), 0)) == []  # a late answer signs nothing


def test_torn_tail_backup_does_not_vote_again_in_a_covered_view() -> None:
    keys = Keys(4)
    rep = replica(keys, 1)
    out = rep.step(Start(1, GENESIS_HASH, tuple(keys.pubs), (), torn=True, reserved=(70, 2)))
    (vc,) = signed(out, ViewChange)
    assert vc.view == 3  # past every view the mark covers
    primary0 = keys.pubs[0]
    pp = keys.sign(PrePrepare(0, proposal(1), primary0, SIG))
    out = rep.step(MessageReceived(primary0, pp))
    assert not signed(out, Prepare)


def test_torn_tail_without_a_mark_stays_mute_but_still_decides() -> None:
    keys = Keys(4)
    rep = replica(keys, 1)
    out = rep.step(Start(1, GENESIS_HASH, tuple(keys.pubs), (), torn=True, reserved=None))
    assert not [a for a in out if isinstance(a, Persist | Broadcast)]
    primary0 = keys.pubs[0]
    pp = keys.sign(PrePrepare(0, proposal(1), primary0, SIG))
    out = rep.step(MessageReceived(primary0, pp))
    assert not signed(out, Prepare)
    others = [p for p in keys.pubs if p != keys.pubs[1]]
    decided = []
    for who in others:
        vote = keys.sign(CommitVote(1, 0, pp.digest, who, SIG))
        decided += [a for a in rep.step(MessageReceived(who, vote)) if isinstance(a, CommitAction)]
    assert [d.proposal for d in decided] == [pp.proposal]


def test_mark_below_the_height_means_nothing_was_signed_there() -> None:
    keys = Keys(4)
    rep = replica(keys, 0)  # the leader of view 0, at height 2
    out = rep.step(Start(2, proposal(1).digest, tuple(keys.pubs), (), torn=True, reserved=(1, 5)))
    assert RequestProposal(2, proposal(1).digest, 0) in out


def torn_primary_script(seed: int) -> str:
    """The issue's case: a validator (often the primary of the in-flight height) crashes right
    after persisting its nth COMMIT and loses that record and the one before (its
    PRE-PREPARE or PREPARE, already sent); without the fix 14 of these 80 seeds equivocate."""
    rng = random.Random(seed)
    node = rng.randrange(4)
    return (
        f"n 4\nseed {seed}\ncrash_on_persist {node} type=commit nth={rng.randint(1, 8)} "
        f"restart={rng.randint(100, 2000)} tear=2\n"
    )


def mixed_torn_script(seed: int) -> str:
    rng = random.Random(seed * 7 + 1)
    n = rng.choice((4, 4, 7))
    node = rng.randrange(n)
    lines = [f"n {n}", f"seed {seed}"]
    if rng.random() < 0.5:
        lines.append(f"drop type=commit pct=40 at=0 until={rng.randint(200, 1500)}")
    tear = rng.randint(1, 4)
    if rng.random() < 0.5:
        typ = rng.choice(("pre_prepare", "prepare", "commit", "view_change"))
        restart = rng.randint(100, 2000)
        lines.append(
            f"crash_on_persist {node} type={typ} nth={rng.randint(1, 6)} "
            f"restart={restart} tear={tear}"
        )
    else:
        at = rng.randint(50, 1500)
        lines.append(f"crash {node} at={at} restart={at + rng.randint(1, 600)} tear={tear}")
    if rng.random() < 0.3:  # torn again, shortly after the first repair
        at = rng.randint(1600, 2500)
        lines.append(f"crash {node} at={at} restart={at + rng.randint(1, 300)} tear=2")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("make", [torn_primary_script, mixed_torn_script])
def test_torn_tail_restarts_never_equivocate_over_many_seeds(make) -> None:
    failures = []
    for seed in range(120):
        out = run_script(make(seed))
        if not out.ok:
            failures.append(f"{out.error}\n{out.script}")
    assert not failures, f"{len(failures)} seeds failed; first:\n{failures[0]}"
