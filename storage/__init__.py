"""LevelDB (plyvel) store of blocks, transactions, receipts and contract state.

A library that knows nothing of chainnode's types: values are opaque bytes, keys are what the
caller gives. A store is a directory holding two LevelDB databases: the main one (indexes,
state, metadata, the head) and, in its ``bodies/`` subdirectory, the bodies (blocks, txs,
receipts). :meth:`Store.commit` writes a whole block in two synced write batches: the bodies
first, then everything else with the new head. After a crash the store holds either the old
head or the new one, never half a block: bodies above the head (their batch was written, the
head's was not) are never shown by a read and are deleted when the store opens. A copy of the
store (a backup, a restore's rename) is a copy of the whole directory.

Key layout (one prefix byte per key space; ``h8`` = height as 8-byte big-endian, so byte
order is height order; ``i4`` = index as 4-byte big-endian)::

    M chain_id                 -> chain id, written once on creation, checked on every open
    M version                  -> layout version (b"4"; b"3", b"2": a store made before)
    M head                     -> h8 || block_hash of the last committed block
    M prune_floor              -> h8: lowest height whose body is kept (absent: none pruned)
    m <key>                    -> caller metadata (CommitBatch.meta, get_meta)
    b <h8>                     -> block bytes                      (body: prunable)  [bodies/]
    n <h8>                     -> block hash at height             (kept when pruning)
    g <h8>                     -> header of a pruned block (given by the caller)
    h <block_hash>             -> h8                               (block by hash)
    l <h8>                     -> tx hashes of the block, each u8 length || hash, in block
                                  order: what pruning/archiving of a height must remove
    x <tx_hash>                -> h8 || i4                         (tx index: where a tx is)
    t <h8> <i4>                -> tx bytes                         (body: prunable)  [bodies/]
    r <h8> <i4>                -> receipt bytes of the tx there    (body: prunable)  [bodies/]
                                  [bodies/]: stored there height first (``keys.body_key``:
                                  ``<h8> t <i4>``...), named as above by every read
    s <u8 len(ns)> <ns> <key>  -> state value

State keys carry the namespace length before the namespace, so the encoding is prefix-free:
one namespace's keys can never collide with, or show up in a scan of, another namespace
(``b"a"`` + key ``b"bc"`` is ``s\\x01abc``; ``b"ab"`` + ``b"c"`` is ``s\\x02abc``), and a
namespace's keys sort by key. Deleting state deletes the key (no tombstones of our own).

Transaction and receipt bodies are keyed by (height, index), not by hash (since layout 2): a
height's bodies are two key ranges (pruning deletes them as such) and a tx is found from its
hash through the small ``x`` index. Layout 3 keeps the bodies in their own database: in one
database a memtable flush holds the hash-ordered ``x`` index and state beside them, its table
spans the whole key range, and compaction rewrites the bodies with everything it overlaps;
alone, written in height order, their tables move down the levels whole. ``python -m
bench.storage`` (blocks shaped like the evidence workload's, compactions settled): write
amplification 4.54 (layout 1), 4.35 (layout 2), 3.29 (layout 3). On 4 validators sharing 2
cores (``bench.run --sweep``, four sweeps each, paired in turn with layout 2): LevelDB's
background work ("other" in the CPU split) 36-43 against 63-69 us per tx per node, the peak
within p99 <= 3 s 2,672-2,903 against 2,344-2,834 tx/s (1.02-1.14x in each pair). It costs a
second synced write per block: p99 at 70% of the peak 0.64-0.74 against 0.50-0.65 s; bursts
of 20,000 txs 0.99x, 1 validator 0.98x; light load unchanged.

Layout 4 stores the bodies height first in their database (``<h8> t <i4>``, ``<h8> b``, ``<h8>
r <i4>``; every read still names them ``t <h8> <i4>``...). Named by prefix first, each
flushed table spanned from its first block to its last tx (``b <h1>`` .. ``t <h2>``), across
the ranges of every table before it, and LevelDB rewrote each body once or more on its way
down (a 4-validator sweep node: 1.73 KB of compaction output per tx against 1.05 KB
flushed). Height first, a growing chain's tables overlap nothing earlier and move down without
being read again: ``python -m bench.storage`` write amplification 3.26 (layout 3) ->
2.22. Reads of one prefix over a range of heights skip the others (``Reader._range``: a seek
per height). Stores made before are opened, read and written as they are (``Store.layout``):
layout 3 with its bodies named in their database, layout 2 with them in the one database.

Pruning (:meth:`Store.prune`) deletes the ``b``, ``t`` and ``r`` entries of a height (two key
ranges), keeping ``x``/``n``/``h``/``l``, the caller's header under ``g`` and
all metadata (certificates), so hashes stay resolvable and the header chain stays verifiable.
The headers and the floor are synced before the bodies are deleted; bodies a crash leaves
below the floor are deleted on open.
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
