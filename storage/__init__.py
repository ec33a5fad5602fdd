"""LevelDB (plyvel) store of blocks, transactions, receipts and contract state.

A library that knows nothing of chainnode's types: values are opaque bytes, keys are what the
caller gives. A node keeps one database; :meth:`Store.commit` writes a whole block (block,
txs, receipts, state writes, metadata, new head) in ONE synced write batch, so after any crash
the store holds either the old head or the new one, never half a block.

Key layout (one prefix byte per key space; ``h8`` = height as 8-byte big-endian, so byte
order is height order; ``i4`` = index as 4-byte big-endian)::

    M chain_id                 -> chain id, written once on creation, checked on every open
    M version                  -> layout version (b"1")
    M head                     -> h8 || block_hash of the last committed block
    m <key>                    -> caller metadata (CommitBatch.meta, get_meta)
    b <h8>                     -> block bytes                      (body: prunable)
    n <h8>                     -> block hash at height             (kept when pruning)
    h <block_hash>             -> h8                               (block by hash)
    l <h8>                     -> tx hashes of the block, each u8 length || hash, in block
                                  order: what pruning/archiving of a height must remove
    t <tx_hash>                -> h8 || i4 || tx bytes             (tx + its location)
    r <tx_hash>                -> receipt bytes
    s <u8 len(ns)> <ns> <key>  -> state value

State keys carry the namespace length before the namespace, so the encoding is prefix-free:
one namespace's keys can never collide with, or show up in a scan of, another namespace
(``b"a"`` + key ``b"bc"`` is ``s\\x01abc``; ``b"ab"`` + ``b"c"`` is ``s\\x02abc``), and a
namespace's keys sort by key. Deleting state deletes the key (no tombstones of our own).

Room to grow: pruning old blocks deletes ``b``/``t``/``r`` entries of a height range found via
``l`` while keeping ``n``/``h`` (and optionally a slim ``t`` location) so hashes stay
resolvable; the lowest kept height would be recorded under ``M prune_floor``, and an archive is
the same layout in another directory. Prefixes not listed are reserved.

Reads: :class:`Store` and :class:`Snapshot` (``store.snapshot()``, a consistent view while
commits run) share one read API (:class:`~storage.reader.Reader`). :class:`Overlay` is the
execution write buffer. All errors derive from :class:`StorageError`.
"""

from .batch import CommitBatch, TxLocation
from .errors import (
    ChainMismatch,
    Corruption,
    DatabaseLocked,
    DuplicateEntry,
    HeightMismatch,
    InvalidInput,
    NotADatabase,
    StorageError,
)
from .overlay import Overlay, StateReader
from .reader import Reader
from .store import Snapshot, Store

__all__ = [
    "ChainMismatch",
    "CommitBatch",
    "Corruption",
    "DatabaseLocked",
    "DuplicateEntry",
    "HeightMismatch",
    "InvalidInput",
    "NotADatabase",
    "Overlay",
    "Reader",
    "Snapshot",
    "StateReader",
    "Store",
    "StorageError",
    "TxLocation",
]
