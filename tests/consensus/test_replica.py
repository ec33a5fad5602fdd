"""One replica driven by hand: action order, quorum checks, view-change rules, restart, sync."""

from __future__ import annotations

import pytest

from consensus import (
    BlocksFetched,
    Broadcast,
    CommitVote,
    Evidence,
    Executed,
    Fault,
    LocalError,
    MessageReceived,
    NewView,
    PendingWork,
    Persist,
    Phase,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    ProposalReady,
    Replica,
    ReplicaConfig,
    RequestProposal,
    Reserve,
    SetTimer,
    Start,
    Timeout,
    TimerKind,
    ViewChange,
    commit_signing_bytes,
    make_certificate,
)
from consensus import Commit as CommitAction
from consensus.sim.app import GENESIS_HASH, make_validator
from consensus.types import MAX_VIEW
from tests.consensus.helpers import CHAIN, Keys, proposal

SIG = b"\x01" * 64


class Rig:
    """A replica for ``keys.pubs[me]`` plus builders of signed messages from any validator."""

    def __init__(self, n: int = 4, me: int = 0, **cfg: int) -> None:
        self.keys = Keys(n)
        # Rotated by one, so that pubs[(1 + v) % n] leads view v (the stable leader is the
        # sorted key v % n): at height 1 these tests read as before the view carried over.
        self.pubs = self.keys.pubs[-1:] + self.keys.pubs[:-1]
        self.me = self.pubs[me]
        self.committed: set[int] = set()
        self.replica = Replica(
            ReplicaConfig(CHAIN, **cfg),
            self.me,
            self.keys.signers[self.me],
            self.keys.suite.verify,
            make_validator(lambda: self.committed),
        )
        self.q = n - (n - 1) // 3
        self.f = (n - 1) // 3

    def start(self, records=(), height: int = 1, parent: bytes = GENESIS_HASH) -> list:
        return self.replica.step(Start(height, parent, tuple(self.pubs), tuple(records)))

    def primary(self, height: int, view: int) -> bytes:
        return self.keys.pubs[view % len(self.pubs)]  # the stable leader of the view

    def pp(self, view: int = 0, prop=None, height: int = 1):
        prop = prop or proposal(height)
        return self.keys.sign(PrePrepare(view, prop, self.primary(height, view), SIG))

    def prepare(self, who: bytes, digest: bytes, view: int = 0, height: int = 1):
        return self.keys.sign(Prepare(height, view, digest, who, SIG))

    def commit(self, who: bytes, digest: bytes, view: int = 0, height: int = 1):
        return self.keys.sign(CommitVote(height, view, digest, who, SIG))

    def vc(self, who: bytes, view: int, prepared=None, height: int = 1):
        return self.keys.sign(ViewChange(height, view, prepared, who, SIG))

    def recv(self, msg, peer: bytes | None = None) -> list:
        return self.replica.step(MessageReceived(peer or msg.sender, msg))

    def backups(self, view: int = 0, height: int = 1) -> list[bytes]:
        return [p for p in self.pubs if p not in (self.me, self.primary(height, view))]


def no_marks(actions) -> list:
    return [a for a in actions if not isinstance(a, Reserve)]


def sent(actions, kind) -> list:
    return [a.message for a in actions if isinstance(a, Broadcast) and isinstance(a.message, kind)]


def test_event_before_start_is_a_local_error() -> None:
    rig = Rig()
    with pytest.raises(LocalError):
        rig.replica.step(PendingWork(None))


def test_primary_requests_proposal_and_persists_before_broadcast() -> None:
    rig = Rig(me=1)  # primary of (1, 0) is pubs[1]
    out = rig.start()
    assert RequestProposal(1, GENESIS_HASH, 0) in out
    out = rig.replica.step(ProposalReady(proposal(1), 0))
    assert isinstance(out[0], Reserve) and (out[0].height, out[0].view) >= (1, 0)
    out = out[1:]  # the signing mark first, then persist before send
    kinds = [type(a) for a in out]
    assert kinds[:2] == [Persist, Broadcast]
    assert out[0].record.message == out[1].message
    assert isinstance(out[1].message, PrePrepare)
    assert any(isinstance(a, SetTimer) and a.kind is TimerKind.PROGRESS for a in out)
    # a second, different proposal for the same view is never signed
    assert rig.replica.step(ProposalReady(proposal(1, (9,)), 0)) == []


def test_normal_case_commit_with_quorum_certificate() -> None:
    rig = Rig(me=0)
    rig.start()
    pp = rig.pp()
    out = no_marks(rig.recv(pp))
    (prep,) = sent(out, Prepare)
    assert isinstance(out[0], Persist) and out[0].record.pre_prepare == pp
    others = rig.backups()
    out = no_marks(rig.recv(rig.prepare(others[0], pp.digest)))
    (vote,) = sent(out, CommitVote)
    assert out[0].record.prepared is not None
    out = rig.recv(rig.commit(others[0], pp.digest))
    assert not [a for a in out if isinstance(a, CommitAction)]
    out = rig.recv(rig.commit(others[1], pp.digest))
    (decided,) = [a for a in out if isinstance(a, CommitAction)]
    assert decided.proposal == pp.proposal
    assert len(decided.certificate.signatures) == rig.q
    assert rig.replica.phase is Phase.EXECUTING
    with pytest.raises(LocalError):
        rig.replica.step(Executed(5))
    rig.replica.step(Executed(1))
    assert rig.replica.height == 2 and rig.replica.phase is Phase.NORMAL


@pytest.mark.parametrize("bad", ["forged", "outsider", "repeat", "primary"])
@pytest.mark.parametrize("n", [4, 7])
def test_06_forged_quorum_does_not_prepare(n: int, bad: str) -> None:
    rig = Rig(n=n, me=0)
    rig.start()
    pp = rig.pp()
    rig.recv(pp)
    honest = rig.backups()[: rig.q - 3]  # with our own PREPARE: q - 2 valid
    for who in honest:
        assert not sent(rig.recv(rig.prepare(who, pp.digest)), CommitVote)
    spare = rig.backups()[rig.q - 3]
    if bad == "forged":
        msg = Prepare(1, 0, pp.digest, spare, b"\x07" * 64)
    elif bad == "outsider":
        stranger = Keys(n + 1).pubs[-1]
        rig.keys.signers[stranger] = Keys(n + 1).signers[stranger]
        msg = rig.prepare(stranger, pp.digest) if stranger not in rig.pubs else None
    elif bad == "repeat":
        msg = rig.prepare(honest[0] if honest else rig.me, pp.digest)
    else:
        msg = rig.keys.sign(Prepare(1, 0, pp.digest, rig.primary(1, 0), SIG))
    if msg is not None:
        out = rig.recv(msg)
        assert not sent(out, CommitVote)
    assert (CommitVote.TAG, 0) not in rig.replica.st.sent
    out = rig.recv(rig.prepare(spare, pp.digest))
    assert sent(out, CommitVote)  # the genuine last PREPARE completes the quorum


def test_invalid_proposal_from_primary_starts_view_change() -> None:
    rig = Rig(me=0)
    rig.start()
    prop = proposal(1)
    bad = type(prop)(1, prop.parent, b"\x00" * 32, prop.payload)  # digest not of payload
    out = rig.recv(rig.pp(prop=bad))
    assert any(isinstance(a, Fault) for a in out)
    (vc,) = sent(out, ViewChange)
    assert vc.view == 1 and not sent(out, Prepare)


def test_a_validator_that_cannot_judge_blames_no_one() -> None:
    """validate_proposal raising (our disk, our memory, a bug) is not the primary's fault: the
    step fails with LocalError; no Fault, no VIEW-CHANGE, no vote was emitted or persisted."""
    rig = Rig(me=0)
    rig.start()

    def broken(p: object) -> bool:
        raise OSError("disk gone")

    rig.replica._validate = broken  # the injected callback
    with pytest.raises(LocalError, match="cannot judge") as e:
        rig.recv(rig.pp())
    assert isinstance(e.value.__cause__, OSError)
    assert rig.replica.view == 0 and rig.replica.phase is Phase.NORMAL
    assert not rig.replica.st.pre_prepares  # the proposal was not taken either


def test_conflicting_pre_prepare_is_evidence_and_never_prepared() -> None:
    rig = Rig(me=0)
    rig.start()
    a, b = rig.pp(prop=proposal(1, (1,))), rig.pp(prop=proposal(1, (2,)))
    rig.recv(a)
    out = rig.recv(b)
    assert any(isinstance(x, Evidence) and x.first == a and x.second == b for x in out)
    assert [m.digest for m in sent(out, Prepare)] == []


@pytest.mark.parametrize("n", [4, 7])
def test_15_f_plus_one_view_changes_pull_us_in_at_once(n: int) -> None:
    rig = Rig(n=n, me=0)
    rig.start()
    others = rig.pubs[1:]
    for i, who in enumerate(others[: rig.f]):
        assert not sent(rig.recv(rig.vc(who, 9 + i)), ViewChange)
    out = no_marks(rig.recv(rig.vc(others[rig.f], 3)))
    (vc,) = sent(out, ViewChange)
    # the lowest view among the f+1 highest: at least one honest replica asked for it
    assert vc.view == 3
    assert isinstance(out[0], Persist)


def test_view_number_bomb_needs_f_plus_one() -> None:
    rig = Rig(n=7, me=0, view_window=1024)
    rig.start()
    assert not sent(rig.recv(rig.vc(rig.pubs[1], MAX_VIEW)), ViewChange)
    assert not sent(rig.recv(rig.vc(rig.pubs[2], MAX_VIEW)), ViewChange)
    assert rig.replica.view == 0
    with pytest.raises(Exception):  # noqa: B017  # constructing past the range is refused
        ViewChange(1, MAX_VIEW + 1, None, rig.pubs[1], SIG)
    # within the window, f+1 = 3 distinct validators do move us
    for who in rig.pubs[1:4]:
        out = rig.recv(rig.vc(who, 7))
    assert sent(out, ViewChange)[0].view == 7


def test_view_change_timer_waits_for_a_quorum_and_resends() -> None:
    rig = Rig(me=0)
    rig.start()
    rig.recv(rig.pp())
    out = rig.replica.step(Timeout(TimerKind.PROGRESS, 1, 0))
    (vc,) = sent(out, ViewChange)
    out = rig.replica.step(Timeout(TimerKind.VIEW_CHANGE, 1, 1))
    assert sent(out, ViewChange) == [vc]  # same signed message again, not a new view
    assert not any(isinstance(a, Persist) for a in out)
    for who in rig.pubs[1:3]:
        rig.recv(rig.vc(who, 1))
    out = rig.replica.step(Timeout(TimerKind.VIEW_CHANGE, 1, 1))
    assert sent(out, ViewChange)[0].view == 2
    assert rig.replica.step(Timeout(TimerKind.VIEW_CHANGE, 1, 1)) == []  # stale


def test_request_timer_spans_heights_until_the_oldest_tx_changes() -> None:
    rig = Rig(me=0)
    rig.start()
    out = rig.replica.step(PendingWork(b"tx1"))
    (timer,) = [a for a in out if isinstance(a, SetTimer)]
    assert timer.kind is TimerKind.REQUEST
    assert rig.replica.step(PendingWork(b"tx1")) == []  # same oldest: the timer keeps running
    out = rig.replica.step(Timeout(TimerKind.REQUEST, timer.height, timer.view))
    assert sent(out, ViewChange)
    rig2 = Rig(me=0)
    rig2.start()
    rig2.replica.step(PendingWork(b"tx1"))
    out = rig2.replica.step(PendingWork(b"tx2"))  # tx1 was ordered: a fresh timer replaces it
    assert [a.kind for a in out if isinstance(a, SetTimer)] == [TimerKind.REQUEST]
    rig2.replica.step(PendingWork(None))
    assert rig2.replica.step(Timeout(TimerKind.REQUEST, timer.height, timer.view)) == []


def test_restart_resends_persisted_votes_and_never_signs_a_conflict() -> None:
    rig = Rig(me=0)
    rig.start()
    a = rig.pp(prop=proposal(1, (1,)))
    out = rig.recv(a)
    records = [x.record for x in out if isinstance(x, Persist)]
    (prep,) = sent(out, Prepare)
    again = Rig(me=0)
    out = again.start(records)
    assert sent(out, Prepare) == [prep]  # verbatim, not re-signed
    b = again.pp(prop=proposal(1, (2,)))
    out = again.recv(b)
    assert not sent(out, Prepare)


def test_restart_in_view_change_keeps_the_view() -> None:
    rig = Rig(me=0)
    rig.start()
    out = rig.replica.step(PendingWork(b"x"))
    timer = next(a for a in out if isinstance(a, SetTimer))
    out = rig.replica.step(Timeout(timer.kind, timer.height, timer.view))
    records = [x.record for x in out if isinstance(x, Persist)]
    (vc,) = sent(out, ViewChange)
    again = Rig(me=0)
    out = again.start(records)
    assert again.replica.view == 1 and again.replica.phase is Phase.VIEW_CHANGE
    assert sent(out, ViewChange) == [vc]
    # a PRE-PREPARE of the abandoned view 0 is not voted on
    assert not sent(again.recv(again.pp(view=0)), Prepare)


def _prepared_cert(rig: Rig, view: int, prop) -> PreparedCertificate:
    pp = rig.pp(view=view, prop=prop)
    backups = [p for p in rig.pubs if p != pp.sender][: rig.q - 1]
    preps = tuple(
        sorted((rig.prepare(p, prop.digest, view) for p in backups), key=lambda x: x.sender)
    )
    return PreparedCertificate(pp, preps)


def test_13_new_view_must_re_propose_the_highest_prepared_block() -> None:
    rig = Rig(n=4, me=0)
    rig.start()
    low, high = proposal(1, (1,)), proposal(1, (2,))
    c0, c1 = _prepared_cert(rig, 0, low), _prepared_cert(rig, 1, high)
    new_primary = rig.primary(1, 2)
    senders = sorted(p for p in rig.pubs if p != rig.me)
    vcs = tuple(rig.vc(p, 2, prepared={0: c0, 1: c1}.get(i)) for i, p in enumerate(senders))
    for wrong, ok in ((low, False), (high, True)):
        pp = rig.keys.sign(PrePrepare(2, wrong, new_primary, SIG))
        nv = rig.keys.sign(NewView(1, 2, vcs, pp, new_primary, SIG))
        out = rig.recv(nv)
        assert bool(sent(out, Prepare)) is ok
        if not ok:
            assert any(isinstance(a, Fault) and "NEW-VIEW" in a.reason for a in out)
    assert rig.replica.view == 2


def test_tampered_view_change_is_rejected() -> None:
    rig = Rig(me=0)
    rig.start()
    vc = rig.vc(rig.pubs[1], 1)
    forged = ViewChange(1, 2, None, vc.sender, vc.signature)  # view changed, old signature
    out = rig.recv(forged)
    assert any(isinstance(a, Fault) for a in out)
    assert rig.pubs[1] not in rig.replica.st.view_changes


def test_future_messages_are_buffered_within_the_bound() -> None:
    rig = Rig(n=4, me=0, max_buffered=64, future_heights=4)
    rig.start()
    for i in range(10_000):
        who = rig.pubs[1 + i % 3]
        rig.recv(rig.prepare(who, bytes([i % 256]) * 32, view=i % 3, height=2 + i % 8))
    assert 0 < rig.replica.buffered <= 64


def _certified(rig: Rig, prop, view: int = 0):
    msg = commit_signing_bytes(CHAIN, prop.height, view, prop.digest)
    signers = rig.pubs[: rig.q]
    return make_certificate(
        prop.height, view, prop.digest, [(p, rig.keys.signers[p](msg)) for p in signers]
    )


def test_block_sync_commits_only_verified_blocks() -> None:
    rig = Rig(me=0)
    rig.start()
    peer = rig.pubs[1]
    b1 = proposal(1, (1,))
    b2 = proposal(2, (2,), parent=b1.digest)
    good1, good2 = _certified(rig, b1), _certified(rig, b2)
    bad = make_certificate(1, 0, b1.digest, list(good1.signatures[:-1]))  # short of a quorum
    out = rig.replica.step(BlocksFetched(peer, ((b1, bad),)))
    assert any(isinstance(a, Fault) for a in out)
    assert not any(isinstance(a, CommitAction) for a in out)
    out = rig.replica.step(BlocksFetched(peer, ((b1, good1), (b2, good2))))
    assert [a.proposal.height for a in out if isinstance(a, CommitAction)] == [1]
    rig.committed.update({1})
    out = rig.replica.step(Executed(1))
    assert [a.proposal.height for a in out if isinstance(a, CommitAction)] == [2]


def test_validator_set_change_applies_from_the_next_height() -> None:
    rig = Rig(n=4, me=0)
    rig.start()
    b1 = proposal(1, (1,))
    rig.replica.step(BlocksFetched(rig.pubs[1], ((b1, _certified(rig, b1)),)))
    newcomer = next(p for p in Keys(5).pubs if p not in rig.pubs)
    new_set = tuple(rig.pubs) + (newcomer,)
    rig.replica.step(Executed(1, new_set))
    assert rig.replica.vset.n == 5 and rig.replica.vset.quorum == 4
    # height 2 starts in view 0 (block 1 was decided there): the new set's key 0 leads it
    assert rig.replica.view == 0 and rig.replica.vset.primary(2, 0) == sorted(new_set)[0]


def test_restart_after_persisting_a_new_view_votes_on_its_proposal() -> None:
    rig = Rig(n=4, me=0)
    rig.start()
    prop = proposal(1, (2,))
    cert = _prepared_cert(rig, 1, prop)
    new_primary = rig.primary(1, 2)
    senders = sorted(p for p in rig.pubs if p != rig.me)
    vcs = tuple(rig.vc(p, 2, prepared=cert if i == 0 else None) for i, p in enumerate(senders))
    pp = rig.keys.sign(PrePrepare(2, prop, new_primary, SIG))
    out = rig.recv(rig.keys.sign(NewView(1, 2, vcs, pp, new_primary, SIG)))
    first = next(a for a in out if isinstance(a, Persist))
    assert isinstance(first.record.message, NewView)
    again = Rig(n=4, me=0)
    out = again.start([first.record])  # killed before the PREPARE was persisted
    assert again.replica.view == 2 and again.replica.phase is Phase.NORMAL
    assert [m.digest for m in sent(out, Prepare)] == [prop.digest]


def test_tampered_new_view_is_rejected() -> None:
    rig = Rig(n=4, me=0)
    rig.start()
    new_primary = rig.primary(1, 1)
    senders = sorted(rig.pubs)
    vcs = tuple(rig.vc(p, 1) for p in senders)
    nv = rig.keys.sign(NewView(1, 1, vcs[:3], None, new_primary, SIG))
    tampered = NewView(1, 1, vcs[1:4], None, new_primary, nv.signature)  # other VCs, old sig
    out = rig.recv(tampered)
    assert any(isinstance(a, Fault) for a in out)
    assert rig.replica.view == 0
    rig.recv(nv)
    assert rig.replica.view == 1 and rig.replica.phase is Phase.NORMAL
