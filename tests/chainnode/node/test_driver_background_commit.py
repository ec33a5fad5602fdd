"""A commit the host finishes in the background (``commit`` returns None, then
``Driver.resume``): the core sees exactly the events, in exactly the order, that it sees when
the host commits in line (the plain path), whatever arrives while the write is under way. A
WAL append done in the background (``persist``, then ``Driver.persisted``): the same messages
leave as with the append in line, each after its record is on disk."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from chainnode.node.consensus_glue import sm2_verify
from chainnode.node.driver import Driver
from chainnode.node.wal import WriteAheadLog
from consensus import actions as A
from consensus import events as E
from consensus.replica import Replica, ReplicaConfig
from consensus.types import Proposal
from consensus.wal import decode_record
from crypto import sm2
from tests.chainnode.node.test_driver import Transport as DiskCheckingTransport
from tests.chainnode.node.test_driver import primary_replica


class ScriptedReplica:
    """Records what it is stepped; a PendingWork with id b"c" decides a block (Commit), and a
    PendingWork with id b"r" re-enters the driver (an event raised while actions run)."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.driver: Driver | None = None
        self.height = 0

    def step(self, event: Any) -> list[A.Action]:
        self.seen.append(event)
        if isinstance(event, E.PendingWork) and event.oldest == b"c":
            self.height += 1
            proposal = Proposal(self.height, b"\x00" * 32, bytes([self.height]) * 32, b"")
            assert self.driver is not None
            self.driver.step(E.PendingWork(b"after-commit"))  # queued behind the commit
            return [A.Commit(proposal, None)]  # type: ignore[arg-type]  # the host ignores it
        if isinstance(event, E.PendingWork) and event.oldest == b"r":
            assert self.driver is not None
            self.driver.step(E.PendingWork(b"reentrant"))
        return []


class Host:
    def __init__(self, background: bool) -> None:
        self.background = background
        self.pending: list[int] = []

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        raise AssertionError("not in this test")

    def commit(self, proposal: Proposal, certificate: Any) -> E.Executed | None:
        if self.background:
            self.pending.append(proposal.height)
            return None
        return E.Executed(proposal.height)

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None:
        raise AssertionError("not in this test")

    def fault(self, peer: bytes, reason: str) -> None:
        raise AssertionError(reason)


class Transport:
    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        return True

    def broadcast(self, channel: int, payload: bytes) -> int:
        return 0


SCRIPT = [b"a", b"c", b"b", b"r", b"c", b"d", b"e"]


def run(tmp_path: Path, background: bool) -> tuple[list[Any], list[int]]:
    """Step SCRIPT; in the background mode each commit is finished two events later."""
    loop = asyncio.new_event_loop()
    try:
        replica = ScriptedReplica()
        host = Host(background)
        driver = Driver(
            replica, WriteAheadLog(tmp_path / f"wal{background}"), Transport(), host, loop
        )
        replica.driver = driver
        held: list[tuple[int, int]] = []  # (commit height, events stepped since)
        paused_seen: list[int] = []
        for oldest in SCRIPT:
            driver.step(E.PendingWork(oldest))
            while host.pending:
                held.append((host.pending.pop(0), 0))
            if held:
                height, n = held[0]
                paused_seen.append(len(replica.seen))
                if n == 1:
                    held.pop(0)
                    driver.resume(E.Executed(height))
                else:
                    held[0] = (height, n + 1)
        for height, _ in held:
            driver.resume(E.Executed(height))
        return replica.seen, paused_seen
    finally:
        loop.close()


def test_a_background_commit_steps_what_an_inline_one_steps_in_the_same_order(
    tmp_path: Path,
) -> None:
    inline, _ = run(tmp_path, background=False)
    background, paused = run(tmp_path, background=True)
    assert background == inline
    # the reference itself: Executed right behind what its Commit's step queued
    oldest = [e.oldest if isinstance(e, E.PendingWork) else e for e in inline]
    assert oldest[:4] == [b"a", b"c", b"after-commit", E.Executed(1)]
    # and while a commit was under way, nothing reached the core
    assert paused[0] == paused[1] == 2, paused


def test_resume_without_a_background_commit_steps_nothing(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        replica = ScriptedReplica()
        driver = Driver(replica, WriteAheadLog(tmp_path / "wal"), Transport(), Host(False), loop)
        replica.driver = driver
        driver.resume(E.Executed(1))
        assert replica.seen == []
    finally:
        loop.close()


class ProposingHost(Host):
    """Answers a proposal request at once (re-entrantly, as the node's build does not)."""

    def __init__(self) -> None:
        super().__init__(background=False)
        self.driver: Driver | None = None

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        assert self.driver is not None
        self.driver.step(E.ProposalReady(Proposal(height, parent, b"\x07" * 32, b"block"), view))


async def _proposal_run(tmp_path: Path, background: bool) -> tuple[list[Any], list[int]]:
    """A primary's first height through a real Replica: (what was sent, with the WAL records
    on disk at each send), and in the background mode how many sends there were while each
    append was still under way."""
    replica, pubs = primary_replica()
    path = tmp_path / f"wal-{background}"
    wal = WriteAheadLog(path)
    transport = DiskCheckingTransport(path)
    host = ProposingHost()
    pending: list[list[bytes]] = []
    driver = Driver(
        replica,
        wal,
        transport,
        host,
        asyncio.get_running_loop(),
        persist=pending.append if background else None,
    )
    host.driver = driver
    driver.step(E.Start(1, b"\x00" * 32, tuple(pubs)))
    sent_while_pending = []
    while pending:  # the "commit thread": one append at a time, then the driver carries on
        sent_while_pending.append(len(transport.sent))
        driver.step(E.PendingWork(None))  # arrives meanwhile: queued, not stepped
        sent_while_pending.append(len(transport.sent))
        wal.append_many(pending.pop(0))
        driver.persisted()
    driver.close()
    wal.close()
    shape = [(to, type(m).__name__, m.height, m.view, on_disk) for to, m, on_disk in transport.sent]
    return shape, sent_while_pending


async def test_a_background_wal_append_sends_what_an_inline_one_sends_after_it_is_durable(
    tmp_path: Path,
) -> None:
    inline, _ = await _proposal_run(tmp_path, background=False)
    background, while_pending = await _proposal_run(tmp_path, background=True)
    assert background == inline
    assert inline and inline[0][1] == "PrePrepare" and inline[0][4] >= 1  # the reference
    # nothing left while an append was under way (the counts before and after each wait)
    assert while_pending and all(
        a == b for a, b in zip(while_pending[::2], while_pending[1::2], strict=True)
    )


class LoneHost:
    """A lone validator's host: proposes at once (re-entrantly), commits in line, and notes
    how many WAL records were on disk at each commit."""

    def __init__(self, wal_path: Path) -> None:
        self.wal_path = wal_path
        self.driver: Driver | None = None
        self.commits: list[tuple[int, int]] = []

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        if height > 1:
            return  # one height is enough
        assert self.driver is not None
        self.driver.step(E.ProposalReady(Proposal(height, parent, b"\x07" * 32, b"block"), view))

    def commit(self, proposal: Proposal, certificate: Any) -> E.Executed:
        self.commits.append((proposal.height, len(WriteAheadLog(self.wal_path).records())))
        return E.Executed(proposal.height)

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None:
        raise AssertionError("a lone validator syncs from no one")

    def fault(self, peer: bytes, reason: str) -> None:
        raise AssertionError(reason)


class RecordingReplica:
    """A real Replica whose Persist actions are noted as it emits them."""

    def __init__(self, replica: Any) -> None:
        self.replica = replica
        self.persisted: list[Any] = []

    def step(self, event: Any) -> list[A.Action]:
        actions = self.replica.step(event)
        self.persisted += [a.record for a in actions if isinstance(a, A.Persist)]
        return actions


async def _lone_validator_height(tmp_path: Path, background: bool) -> dict[str, Any]:
    key = sm2.PrivateKey.generate()
    pub = key.public_key().to_bytes()
    replica = RecordingReplica(
        Replica(ReplicaConfig(chain_id=b"test-chain"), pub, key.sign, sm2_verify, lambda p: True)
    )
    path = tmp_path / f"wal-lone-{background}"
    wal = WriteAheadLog(path)
    transport = DiskCheckingTransport(path)
    host = LoneHost(path)
    appends: list[list[bytes]] = []
    driver = Driver(
        replica,
        wal,
        transport,
        host,
        asyncio.get_running_loop(),
        persist=appends.append if background else None,
    )
    host.driver = driver
    driver.step(E.Start(1, b"\x00" * 32, (pub,)))
    sends_during_appends = []
    while appends:  # the commit thread
        sends_during_appends.append(len(transport.sent))
        wal.append_many(appends[0])
        sends_during_appends.append(len(transport.sent))
        driver.persisted()
        appends.pop(0)
    driver.close()
    wal.close()
    on_disk = [decode_record(r) for r in WriteAheadLog(path).records()]
    return {
        "records": on_disk,
        "emitted": replica.persisted,
        "sent": [(type(m).__name__, n) for _, m, n in transport.sent],
        "commits": host.commits,
        "sends_during_appends": sends_during_appends,
    }


@pytest.mark.parametrize("background", [False, True], ids=["in line", "background"])
async def test_a_lone_validator_persists_its_proposal_and_commit_in_one_append(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, background: bool
) -> None:
    synced: list[str] = []  # the file each fsync was for
    real_fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    run = await _lone_validator_height(tmp_path, background)
    # the core persisted its PRE-PREPARE, then its COMMIT: both on disk, in that order
    kinds = [type(r.message).__name__ for r in run["emitted"]]
    assert kinds == ["PrePrepare", "CommitVote"]
    assert run["records"] == run["emitted"]
    # each message left with its record (and the later one) on disk; the block committed after
    assert run["sent"] == [("PrePrepare", 2), ("CommitVote", 2)]
    assert run["commits"] == [(1, 2)]
    # one fsync of the WAL for the two records (the signing mark's file is another)
    wal_path = str(tmp_path / f"wal-lone-{background}")
    assert synced.count(wal_path) == 1, synced
    if background:
        during = run["sends_during_appends"]
        assert during and during[0] == during[1] == 0  # nothing left while it was under way
