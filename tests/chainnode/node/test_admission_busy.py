"""A node refuses clients' transactions early while more wait than it can commit in its
admission budget (503 BUSY with Retry-After), and takes them again once the chain drains.

Four real validators with 3-tx blocks (a floor of 6 waiting transactions); only node0 runs at
first, so nothing commits and whatever it admits keeps waiting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account, ClientError
from chainnode.model.genesis import ConsensusParams
from tests.chainnode.node.cluster import Cluster, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, 4, consensus=ConsensusParams(max_block_txs=3))
    try:
        c.start(0)
        wait_for(lambda: c.status(0)["mempool"] == 0, 60, "node0's API")
        yield c
    finally:
        c.close()


def test_submissions_beyond_the_backlog_are_refused_busy_until_it_commits(
    stalled: Cluster,
) -> None:
    client = stalled.clients[0]
    acct = Account.generate()
    chain = client.chain_id()
    txs = [
        acct.sign(chain, "records", "put", [f"busy-{i}", i], block_limit=100, nonce=i)
        for i in range(9)
    ]
    client.submit(txs[:6])  # 0 waiting: taken, though it makes the backlog the floor
    assert stalled.status(0)["mempool"] == 6
    with pytest.raises(ClientError) as e:
        client.submit(txs[6:7])
    assert (e.value.status, e.value.code) == (503, "BUSY")
    assert e.value.retry_after is not None and e.value.retry_after >= 1
    assert stalled.status(0)["mempool"] == 6  # nothing of the refused request was taken

    for i in (1, 2, 3):  # each gets the six as it connects; they commit in two blocks
        stalled.start(i)
    wait_for(lambda: stalled.status(0)["mempool"] == 0, 120, "the backlog to commit")
    res = client.submit(txs[6:], wait=30)
    assert res.committed
