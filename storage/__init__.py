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
    M prune_floor              -> h8: lowest height whose body is kept (absent: none pruned)
    m <key>                    -> caller metadata (CommitBatch.meta, get_meta)
    b <h8>                     -> block bytes                      (body: prunable)
    n <h8>                     -> block hash at height             (kept when pruning)
    g <h8>                     -> header of a pruned block (given by the caller)
    h <block_hash>             -> h8                               (block by hash)
    l <h8>                     -> tx hashes of the block, each u8 length || hash, in block
                                  order: what pruning/archiving of a height must remove
    t <tx_hash>                -> h8 || i4 || tx bytes             (tx + its location;
                                  pruned: h8 || i4 alone, so has_tx still answers)
    r <tx_hash>                -> receipt bytes                    (body: prunable)
    s <u8 len(ns)> <ns> <key>  -> state value

State keys carry the namespace length before the namespace, so the encoding is prefix-free:
one namespace's keys can never collide with, or show up in a scan of, another namespace
(``b"a"`` + key ``b"bc"`` is ``s\\x01abc``; ``b"ab"`` + ``b"c"`` is ``s\\x02abc``), and a
namespace's keys sort by key. Deleting state deletes the key (no tombstones of our own).

Pruning (:meth:`Store.prune`) deletes the ``b`` and ``r`` entries of a height and cuts its
``t`` entries to their location, keeping ``n``/``h``/``l``, the caller's header under ``g`` and
all metadata (certificates), so hashes stay resolvable and the header chain stays verifiable.
Prefixes not listed are reserved.

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
