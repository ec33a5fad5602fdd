"""What one commit carries, and where a stored transaction sits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CommitBatch:
    """One block and everything it changes, written atomically by :meth:`storage.Store.commit`.

    ``state_writes`` maps ``(namespace, key)`` to the new value, or to ``None`` for a delete
    (the shape :meth:`storage.Overlay.writes` returns). ``meta`` is caller metadata stored in
    the same batch (read back with ``get_meta``). Validated by ``commit``, not here, so that
    building a batch costs nothing.
    """

    height: int
    block_hash: bytes
    block: bytes
    txs: Sequence[tuple[bytes, bytes]]
    receipts: Sequence[tuple[bytes, bytes]]
    state_writes: Mapping[tuple[bytes, bytes], bytes | None]
    meta: Mapping[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TxLocation:
    """A stored transaction with the height of its block and its index in that block."""

    tx: bytes
    height: int
    index: int
