"""The chaos harness's link cuts (bench.chaos.partition) over real sockets on loopback.

Moved from tests/p2p when the cut left the p2p library: the partition now works through the
network's own allow-list, and this pins that it still drops a link, refuses it, and heals.
"""

from __future__ import annotations

import logging

import pytest

from bench.chaos.partition import Partition
from tests.p2p.helpers import start_mesh, stop_all, wait_stable, wait_until


async def test_fault_injection_cut_and_heal(caplog: pytest.LogCaptureFixture) -> None:
    a, b = await start_mesh(2)
    caplog.set_level(logging.WARNING, logger="p2p")
    both = {a.peer_id, b.peer_id}
    links = Partition(a, lambda: both, lambda: {b.peer_id: ("127.0.0.1", b.port)})
    try:
        links.set_cut({b.peer_id})
        await wait_until(lambda: not b.is_connected(a.peer_id), 5, "link cut")
        await wait_until(
            lambda: any("is not on the allow-list" in r.getMessage() for r in caplog.records),
            5,
            "redial refused",
        )
        assert not a.is_connected(b.peer_id)
        links.set_cut(set())
        await a.wait_for_peers([b.peer_id], 10)
        await wait_stable([a, b])
    finally:
        await stop_all([a, b])
