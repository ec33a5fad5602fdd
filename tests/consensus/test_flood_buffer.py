"""Bounded, verified buffering (issue 18): a flood of junk for the next heights, naming honest
validators or random keys as senders, fills only the flooding link's quota; the buffer stays
bounded in messages, bytes and queues, and the honest replicas decide as fast as without it.
"""

from __future__ import annotations

import pytest

from consensus import MessageReceived, Prepare, Replica, ReplicaConfig, Start
from consensus.sim import SimConfig, Simulation, parse_plan
from consensus.sim.app import GENESIS_HASH, make_validator
from tests.consensus.helpers import CHAIN, Keys

SIG = b"\x01" * 64


def test_a_forged_sender_spends_only_the_links_quota() -> None:
    keys = Keys(4)
    me, honest, liar = keys.pubs[0], keys.pubs[1], keys.pubs[2]
    rep = Replica(
        ReplicaConfig(CHAIN, max_buffered=40, future_heights=4),
        me,
        keys.signers[me],
        keys.suite.verify,
        make_validator(set),
    )
    rep.step(Start(1, GENESIS_HASH, tuple(keys.pubs)))
    stranger = b"\x04" + b"\x07" * 64
    for i in range(500):  # junk on the liar's link: honest senders and strangers named
        claimed = honest if i % 2 else stranger[:-2] + i.to_bytes(2, "big")
        rep.step(MessageReceived(liar, Prepare(2, 0, bytes(32), claimed, SIG)))
    assert rep.buffered == 10  # the liar's share (40 / 4), whatever senders it named
    assert set(rep._future) == {liar}
    vote = keys.sign(Prepare(2, 0, bytes(32), honest, SIG))
    rep.step(MessageReceived(honest, vote))
    assert rep._future[honest] == [vote]  # the honest link's quota is untouched
    outsider = b"\x04" + b"\x09" * 64  # a link that is no validator's gets nothing
    rep.step(MessageReceived(outsider, Prepare(2, 0, bytes(32), outsider, SIG)))
    assert outsider not in rep._future


def run(n: int, flood: bool, seed: int) -> Simulation:
    text = "byzantine 1 flood_forged\n" if flood else ""
    plan, _ = parse_plan(text)
    cfg = SimConfig(
        n=n,
        seed=seed,
        base_timeout=200,
        max_timeout=1600,
        delay=(1, 10),
        tx_interval=25,
        max_buffered=256,
        max_buffered_bytes=256 * 1024,
        flood_per_send=60,
    )
    sim = Simulation(cfg, plan)
    sim.run(8000)
    return sim


@pytest.mark.parametrize("n", [4, 7])
def test_flood_of_forged_senders_is_bounded_and_progress_unaffected(n: int) -> None:
    quiet, flooded = run(n, False, 5), run(n, True, 5)
    assert flooded.stats.flooded >= 100_000
    for h in flooded.honest_hosts():
        # the simulator checks after every step: <= 256 messages, <= 256 KiB, <= n queues
        assert 0 < h.max_buffered_bytes_seen <= 256 * 1024
        assert len(h.replica._future) <= n
    honest = [h.idx for h in flooded.honest_hosts()]
    base = min(len(quiet.hosts[i].chain) for i in honest)
    got = min(len(flooded.hosts[i].chain) for i in honest)
    assert base >= 50
    assert got >= 0.9 * base, (got, base)
