"""The consensus driver around a real Replica: persist before send, timers re-armed, commit
then Executed, and re-entrant events queued rather than stepped recursively."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chainnode.node.consensus_glue import sm2_verify
from chainnode.node.driver import CONSENSUS_CHANNEL, Driver
from chainnode.node.wal import WriteAheadLog
from consensus import events as E
from consensus.messages import PrePrepare, decode_message
from consensus.replica import Replica, ReplicaConfig
from consensus.types import Proposal
from consensus.validators import ValidatorSet
from consensus.wal import decode_record
from crypto import sm2


class Transport:
    """Checks, at each send, that every record persisted so far is on disk already."""

    def __init__(self, wal_path: Path) -> None:
        self.wal_path = wal_path
        self.sent: list[tuple[bytes | None, Any, int]] = []

    def _on_disk(self) -> int:
        return len(WriteAheadLog(self.wal_path).records())

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        assert channel == CONSENSUS_CHANNEL
        self.sent.append((peer_id, decode_message(payload), self._on_disk()))
        return True

    def broadcast(self, channel: int, payload: bytes) -> int:
        assert channel == CONSENSUS_CHANNEL
        self.sent.append((None, decode_message(payload), self._on_disk()))
        return 3


class Host:
    def __init__(self) -> None:
        self.proposals: list[tuple[int, bytes, int]] = []
        self.driver: Driver | None = None

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        self.proposals.append((height, parent, view))
        assert self.driver is not None
        # re-entrant: answering from inside an action must queue, not recurse
        self.driver.step(E.ProposalReady(Proposal(height, parent, b"\x07" * 32, b"block"), view))

    def commit(self, proposal: Any, certificate: Any) -> E.Executed:
        raise AssertionError("no quorum in this test")

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None:
        raise AssertionError("no sync in this test")

    def fault(self, peer: bytes, reason: str) -> None:
        raise AssertionError(reason)


def primary_replica() -> tuple[Replica, list[bytes]]:
    """A real Replica that proposes at height 1, view 0, among four fresh validators; and
    their public keys (for ``E.Start``)."""
    keys = [sm2.PrivateKey.generate() for _ in range(4)]
    pubs = [k.public_key().to_bytes() for k in keys]
    me = pubs.index(ValidatorSet(pubs).primary(1, 0))
    replica = Replica(
        ReplicaConfig(chain_id=b"test-chain", base_timeout=500),
        pubs[me],
        keys[me].sign,
        sm2_verify,
        lambda p: True,
    )
    return replica, pubs


async def test_persist_before_send_and_reentrant_proposal(tmp_path: Path) -> None:
    replica, pubs = primary_replica()
    wal = WriteAheadLog(tmp_path / "wal")
    transport = Transport(tmp_path / "wal")
    host = Host()
    loop = asyncio.get_running_loop()
    driver = Driver(replica, wal, transport, host, loop)
    host.driver = driver
    driver.step(E.Start(1, b"\x00" * 32, tuple(pubs)))
    assert host.proposals == [(1, b"\x00" * 32, 0)]
    pre = [(to, m, n) for to, m, n in transport.sent if isinstance(m, PrePrepare)]
    assert len(pre) == 1 and pre[0][0] is None  # broadcast
    assert pre[0][2] >= 1, "the PRE-PREPARE left before its WAL record was on disk"
    raws = WriteAheadLog(tmp_path / "wal").records()
    records = [decode_record(r) for r in raws]
    assert isinstance(records[0].message, PrePrepare)
    assert records[0].message.proposal.digest == b"\x07" * 32
    # the record keeps the PRE-PREPARE as its message and as its pre_prepare, stored once
    assert records[0].pre_prepare == records[0].message
    assert raws[0].count(records[0].message.proposal.payload) == 1
    # the progress timer is armed on the loop; a PROGRESS timeout starts a view change
    assert driver._timers, "no timer armed after the proposal"
    driver.close()
    assert not driver._timers
    wal.close()
