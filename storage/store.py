"""The store: open/create with chain-id and lock checks, atomic synced commits, snapshots."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import repeat
from types import TracebackType
from typing import Any

import plyvel

from . import keys as K
from .batch import CommitBatch
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
from .levels import LevelStats, merge_levels, parse_stats
from .reader import Reader, _message, check_bytes, check_height, raise_translated

log = logging.getLogger(__name__)

# Files LevelDB itself may leave in a directory it has started (but not finished) creating.
_LEVELDB_FILE = re.compile(r"^(LOCK|LOG|LOG\.old|CURRENT|MANIFEST-\d+|\d+\.(log|ldb|sst|dbtmp))$")

WRITE_BUFFER = 32 * 1024 * 1024
"""LevelDB's default memtable size here (bytes), each database's: see the note in
``_DB_OPTIONS``."""

_DB_OPTIONS: dict[str, Any] = {
    "bloom_filter_bits": 10,  # has_tx / state_get misses cost no disk read
    # The memtable (the default: ``Store.open``'s write_buffer_size replaces it). A full one
    # is written out as one level-0 table and synced at once: validators commit the same
    # bytes, so they flush in the same second, and every synced write of the block path waits
    # behind those bytes. Small tables keep each such burst short; the hash-keyed entries
    # (tx index, nonces, contract state) then cost more compaction, on the background thread
    # at a lower priority (storage.background): each table's keys span the whole key range,
    # so LevelDB merges it into level 1 and pushes level 1 into level 2 at ~1 + (level 2 /
    # level 1) bytes written per byte, and a bigger table makes level 1 bigger at that moment.
    # 4 validators on one 2-core machine and disk (bench.run, evidence), p99 latency: 90 s at
    # 1,600 tx/s (layouts 2-3): 128 MiB 2.24 / 2.43 s (80 and 320 txs refused BUSY while
    # blocks waited), 32 MiB 0.76 s, 16 MiB 0.65 / 0.61 s, 8 MiB 0.61 s (5% more node CPU);
    # the sweep's 30 s at 70% of its peak: 128 MiB 4.21 s, 32 MiB 0.43 s, 16 MiB 0.44 s, the
    # peaks alike. Throughput of 20,000 txs at full speed, 16 against 128 MiB: 0.97x; 1
    # validator, 40,000 txs: 1.04x. Measured again with layout 4 (issue 19; its bodies'
    # tables are no longer merged, so only the main database's compaction is left): 70 s at
    # 1,800 tx/s, paired in turn, 32 against 16 MiB: p99 0.55 / 0.44 against 0.86 / 0.77 s,
    # compaction 12.0 / 12.3 against 19.5 / 17.4 us a tx per node, node CPU 221 / 223 against
    # 235 / 238 us. Hence 32 MiB.
    "write_buffer_size": WRITE_BUFFER,
    # No block compression. What a node stores is mostly hashes, signatures and hex strings,
    # which snappy shrinks by only ~1/3, and compressing costs the flushes and compactions
    # ~3x the CPU: replaying a 4-validator sweep node's 448 MB of batches (1,000 blocks) took
    # LevelDB's background thread 1.96 s with snappy, 0.70 s without, for 410 vs 434 MB on
    # disk at the end (282 vs 428 MB once fully compacted). Background CPU on a node is
    # taken from consensus and execution, disk is cheap.
    "compression": None,
    "lru_cache_size": 32 * 1024 * 1024,
    "paranoid_checks": True,  # report corruption at open instead of skipping data
}

_BODY_OPTIONS: dict[str, Any] = {
    **_DB_OPTIONS,
    # Bodies are read by keys that exist (a block, a tx from the index): a bloom filter would
    # be hashed on every flush and compaction for nothing.
    "bloom_filter_bits": 0,
    "lru_cache_size": 16 * 1024 * 1024,
}
"""The bodies' database: written in key order in a layout-4 store (keyed height first, and
heights only grow), so its tables move down the levels whole, without the rewriting the
hash-keyed index and state cause in the main one (``python -m bench.storage``)."""


class Snapshot(Reader):
    """A consistent read-only view of the store at one moment; later commits are invisible.

    Release it with :meth:`close` (or use it as a context manager): LevelDB keeps the data
    it pins until then.
    """

    __slots__ = ("path", "_snap", "_bodies", "_top", "_height_first")

    def __init__(self, path: str, snap: Any, bodies: Any, height_first: bool) -> None:
        """`snap` of the main database, then `bodies` of the bodies' (taken after it, so it
        holds every body up to `snap`'s head; `snap` itself in a layout-2 store);
        `height_first`: the bodies keyed as layout 4 keys them."""
        self.path = path
        self._snap: Any = snap
        self._bodies: Any = bodies
        self._height_first = height_first
        self._top: int | None = None
        if bodies is not snap:
            raw = snap.get(K.K_HEAD)
            self._top = -1 if raw is None else K.decode_head(raw)[0]

    def _handle(self) -> Any:
        if self._snap is None:
            raise StorageError(f"snapshot of {self.path} is closed")
        return self._snap

    def _body_source(self) -> tuple[Any, int | None, bool]:
        self._handle()
        return self._bodies, self._top, self._height_first

    def close(self) -> None:
        snap, self._snap = self._snap, None
        bodies, self._bodies = self._bodies, None
        if snap is not None:
            snap.close()
            if bodies is not snap:
                bodies.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class StagedBatch:
    """A commit batch staged by ``Store.stage`` (validated, in memory), not yet written."""

    __slots__ = ("block_hash", "height", "wb", "bodies", "written")

    def __init__(self, wb: Any, bodies: Any, height: int, block_hash: bytes) -> None:
        self.wb = wb
        self.bodies = bodies  # the bodies' write batch (``wb`` itself in a layout-2 store)
        self.height = height
        self.block_hash = block_hash
        self.written = False


class Store(Reader):
    """One node's database. Thread-safe: commits are serialised, reads run concurrently."""

    __slots__ = (
        "path",
        "_db",
        "_bodies",
        "_height_first",
        "_lock",
        "_head",
        "_chain_id",
        "_prunes",
    )

    def __init__(
        self,
        path: str,
        db: Any,
        bodies: Any,
        chain_id: bytes,
        head: tuple[int, bytes] | None,
        height_first: bool,
    ):
        self.path = path
        self._db: Any = db
        self._bodies: Any = bodies  # ``db`` itself in a layout-2 store
        self._height_first = height_first  # layout 4: the bodies keyed by K.body_key
        self._prunes = 0  # prunes whose headers are written; their bodies' deletes may not be
        self._lock = threading.Lock()
        self._head = head
        self._chain_id = chain_id

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        chain_id: bytes,
        create: bool = True,
        *,
        write_buffer_size: int | None = None,
    ) -> Store:
        """Open the store at ``path``; create it (recording ``chain_id``) if ``create``.
        ``write_buffer_size`` replaces the default memtable size (``WRITE_BUFFER``) for this
        open only: a store filled in bulk, in key order, by :meth:`install`, or a node's own
        choice for its disk.

        Raises NotADatabase, ChainMismatch, DatabaseLocked, Corruption (all StorageError).
        """
        p = os.path.abspath(os.fspath(path))
        check_bytes("chain_id", chain_id, K.MAX_CHAIN_ID, 1)
        if os.path.exists(p) and not os.path.isdir(p):
            raise NotADatabase(p, "it is a file, not a directory")
        existed = os.path.isfile(os.path.join(p, "CURRENT"))
        if not existed:
            if not create:
                raise NotADatabase(p, "no LevelDB database here (create=False)")
            if not os.path.isdir(p):
                try:
                    os.makedirs(p)
                except OSError as exc:
                    raise StorageError(f"cannot create database directory {p}: {exc}") from exc
            else:
                foreign = [
                    n for n in os.listdir(p) if not _LEVELDB_FILE.match(n) and n != K.BODIES_DIR
                ]
                if foreign:
                    raise NotADatabase(
                        p, f"directory holds other files ({', '.join(sorted(foreign)[:3])})"
                    )
        db = _open_leveldb(p, create, write_buffer_size)
        bodies = None
        try:
            found = _identity(p, db, chain_id)
            if found == K.LAYOUT_2:
                bodies = db
            else:  # a new store makes its bodies' database before recording its identity
                bodies = _open_bodies(p, found is None, write_buffer_size)
            if found is None:
                _record_identity(p, db, chain_id)
            height_first = found in (None, K.SCHEMA_VERSION)
            head = _head_of(p, db)
            if bodies is not db:
                _drop_stray_bodies(p, db, bodies, head, height_first)
        except BaseException:
            if bodies is not None and bodies is not db:
                bodies.close()
            db.close()
            raise
        return cls(p, db, bodies, chain_id, head, height_first)

    @property
    def layout(self) -> int:
        """The store's key layout: 4 (the bodies in their own database, ``BODIES_DIR``, keyed
        height first), or one made before it, still read and written as it is: 3 (the bodies
        keyed by name there) or 2 (the bodies in the one database)."""
        return 2 if self._bodies is self._db else 4 if self._height_first else 3

    # -- reading ----------------------------------------------------------------------------
    def _handle(self) -> Any:
        db = self._db
        if db is None:
            raise StorageError(f"store at {self.path} is closed")
        return db

    # fast path: plain=storage.reader.Reader.state_get test=tests/storage/test_store.py::test_store_state_get_is_the_reader_path
    def state_get(self, namespace: bytes, key: bytes) -> bytes | None:
        """``Reader.state_get`` with its checks, key and read in one frame: execution reads
        state through here for every key its overlay has not written (nonces, new keys)."""
        db = self._db
        if (
            db is not None
            and type(namespace) is bytes
            and type(key) is bytes
            and len(namespace) <= K.MAX_NAMESPACE
            and len(key) <= K.MAX_STATE_KEY
        ):
            try:
                value: bytes | None = db.get(
                    K.P_STATE + K.LEN_BYTE[len(namespace)] + namespace + key
                )
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            return value
        return Reader.state_get(self, namespace, key)

    # fast path: plain=storage.reader.Reader.has_tx test=tests/storage/test_store.py::test_store_has_tx_is_the_reader_path
    def has_tx(self, tx_hash: bytes) -> bool:
        """``Reader.has_tx`` in one frame: a block's every tx is looked up when it is built
        and again when it is validated."""
        db = self._db
        if db is not None and type(tx_hash) is bytes:
            try:
                return db.get(K.P_TX_INDEX + tx_hash) is not None
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
        return Reader.has_tx(self, tx_hash)

    def head(self) -> tuple[int, bytes] | None:
        self._handle()
        return self._head

    def chain_id(self) -> bytes:
        return self._chain_id

    def level_stats(self) -> tuple[LevelStats, ...]:
        """LevelDB's levels: files, bytes and the flush and compaction work of each
        (:mod:`storage.levels`), the bodies' database's added in; empty once closed. Any
        thread."""
        db = self._db
        if db is None:
            return ()
        tables = []
        for handle in self._with_bodies(db):
            try:
                raw = handle.get_property(b"leveldb.stats")
            except (plyvel.Error, RuntimeError):
                return ()  # closed meanwhile
            tables.append(parse_stats(raw.decode("ascii", "replace")) if raw else ())
        return merge_levels(tables)

    def approximate_size(self, start: bytes, stop: bytes) -> int:
        """LevelDB's estimate of the bytes the main database's keys in [start, stop) take in
        its table files (the memtable's not counted): from the tables' indexes, microseconds,
        no data read. Key ranges of one moment compare well (a share of the state scanned);
        0 once closed. Any thread."""
        db = self._db
        if db is None:
            return 0
        try:
            return int(db.approximate_size(start, stop))
        except (plyvel.Error, RuntimeError):
            return 0  # closed meanwhile

    def _body_source(self) -> tuple[Any, int | None, bool]:
        db = self._handle()
        if self._bodies is db:
            return db, None, False
        head = self._head
        return self._bodies, -1 if head is None else head[0], self._height_first

    def _databases(self) -> tuple[Any, ...]:
        return self._with_bodies(self._handle())

    def _with_bodies(self, db: Any) -> tuple[Any, ...]:
        """The main database `db` and the bodies' (one database in a layout-2 store)."""
        return (db,) if self._bodies is db else (db, self._bodies)

    def snapshot(self) -> Snapshot:
        """A consistent view for readers while commits go on. No lock (a commit's synced
        writes can take long): the bodies' snapshot is taken second, so it holds every body up
        to the main one's head (a later one it may hold stays hidden); one that a prune
        between the two would make disagree with the main one (its headers before, its deletes
        after) is taken again."""
        try:
            db = self._handle()
            while True:
                prunes = self._prunes
                snap = db.snapshot()
                if self._bodies is db:
                    return Snapshot(self.path, snap, snap, False)
                try:
                    bodies = self._bodies.snapshot()
                except BaseException:
                    snap.close()
                    raise
                if self._prunes == prunes:
                    return Snapshot(self.path, snap, bodies, self._height_first)
                bodies.close()
                snap.close()
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)

    def verify(self) -> int:
        """Read every entry with checksums verified; return the count. Raises Corruption.

        plyvel ends an iteration silently, not with LevelDB's error, when every block after
        the last good one is damaged: a reverse step from the end reports those, and point
        reads of keys that must exist (the chain id, the head block's body) the case where
        no block is good."""
        n = 0
        check = {"verify_checksums": True, "fill_cache": False}
        try:
            for db in self._databases():
                with db.iterator(**check) as it:
                    for _ in it:
                        n += 1
                with db.iterator(reverse=True, include_value=False, **check) as it:
                    next(it, None)
            if self._handle().get(K.K_CHAIN_ID, **check) is None:
                raise Corruption(self.path, "its chain id is not readable")
            _check_head_body(
                self.path, self._handle(), self._bodies, self._head, check, self._height_first
            )
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)
        return n

    def compact(self) -> None:
        """Compact the whole key range (reclaims space after large deletes or pruning)."""
        try:
            for db in self._databases():
                db.compact_range()
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)

    # -- writing ----------------------------------------------------------------------------
    def commit(self, batch: CommitBatch, *, check_duplicates: bool = False) -> None:
        """Write the block, its txs, receipts, state writes, metadata and the new head in ONE
        synced LevelDB write batch: after a crash either all of it is there or none of it.

        Everything is validated first; on InvalidInput nothing is written. A tx hash
        repeated inside the batch or a block hash already stored is always rejected; a tx hash
        already stored by an earlier block is only looked up with ``check_duplicates=True``
        (one point read per tx): the ledger already rejects such blocks using ``has_tx`` and
        the commit path should not pay for that twice.
        """
        self.write_staged(self.stage(batch, check_duplicates=check_duplicates))

    def stage(self, batch: CommitBatch, *, check_duplicates: bool = False) -> StagedBatch:
        """``commit``'s first half: validate ``batch`` and stage it in memory (nothing is
        written; the Python work, under the GIL). ``write_staged`` writes it, possibly on
        another thread (LevelDB's write and sync release the GIL). Stage the next batch only
        after this one is written: its height must follow the stored head."""
        if not isinstance(batch, CommitBatch):
            raise InvalidInput(f"commit takes a CommitBatch, got {type(batch).__name__}")
        with self._lock:
            db = self._handle()
            wb = db.write_batch(sync=True)
            bodies = wb if self._bodies is db else self._bodies.write_batch(sync=True)
            try:
                self._fill(db, wb, bodies.put, batch, check_duplicates)
            except (TypeError, ValueError, AttributeError, LookupError) as exc:
                wb.clear()
                bodies.clear()
                if isinstance(exc, InvalidInput):
                    raise
                raise InvalidInput(f"malformed commit batch: {exc}") from exc
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            return StagedBatch(wb, bodies, batch.height, batch.block_hash)

    def write_staged(self, staged: StagedBatch) -> None:
        """``commit``'s second half: the synced writes of a ``stage``d batch (once). The
        bodies' batch is written and synced first, then the batch that moves the head: after
        a crash between the two, the bodies of a height above the head are dropped on open."""
        with self._lock:
            self._handle()
            if staged.written:
                raise InvalidInput(f"the batch of height {staged.height} is written already")
            expected = 0 if self._head is None else self._head[0] + 1
            if staged.height != expected:
                raise HeightMismatch(expected, staged.height)
            staged.written = True
            try:
                if staged.bodies is not staged.wb:
                    staged.bodies.write()
                staged.wb.write()
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            self._head = (staged.height, staged.block_hash)

    # long: the hot staging path, one column at a time (docstring)
    def _fill(
        self,
        db: Any,
        wb: Any,
        body_put: Callable[[bytes, bytes], None],
        batch: CommitBatch,
        check_duplicates: bool,
    ) -> None:
        """Validate ``batch`` and stage its entries in ``wb``, its bodies (block, txs,
        receipts) through ``body_put`` (in memory; nothing is written).

        Hot path: one comprehension builds each column of keys or values, C-level ``max(map
        (len, ...))`` checks its sizes and ``map(put, ...)`` stages it; plyvel's ``put`` itself
        rejects non-bytes. Any TypeError/ValueError/LookupError becomes InvalidInput upstream.
        """
        height = check_height(batch.height)
        expected = 0 if self._head is None else self._head[0] + 1
        if height != expected:
            raise HeightMismatch(expected, height)
        block_hash = check_bytes("block_hash", batch.block_hash, K.MAX_HASH, 1)
        block = check_bytes("block", batch.block, K.MAX_BLOCK)
        get = db.get
        if get(K.height_of_hash_key(block_hash)) is not None:
            raise DuplicateEntry(f"block hash {block_hash.hex()} is already stored")
        put = wb.put
        hb = K.HEIGHT.pack(height)

        # transactions: x<hash> -> h8 i4 (index), t<h8 i4> -> tx (in key order: no overlap)
        txs = _sequence("txs", batch.txs)
        if len(txs) > K.MAX_TXS:
            raise InvalidInput(f"at most {K.MAX_TXS} txs per block, got {len(txs)}")
        hashes = [h for h, _ in txs]
        xkeys = [b"x" + h for h in hashes]
        loc = K.TX_LOC.pack
        locs = [loc(height, i) for i in range(len(txs))]
        tvalues = [tx for _, tx in txs]
        if xkeys:
            _sizes("tx hash", xkeys, 1 + 1, 1 + K.MAX_HASH)
            _sizes("tx", tvalues, 0, K.MAX_VALUE)
        tx_set = set(hashes)
        if len(tx_set) != len(hashes):
            raise DuplicateEntry("a tx hash appears twice in the block")
        if check_duplicates and any(map(get, xkeys)):
            dup = next(h for h, k in zip(hashes, xkeys, strict=True) if get(k) is not None)
            raise DuplicateEntry(f"tx {dup.hex()} is already stored")
        _drain(map(put, xkeys, locs))
        head = K.body_key_head(K.P_TX, hb, self._height_first)
        _drain(map(body_put, [head + x[8:] for x in locs], tvalues))

        # receipts: r<h8 i4 of its tx> -> receipt
        receipts = _sequence("receipts", batch.receipts)
        r_hashes = [h for h, _ in receipts]
        if not tx_set.issuperset(r_hashes) or len(set(r_hashes)) != len(r_hashes):
            raise InvalidInput("each receipt needs a distinct tx hash of this block")
        r_values = [r for _, r in receipts]
        if r_values:
            _sizes("receipt", r_values, 0, K.MAX_VALUE)
            at = dict(zip(hashes, locs, strict=True))
            head = K.body_key_head(K.P_RECEIPT, hb, self._height_first)
            _drain(map(body_put, [head + at[h][8:] for h in r_hashes], r_values))

        # state: s<len(ns)><ns><key> -> value, or deleted
        items = list(batch.state_writes.items())
        if items:
            lens = K.LEN_BYTE  # MAX_NAMESPACE == 255: a longer namespace is an IndexError
            skeys = [b"s" + lens[len(ns)] + ns + key for (ns, key), _ in items]
            _sizes("state key", [key for (_, key), _ in items], 0, K.MAX_STATE_KEY)
            svalues = [v for _, v in items]
            if None in svalues:
                _drain(
                    map(wb.delete, [k for k, v in zip(skeys, svalues, strict=True) if v is None])
                )
                sets = [(k, v) for k, v in zip(skeys, svalues, strict=True) if v is not None]
                skeys, svalues = [k for k, _ in sets], [v for _, v in sets]
            if svalues:
                _sizes("state value", svalues, 0, K.MAX_VALUE)
                _drain(map(put, skeys, svalues))

        for mkey, mvalue in batch.meta.items():
            check_bytes("meta key", mkey, K.MAX_META_KEY)
            check_bytes("meta value", mvalue, K.MAX_VALUE)
            put(K.meta_key(mkey), mvalue)

        body_put(K.body_key_head(K.P_BLOCK, hb, self._height_first), block)
        put(K.P_BLOCK_HASH_AT + hb, block_hash)
        put(K.height_of_hash_key(block_hash), hb)
        put(K.P_BLOCK_TXS + hb, K.encode_tx_hashes(hashes))
        put(K.K_HEAD, hb + block_hash)

    def prune(self, heights: Sequence[int], headers: Sequence[bytes], floor: int) -> int:
        """Drop the bodies of ``heights``: the block (its ``headers[i]``, given by the caller,
        is kept under ``g``), its txs' bytes and its receipts (two key ranges: they are keyed
        by height); the tx index (so ``has_tx`` and ``tx`` still answer where a tx was), the
        block hash indexes, the tx-hash list and all metadata (certificates) stay. Records
        ``floor`` as the prune floor. Pruning an already pruned height is a no-op for it.
        Returns the txs pruned.

        The headers and the floor are written (synced) first, then the bodies' deletes: a
        crash between the two leaves bodies below the floor, dropped on open."""
        if len(heights) != len(headers):
            raise InvalidInput("one header per pruned height")
        check_height(floor)
        with self._lock:
            db = self._handle()
            bodies = self._bodies
            head = self._head[0] if self._head is not None else -1
            wb = db.write_batch(sync=True)
            drop = wb if bodies is db else bodies.write_batch(sync=True)
            height_first = self._height_first
            n = 0
            try:
                for height, header in zip(heights, headers, strict=True):
                    check_height(height)
                    if height >= head:
                        raise InvalidInput(f"cannot prune height {height}: the head is {head}")
                    check_bytes("header", header, K.MAX_BLOCK, 1)
                    hb = K.HEIGHT.pack(height)
                    block_key = K.body_key_head(K.P_BLOCK, hb, height_first)
                    if bodies.get(block_key) is None:
                        continue
                    for prefix in (K.P_TX, K.P_RECEIPT):
                        first = K.body_key_head(prefix, hb, height_first)
                        with bodies.iterator(prefix=first, include_value=False) as it:
                            for key in it:
                                drop.delete(key)
                                n += prefix == K.P_TX
                    drop.delete(block_key)
                    wb.put(K.pruned_header_key(height), header)
                wb.put(K.K_PRUNE_FLOOR, K.HEIGHT.pack(floor))
                wb.write()
                if drop is not wb:
                    self._prunes += 1
                    drop.write()
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            return n

    def install(  # what a joined node's store starts from
        self,
        height: int,
        block_hash: bytes,
        header: bytes,
        state: Iterable[Sequence[tuple[bytes, bytes]]],
        meta: Mapping[bytes, bytes],
        floor: int,
        tx_index: Iterable[tuple[int, Sequence[bytes]]] = (),
    ) -> int:
        """Fill an EMPTY store from a state snapshot: the state entries (full keys of the ``s``
        space), in batches as they come (each checked as a whole and written as one write
        batch: a snapshot's chunk), then in ONE synced batch ``meta``, the header of block
        ``height`` (kept as a pruned block's: its body is not here), its hash indexes, the
        prune floor ``floor``, the tx index of ``tx_index`` ((height, tx hashes) of blocks
        below whose bodies are not here: their txs answer as pruned ones) and the head. Until that last batch the store has no head;
        the caller installs into a fresh directory and renames it into place. Returns the
        entries written."""
        check_height(height)
        check_height(floor)
        check_bytes("block_hash", block_hash, K.MAX_HASH, 1)
        check_bytes("header", header, K.MAX_BLOCK, 1)
        with self._lock:
            db = self._handle()
            if self._head is not None:
                raise InvalidInput("install into an empty store only")
            n = 0
            try:
                for batch in state:
                    _check_state_batch(batch)
                    with db.write_batch() as wb:
                        put = wb.put
                        for key, value in batch:
                            put(key, value)
                    n += len(batch)
                hb = K.HEIGHT.pack(height)
                with db.write_batch(sync=True) as last:
                    for mkey, mvalue in meta.items():
                        check_bytes("meta key", mkey, K.MAX_META_KEY)
                        check_bytes("meta value", mvalue, K.MAX_VALUE)
                        last.put(K.meta_key(mkey), mvalue)
                    last.put(K.pruned_header_key(height), header)
                    last.put(K.P_BLOCK_HASH_AT + hb, block_hash)
                    last.put(K.height_of_hash_key(block_hash), hb)
                    for at, hashes in tx_index:
                        check_height(at)
                        for i, tx_hash in enumerate(hashes):
                            check_bytes("tx_hash", tx_hash, K.MAX_HASH, 1)
                            last.put(K.tx_index_key(tx_hash), K.TX_LOC.pack(at, i))
                    last.put(K.K_PRUNE_FLOOR, K.HEIGHT.pack(floor))
                    last.put(K.K_HEAD, hb + block_hash)
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            self._head = (height, block_hash)
            return n

    def delete_meta(self, keys: Iterable[bytes]) -> None:
        """Delete caller metadata (one write batch, not synced: records the caller can do
        without, such as a finished computation's scratch)."""
        with self._lock:
            db = self._handle()
            try:
                with db.write_batch() as wb:
                    for key in keys:
                        wb.delete(K.meta_key(check_bytes("meta key", key, K.MAX_META_KEY)))
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)

    # -- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the databases (idempotent); open snapshots become unusable."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                if self._bodies is not db:
                    self._bodies.close()
                db.close()

    @property
    def closed(self) -> bool:
        return self._db is None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_drain = deque[object](maxlen=0).extend  # run an iterator (of puts) to the end, in C


def _sequence(what: str, items: object) -> Sequence[Any]:
    if not isinstance(items, list | tuple) and (
        not isinstance(items, Sequence) or isinstance(items, bytes | str)
    ):
        raise InvalidInput(f"{what} must be a sequence of pairs, got {type(items).__name__}")
    return items


def _sizes(what: str, column: list[Any], min_len: int, max_len: int) -> None:
    """Bulk length check of a non-empty column of encoded keys or values."""
    if min(map(len, column)) < min_len or max(map(len, column)) > max_len:
        bad = next(len(v) for v in column if not min_len <= len(v) <= max_len)
        raise InvalidInput(f"{what} has a bad size ({bad} bytes; {min_len}..{max_len} allowed)")


def _open_leveldb(
    path: str,
    create: bool,
    write_buffer_size: int | None = None,
    base: Mapping[str, Any] = _DB_OPTIONS,
) -> Any:
    options = dict(base)
    if write_buffer_size is not None:
        options["write_buffer_size"] = write_buffer_size
    try:
        return plyvel.DB(path, create_if_missing=create, **options)
    except plyvel.CorruptionError as exc:
        raise Corruption(path, _message(exc)) from exc
    except plyvel.Error as exc:
        msg = _message(exc)
        if "lock" in msg.lower() and ("held" in msg or "unavailable" in msg.lower()):
            raise DatabaseLocked(path, msg) from exc
        if "Not a directory" in msg or "does not exist" in msg:
            raise NotADatabase(path, msg) from exc
        raise StorageError(f"cannot open database at {path}: {msg}") from exc


def _open_bodies(path: str, create: bool, write_buffer_size: int | None) -> Any:
    """The bodies' database inside the store at `path` (created only with a new store)."""
    where = os.path.join(path, K.BODIES_DIR)
    if not create and not os.path.isfile(os.path.join(where, "CURRENT")):
        raise Corruption(
            path,
            f"its bodies database ({K.BODIES_DIR}/) is missing: a copy of the store must take "
            "the whole directory; restore it from a backup",
        )
    return _open_leveldb(where, create, write_buffer_size, _BODY_OPTIONS)


def _identity(path: str, db: Any, chain_id: bytes) -> bytes | None:
    """Check the chain id; return the layout version (None: an empty, new database)."""
    try:
        found = db.get(K.K_CHAIN_ID)
        if found is None:
            with db.iterator(include_value=False) as it:
                if next(it, None) is not None:
                    raise NotADatabase(path, "a LevelDB database without a chainnode chain id")
            return None
        if found != chain_id:
            raise ChainMismatch(path, chain_id, found)
        version: bytes | None = db.get(K.K_VERSION)
    except (plyvel.Error, RuntimeError) as exc:
        raise_translated(path, exc)
    if version not in (K.SCHEMA_VERSION, K.LAYOUT_3, K.LAYOUT_2):
        raise StorageError(f"database at {path} has unsupported layout version {version!r}")
    return version


def _record_identity(path: str, db: Any, chain_id: bytes) -> None:
    try:
        with db.write_batch(sync=True) as wb:
            wb.put(K.K_CHAIN_ID, chain_id)
            wb.put(K.K_VERSION, K.SCHEMA_VERSION)
    except (plyvel.Error, RuntimeError) as exc:
        raise_translated(path, exc)


def _head_of(path: str, db: Any) -> tuple[int, bytes] | None:
    try:
        raw = db.get(K.K_HEAD)
    except (plyvel.Error, RuntimeError) as exc:
        raise_translated(path, exc)
    return None if raw is None else K.decode_head(raw)


def _drop_stray_bodies(
    path: str, db: Any, bodies: Any, head: tuple[int, bytes] | None, height_first: bool
) -> None:
    """Delete bodies a crash left behind: above the head (written before the batch that would
    have moved it) and below the prune floor (a prune's deletes come after its headers).
    Raises Corruption when the head block's body is missing (and it was not installed).
    `height_first`: the bodies keyed as layout 4 keys them (two key ranges in all)."""
    top = -1 if head is None else head[0]
    try:
        raw_floor = db.get(K.K_PRUNE_FLOOR)
        floor = 0 if raw_floor is None else int(K.HEIGHT.unpack(raw_floor)[0])
        below, above = K.HEIGHT.pack(floor), K.HEIGHT.pack(top + 1)
        prefixes = [bytes((code,)) for code in sorted(K.BODY_CODES)]
        ranges = (
            [(b"", below), (above, None)]
            if height_first
            else [
                r for p in prefixes for r in ((p, p + below), (p + above, K.prefix_upper_bound(p)))
            ]
        )
        stray = []
        for start, stop in ranges:
            with bodies.iterator(start=start, stop=stop, include_value=False) as it:
                stray += it
        if stray:
            with bodies.write_batch(sync=True) as wb:
                for key in stray:
                    wb.delete(key)
            log.info(
                "store %s: dropped %d body entries a crash left (head %d)", path, len(stray), top
            )
        _check_head_body(path, db, bodies, head, {}, height_first)
    except (plyvel.Error, RuntimeError) as exc:
        raise_translated(path, exc)


def _check_head_body(
    path: str,
    db: Any,
    bodies: Any,
    head: tuple[int, bytes] | None,
    read: Mapping[str, Any],
    height_first: bool,
) -> None:
    """Raise Corruption when the head block has neither its body nor a pruned header (one
    installed from a snapshot keeps only the header); `read`: plyvel's read options."""
    if head is None:
        return
    top = head[0]
    key = K.body_key_head(K.P_BLOCK, K.HEIGHT.pack(top), height_first)
    if bodies.get(key, **read) is None and (db.get(K.pruned_header_key(top), **read) is None):
        raise Corruption(path, f"the body of its head block {top} is missing")


def _check_state_batch(batch: Sequence[tuple[bytes, bytes]]) -> None:
    """:meth:`Store.install`'s checks of a batch of state entries, over its columns at once:
    byte strings, keys of the state space within the state keys' bounds, values within
    MAX_VALUE."""
    if not batch:
        return
    keys, values = zip(*batch, strict=True)
    if set(map(type, keys)) != {bytes} or set(map(type, values)) != {bytes}:
        raise InvalidInput("install: state keys and values must be bytes")
    key_lens = list(map(len, keys))
    if min(key_lens) < 2 or max(key_lens) > K.MAX_STATE_KEY + K.MAX_NAMESPACE + 2:
        raise InvalidInput("install: a state key out of bounds")
    if max(map(len, values)) > K.MAX_VALUE:
        raise InvalidInput(f"install: a state value over {K.MAX_VALUE} bytes")
    if not all(map(bytes.startswith, keys, repeat(K.P_STATE))):
        raise InvalidInput("install writes state keys only")
