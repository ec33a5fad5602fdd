"""Inputs of ``Replica.step``: everything the core learns arrives as one of these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from consensus.certificate import CommitCertificate
from consensus.messages import Message
from consensus.types import Proposal
from consensus.wal import WalRecord


class TimerKind(StrEnum):
    """``PROGRESS``: an accepted PRE-PREPARE must commit in time. ``REQUEST``: the oldest
    waiting transaction must be ordered in time (a censoring or silent primary is replaced).
    ``VIEW_CHANGE``: a NEW-VIEW must arrive in time. ``SYNC``: retry/issue block fetches."""

    PROGRESS = "progress"
    REQUEST = "request"
    VIEW_CHANGE = "view_change"
    SYNC = "sync"


@dataclass(frozen=True, slots=True)
class Start:
    """First event (also after a restart). ``height`` is the next height to decide (stored
    head + 1), ``parent`` the stored head's hash, ``validators`` the set in force at
    ``height``; ``records``: the WAL records kept on disk (any height; others are ignored).

    ``torn``: the WAL lost records at ``height`` (its tail was cut since the last commit), so
    the records cannot prove what we signed there. ``reserved``: the last durable ``Reserve``
    mark (None if never written); with ``torn`` the replica signs nothing at ``height`` in a
    view the mark covers (it starts a view change past it, or stays mute when there is no
    mark), so it never signs two different messages for one (height, view).

    ``view``: the view the stored head was decided in (its certificate's view; 0 at genesis):
    the view carries across heights, so the height starts there."""

    height: int
    parent: bytes
    validators: tuple[bytes, ...]
    records: tuple[WalRecord, ...] = ()
    torn: bool = False
    reserved: tuple[int, int] | None = None
    view: int = 0


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """``sender``: the transport-authenticated peer (65-byte key) the message came from."""

    sender: bytes
    message: Message


@dataclass(frozen=True, slots=True)
class Timeout:
    """A ``SetTimer`` fired; carries back the (kind, height, view) it was set with."""

    kind: TimerKind
    height: int
    view: int


@dataclass(frozen=True, slots=True)
class ProposalReady:
    """Answer to ``RequestProposal``: the block the node built on ``parent`` at ``height``."""

    proposal: Proposal
    view: int


@dataclass(frozen=True, slots=True)
class Executed:
    """The node applied committed block ``height``. ``validators``: the set in force from
    ``height + 1`` when the block changed it, else None. The core starts ``height + 1`` only
    after this event, so every replica uses the same set at every height."""

    height: int
    validators: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class BlocksFetched:
    """Blocks (with their certificates) a peer returned for ``RequestBlocks``; verified here."""

    peer: bytes
    blocks: tuple[tuple[Proposal, CommitCertificate], ...]


@dataclass(frozen=True, slots=True)
class PendingWork:
    """The mempool's oldest waiting transaction id (None: nothing waits). The request timer
    runs while the same id stays oldest, across heights, so censoring it forces a view change."""

    oldest: bytes | None


Event = Start | MessageReceived | Timeout | ProposalReady | Executed | BlocksFetched | PendingWork
