"""Explicit hooks for whoever counts the ledger's work (the node's metrics): passed in at
construction, called once per batch. Nothing outside the ledger wraps or patches its methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chainnode.ledger.mempool import Admission


class LedgerObserver(Protocol):
    def admitted(self, admissions: Sequence[Admission]) -> None:
        """After each mempool admission batch: one outcome per submitted item."""
        ...

    def verified_batch(self, n: int, seconds: float) -> None:
        """After each signature-verification batch of ``n`` signatures."""
        ...
