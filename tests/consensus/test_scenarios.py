"""The scenarios of CONSENSUS_TESTS.md that apply to the core, at n=4 and n=7.

Safety invariants (A, D, V, M, persist-before-send, no conflicting honest signatures, buffer
bound) are checked by the simulator after every step; a violation raises. Each test adds the
scenario's own expectations and, where the scenario asks for it, liveness L.
"""

from __future__ import annotations

import pytest

from consensus.sim.app import payload_txs
from tests.consensus.scenario import (
    DELTA,
    TAU,
    T,
    faulty,
    height_durations,
    honest,
    primary_at_start,
    simulate,
)

NS = [4, 7]


def chains_equal(sim) -> None:
    hosts = honest(sim)
    shortest = min(len(h.chain) for h in hosts)
    ref = [p.digest for p, _ in hosts[0].chain[:shortest]]
    for h in hosts:
        assert [p.digest for p, _ in h.chain[:shortest]] == ref


def faulty_primary_heights(sim, n: int, upto: int, host) -> list[int]:
    """Heights that a faulty replica led at their start view (per ``host``'s chain)."""
    bad = set(faulty(n))
    top = min(upto, len(host.chain) + 1)
    return [h for h in range(1, top) if primary_at_start(sim, host, h) in bad]


@pytest.mark.parametrize("n", NS)
def test_01_noisy_network_commits_1000_txs_exactly_once(n: int) -> None:
    sim = simulate("noisy_network", n, tx_interval=5, tx_until=5000, block_txs=100)
    sim.run(5000 + T)
    assert len(sim.submitted) == 1000
    for h in honest(sim):
        seen = [t for p, _ in h.chain for t in payload_txs(p.payload) or []]
        assert sorted(seen) == sorted(sim.submitted)  # each exactly once
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_02_equivocating_primary(n: int) -> None:
    sim = simulate("equivocating_primary", n, tx_interval=50, block_txs=2)
    sim.run_until_live(0, 3 * T, 20, TAU // 4)
    chains_equal(sim)
    for h in honest(sim):
        durations = height_durations(h)
        bad = [x for x in faulty_primary_heights(sim, n, len(h.chain), h) if x in durations]
        assert bad
        # no quorum on either block: the request timer (tau) and a view change end it
        assert max(durations[x] for x in bad) <= 2 * TAU
        # every block the faulty primaries led to was decided after a view change
        assert all(h.chain[x - 1][1].view >= 1 for x in bad)


@pytest.mark.parametrize("field", ["digest", "parent", "height", "view"])
@pytest.mark.parametrize("n", NS)
def test_03_malformed_proposal_is_rejected_then_view_change(n: int, field: str) -> None:
    sim = simulate("malformed_proposal", n, field=field)
    sim.run_until_live(0, 2 * T, 10, TAU // 4)
    chains_equal(sim)
    bad_keys = {sim.hosts[i].key for i in faulty(n)}
    for h in honest(sim):
        for x in faulty_primary_heights(sim, n, len(h.chain) + 1, h):
            if x <= len(h.chain):
                assert h.chain[x - 1][1].view >= 1
    if field in ("digest", "parent", "view"):
        # a stable leader is faulty once: the replicas that saw its block before moving on
        # (at least f+1 of them, so at least one honest) blamed it
        blamed = [h for h in honest(sim) if any(f.peer in bad_keys for f in h.faults)]
        assert len(blamed) >= (n - 1) // 3 + 1


@pytest.mark.parametrize("behaviour", ["silent", "selective", "censor tx=5"])
@pytest.mark.parametrize("n", NS)
def test_04_silent_selective_or_censoring_primary_is_replaced(n: int, behaviour: str) -> None:
    sim = simulate("silent_primary", n, behaviour=behaviour)
    sim.run_until_live(0, 2 * T, 10, TAU // 4)
    sim.run(sim.now + T)
    for h in honest(sim):
        late = [t for t in sim.submitted if sim.submit_times[t] < sim.now - T]
        assert set(late) <= h.committed_txs
        assert 5 in h.committed_txs
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_05_double_voting_backup_is_logged_as_evidence(n: int) -> None:
    sim = simulate("double_voting_backup", n)
    sim.run_until_live(0, T, 10, TAU // 4)
    chains_equal(sim)
    bad_keys = {sim.hosts[i].key for i in faulty(n)}
    evidence = [e for h in honest(sim) for e in h.evidence]
    assert evidence and all(e.offender in bad_keys for e in evidence)
    e = evidence[0]
    assert (e.first.height, e.first.view) == (e.second.height, e.second.view)
    assert e.first.digest != e.second.digest


@pytest.mark.parametrize("n", NS)
def test_07_tampered_view_change_and_new_view_are_rejected(n: int) -> None:
    # node 0 (the first primary) is crashed to force view changes; the tamperers are others
    sim = simulate("tampered_view_change", n, faulty="1" if n == 4 else "1,4")
    sim.run_until_live(6000, 2 * T, 10, TAU // 4)
    chains_equal(sim)
    reasons = {f.reason for h in honest(sim) for f in h.faults}
    assert "bad signature on ViewChange" in reasons


@pytest.mark.parametrize("n", NS)
def test_10_flood_of_future_messages_stays_bounded(n: int) -> None:
    per_send = 1000 if n == 4 else 40
    sim = simulate("flood", n, flood_per_send=per_send, max_buffered=512)
    sim.run_until_live(0, 2 * T, 10, TAU // 4)
    while n == 4 and sim.stats.flooded < 100_000:
        sim.run(sim.now + TAU)
    if n == 4:
        assert len({len(h.chain) for h in honest(sim)}) == 1  # all caught up, still deciding
    for h in honest(sim):
        assert 0 < h.max_buffered_seen <= 512
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_11_prepared_but_not_committed_is_re_proposed(n: int) -> None:
    sim = simulate("prepared_not_committed", n)
    sim.run(4000)
    primary = sim.hosts[0]  # the stable leader (view 0)
    assert not primary.alive and len(primary.chain) == 3
    block = primary.chain[2][0].digest
    sim.run_until_live(12000, T, 10, TAU // 4)
    for h in honest(sim):
        assert h.chain[2][0].digest == block
        if h is not primary:
            assert h.chain[2][1].view >= 1  # decided in the new view, same block


@pytest.mark.parametrize("n", NS)
def test_12_committed_on_one_isolated_replica_only(n: int) -> None:
    probe = simulate("committed_on_one", n, t_commit=10**9, t_heal=10**9 + 1)
    probe.run(4000)
    lone = probe.hosts[1]
    t_commit = lone.commit_times[2]
    others = [h for h in probe.hosts if h is not lone]
    assert all(len(h.chain) < 3 or h.commit_times[2] > t_commit for h in others)
    sim = simulate("committed_on_one", n, t_commit=t_commit + 1, t_heal=t_commit + 3 * TAU)
    sim.run_until_live(t_commit + 3 * TAU, T, 10, TAU // 4)
    block = sim.hosts[1].chain[2][0].digest
    for h in honest(sim):
        assert h.chain[2][0].digest == block
    chains_equal(sim)


def test_14_cascading_primaries_n7() -> None:
    sim = simulate("cascading_primaries", 7)
    sim.run_until_live(0, 3 * T, 10, TAU // 4)
    for h in honest(sim):
        log = [(t, height, v) for t, height, v in h.view_log if height == 7]
        entered = log[0][0]
        reached = min(t for t, _, v in log if v >= 2)
        assert reached - entered <= (1 + 2 + 4) * TAU + 10 * DELTA
        assert h.chain[6][1].view == 2


@pytest.mark.parametrize("n", NS)
def test_15_lone_complainer_causes_no_view_change(n: int) -> None:
    sim = simulate("lone_complainer", n)
    sim.run_until_live(0, T, 10, TAU // 4)
    complainer = sim.hosts[2]
    assert max(v for _, _, v in complainer.view_log) >= 1  # it did complain
    for h in honest(sim):
        if h is not complainer:
            assert max(v for _, _, v in h.view_log) == 0
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_18_block_sync_racing_a_view_change(n: int) -> None:
    sim = simulate("sync_racing_view_change", n, p_heal=2)
    sim.run_until_live(9000, T, 10, TAU // 4)
    lagger = sim.hosts[1]
    heights = [p.height for p, _ in lagger.chain]
    assert heights == list(range(1, len(heights) + 1))
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_19_lagging_replica_catches_up_by_sync_and_votes_again(n: int) -> None:
    sim = simulate("lagging_replica", n)
    sim.run(20000)
    lagger = sim.hosts[1]
    behind = max(len(h.chain) for h in sim.hosts) - len(lagger.chain)
    assert behind >= 40
    sim.run_until_live(20000, T, 10, TAU // 4)
    caught_up = len(sim.hosts[0].chain)
    assert len(lagger.chain) >= caught_up - 1
    sim.run(sim.now + 3 * TAU)
    votes = [k for k in sim.honest_msgs if k[0] == lagger.key and k[1] == 3 and k[2] > caught_up]
    assert votes  # it signs COMMITs again
    chains_equal(sim)


@pytest.mark.parametrize(
    "kind,nth",
    [("pre_prepare", 1), ("prepare", 2), ("commit", 3), ("view_change", 1), ("new_view", 1)],
)
@pytest.mark.parametrize("n", NS)
def test_21_kill_at_every_persist_point(n: int, kind: str, nth: int) -> None:
    # only a primary persists a PRE-PREPARE: the stable leader of view 0 (node 0)
    idx = 0 if kind == "pre_prepare" else 2
    sim = simulate("crash_on_persist", n, kind=kind, nth=nth, victim=idx)
    sim.run(6000)
    victim = sim.hosts[idx]
    if kind != "new_view":
        assert sim._persist_crash_done, "the crash point was never reached"
    sim.run_until_live(6000, T, 10, TAU // 4)
    assert victim.alive
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_21_kill_between_storing_a_block_and_executing_it(n: int) -> None:
    from consensus.sim import parse_plan

    sim = simulate("full_stop", n)  # any script: we add the crash below
    plan, _ = parse_plan("crash_on_commit 2 height=4 restart=3000\n")
    sim.plan.crashes.extend(plan.crashes)
    sim.run_until_live(4000, T, 10, TAU // 4)
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_23_full_stop_and_start(n: int) -> None:
    sim = simulate("full_stop", n)
    sim.run(3000)
    before = [len(h.chain) for h in sim.hosts]
    assert min(before) >= 5
    sim.run_until_live(4000, T, 10, TAU // 4)
    assert all(len(h.chain) >= b + 10 for h, b in zip(sim.hosts, before, strict=True))
    chains_equal(sim)


@pytest.mark.parametrize("n", NS)
def test_13_new_view_choice_equals_an_independent_recomputation(n: int) -> None:
    """Lossy commits across many views leave unaligned prepared certificates; every NEW-VIEW an
    honest primary sends must re-propose what this independent rule picks."""
    checked = with_prepared = 0
    for seed in range(6):
        sim = simulate(
            "noisy_network",
            n,
            seed=seed,
            tx_interval=200,
        )
        from consensus.sim import parse_plan

        plan, _ = parse_plan(
            "drop type=commit pct=70 until=8000\ndrop type=prepare pct=25 until=8000\n"
            f"crash {seed % n} at=1000 restart=4000\n"
        )
        sim.plan.rules.extend(plan.rules)
        sim.plan.crashes.extend(plan.crashes)
        sim.at(1000, sim._crash, seed % n, 4000)
        sim.run_until_live(8000, 2 * T, 10, TAU // 4)
        honest_keys = {h.key for h in sim.honest_hosts()}
        for nv in sim.new_views:
            if nv.sender not in honest_keys:
                continue
            best = None
            for vc in nv.view_changes:
                c = vc.prepared
                if c is None:
                    continue
                if best is None or c.view > best[0] or (c.view == best[0] and c.digest < best[1]):
                    best = (c.view, c.digest)
            expected = None if best is None else best[1]
            got = None if nv.pre_prepare is None else nv.pre_prepare.digest
            assert got == expected
            checked += 1
            with_prepared += best is not None
        chains_equal(sim)
    assert checked >= 5 and with_prepared >= 1


@pytest.mark.parametrize("n", NS)
def test_26_added_validator_syncs_signs_and_quorums_use_the_new_set(n: int) -> None:
    from consensus.sim import parse_plan

    activation = 8
    members = tuple(range(n + 1))
    sim = simulate("full_stop", n, extra_nodes=1, validator_changes={activation: members})
    sim.plan.crashes.clear()  # this test adds its own fault below
    new_keys = sorted(sim.validator_keys_at(activation))
    # kill the primary of height activation + 2 right after it commits activation + 1
    victim = next(h.idx for h in sim.hosts if h.key == new_keys[(activation + 2) % (n + 1)])
    plan, _ = parse_plan(f"crash_on_commit {victim} height={activation + 1}\n")
    sim.plan.crashes.extend(plan.crashes)
    sim.run_until_live(0, 3 * T, activation + 12, TAU // 4)
    newcomer = sim.hosts[n]
    q_old, q_new = n - (n - 1) // 3, (n + 1) - n // 3
    for h in honest(sim):
        for height, (_, cert) in enumerate(h.chain, 1):
            assert len(cert.signatures) == (q_old if height < activation else q_new)
    assert len(newcomer.chain) >= activation + 10
    signed = {k[2] for k in sim.honest_msgs if k[0] == newcomer.key and k[1] == 3}
    assert signed and min(signed) >= activation  # it votes once it is a validator
    chains_equal(sim)
