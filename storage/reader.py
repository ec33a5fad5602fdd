"""The read API shared by a live :class:`~storage.Store` and a :class:`~storage.Snapshot`.

Subclasses supply their plyvel DBs or snapshots (``_handle``, ``_body_source``); every public
read is built from two primitives over them, ``_get(key)`` and ``_range(start, stop)``, so the
two can never differ.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from operator import itemgetter
from typing import Any, NoReturn

import plyvel

from . import keys as K
from .batch import TxLocation
from .errors import Corruption, InvalidInput, StorageError


def _message(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else ""
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


def raise_translated(path: str, exc: BaseException) -> NoReturn:
    """Turn a plyvel (or closed-handle) error into one of ours, keeping the cause."""
    if isinstance(exc, plyvel.CorruptionError):
        raise Corruption(path, _message(exc)) from exc
    if isinstance(exc, RuntimeError):
        raise StorageError(f"database at {path} is closed ({_message(exc)})") from exc
    raise StorageError(f"database at {path}: {_message(exc)}") from exc


def check_bytes(what: str, value: object, max_len: int, min_len: int = 0) -> bytes:
    if type(value) is not bytes:
        raise InvalidInput(f"{what} must be bytes, got {type(value).__name__}")
    if not min_len <= len(value) <= max_len:
        raise InvalidInput(f"{what} must be {min_len}..{max_len} bytes, got {len(value)}")
    return value


def check_height(value: object) -> int:
    if type(value) is not int or not 0 <= value <= K.MAX_HEIGHT:
        raise InvalidInput(f"height must be an int in 0..{K.MAX_HEIGHT}, got {value!r}")
    return value


class Reader:
    """Reads of blocks, transactions, receipts, state and metadata."""

    __slots__ = ()

    path: str

    # -- primitives -------------------------------------------------------------------------
    def _handle(self) -> Any:
        """The plyvel DB or snapshot to read from (raises StorageError when closed)."""
        raise NotImplementedError

    def _body_source(self) -> tuple[Any, int | None, bool]:
        """The plyvel DB or snapshot holding the bodies (``b``, ``t``, ``r``), the highest
        height whose bodies a read may see, and whether it stores them height first
        (:func:`storage.keys.body_key`, layout 4). A commit writes a block's bodies before
        the batch that moves the head, so the bodies' database can hold the next height's a
        moment early (or, after a crash, until the store reopens): reads never show them. In
        a layout-2 store the bodies share the one database (``_handle()``) and are written
        with the head: the height is None (all visible)."""
        raise NotImplementedError

    def _get(self, key: bytes) -> bytes | None:
        try:
            if key[0] in K.BODY_CODES:
                handle, top, height_first = self._body_source()
                if top is not None and _height(key) > top:
                    return None
                if height_first:
                    key = K.body_key(key)
            else:
                handle = self._handle()
            value: bytes | None = handle.get(key)
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)
        return value

    def _range(self, start: bytes, stop: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Ordered (key, value) pairs with start <= key < stop, from one consistent view."""
        main = self._handle()
        bodies, top, height_first = self._body_source()
        if top is None or not touches_bodies(start, stop):
            yield from self._iterate(main, start, stop)
            return
        if height_first:
            visible = self._bodies_by_height(bodies, start, stop, top)
        else:
            visible = (kv for kv in self._iterate(bodies, start, stop) if _height(kv[0]) <= top)
        if within_bodies(start, stop):
            yield from visible
            return
        # the key spaces are disjoint: merging the two ordered streams keeps key order
        yield from heapq.merge(self._iterate(main, start, stop), visible, key=_first)

    def _bodies_by_height(
        self, bodies: Any, start: bytes, stop: bytes | None, top: int
    ) -> Iterator[tuple[bytes, bytes]]:
        """The body entries named in [start, stop) at heights up to `top`, by name, from a
        bodies' database that stores them height first: one prefix after the other, each
        read by :func:`_one_prefix`."""
        try:
            with bodies.iterator() as it:
                for code in sorted(K.BODY_CODES):
                    prefix = bytes((code,))
                    lo, hi = max(start, prefix), prefix + b"\xff" * 13
                    if stop is not None and stop < hi:
                        hi = stop
                    if lo < hi:
                        yield from _one_prefix(it, prefix, lo, hi, top)
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)

    def _iterate(self, handle: Any, start: bytes, stop: bytes | None) -> Iterator[Any]:
        try:
            it = handle.iterator(start=start, stop=stop)
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)
        try:
            with it:
                yield from it
        except (plyvel.Error, RuntimeError) as exc:
            raise_translated(self.path, exc)

    # -- head and blocks --------------------------------------------------------------------
    def head(self) -> tuple[int, bytes] | None:
        """(height, block_hash) of the last committed block, or None for an empty chain."""
        raw = self._get(K.K_HEAD)
        return None if raw is None else K.decode_head(raw)

    def block_by_height(self, height: int) -> bytes | None:
        return self._get(K.block_key(check_height(height)))

    def block_hash_at(self, height: int) -> bytes | None:
        return self._get(K.block_hash_at_key(check_height(height)))

    def block_by_hash(self, block_hash: bytes) -> bytes | None:
        h = self.height_of(block_hash)
        return None if h is None else self._get(K.block_key(h))

    def height_of(self, block_hash: bytes) -> int | None:
        raw = self._get(K.height_of_hash_key(check_bytes("block_hash", block_hash, K.MAX_HASH, 1)))
        return None if raw is None else int(K.HEIGHT.unpack(raw)[0])

    def block_tx_hashes(self, height: int) -> list[bytes] | None:
        """Hashes of the block's transactions in block order (None if no block at height)."""
        raw = self._get(K.block_txs_key(check_height(height)))
        return None if raw is None else K.decode_tx_hashes(raw)

    def blocks(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(height, block) for start <= height < stop, in height order."""
        lo = K.block_key(check_height(start))
        hi = (
            K.block_key(check_height(stop)) if stop is not None else K.prefix_upper_bound(K.P_BLOCK)
        )
        for key, value in self._range(lo, hi):
            yield int(K.HEIGHT.unpack_from(key, 1)[0]), value

    def prune_floor(self) -> int:
        """The lowest height whose body is still stored (0: nothing pruned)."""
        raw = self._get(K.K_PRUNE_FLOOR)
        return 0 if raw is None else int(K.HEIGHT.unpack(raw)[0])

    def pruned_header(self, height: int) -> bytes | None:
        """The header the caller kept for a pruned height (None: not pruned)."""
        return self._get(K.pruned_header_key(check_height(height)))

    # -- transactions and receipts ----------------------------------------------------------
    def tx(self, tx_hash: bytes) -> TxLocation | None:
        """The tx and where it sits; a pruned tx keeps its location with ``tx == b""``."""
        loc = self._get(K.P_TX_INDEX + check_bytes("tx_hash", tx_hash, K.MAX_HASH, 1))
        if loc is None:
            return None
        height, index = K.TX_LOC.unpack(loc)
        return TxLocation(self._get(K.P_TX + loc) or b"", height, index)

    def has_tx(self, tx_hash: bytes) -> bool:
        """Duplicate check: one point lookup, answered by the bloom filter when absent."""
        if type(tx_hash) is not bytes:
            raise InvalidInput(f"tx_hash must be bytes, got {type(tx_hash).__name__}")
        return self._get(K.P_TX_INDEX + tx_hash) is not None

    def receipt(self, tx_hash: bytes) -> bytes | None:
        loc = self._get(K.P_TX_INDEX + check_bytes("tx_hash", tx_hash, K.MAX_HASH, 1))
        return None if loc is None else self._get(K.P_RECEIPT + loc)

    # -- state ------------------------------------------------------------------------------
    def state_get(self, namespace: bytes, key: bytes) -> bytes | None:
        if not (  # inline fast path: execution reads state through here for every miss
            type(namespace) is bytes
            and type(key) is bytes
            and len(namespace) <= K.MAX_NAMESPACE
            and len(key) <= K.MAX_STATE_KEY
        ):
            check_bytes("namespace", namespace, K.MAX_NAMESPACE)
            check_bytes("key", key, K.MAX_STATE_KEY)
        return self._get(K.P_STATE + bytes((len(namespace),)) + namespace + key)

    def state_scan(
        self,
        namespace: bytes,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of one namespace in key order: keys starting with ``prefix`` and, if
        given, ``start <= key < stop``. The scan sees one consistent state."""
        lo, hi, strip = state_bounds(namespace, prefix, start, stop)
        for key, value in self._range(lo, hi):
            yield key[strip:], value

    # -- everything -------------------------------------------------------------------------
    def raw_items(
        self, start: bytes = b"", stop: bytes | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every stored (key, value) with start <= key < stop, in key order, as stored: what a
        backup copies (read it from a :class:`~storage.Snapshot` to get one moment)."""
        check_bytes("start", start, K.MAX_STATE_KEY + K.MAX_NAMESPACE + 2)
        if stop is not None:
            check_bytes("stop", stop, K.MAX_STATE_KEY + K.MAX_NAMESPACE + 2)
        yield from self._range(start, stop)

    # -- metadata ---------------------------------------------------------------------------
    def get_meta(self, key: bytes) -> bytes | None:
        return self._get(K.meta_key(check_bytes("meta key", key, K.MAX_META_KEY)))

    def chain_id(self) -> bytes:
        raw = self._get(K.K_CHAIN_ID)
        if raw is None:
            raise StorageError(f"database at {self.path} has no chain id")
        return raw


_first = itemgetter(0)
_BODY_SPACES = tuple(sorted((bytes((c,)), bytes((c + 1,))) for c in K.BODY_CODES))


def _height(key: bytes) -> int:
    return int(K.HEIGHT.unpack_from(key, 1)[0])


def _one_prefix(
    it: Any, prefix: bytes, lo: bytes, hi: bytes, top: int
) -> Iterator[tuple[bytes, bytes]]:
    """The entries of one body prefix named in [lo, hi) (``lo`` and ``hi`` start with it), at
    heights up to `top` (-1: none), in name order, from iterator `it` over a height-first bodies'
    database. A skip scan: seek to (height, prefix), read while the prefix holds, then seek
    to where the next height's entries of it would be, so a range of blocks reads its blocks
    and one entry after each, never a block's txs and receipts (heights with none of the
    prefix, pruned ones, cost one seek in all)."""
    if top < 0:
        return  # no head yet: whatever a crash left of block 0's bodies is not visible
    code = prefix[0]
    height = int.from_bytes(lo[1:9].ljust(8, b"\0"), "big")
    top8 = K.HEIGHT.pack(top)  # stored keys start with their height: compared as bytes
    while height <= top:
        it.seek(K.HEIGHT.pack(height) + prefix)
        for stored, value in it:
            if stored[8] != code:
                # past this height's entries: the next height with some, if any
                height = int.from_bytes(stored[:8], "big") + (stored[8] > code)
                break
            if stored[:8] > top8:
                return
            name = K.body_key_name(stored)
            if name >= hi:
                return
            if name >= lo:
                yield name, value
        else:
            return


def touches_bodies(start: bytes, stop: bytes | None) -> bool:
    """Whether keys of a body key space can lie in [start, stop)."""
    return any(start < hi and (stop is None or stop > lo) for lo, hi in _BODY_SPACES)


def within_bodies(start: bytes, stop: bytes | None) -> bool:
    """Whether [start, stop) lies inside one body key space."""
    return stop is not None and any(lo <= start and stop <= hi for lo, hi in _BODY_SPACES)


def state_bounds(
    namespace: bytes, prefix: bytes, start: bytes | None, stop: bytes | None
) -> tuple[bytes, bytes | None, int]:
    """LevelDB key range [lo, hi) of a state scan, and how many key bytes to strip."""
    check_bytes("namespace", namespace, K.MAX_NAMESPACE)
    check_bytes("prefix", prefix, K.MAX_STATE_KEY)
    sp = K.state_prefix(namespace)
    lo = sp + prefix
    hi = K.prefix_upper_bound(lo)
    if start is not None and sp + check_bytes("start", start, K.MAX_STATE_KEY) > lo:
        lo = sp + start
    if stop is not None:
        bound = sp + check_bytes("stop", stop, K.MAX_STATE_KEY)
        if hi is None or bound < hi:
            hi = bound
    return lo, hi, len(sp)
