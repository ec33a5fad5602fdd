"""The store: open/create with chain-id and lock checks, atomic synced commits, snapshots."""

from __future__ import annotations

import os
import re
import threading
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
from .reader import Reader, _message, check_bytes, check_height, raise_translated

# Files LevelDB itself may leave in a directory it has started (but not finished) creating.
_LEVELDB_FILE = re.compile(r"^(LOCK|LOG|LOG\.old|CURRENT|MANIFEST-\d+|\d+\.(log|ldb|sst|dbtmp))$")

_DB_OPTIONS: dict[str, Any] = {
    "bloom_filter_bits": 10,  # has_tx / state_get misses cost no disk read
    "write_buffer_size": 32 * 1024 * 1024,  # fewer memtable flushes under 1,000-tx blocks
    "lru_cache_size": 32 * 1024 * 1024,
    "paranoid_checks": True,  # report corruption at open instead of skipping data
}


class Snapshot(Reader):
    """A consistent read-only view of the store at one moment; later commits are invisible.

    Release it with :meth:`close` (or use it as a context manager): LevelDB keeps the data
    it pins until then.
    """

    __slots__ = ("path", "_snap")

    def __init__(self, path: str, snap: Any) -> None:
        self.path = path
        self._snap: Any = snap

    def _handle(self) -> Any:
        if self._snap is None:
            raise StorageError(f"snapshot of {self.path} is closed")
        return self._snap

    def close(self) -> None:
        snap, self._snap = self._snap, None
        if snap is not None:
            snap.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Store(Reader):
    """One node's database. Thread-safe: commits are serialised, reads run concurrently."""

    __slots__ = ("path", "_db", "_lock", "_head", "_chain_id")

    def __init__(self, path: str, db: Any, chain_id: bytes, head: tuple[int, bytes] | None):
        self.path = path
        self._db: Any = db
        self._lock = threading.Lock()
        self._head = head
        self._chain_id = chain_id

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], chain_id: bytes, create: bool = True) -> Store:
        """Open the store at ``path``; create it (recording ``chain_id``) if ``create``.

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
            if os.path.isdir(p):
                foreign = [n for n in os.listdir(p) if not _LEVELDB_FILE.match(n)]
                if foreign:
                    raise NotADatabase(
                        p, f"directory holds other files ({', '.join(sorted(foreign)[:3])})"
                    )
        db = _open_leveldb(p, create)
        try:
            head = _check_identity(p, db, chain_id)
        except BaseException:
            db.close()
            raise
        return cls(p, db, chain_id, head)

    # -- reading ----------------------------------------------------------------------------
    def _handle(self) -> Any:
        db = self._db
        if db is None:
            raise StorageError(f"store at {self.path} is closed")
        return db

    def head(self) -> tuple[int, bytes] | None:
        self._handle()
        return self._head

    def chain_id(self) -> bytes:
        return self._chain_id

    def snapshot(self) -> Snapshot:
        """A consistent view for readers while commits go on."""
        try:
            return Snapshot(self.path, self._handle().snapshot())
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)

    def verify(self) -> int:
        """Read every entry with checksums verified; return the count. Raises Corruption."""
        n = 0
        try:
            with self._handle().iterator(verify_checksums=True, fill_cache=False) as it:
                for _ in it:
                    n += 1
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)
        return n

    # -- writing ----------------------------------------------------------------------------
    def commit(self, batch: CommitBatch) -> None:
        """Write the block, its txs, receipts, state writes, metadata and the new head in ONE
        synced LevelDB write batch: after a crash either all of it is there or none of it.

        Everything is validated first; on InvalidInput nothing is written.
        """
        if not isinstance(batch, CommitBatch):
            raise InvalidInput(f"commit takes a CommitBatch, got {type(batch).__name__}")
        with self._lock:
            db = self._handle()
            wb = db.write_batch(sync=True)
            try:
                self._fill(db, wb, batch)
            except (TypeError, ValueError, AttributeError) as exc:
                wb.clear()
                if isinstance(exc, InvalidInput):
                    raise
                raise InvalidInput(f"malformed commit batch: {exc}") from exc
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            try:
                wb.write()
            except (plyvel.Error, RuntimeError) as exc:
                raise_translated(self.path, exc)
            self._head = (batch.height, batch.block_hash)

    def _fill(self, db: Any, wb: Any, batch: CommitBatch) -> None:
        """Validate ``batch`` and stage its entries in ``wb`` (in memory; nothing is written)."""
        height = check_height(batch.height)
        expected = 0 if self._head is None else self._head[0] + 1
        if height != expected:
            raise HeightMismatch(expected, height)
        block_hash = check_bytes("block_hash", batch.block_hash, K.MAX_HASH, 1)
        block = check_bytes("block", batch.block, K.MAX_BLOCK)
        if db.get(K.height_of_hash_key(block_hash)) is not None:
            raise DuplicateEntry(f"block hash {block_hash.hex()} is already stored")
        put = wb.put
        hb = K.HEIGHT.pack(height)

        txs = batch.txs
        if len(txs) > K.MAX_TXS:
            raise InvalidInput(f"at most {K.MAX_TXS} txs per block, got {len(txs)}")
        hashes = [h for h, _ in txs]
        loc = K.TX_LOC.pack
        max_hash, max_value = K.MAX_HASH, K.MAX_VALUE
        for i, (h, tx) in enumerate(txs):
            if type(h) is not bytes or not 0 < len(h) <= max_hash:
                check_bytes(f"txs[{i}] hash", h, max_hash, 1)
            if type(tx) is not bytes or len(tx) > max_value:
                check_bytes(f"txs[{i}] tx", tx, max_value)
            put(b"t" + h, loc(height, i) + tx)
        tx_set = set(hashes)
        if len(tx_set) != len(hashes):
            raise DuplicateEntry("a tx hash appears twice in the block")
        get = db.get
        for h in hashes:
            if get(b"t" + h) is not None:
                raise DuplicateEntry(f"tx {h.hex()} is already stored")

        receipts = batch.receipts
        r_hashes = [h for h, _ in receipts]
        if not tx_set.issuperset(r_hashes) or len(set(r_hashes)) != len(r_hashes):
            raise InvalidInput("each receipt needs a distinct tx hash of this block")
        for i, (h, r) in enumerate(receipts):
            if type(r) is not bytes or len(r) > max_value:
                check_bytes(f"receipts[{i}] receipt", r, max_value)
            put(b"r" + h, r)

        delete = wb.delete
        max_ns, max_key = K.MAX_NAMESPACE, K.MAX_STATE_KEY
        for (ns, key), value in batch.state_writes.items():
            if (
                type(ns) is not bytes
                or type(key) is not bytes
                or len(ns) > max_ns
                or len(key) > max_key
            ):
                check_bytes("state namespace", ns, max_ns)
                check_bytes("state key", key, max_key)
            skey = b"s" + bytes((len(ns),)) + ns + key
            if value is None:
                delete(skey)
            else:
                if type(value) is not bytes or len(value) > max_value:
                    check_bytes("state value", value, max_value)
                put(skey, value)

        for mkey, mvalue in batch.meta.items():
            check_bytes("meta key", mkey, K.MAX_META_KEY)
            check_bytes("meta value", mvalue, max_value)
            put(K.meta_key(mkey), mvalue)

        put(K.P_BLOCK + hb, block)
        put(K.P_BLOCK_HASH_AT + hb, block_hash)
        put(K.height_of_hash_key(block_hash), hb)
        put(K.P_BLOCK_TXS + hb, K.encode_tx_hashes(hashes))
        put(K.K_HEAD, hb + block_hash)

    # -- closing ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent); open snapshots become unusable."""
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
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


def _open_leveldb(path: str, create: bool) -> Any:
    try:
        return plyvel.DB(path, create_if_missing=create, **_DB_OPTIONS)
    except plyvel.CorruptionError as exc:
        raise Corruption(path, _message(exc)) from exc
    except plyvel.Error as exc:
        msg = _message(exc)
        if "lock" in msg.lower() and ("held" in msg or "unavailable" in msg.lower()):
            raise DatabaseLocked(path, msg) from exc
        if "Not a directory" in msg or "does not exist" in msg:
            raise NotADatabase(path, msg) from exc
        raise StorageError(f"cannot open database at {path}: {msg}") from exc


def _check_identity(path: str, db: Any, chain_id: bytes) -> tuple[int, bytes] | None:
    """Check (or, for an empty database, record) the chain id; return the head."""
    try:
        found = db.get(K.K_CHAIN_ID)
        if found is None:
            with db.iterator(include_value=False) as it:
                if next(it, None) is not None:
                    raise NotADatabase(path, "a LevelDB database without a chainnode chain id")
            with db.write_batch(sync=True) as wb:
                wb.put(K.K_CHAIN_ID, chain_id)
                wb.put(K.K_VERSION, K.SCHEMA_VERSION)
            return None
        if found != chain_id:
            raise ChainMismatch(path, chain_id, found)
        version = db.get(K.K_VERSION)
        if version != K.SCHEMA_VERSION:
            raise StorageError(f"database at {path} has unsupported layout version {version!r}")
        raw = db.get(K.K_HEAD)
    except (plyvel.Error, RuntimeError) as exc:
        raise_translated(path, exc)
    return None if raw is None else K.decode_head(raw)
