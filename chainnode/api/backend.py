"""What the HTTP API needs from the node: the ledger for reads plus a few live operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chainnode.model.chain import ChainReader

if TYPE_CHECKING:
    from chainnode.ledger.ledger import ContractEntry, ContractInterface
    from chainnode.model.types import Receipt, Transaction


class Unavailable(Exception):
    """The node cannot take this request now (starting, stopping); the client may retry."""


class ApiReader(ChainReader, Protocol):
    """The chain reads of the HTTP API: the common :class:`ChainReader` plus contract
    introspection (which the ledger room defines)."""

    def contract_list(
        self, after: bytes | None = None, limit: int = ...
    ) -> tuple[list[ContractEntry], bytes | None]: ...

    def contract_interface(self, contract: str) -> ContractInterface | None: ...


class Backend(Protocol):
    """Implemented by the runtime (and by a bare single-node wrapper in tests)."""

    @property
    def ledger(self) -> ApiReader:
        """Read-only: the API never writes the chain but through :meth:`submit`."""
        ...

    def status(self) -> dict[str, Any]:
        """Fields of :class:`chainnode.api.models.StatusResponse`."""
        ...

    def readiness(self) -> tuple[bool, str | None]:
        """Whether the node serves current data and takes transactions; why not."""
        ...

    def busy(self) -> int | None:
        """Seconds a client should wait before submitting (503 BUSY, Retry-After), or None
        when the node takes submissions now: asked before a submission's body is read."""
        ...

    async def submit(self, txs: Sequence[Transaction]) -> list[Any]:
        """Admit all or none into the mempool, then gossip; one ``Admission`` per tx, in order.
        When any is rejected, none stays admitted (a batch changes nothing unless all pass)."""
        ...

    async def wait_receipts(self, hashes: Sequence[bytes], timeout: float) -> list[Receipt | None]:
        """Receipts of the given txs once all are committed, or what exists at the deadline."""
        ...
