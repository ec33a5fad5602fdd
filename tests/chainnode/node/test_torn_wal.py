"""Issue 18 on real processes: kill -9 of a primary at a persist point, a torn WAL tail, a
restart, and no conflicting signed pair from any validator (CONSENSUS_TESTS E, scenario 21).

Every node runs through ``bench.chaos.node``, so each appends every signed message its core
hands out to ``consensus.sent`` (bench/chaos/sentlog.py); the primary (the victim) is told to
kill itself right after it
sends a COMMIT for a block it proposed. The test then cuts its WAL inside the last
PRE-PREPARE record (that message has reached the peers: they prepared it), as a crash in the
middle of a write or a disk losing acknowledged data would.
"""

from __future__ import annotations

import signal
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chaos.sentlog import KILL_FILE, SENT_LOG, conflicting_pairs, read_sent_log
from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams
from consensus.errors import ConsensusError
from consensus.messages import PrePrepare
from consensus.wal import decode_record
from tests.chainnode.node.cluster import Cluster, Load, assert_same_chains, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def four(tmp_path: Path) -> Iterator[Cluster]:
    params = ConsensusParams(
        block_interval_ms=50, view_change_timeout_ms=1000, request_timeout_ms=1000
    )
    c = Cluster(tmp_path, 4, consensus=params)
    try:
        for i in range(4):
            c.start(i, chaos=True)
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def cut_inside_last_pre_prepare(wal: Path) -> int:
    """Truncate ``wal`` 16 bytes into its last PRE-PREPARE record (the records after it go
    too); returns the bytes the WAL will find torn (16)."""
    data = wal.read_bytes()
    pos, last_pp = 0, -1
    while pos + 8 <= len(data):
        length, _ = struct.unpack_from(">II", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        try:
            if isinstance(decode_record(body).message, PrePrepare):
                last_pp = pos
        except ConsensusError:  # a record of another kind or a torn one
            pass
        pos += 8 + length
    assert last_pp >= 0, "the victim's WAL holds no PRE-PREPARE"
    with wal.open("r+b") as f:
        f.truncate(last_pp + 16)
    return 16


def primary_index(c: Cluster) -> int:
    return int(c.status(0)["primary_node_id"].removeprefix("node"))


def test_primary_killed_after_commit_with_torn_wal_never_equivocates(four: Cluster) -> None:
    victim_i = primary_index(four)
    others = [i for i in range(4) if i != victim_i]
    (four.data_dir(victim_i) / KILL_FILE).touch()
    load = Load(four, others).start()
    victim = four.procs[victim_i]
    wait_for(lambda: victim.poll() is not None, 90, "the primary to kill itself")
    assert victim.returncode == -9
    four.procs.pop(victim_i)
    # The others stop too (SIGSTOP): the victim cannot learn the height from them, so it
    # restarts as the primary of the height whose PRE-PREPARE its WAL lost.
    for i in others:
        four.procs[i].send_signal(signal.SIGSTOP)
    try:
        cut = cut_inside_last_pre_prepare(four.data_dir(victim_i) / "consensus.wal")
        sent = four.data_dir(victim_i) / SENT_LOG
        before = len(read_sent_log(sent))
        four.start(victim_i, chaos=True)  # no kill file any more
        wait_for(lambda: four.status(victim_i), 60, "the victim's API")
        acct = Account.generate()
        st = four.status(victim_i)
        tx = acct.sign(st["chain_id"], "records", "put", ["after-tear", 1], block_limit=200)
        four.clients[victim_i].submit([tx])  # a transaction waits: a primary would propose
        # it signs something new at that height: a VIEW-CHANGE past its signing mark (before
        # the fix: a second, different PRE-PREPARE at the same (height, view))
        wait_for(lambda: len(read_sent_log(sent)) > before, 60, "the victim to sign again")
    finally:
        for i in others:
            four.procs[i].send_signal(signal.SIGCONT)
    top = max(four.height(i) for i in others)
    four.wait_height(top + 8, timeout=90)  # the victim follows (and votes) again
    acked = load.stop()
    log = four.log(victim_i)
    assert f"cut a torn tail of {cut} bytes" in log
    assert "consensus WAL lost records of height" in log
    msgs = {i: read_sent_log(four.data_dir(i) / SENT_LOG) for i in range(4)}
    assert all(msgs.values())
    pairs = [
        f"node{i} {type(a).__name__} at ({a.height}, {a.view})"
        for i, m in msgs.items()
        for a, _ in conflicting_pairs(m)
    ]
    assert not pairs, f"signed twice: {pairs}"
    for i in range(4):
        four.clients[i].wait_receipts(acked, timeout=90, poll=0.1)
    assert_same_chains(four, list(range(4)), acked)
