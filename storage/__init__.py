"""LevelDB (plyvel) store of blocks, transactions, receipts and contract state.

A library that knows nothing of chainnode's types: values are opaque bytes, keys are what the
caller gives. A node keeps one database; :meth:`Store.commit` writes a whole block (block,
txs, receipts, state writes, metadata, new head) in ONE synced write batch, so after any crash
the store holds either the old head or the new one, never half a block.

Key layout (one prefix byte per key space; ``h8`` = height as 8-byte big-endian, so byte
order is height order; ``i4`` = index as 4-byte big-endian)::

    M chain_id                 -> chain id, written once on creation, checked on every open
    M version                  -> layout version (b"2")
    M head                     -> h8 || block_hash of the last committed block
    M prune_floor              -> h8: lowest height whose body is kept (absent: none pruned)
    m <key>                    -> caller metadata (CommitBatch.meta, get_meta)
    b <h8>                     -> block bytes                      (body: prunable)
    n <h8>                     -> block hash at height             (kept when pruning)
    g <h8>                     -> header of a pruned block (given by the caller)
    h <block_hash>             -> h8                               (block by hash)
    l <h8>                     -> tx hashes of the block, each u8 length || hash, in block
                                  order: what pruning/archiving of a height must remove
    x <tx_hash>                -> h8 || i4                         (tx index: where a tx is)
    t <h8> <i4>                -> tx bytes                         (body: prunable)
    r <h8> <i4>                -> receipt bytes of the tx there    (body: prunable)
    s <u8 len(ns)> <ns> <key>  -> state value

State keys carry the namespace length before the namespace, so the encoding is prefix-free:
one namespace's keys can never collide with, or show up in a scan of, another namespace
(``b"a"`` + key ``b"bc"`` is ``s\\x01abc``; ``b"ab"`` + ``b"c"`` is ``s\\x02abc``), and a
namespace's keys sort by key. Deleting state deletes the key (no tombstones of our own).

Layout 2 keys transaction and receipt bodies by (height, index), not by hash: a height's
bodies are two key ranges (pruning deletes them as such) and a tx is found from its hash
through the small ``x`` index. It does not spare the bodies compaction: a memtable flush holds
the hash-ordered ``x`` index and state beside them, so its table spans the whole key range,
and compaction rewrites the bodies with everything it overlaps. ``python -m bench.storage``
(blocks shaped like the evidence workload's, compactions settled): write amplification 4.35
against layout 1's 4.54, and 3.29 with the bodies in a LevelDB of their own. Keeping the
bodies apart from the state is what would let them move down untouched.

Pruning (:meth:`Store.prune`) deletes the ``b``, ``t`` and ``r`` entries of a height (two key
ranges), keeping ``x``/``n``/``h``/``l``, the caller's header under ``g`` and
all metadata (certificates), so hashes stay resolvable and the header chain stays verifiable.
Prefixes not listed are reserved.

LevelDB's background thread (flushes, compactions) can run at a lower CPU priority than the
caller's threads: :func:`storage.background.lower_background_priority`, before the first open.

Reads: :class:`Store` and :class:`Snapshot` (``store.snapshot()``, a consistent view while
commits run) share one read API (:class:`~storage.reader.Reader`). :class:`Overlay` is the
execution write buffer. All errors derive from :class:`StorageError`. :meth:`Store.level_stats`
is LevelDB's own account of its levels and compactions (:mod:`storage.levels`).
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
from .levels import LevelStats
from .overlay import Overlay, ReadRecorder, StateReader
from .reader import Reader
from .store import WRITE_BUFFER, Snapshot, StagedBatch, Store

__all__ = [
    "ChainMismatch",
    "CommitBatch",
    "Corruption",
    "DatabaseLocked",
    "DuplicateEntry",
    "HeightMismatch",
    "InvalidInput",
    "LevelStats",
    "NotADatabase",
    "Overlay",
    "ReadRecorder",
    "Reader",
    "Snapshot",
    "StateReader",
    "StagedBatch",
    "Store",
    "StorageError",
    "TxLocation",
    "WRITE_BUFFER",
]
