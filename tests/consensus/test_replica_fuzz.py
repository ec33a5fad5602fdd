"""Property: whatever validly signed or hostile input arrives, in any order, one replica never
crashes, persists each own message before sending it, and never signs two different messages
for one (type, height, view)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus import (
    BlocksFetched,
    Broadcast,
    Executed,
    LocalError,
    MessageReceived,
    NewView,
    PendingWork,
    Persist,
    Phase,
    PrePrepare,
    ProposalReady,
    Send,
    Status,
    Timeout,
    TimerKind,
    encode_message,
)
from consensus import Commit as CommitAction
from tests.consensus.helpers import proposal
from tests.consensus.test_replica import SIG, Rig

N = 4


def event_strategy(rig: Rig) -> st.SearchStrategy:
    who = st.sampled_from(rig.pubs)
    height = st.integers(1, 4)
    view = st.integers(0, 4)
    txs = st.sampled_from([(1,), (2,), (3,), (1, 2)])

    @st.composite
    def message(draw: st.DrawFn):
        kind = draw(st.sampled_from(["pp", "prep", "commit", "vc", "nv", "status", "forged"]))
        h, v = draw(height), draw(view)
        prop = proposal(1, draw(txs)) if h == 1 else proposal(h, draw(txs), parent=b"\x11" * 32)
        if kind == "pp":
            return rig.keys.sign(PrePrepare(v, prop, rig.primary(h, v), SIG))
        if kind == "prep":
            return rig.prepare(draw(who), prop.digest, v, h)
        if kind == "commit":
            return rig.commit(draw(who), prop.digest, v, h)
        if kind == "vc":
            return rig.vc(draw(who), v + 1, None, h)
        if kind == "nv":
            w = v + 1
            senders = sorted(rig.pubs)[:3]
            vcs = tuple(rig.vc(p, w, None, h) for p in senders)
            return rig.keys.sign(NewView(h, w, vcs, None, rig.primary(h, w), SIG))
        if kind == "status":
            return Status(draw(st.integers(0, 2**63 - 1)))
        base = rig.prepare(draw(who), prop.digest, v, h)
        return dataclasses.replace(base, signature=b"\x02" * 64)

    received = st.builds(lambda m, p: MessageReceived(p, m), message(), who)
    timeout = st.builds(Timeout, st.sampled_from(list(TimerKind)), height, view)
    pending = st.builds(PendingWork, st.sampled_from([None, b"a", b"b"]))
    ready = st.builds(lambda t, v: ProposalReady(proposal(1, t), v), txs, view)
    fetched = st.builds(
        lambda p, t: BlocksFetched(p, ((proposal(1, t), rig_cert(rig, proposal(1, t))),)), who, txs
    )
    return st.one_of(received, received, received, timeout, pending, ready, fetched)


def rig_cert(rig: Rig, prop):
    from tests.consensus.test_replica import _certified

    return _certified(rig, prop)


RIG = Rig(n=N, me=1)


@given(st.lists(event_strategy(RIG), max_size=40))
def test_fuzz_replica_never_crashes_and_never_equivocates(events) -> None:
    rig = Rig(n=N, me=1)
    persisted: set[bytes] = set()
    signed: dict[tuple[int, int, int], bytes] = {}

    def check(actions) -> None:
        for a in actions:
            if isinstance(a, Persist):
                persisted.add(encode_message(a.record.message))
            elif isinstance(a, Send | Broadcast):
                m = a.message
                if getattr(m, "sender", None) == rig.me:
                    data = encode_message(m)
                    assert data in persisted
                    key = (m.TAG, m.height, m.view)
                    assert signed.setdefault(key, data) == data
            elif isinstance(a, CommitAction):
                rig.committed.update(range(10))  # the block's txs are now in the chain

    check(rig.start())
    for ev in events:
        check(rig.replica.step(ev))
        if rig.replica.phase is Phase.EXECUTING:
            check(rig.replica.step(Executed(rig.replica.height - 1)))
    with pytest.raises(LocalError):  # a driver bug is loud, never silently absorbed
        rig.replica.step(Executed(99))
