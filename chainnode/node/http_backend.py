"""The HTTP API's view of a running node (``chainnode.api.backend.Backend``).

Reads go to the ledger; a submission goes through admission; status and readiness are put
together from the consensus host and p2p. Nothing here changes state on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainnode.ledger.ledger import Ledger
from chainnode.ledger.mempool import Admission as Outcome
from chainnode.model.addresses import address_hex
from chainnode.model.types import Receipt, Transaction
from chainnode.node.admission import Admission
from chainnode.node.consensus_host import ConsensusHost
from chainnode.node.waiters import ReceiptWaiters
from p2p import Network


class NodeBackend:
    def __init__(
        self,
        node_id: str,
        ledger: Ledger,
        net: Network,
        host: ConsensusHost,
        admission: Admission,
        waiters: ReceiptWaiters,
        started: Callable[[], bool],
    ) -> None:
        self.node_id = node_id
        self._ledger = ledger
        self.net = net
        self.host = host
        self.admission = admission
        self.waiters = waiters
        self._started = started

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def busy(self) -> int | None:
        return self.admission.busy()

    async def submit(self, txs: Sequence[Transaction]) -> list[Outcome]:
        return await self.admission.admit(txs, from_client=True)

    async def wait_receipts(self, hashes: Sequence[bytes], timeout: float) -> list[Receipt | None]:
        return await self.waiters.wait(hashes, timeout)

    def status(self) -> dict[str, Any]:
        ledger = self._ledger
        host = self.host
        rep = host.replica
        peers = self.net.connected_peers()
        vset = ledger.validators_at(ledger.height + 1)
        names = {v.public_key: v.node_id for v in vset}
        primary: str | None = None
        primary_node_id: str | None = None
        primary_index: int | None = None
        if rep.validators is not None:
            key = rep.validators.primary(rep.height, rep.view)
            primary = address_hex(ledger.address(key))
            primary_node_id = names.get(key)
            keys = [v.public_key for v in vset]
            primary_index = keys.index(key) if key in keys else None
        return {
            "node_id": self.node_id,
            "chain_id": ledger.chain_id,
            "height": ledger.height,
            "head_hash": ledger.head_hash.hex(),
            "view": host.view,
            "primary": primary,
            "primary_node_id": primary_node_id,
            "primary_index": primary_index,
            "validator": host.public_key in host.validators,
            "role": host.role,
            "peers": [
                {
                    "address": address_hex(ledger.address(p)),
                    "public_key": p.hex(),
                    "node_id": names.get(p),
                }
                for p in peers
            ],
            "mempool": ledger.mempool.size,
            "syncing": host.syncing,
        }

    def readiness(self) -> tuple[bool, str | None]:
        if not self._started():
            return False, "starting"
        need = max(0, (2 * len(self.host.validators)) // 3)  # quorum minus ourselves
        have = len(self.net.connected_peers())
        if have < need:
            return False, f"connected to {have} validators, need {need} for a quorum"
        if self.host.syncing:
            return False, "catching up with the chain"
        return True, None
