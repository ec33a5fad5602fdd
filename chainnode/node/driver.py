"""The consensus driver: feed events to ``Replica.step`` and carry out its actions, in order.

This is the whole I/O contract of consensus (STYLE.md: the aioquic/etcd-raft shell). Events
raised while actions run (a commit produces ``Executed``, a ready proposal ``ProposalReady``)
are queued and stepped after the current batch, never re-entrantly. ``Persist`` is fsynced
before any later action of its batch, so our votes are durable before they leave. The host may
do a commit or a WAL append in the background (off the event loop, which serves clients
meanwhile): the driver then carries out and steps nothing until it says it is done, so the
order of actions and events is the order of doing them in line.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from chainnode.node.wal import WriteAheadLog
from consensus import actions as A
from consensus import events as E
from consensus.certificate import CommitCertificate
from consensus.messages import Message, encode_message
from consensus.types import Proposal
from consensus.wal import encode_record

log = logging.getLogger("chainnode.node.driver")

CONSENSUS_CHANNEL = 1


class Replica(Protocol):
    def step(self, event: E.Event) -> list[A.Action]: ...


class Transport(Protocol):
    """Where consensus messages go (the p2p network, or a seam's wrapper); what the calls
    return (delivered or not) is not the driver's concern."""

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> object: ...

    def broadcast(self, channel: int, payload: bytes) -> object: ...


class Host(Protocol):
    """What the driver asks of the node for the actions that need the ledger."""

    def request_proposal(self, height: int, parent: bytes, view: int) -> None: ...

    def commit(self, proposal: Proposal, certificate: CommitCertificate) -> E.Executed | None:
        """``Executed`` once committed; or None: the commit goes on in the background and the
        host calls ``Driver.resume`` with its ``Executed`` when it is done."""
        ...

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None: ...

    def fault(self, peer: bytes, reason: str) -> None: ...


class Driver:
    def __init__(  # noqa: PLR0913  # the options past loop are keyword-only
        self,
        replica: Replica,
        wal: WriteAheadLog,
        transport: Transport,
        host: Host,
        loop: asyncio.AbstractEventLoop,
        *,
        time_unit: float = 0.001,
        on_step: Callable[[], None] | None = None,
        on_send: Callable[[Message], None] | None = None,
        wire: Callable[[Message], Message] | None = None,
        persist: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        self.replica = replica
        self.wal = wal
        self.transport = transport
        self.host = host
        self.loop = loop
        self.time_unit = time_unit
        self._queue: deque[E.Event] = deque()
        self._actions: deque[A.Action] = deque()  # the current step's, not carried out yet
        self._stepping = False
        # a commit under way in the background: no event is stepped until ``resume``, which
        # puts its Executed where the synchronous commit's would have been (``_resume_at``)
        self._waiting: str | None = None  # "commit" or "persist": under way in the background
        self._resume_at = 0
        self._timers: dict[E.TimerKind, asyncio.TimerHandle] = {}
        self._on_step = on_step
        self._on_send = on_send  # a seam: every message the core hands out, as produced
        # the form a message takes on the wire (the host sends proposals by tx hash)
        self._wire = wire or (lambda m: m)
        # appends WAL records in the background and calls ``persisted`` once they are durable
        # (None: ``wal.append_many`` in line); nothing is carried out or stepped meanwhile
        self._persist = persist
        self.closed = False

    def step(self, event: E.Event) -> None:
        """Step ``event`` (and whatever its actions raise) through the replica."""
        if self.closed:
            return
        self._queue.append(event)
        self._run()

    def resume(self, executed: E.Event) -> None:
        """The background commit is done: carry out the rest of its step's actions, then step
        its ``Executed`` and what queued meanwhile, in the order of an inline commit."""
        if self.closed or self._waiting != "commit":
            return
        self._waiting = None
        self._queue.insert(self._resume_at, executed)
        self._run()

    def persisted(self) -> None:
        """The background WAL append is durable: carry on with the actions after it."""
        if self.closed or self._waiting != "persist":
            return
        self._waiting = None
        self._run()

    def _run(self) -> None:
        if self._stepping or self._waiting is not None:
            return
        self._stepping = True
        try:
            while not self.closed and self._waiting is None:
                if self._actions:
                    self._carry_out(self._actions.popleft())
                elif self._queue:
                    self._actions.extend(self.replica.step(self._queue.popleft()))
                else:
                    break
        except BaseException:
            self._actions.clear()  # a step whose action raised is abandoned (the node stops)
            raise
        finally:
            self._stepping = False
        if self._on_step is not None:
            self._on_step()

    def _carry_out(self, action: A.Action) -> None:
        if isinstance(action, A.Reserve):
            self.wal.reserve(action.height, action.view)
        elif isinstance(action, A.Persist):
            records = [encode_record(action.record), *self._later_records()]
            if self._persist is None:
                self.wal.append_many(records)
            else:  # durable before any later action: hold them until ``persisted``
                self._waiting = "persist"
                self._persist(records)
        elif isinstance(action, A.Send):
            data = encode_message(self._wire(action.message))
            self.transport.send(action.to, CONSENSUS_CHANNEL, data)
            if self._on_send is not None:
                self._on_send(action.message)
        elif isinstance(action, A.Broadcast):
            data = encode_message(self._wire(action.message))
            self.transport.broadcast(CONSENSUS_CHANNEL, data)
            if self._on_send is not None:
                self._on_send(action.message)
        elif isinstance(action, A.SetTimer):
            self._set_timer(action)
        elif isinstance(action, A.Commit):
            executed = self.host.commit(action.proposal, action.certificate)
            if executed is None:  # committing in the background: hold all until ``resume``
                self._waiting = "commit"
                self._resume_at = len(self._queue)
            else:
                self._queue.append(executed)
        elif isinstance(action, A.RequestProposal):
            self.host.request_proposal(action.height, action.parent, action.view)
        elif isinstance(action, A.RequestBlocks):
            self.host.request_blocks(action.peer, action.from_height, action.to_height)
        elif isinstance(action, A.Fault):
            self.host.fault(action.peer, action.reason)
        elif isinstance(action, A.Evidence):
            log.warning(
                "equivocation by %s at height %d",
                action.offender.hex()[:16],
                action.first.height,
            )
        else:  # a new action kind we do not know: our bug, halt loudly
            raise TypeError(f"unknown consensus action {action!r}")

    def _later_records(self) -> list[bytes]:
        """The records of the step's next ``Persist`` actions, taken out of its actions up to
        the first one that is not a send, a timer or a ``Persist``: they go to disk with the
        one being carried out, in one write and one fsync. The sends and timers between them
        stay in order behind the append, so a message still leaves only after its record is
        durable (and the later ones too: it waits for no more than that same fsync). A lone
        validator's proposal step persists its PRE-PREPARE and its COMMIT this way at once:
        one commit-thread round trip a block, not two."""
        actions = self._actions
        records: list[bytes] = []
        kept: list[A.Action] = []
        while actions and isinstance(actions[0], A.Persist | A.Send | A.Broadcast | A.SetTimer):
            action = actions.popleft()
            if isinstance(action, A.Persist):
                records.append(encode_record(action.record))
            else:
                kept.append(action)
        actions.extendleft(reversed(kept))
        return records

    def _set_timer(self, t: A.SetTimer) -> None:
        old = self._timers.pop(t.kind, None)
        if old is not None:
            old.cancel()
        event = E.Timeout(t.kind, t.height, t.view)
        self._timers[t.kind] = self.loop.call_later(
            max(0, t.delay) * self.time_unit, self._fire, t.kind, event
        )

    def _fire(self, kind: E.TimerKind, event: E.Timeout) -> None:
        self._timers.pop(kind, None)
        self.step(event)

    def close(self) -> None:
        self.closed = True
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
