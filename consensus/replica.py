"""The PBFT replica: one pure state machine per validator, ``step(event) -> list[Action]``.

One height at a time. The view carries over from one height to the next (a height starts in the
view its predecessor was decided in) and the primary is ``validators.primary(view)``: a stable
leader replaced only by a view change, so a faulty primary costs one view change, not one
every n heights.
Normal case: PRE-PREPARE -> PREPARE (backups) -> COMMIT -> decide with a certificate. View
change: VIEW-CHANGE (carrying the best prepared certificate) -> NEW-VIEW from the next primary
with a quorum of them, re-proposing the highest prepared block. Handlers are small and
dispatched by message type; all state of the current height lives in ``_HeightState``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from consensus import actions as act
from consensus.certificate import CommitCertificate, make_certificate, verify_commit_certificate
from consensus.errors import ConsensusError, LocalError
from consensus.events import (
    BlocksFetched,
    Event,
    Executed,
    MessageReceived,
    PendingWork,
    ProposalReady,
    Start,
    Timeout,
    TimerKind,
)
from consensus.messages import (
    CommitVote,
    Message,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    SignedMessage,
    Status,
    ViewChange,
)
from consensus.types import MAX_CHAIN_ID_LEN, MAX_VIEW, Proposal, check_pubkey
from consensus.validators import ValidatorSet
from consensus.wal import WalRecord

Sign = Callable[[bytes], bytes]
Verify = Callable[[bytes, bytes, bytes], bool]
#: True: a valid next block. False: invalid, the proposer's fault (it is blamed). Raising: this
#: node cannot tell (a local failure); the step raises LocalError, nobody is blamed.
ValidateProposal = Callable[[Proposal], bool]
_PLACEHOLDER_SIG = b"\x00"
#: A ``Reserve`` mark covers this many heights ahead, so it is written about once per 64
#: heights (and once per view change), not before every signature.
RESERVE_AHEAD = 64


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    """Tunables; times are in the driver's unit (milliseconds in the node)."""

    chain_id: bytes
    base_timeout: int = 1000
    max_timeout: int = 60_000
    #: How long the oldest waiting transaction may wait for a proposal before we give up on
    #: the primary (the REQUEST timer); 0: ``base_timeout``, like the other timers.
    request_timeout: int = 0
    sync_delay: int = 100
    sync_batch: int = 64
    max_buffered: int = 4096
    #: Bytes (approximate: payloads plus a fixed cost per message) the future buffer may hold.
    max_buffered_bytes: int = 64 * 1024 * 1024
    future_heights: int = 16
    view_window: int = 1024
    vote_view_window: int = 4

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, bytes) or not 0 < len(self.chain_id) <= (MAX_CHAIN_ID_LEN):
            raise LocalError("chain_id must be 1..64 bytes")
        for name in (
            "base_timeout",
            "max_timeout",
            "sync_batch",
            "max_buffered",
            "max_buffered_bytes",
        ):
            if getattr(self, name) <= 0:
                raise LocalError(f"{name} must be positive")

    def timeout(self, view: int, kind: TimerKind | None = None) -> int:
        """Exponential back-off per view (counted from the height's start view), capped."""
        base = self.base_timeout
        if kind is TimerKind.REQUEST and self.request_timeout > 0:
            base = self.request_timeout
        return min(base << min(view, 40), max(self.max_timeout, base))


def approx_size(msg: SignedMessage) -> int:
    """What holding ``msg`` costs, near enough for a memory bound: its payloads (blocks)
    plus a fixed 256 bytes per signed part."""
    if isinstance(msg, PrePrepare):
        return 256 + len(msg.proposal.payload)
    if isinstance(msg, ViewChange):
        c = msg.prepared
        return (
            256 if c is None else 512 + len(c.pre_prepare.proposal.payload) + 256 * len(c.prepares)
        )
    if isinstance(msg, NewView):
        pp = 0 if msg.pre_prepare is None else approx_size(msg.pre_prepare)
        return 256 + pp + sum(approx_size(vc) for vc in msg.view_changes)
    return 256


def select_prepared(view_changes: tuple[ViewChange, ...]) -> PreparedCertificate | None:
    """The NEW-VIEW rule: the prepared certificate of the highest view (ties: lowest digest)."""
    best: PreparedCertificate | None = None
    for vc in view_changes:
        c = vc.prepared
        if c is None:
            continue
        if best is None or (c.view, best.digest) > (best.view, c.digest):
            best = c
    return best


class Phase(StrEnum):
    NORMAL = "normal"
    VIEW_CHANGE = "view_change"
    EXECUTING = "executing"  # decided; waiting for Executed before the next height


@dataclass
class _HeightState:
    """Everything about the height being decided; replaced wholesale on a new height."""

    pre_prepares: dict[int, PrePrepare] = field(default_factory=dict)
    prepares: dict[int, dict[bytes, Prepare]] = field(default_factory=dict)
    commits: dict[int, dict[bytes, CommitVote]] = field(default_factory=dict)
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    sent: dict[tuple[int, int], bytes | None] = field(default_factory=dict)
    prepared: PreparedCertificate | None = None
    view_changes: dict[bytes, ViewChange] = field(default_factory=dict)
    new_view: NewView | None = None
    future_pre_prepares: dict[int, PrePrepare] = field(default_factory=dict)
    progress_view: int = -1
    faulty_view: int = -1
    verified: set[tuple[bytes, bytes, bytes]] = field(default_factory=set)


class Replica:
    """A validator's consensus core. Drive it with ``step``; see the package docstring."""

    def __init__(
        self,
        config: ReplicaConfig,
        public_key: bytes,
        sign: Sign,
        verify: Verify,
        validate_proposal: ValidateProposal,
    ) -> None:
        self.config = config
        self.me = check_pubkey(public_key)
        self._sign = sign
        self._verify = verify
        self._validate = validate_proposal
        self.started = False
        self.height = 0
        self.parent = b""
        self.view = 0
        #: The view this height started in (the view the previous height was decided in): a
        #: primary proposes there without a NEW-VIEW, and timeouts back off from it.
        self.start_view = 0
        self.phase = Phase.NORMAL
        self.validators: ValidatorSet | None = None
        self.st = _HeightState()
        #: Messages for later heights, queued per transport-authenticated peer (a validator's
        #: link): a forged sender field cannot spend an honest validator's quota.
        self._future: dict[bytes, list[SignedMessage]] = {}
        self._future_count = 0
        self._future_bytes: dict[bytes, int] = {}
        self._peer_heights: dict[bytes, int] = {}
        self._sync_armed = False
        self._sync_attempt = 0
        self._fetched: dict[int, tuple[bytes, Proposal, CommitCertificate]] = {}
        self._oldest: bytes | None = None
        self._request_timer: tuple[int, int] | None = None
        self._reserved: tuple[int, int] | None = None
        #: (height, view): after a torn WAL tail we sign nothing at ``height`` below ``view``.
        self._floor: tuple[int, int] | None = None
        self._out: list[act.Action] = []

    # ------------------------------------------------------------------ entry point

    def step(self, event: Event) -> list[act.Action]:
        """Feed one event; returns the actions to carry out, in order."""
        self._out = []
        if isinstance(event, Start):
            self._on_start(event)
        elif not self.started:
            raise LocalError(f"{type(event).__name__} before Start")
        elif isinstance(event, MessageReceived):
            self._on_message(event.sender, event.message)
        elif isinstance(event, Timeout):
            self._on_timeout(event)
        elif isinstance(event, ProposalReady):
            self._on_proposal_ready(event)
        elif isinstance(event, Executed):
            self._on_executed(event)
        elif isinstance(event, BlocksFetched):
            self._on_blocks_fetched(event)
        elif isinstance(event, PendingWork):
            self._on_pending_work(event)
        else:
            raise LocalError(f"unknown event {event!r}")
        out, self._out = self._out, []
        return out

    @property
    def buffered(self) -> int:
        """Messages held for later heights/views (bounded by ``config.max_buffered``)."""
        return self._future_count + len(self.st.future_pre_prepares)

    @property
    def buffered_bytes(self) -> int:
        """Approximate bytes held for later heights (bounded by ``max_buffered_bytes``)."""
        return sum(self._future_bytes.values())

    # ------------------------------------------------------------------ helpers

    @property
    def vset(self) -> ValidatorSet:
        assert self.validators is not None
        return self.validators

    def _emit(self, action: act.Action) -> None:
        self._out.append(action)

    def _signed(self, msg: Any) -> Any:
        if not self._may_sign(msg.height, msg.view):  # every caller checks first: our bug
            raise LocalError(f"refusing to sign at {(msg.height, msg.view)} below the torn floor")
        self._reserve(msg.height, msg.view)
        sig = self._sign(msg.signing_bytes(self.config.chain_id))
        return dataclasses.replace(msg, signature=sig)

    def _may_sign(self, height: int, view: int) -> bool:
        """False where a torn WAL tail may hide what we signed (see ``Start.torn``)."""
        floor = self._floor
        return floor is None or height != floor[0] or view >= floor[1]

    def _reserve(self, height: int, view: int) -> None:
        """Raise the durable mark before signing (or entering) a (height, view) it misses."""
        r = self._reserved
        if r is not None and height <= r[0] and view <= r[1]:
            return
        mark = (
            max(height + RESERVE_AHEAD, 0 if r is None else r[0]),
            max(view, 0 if r is None else r[1]),
        )
        self._reserved = mark
        self._emit(act.Reserve(*mark))

    def _send_own(self, record: WalRecord, to: bytes | None = None) -> None:
        """Persist before send: the record is durable before the message leaves."""
        self._emit(act.Persist(record))
        msg = record.message
        self._emit(act.Broadcast(msg) if to is None else act.Send(to, msg))

    def _verified(self, msg: SignedMessage) -> bool:
        data = msg.signing_bytes(self.config.chain_id)
        key = (msg.sender, data, msg.signature)
        if key in self.st.verified:
            return True
        try:
            ok = bool(self._verify(msg.sender, data, msg.signature))
        except Exception:  # noqa: BLE001  # trust boundary: the injected verifier on a peer's signature
            ok = False
        if ok:
            if len(self.st.verified) > 8192:
                self.st.verified.clear()
            self.st.verified.add(key)
        return ok

    def _valid_proposal(self, proposal: Proposal) -> bool:
        """The callback says False for an invalid proposal (the primary's fault). When it
        raises, this node could not judge (its disk, its memory, a bug): that is nobody's
        fault but ours, so no fault is reported and no view change starts; the step fails
        with LocalError and the caller halts (h11 style: a local error is loud)."""
        if proposal.height != self.height or proposal.parent != self.parent:
            return False
        try:
            return bool(self._validate(proposal))
        except Exception as e:
            raise LocalError(
                f"validate_proposal raised {type(e).__name__} at height {proposal.height}:"
                " this replica cannot judge the proposal"
            ) from e

    def _is_primary(self, view: int) -> bool:
        return self.vset.primary(self.height, view) == self.me

    def _set_timer(self, kind: TimerKind, view: int, delay: int | None = None) -> None:
        if delay is None:
            delay = self.config.timeout(max(0, view - self.start_view), kind)
        self._emit(act.SetTimer(kind, delay, self.height, view))

    # ------------------------------------------------------------------ start / restore

    # long: recovery from the WAL, phase by phase, in one place
    def _on_start(self, ev: Start) -> None:  # noqa: C901, PLR0912  # every recovery case in one place
        self.started = True
        self.height = ev.height
        self.parent = ev.parent
        self.validators = ValidatorSet(ev.validators)
        self.view = self.start_view = ev.view
        self.phase = Phase.NORMAL
        self.st = _HeightState()
        self._future.clear()
        self._future_count = 0
        self._future_bytes.clear()
        self._fetched.clear()
        self._sync_armed = False
        self._request_timer = None
        self._reserved = ev.reserved
        self._floor = None
        if ev.torn and ev.reserved is None:
            self._floor = (ev.height, MAX_VIEW + 1)  # no mark: we cannot bound it, stay mute
        elif ev.torn and ev.reserved is not None and ev.reserved[0] >= ev.height:
            self._floor = (ev.height, ev.reserved[1] + 1)
        mine = [r for r in ev.records if r.height == ev.height]
        last_vc: ViewChange | None = None
        entered: set[int] = {ev.view}
        for rec in mine:
            m = rec.message
            self.view = max(self.view, m.view)
            if rec.pre_prepare is not None:
                pp = rec.pre_prepare
                self.st.pre_prepares.setdefault(pp.view, pp)
                self.st.proposals[pp.digest] = pp.proposal
            if rec.prepared is not None:
                self._keep_prepared(rec.prepared)
            if isinstance(m, ViewChange):
                if m.sender == self.me and (last_vc is None or m.view > last_vc.view):
                    last_vc = m
                if m.prepared is not None:
                    self._keep_prepared(m.prepared)
                continue
            if isinstance(m, NewView):
                entered.add(m.view)
                if self.st.new_view is None or m.view > self.st.new_view.view:
                    self.st.new_view = m
                nv_pp = m.pre_prepare
                if nv_pp is not None:
                    self.st.pre_prepares.setdefault(m.view, nv_pp)
                    self.st.proposals[nv_pp.digest] = nv_pp.proposal
                if m.sender == self.me:
                    self.st.sent[(NewView.TAG, m.view)] = None if nv_pp is None else nv_pp.digest
                continue
            entered.add(m.view)
            self.st.sent[(m.TAG, m.view)] = m.digest
            if isinstance(m, PrePrepare):
                self.st.pre_prepares.setdefault(m.view, m)
                self.st.proposals[m.digest] = m.proposal
            elif isinstance(m, Prepare):
                self.st.prepares.setdefault(m.view, {})[m.sender] = m
            elif isinstance(m, CommitVote):
                self.st.commits.setdefault(m.view, {})[m.sender] = m
        if last_vc is not None:
            self.st.view_changes[self.me] = last_vc
            self.st.sent[(ViewChange.TAG, last_vc.view)] = None
        floor = self._floor
        if floor is not None and floor[1] <= MAX_VIEW:
            # A torn tail: our records may miss messages we signed at views up to the mark.
            # Move past them at once; a peer's quorum (or block sync) brings us the height.
            self.phase = Phase.NORMAL
            self._start_view_change(floor[1])
            return
        if last_vc is not None and last_vc.view == self.view and self.view not in entered:
            self.phase = Phase.VIEW_CHANGE
            self._emit(act.Broadcast(last_vc))
            self._set_timer(TimerKind.VIEW_CHANGE, self.view)
            return
        # Normal phase at the highest view we acted in: re-send (never re-sign) our messages.
        for rec in mine:
            m = rec.message
            if m.view == self.view and m.sender == self.me:
                self._emit(act.Broadcast(m))
        current = self.st.pre_prepares.get(self.view)
        if current is not None:
            # Crashed after persisting a NEW-VIEW but before voting on its proposal: vote now
            # (nothing was signed at this view, so nothing can conflict).
            if current.sender != self.me and (Prepare.TAG, self.view) not in self.st.sent:
                del self.st.pre_prepares[self.view]
                self._accept_pre_prepare(current, blame=False)
            self._arm_progress()
        self._maybe_request_proposal()

    def _keep_prepared(self, cert: PreparedCertificate) -> None:
        if self.st.prepared is None or cert.view > self.st.prepared.view:
            self.st.prepared = cert
        self.st.proposals.setdefault(cert.digest, cert.pre_prepare.proposal)

    def _maybe_request_proposal(self) -> None:
        if (
            self.phase is Phase.NORMAL
            and self._may_sign(self.height, self.view)
            and self._is_primary(self.view)
            and self.view not in self.st.pre_prepares
            and (self.view == self.start_view or self.st.new_view is not None)
        ):
            self._emit(act.RequestProposal(self.height, self.parent, self.view))

    # ------------------------------------------------------------------ messages

    def _on_message(self, peer: bytes, msg: Message) -> None:
        if isinstance(msg, Status):
            self._note_peer_height(peer, msg.height)
            return
        h = msg.height
        if h < self.height:
            if isinstance(msg, ViewChange) and msg.sender == peer:
                # A replica stuck at an old height: tell it where we are so it syncs.
                self._emit(act.Send(peer, Status(self.height)))
            return
        if h > self.height or self.phase is Phase.EXECUTING:
            self._buffer_future(peer, msg)
            return
        vset = self.vset
        if msg.sender not in vset:
            self._emit(act.Fault(peer, "message from a non-validator"))
            return
        if not self._verified(msg):
            self._emit(act.Fault(peer, f"bad signature on {type(msg).__name__}"))
            return
        if isinstance(msg, PrePrepare):
            self._on_pre_prepare(peer, msg)
        elif isinstance(msg, Prepare):
            self._on_prepare(msg)
        elif isinstance(msg, CommitVote):
            self._on_commit(msg)
        elif isinstance(msg, ViewChange):
            self._on_view_change(peer, msg)
        elif isinstance(msg, NewView):
            self._on_new_view(peer, msg)

    def _buffer_future(self, peer: bytes, msg: SignedMessage) -> None:
        """Hold a message for a later height, against the quota of the validator whose link it
        came on (not its claimed sender): a flood of junk, whatever senders it names, fills
        only its own link's share; count and bytes are bounded per link and in total."""
        vset = self.vset
        if peer not in vset or peer == self.me:
            return
        h = msg.height
        if (
            msg.sender == peer
            and h > max(self.height, self._peer_heights.get(peer, 0))
            and self._verified(msg)
        ):
            # Its signer is deciding height h, so every height below h is committed somewhere
            # (checked once per new height claimed, and only for the link's own messages).
            self._note_peer_height(peer, h)
        if h > self.height + self.config.future_heights:
            return
        self._enqueue_future(peer, msg)

    def _enqueue_future(self, peer: bytes, msg: SignedMessage) -> None:
        cfg = self.config
        n = max(self.vset.n, 1)
        size = approx_size(msg)
        queue = self._future.get(peer, ())
        used = self._future_bytes.get(peer, 0)
        if (
            len(queue) >= max(4, cfg.max_buffered // n)
            or used + size > cfg.max_buffered_bytes // n
            or self._future_count >= cfg.max_buffered
        ):
            return
        self._future.setdefault(peer, []).append(msg)
        self._future_bytes[peer] = used + size
        self._future_count += 1

    def _on_pre_prepare(self, peer: bytes, pp: PrePrepare) -> None:
        if pp.sender != self.vset.primary(self.height, pp.view):
            self._emit(act.Fault(peer, "PRE-PREPARE from a non-primary"))
            if pp.sender == peer and pp.sender == self.vset.primary(self.height, self.view):
                # Our (next) primary signed nonsense: it is faulty, do not wait for a timer.
                if self.phase is Phase.NORMAL:
                    self._start_view_change(self.view + 1)
                else:
                    self.st.faulty_view = self.view
            return
        if pp.view < self.view:
            return
        if pp.view > self.view or self.phase is Phase.VIEW_CHANGE:
            fp = self.st.future_pre_prepares
            if pp.view <= self.view + self.config.vote_view_window and len(fp) < 64:
                fp.setdefault(pp.view, pp)
            return
        self._accept_pre_prepare(pp, blame=peer == pp.sender)

    def _accept_pre_prepare(self, pp: PrePrepare, blame: bool) -> None:
        existing = self.st.pre_prepares.get(pp.view)
        if existing is not None:
            if existing.digest != pp.digest:
                self._emit(act.Evidence(pp.sender, existing, pp))
                self._start_view_change(self.view + 1)
            return
        if not self._valid_proposal(pp.proposal):
            if blame:
                self._emit(act.Fault(pp.sender, "invalid proposal"))
                self._start_view_change(self.view + 1)
            return
        self.st.pre_prepares[pp.view] = pp
        self.st.proposals[pp.digest] = pp.proposal
        if (
            pp.sender != self.me
            and self.me in self.vset
            and (Prepare.TAG, pp.view) not in self.st.sent
            and self._may_sign(self.height, pp.view)
        ):
            vote = self._signed(Prepare(self.height, pp.view, pp.digest, self.me, _PLACEHOLDER_SIG))
            self.st.sent[(Prepare.TAG, pp.view)] = pp.digest
            self.st.prepares.setdefault(pp.view, {})[self.me] = vote
            self._send_own(WalRecord(vote, pre_prepare=pp))
        self._arm_progress()
        self._check_prepared(pp.view)
        self._check_committed(pp.view, pp.digest)

    def _arm_progress(self) -> None:
        if self.st.progress_view != self.view:
            self.st.progress_view = self.view
            self._set_timer(TimerKind.PROGRESS, self.view)

    def _store_vote(self, table: dict[int, dict[bytes, Any]], vote: Prepare | CommitVote) -> bool:
        if vote.view > self.view + self.config.vote_view_window:
            return False
        votes = table.setdefault(vote.view, {})
        old = votes.get(vote.sender)
        if old is not None:
            if old.digest != vote.digest:
                self._emit(act.Evidence(vote.sender, old, vote))
            return False
        votes[vote.sender] = vote
        return True

    def _on_prepare(self, vote: Prepare) -> None:
        if vote.sender == self.vset.primary(self.height, vote.view) or vote.view < self.view:
            return
        if self._store_vote(self.st.prepares, vote) and vote.view == self.view:
            self._check_prepared(vote.view)

    def _on_commit(self, vote: CommitVote) -> None:
        if self._store_vote(self.st.commits, vote):
            self._check_committed(vote.view, vote.digest)

    def _check_prepared(self, view: int) -> None:
        pp = self.st.pre_prepares.get(view)
        if (
            pp is None
            or view != self.view
            or self.phase is not Phase.NORMAL
            or (CommitVote.TAG, view) in self.st.sent
        ):
            return
        matching = [p for p in self.st.prepares.get(view, {}).values() if p.digest == pp.digest]
        if len(matching) < self.vset.quorum - 1 or self.me not in self.vset:
            return
        if not self._may_sign(self.height, view):
            return
        cert = PreparedCertificate(pp, tuple(sorted(matching, key=lambda p: p.sender)))
        self._keep_prepared(cert)
        vote = self._signed(CommitVote(self.height, view, pp.digest, self.me, _PLACEHOLDER_SIG))
        self.st.sent[(CommitVote.TAG, view)] = pp.digest
        self.st.commits.setdefault(view, {})[self.me] = vote
        self._send_own(WalRecord(vote, pre_prepare=pp, prepared=cert))
        self._check_committed(view, pp.digest)

    def _check_committed(self, view: int, digest: bytes) -> None:
        if self.phase is Phase.EXECUTING:
            return
        proposal = self.st.proposals.get(digest)
        if proposal is None or proposal.parent != self.parent:
            return
        votes = [v for v in self.st.commits.get(view, {}).values() if v.digest == digest]
        if len(votes) < self.vset.quorum:
            return
        sigs = sorted((v.sender, v.signature) for v in votes)[: self.vset.quorum]
        self._decide(proposal, make_certificate(self.height, view, digest, sigs))

    def _decide(self, proposal: Proposal, cert: CommitCertificate) -> None:
        self._emit(act.Commit(proposal, cert))
        self.parent = proposal.digest
        self.height += 1
        # The next height starts in the view this one was decided in: same primary, unless
        # it failed here. (Replicas that decided in different views re-align by view change.)
        self.view = self.start_view = cert.view
        self.phase = Phase.EXECUTING
        self.st = _HeightState()
        self._peer_heights = {p: h for p, h in self._peer_heights.items() if h > self.height}

    # ------------------------------------------------------------------ view change

    def _start_view_change(self, target: int) -> None:
        if target > MAX_VIEW or target <= self.view and self.phase is Phase.VIEW_CHANGE:
            return
        if target < self.view or self.phase is Phase.EXECUTING or self.me not in self.vset:
            return
        if (ViewChange.TAG, target) in self.st.sent or not self._may_sign(self.height, target):
            return
        vc = self._signed(
            ViewChange(self.height, target, self.st.prepared, self.me, _PLACEHOLDER_SIG)
        )
        self.st.sent[(ViewChange.TAG, target)] = None
        self.view = target
        self.phase = Phase.VIEW_CHANGE
        self.st.new_view = None
        self.st.view_changes[self.me] = vc
        self._send_own(WalRecord(vc))
        self._set_timer(TimerKind.VIEW_CHANGE, target)
        self._check_new_view_quorum()

    def _valid_prepared(self, cert: PreparedCertificate) -> bool:
        pp = cert.pre_prepare
        vset = self.vset
        if pp.height != self.height or pp.proposal.parent != self.parent:
            return False
        if pp.sender != vset.primary(self.height, pp.view):
            return False
        if len(cert.prepares) < vset.quorum - 1:
            return False
        if any(p.sender not in vset for p in cert.prepares):
            return False
        return self._verified(pp) and all(self._verified(p) for p in cert.prepares)

    def _on_view_change(self, peer: bytes, vc: ViewChange) -> None:
        if vc.view > self.view + self.config.view_window:
            return
        if self.phase is Phase.NORMAL and vc.view <= self.view:
            nv = self.st.new_view
            if nv is not None and nv.view == self.view and vc.sender == peer:
                self._emit(act.Send(peer, nv))  # help a replica that missed our NEW-VIEW
            return
        if vc.view < self.view:
            return
        prev = self.st.view_changes.get(vc.sender)
        if prev is not None and prev.view >= vc.view:
            return
        if vc.prepared is not None and not self._valid_prepared(vc.prepared):
            self._emit(act.Fault(peer, "VIEW-CHANGE with an invalid prepared certificate"))
            return
        self.st.view_changes[vc.sender] = vc
        # f+1 rule: f+1 validators want a higher view, so at least one honest one does.
        ahead = sorted(
            (
                v.view
                for s, v in self.st.view_changes.items()
                if s != self.me and v.view > self.view
            ),
            reverse=True,
        )
        if len(ahead) > self.vset.f:
            self._start_view_change(ahead[self.vset.f])
        self._check_new_view_quorum()

    def _check_new_view_quorum(self) -> None:
        w = self.view
        if (
            self.phase is not Phase.VIEW_CHANGE
            or not self._is_primary(w)
            or (NewView.TAG, w) in self.st.sent
            or not self._may_sign(self.height, w)
        ):
            return
        own = self.st.view_changes.get(self.me)
        others = sorted(
            (v for s, v in self.st.view_changes.items() if v.view == w and s != self.me),
            key=lambda v: v.sender,
        )
        if own is None or own.view != w or len(others) < self.vset.quorum - 1:
            return
        chosen = tuple(sorted([own, *others[: self.vset.quorum - 1]], key=lambda v: v.sender))
        best = select_prepared(chosen)
        pp: PrePrepare | None = None
        if best is not None:
            candidates = [self.st.proposals.get(best.digest)] + [
                v.prepared.pre_prepare.proposal
                for v in chosen
                if v.prepared is not None and v.prepared.digest == best.digest
            ]
            proposal = next(
                (p for p in candidates if p is not None and self._valid_proposal(p)), None
            )
            if proposal is None:
                return  # cannot re-propose yet; the view-change timer moves us on
            pp = self._signed(PrePrepare(w, proposal, self.me, _PLACEHOLDER_SIG))
        nv = self._signed(NewView(self.height, w, chosen, pp, self.me, _PLACEHOLDER_SIG))
        self.st.sent[(NewView.TAG, w)] = None if pp is None else pp.digest
        self._send_own(WalRecord(nv, pre_prepare=pp))
        self._enter_new_view(nv, persist=False)

    def _valid_new_view(self, nv: NewView) -> bool:
        vset = self.vset
        if nv.sender != vset.primary(self.height, nv.view) or len(nv.view_changes) < vset.quorum:
            return False
        for vc in nv.view_changes:
            if vc.sender not in vset or not self._verified(vc):
                return False
            if vc.prepared is not None and not self._valid_prepared(vc.prepared):
                return False
        best = select_prepared(nv.view_changes)
        pp = nv.pre_prepare
        if best is None:
            return pp is None
        return pp is not None and pp.digest == best.digest and self._verified(pp)

    def _on_new_view(self, peer: bytes, nv: NewView) -> None:
        if nv.view < self.view or (nv.view == self.view and self.phase is Phase.NORMAL):
            return
        if nv.view > self.view + self.config.view_window:
            return
        if not self._valid_new_view(nv):
            self._emit(act.Fault(peer, "invalid NEW-VIEW"))
            return
        self._enter_new_view(nv, persist=True)

    def _enter_new_view(self, nv: NewView, persist: bool) -> None:
        self._reserve(self.height, nv.view)  # a torn tail must not take our view back either
        if persist:
            # Durable view: after a restart we never fall back below it (invariant M).
            self._emit(act.Persist(WalRecord(nv)))
        self.view = nv.view
        self.phase = Phase.NORMAL
        self.st.new_view = nv
        if self._oldest is not None:
            self._request_timer = (self.height, self.view)
            self._set_timer(TimerKind.REQUEST, self.view)
        if nv.pre_prepare is not None:
            self._accept_pre_prepare(nv.pre_prepare, blame=True)
        else:
            buffered = self.st.future_pre_prepares.pop(nv.view, None)
            if buffered is not None:
                self._accept_pre_prepare(buffered, blame=False)
            self._maybe_request_proposal()
        for view in [v for v in self.st.future_pre_prepares if v <= nv.view]:
            del self.st.future_pre_prepares[view]
        commits = self.st.commits.get(self.view, {})
        for digest in {v.digest for v in commits.values()}:
            self._check_committed(self.view, digest)
        if self.st.faulty_view == nv.view and self.phase is Phase.NORMAL:
            self._start_view_change(nv.view + 1)

    # ------------------------------------------------------------------ other events

    def _on_timeout(self, ev: Timeout) -> None:
        if ev.kind is TimerKind.SYNC:
            self._on_sync_timer()
            return
        if ev.kind is TimerKind.REQUEST:
            if self._request_timer != (ev.height, ev.view) or self._oldest is None:
                return
            self._request_timer = None
            if self.phase is Phase.NORMAL:
                self._start_view_change(self.view + 1)
            elif self.phase is Phase.EXECUTING:
                self._request_timer = (self.height, self.view)
                self._set_timer(TimerKind.REQUEST, self.view)
            return
        if (ev.height, ev.view) != (self.height, self.view):
            return
        if ev.kind is TimerKind.PROGRESS and self.phase is Phase.NORMAL:
            self._start_view_change(self.view + 1)
        elif ev.kind is TimerKind.VIEW_CHANGE and self.phase is Phase.VIEW_CHANGE:
            self._on_view_change_timer()

    def _on_view_change_timer(self) -> None:
        """PBFT's rule: move past view w only once a quorum has given up on views below w.

        Without a quorum we re-send our VIEW-CHANGE (lost messages) and wait; so a replica with
        a short timer cannot run away through views the others never reach.
        """
        w = self.view
        behind_us = sum(1 for v in self.st.view_changes.values() if v.view >= w)
        if behind_us >= self.vset.quorum:
            self._start_view_change(w + 1)
            return
        own = self.st.view_changes.get(self.me)
        if own is not None and own.view == w:
            self._emit(act.Broadcast(own))
        self._set_timer(TimerKind.VIEW_CHANGE, w)

    def _on_pending_work(self, ev: PendingWork) -> None:
        if ev.oldest == self._oldest:
            return
        self._oldest = ev.oldest
        if ev.oldest is None:
            self._request_timer = None
        else:
            self._request_timer = (self.height, self.view)
            self._set_timer(TimerKind.REQUEST, self.view)

    def _on_proposal_ready(self, ev: ProposalReady) -> None:
        p = ev.proposal
        if (
            self.phase is not Phase.NORMAL
            or ev.view != self.view
            or p.height != self.height
            or p.parent != self.parent
            or not self._is_primary(self.view)
            or self.view in self.st.pre_prepares
            or (PrePrepare.TAG, self.view) in self.st.sent
            or not self._may_sign(self.height, self.view)
        ):
            return  # stale answer to an old request
        pp = self._signed(PrePrepare(self.view, p, self.me, _PLACEHOLDER_SIG))
        self.st.sent[(PrePrepare.TAG, self.view)] = p.digest
        self.st.pre_prepares[self.view] = pp
        self.st.proposals[p.digest] = p
        self._send_own(WalRecord(pp, pre_prepare=pp))
        self._arm_progress()
        self._check_prepared(self.view)

    def _on_executed(self, ev: Executed) -> None:
        if self.phase is not Phase.EXECUTING or ev.height != self.height - 1:
            raise LocalError(f"Executed({ev.height}) but the last decided height is not that")
        if ev.validators is not None:
            self.validators = ValidatorSet(ev.validators)
        self.phase = Phase.NORMAL
        if self._fetched.get(self.height) is not None and self._apply_fetched():
            return
        if self._oldest is not None and self._request_timer is None:
            self._request_timer = (self.height, self.view)
            self._set_timer(TimerKind.REQUEST, self.view)
        self._maybe_request_proposal()
        self._replay_future()
        if self.phase is not Phase.EXECUTING and any(
            h > self.height for h in self._peer_heights.values()
        ):
            self._arm_sync()

    def _replay_future(self) -> None:
        pending = self._future
        self._future = {}
        self._future_count = 0
        self._future_bytes = {}
        for peer, queue in pending.items():
            for msg in queue:
                if self.phase is Phase.EXECUTING or msg.height > self.height:
                    if msg.height >= self.height and peer in self.vset:
                        self._enqueue_future(peer, msg)
                elif msg.height == self.height:
                    self._on_message(peer, msg)

    # ------------------------------------------------------------------ block sync

    def _note_peer_height(self, peer: bytes, height: int) -> None:
        if peer not in self.vset or peer == self.me or height <= self.height:
            return
        self._peer_heights[peer] = max(height, self._peer_heights.get(peer, 0))
        self._arm_sync()

    def _arm_sync(self) -> None:
        if not self._sync_armed:
            self._sync_armed = True
            self._emit(act.SetTimer(TimerKind.SYNC, self.config.sync_delay, self.height, 0))

    def _on_sync_timer(self) -> None:
        self._sync_armed = False
        ahead = sorted(p for p, h in self._peer_heights.items() if h > self.height)
        if not ahead:
            return
        if self.phase is not Phase.EXECUTING:
            peer = ahead[self._sync_attempt % len(ahead)]
            self._sync_attempt += 1
            last = min(self._peer_heights[peer] - 1, self.height + self.config.sync_batch - 1)
            self._emit(act.RequestBlocks(peer, self.height, last))
        self._sync_armed = True
        delay = max(self.config.sync_delay, self.config.base_timeout)
        self._emit(act.SetTimer(TimerKind.SYNC, delay, self.height, 0))

    def _on_blocks_fetched(self, ev: BlocksFetched) -> None:
        for item in ev.blocks[: self.config.sync_batch]:
            if not isinstance(item, tuple) or len(item) != 2:
                self._emit(act.Fault(ev.peer, "malformed fetched block"))
                return
            proposal, cert = item
            if not isinstance(proposal, Proposal) or not isinstance(cert, CommitCertificate):
                self._emit(act.Fault(ev.peer, "malformed fetched block"))
                return
            h = proposal.height
            if self.height <= h < self.height + self.config.sync_batch:
                self._fetched.setdefault(h, (ev.peer, proposal, cert))
        if self.phase is not Phase.EXECUTING:
            self._apply_fetched()

    def _apply_fetched(self) -> bool:
        """Decide the next height from a fetched block if it verifies. True if decided."""
        entry = self._fetched.pop(self.height, None)
        for h in [h for h in self._fetched if h < self.height]:
            del self._fetched[h]
        if entry is None:
            return False
        peer, proposal, cert = entry
        ok = (
            cert.height == self.height
            and cert.block_hash == proposal.digest
            and verify_commit_certificate(
                self.vset.keys,
                self.height,
                proposal.digest,
                cert,
                self.config.chain_id,
                self._verify,
            )
            and self._valid_proposal(proposal)
        )
        if not ok:
            self._emit(act.Fault(peer, f"fetched block {self.height} does not verify"))
            self._fetched = {h: e for h, e in self._fetched.items() if e[0] != peer}
            return False
        self._decide(proposal, cert)
        return True


__all__ = ["ConsensusError", "Phase", "Replica", "ReplicaConfig", "select_prepared"]
