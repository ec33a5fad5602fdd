"""Outputs of ``Replica.step``: the driver carries them out in list order."""

from __future__ import annotations

from dataclasses import dataclass

from consensus.certificate import CommitCertificate
from consensus.events import TimerKind
from consensus.messages import Message, SignedMessage
from consensus.types import Proposal
from consensus.wal import WalRecord


@dataclass(frozen=True, slots=True)
class Persist:
    """Append ``record`` durably (fsync) before doing any later action of this batch."""

    record: WalRecord


@dataclass(frozen=True, slots=True)
class Reserve:
    """Durably record (fsync, apart from the WAL) before any later action of this batch: "I
    may sign at heights <= ``height`` in views <= ``view``". Emitted before the first signature
    the last mark does not cover (reserving heights ahead, so about once per 64 heights); hand
    it back as ``Start.reserved``. It bounds what a torn WAL tail can have hidden."""

    height: int
    view: int


@dataclass(frozen=True, slots=True)
class Send:
    to: bytes
    message: Message


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send to every other validator (the core handles its own copy itself)."""

    message: Message


@dataclass(frozen=True, slots=True)
class SetTimer:
    """Fire ``Timeout(kind, height, view)`` after ``delay`` time units (the driver's unit,
    e.g. ms). Replaces any pending timer of the same kind; stale timeouts are ignored."""

    kind: TimerKind
    delay: int
    height: int
    view: int


@dataclass(frozen=True, slots=True)
class Commit:
    """Block decided: store and apply it with its certificate, then send ``Executed``."""

    proposal: Proposal
    certificate: CommitCertificate


@dataclass(frozen=True, slots=True)
class RequestProposal:
    """We are primary at (height, view): build a block on ``parent`` and answer with
    ``ProposalReady``. The node may wait until transactions are pending."""

    height: int
    parent: bytes
    view: int


@dataclass(frozen=True, slots=True)
class RequestBlocks:
    """Fetch committed blocks ``from_height..to_height`` (inclusive) with their certificates
    from ``peer``; answer with ``BlocksFetched`` (possibly fewer blocks, or none)."""

    peer: bytes
    from_height: int
    to_height: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """``offender`` signed two conflicting messages: keep both as proof."""

    offender: bytes
    first: SignedMessage
    second: SignedMessage


@dataclass(frozen=True, slots=True)
class Fault:
    """A peer misbehaved (bad signature, invalid proposal, bad fetched block): log/score it."""

    peer: bytes
    reason: str


Action = (
    Reserve
    | Persist
    | Send
    | Broadcast
    | SetTimer
    | Commit
    | RequestProposal
    | RequestBlocks
    | Evidence
    | Fault
)
