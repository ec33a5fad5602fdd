"""A primary proposes as soon as a transaction waits (issue 18): the block interval is a
batching bound under load, not a tick. With a one-minute interval, sequential transactions
each commit long before a minute has passed (before the change each waited the interval)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams
from tests.chainnode.node.cluster import Cluster

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_tick(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 1, consensus=ConsensusParams(block_interval_ms=60_000))
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def test_each_transaction_commits_without_waiting_for_the_block_interval(
    slow_tick: Cluster,
) -> None:
    acct = Account.generate()
    client = slow_tick.clients[0]
    for i in range(3):
        res = client.send(acct, "records", "put", [f"at-once-{i}", i], wait=20)
        assert res.committed, f"tx {i} not committed within 20 s of a 60 s block interval"
    assert slow_tick.height(0) == 4  # block 1 (empty, at start) + one block per transaction
