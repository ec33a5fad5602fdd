"""The execution overlay: a write buffer over committed state that execution reads through.

A transaction runs against ``Overlay(base)``; on success its :meth:`Overlay.writes` go into a
:class:`~storage.CommitBatch` (or, for a nested call, :meth:`Overlay.commit_to_parent`), on
revert the overlay is simply dropped. Reads fall through to the base, a delete shadows the
base, and scans merge buffered and base entries in key order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from itertools import repeat
from typing import Protocol

from . import keys as K
from .errors import StorageError
from .reader import check_bytes, state_bounds

_DELETED = None


class StateReader(Protocol):
    """What an overlay reads through: a Store, a Snapshot or another Overlay."""

    def state_get(self, namespace: bytes, key: bytes) -> bytes | None: ...

    def state_scan(
        self,
        namespace: bytes,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]: ...


class Overlay:
    """Buffered state writes over ``base``; nest with :meth:`child`."""

    __slots__ = ("_base", "_writes", "_closed")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        # namespace -> key -> value (None = deleted); per namespace so scans stay cheap
        self._writes: dict[bytes, dict[bytes, bytes | None]] = {}
        self._closed = False

    @property
    def base(self) -> StateReader:
        return self._base

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("overlay was already committed to its parent")

    # -- reads ------------------------------------------------------------------------------
    def get(self, namespace: bytes, key: bytes) -> bytes | None:
        if self._closed:
            self._check_open()
        if type(namespace) is not bytes or type(key) is not bytes:
            check_bytes("namespace", namespace, K.MAX_NAMESPACE)
            check_bytes("key", key, K.MAX_STATE_KEY)
        ns_writes = self._writes.get(namespace)
        if ns_writes is not None and key in ns_writes:
            return ns_writes[key]
        return self._base.state_get(namespace, key)

    def has(self, namespace: bytes, key: bytes) -> bool:
        return self.get(namespace, key) is not None

    def scan(
        self,
        namespace: bytes,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) in key order over buffered and base entries; buffered ones win and
        deletes hide base entries. Buffered entries are those present when the scan starts."""
        self._check_open()
        lo, hi, strip = state_bounds(namespace, prefix, start, stop)
        ns_writes = self._writes.get(namespace)
        base = self._base.state_scan(namespace, prefix, start=start, stop=stop)
        if not ns_writes:
            return base
        sp_len = strip
        sp = lo[:sp_len]
        mine = sorted(
            (k, v) for k, v in ns_writes.items() if lo <= sp + k and (hi is None or sp + k < hi)
        )
        return _merge(mine, base)

    # the StateReader protocol, so overlays nest
    state_get = get
    state_scan = scan

    # -- writes -----------------------------------------------------------------------------
    def set(self, namespace: bytes, key: bytes, value: bytes) -> None:
        if self._closed:
            self._check_open()
        if not (  # the common case inline (one call per contract write); else say what is bad
            type(namespace) is bytes
            and type(key) is bytes
            and type(value) is bytes
            and len(namespace) <= K.MAX_NAMESPACE
            and len(key) <= K.MAX_STATE_KEY
            and len(value) <= K.MAX_VALUE
        ):
            check_bytes("namespace", namespace, K.MAX_NAMESPACE)
            check_bytes("key", key, K.MAX_STATE_KEY)
            check_bytes("value", value, K.MAX_VALUE)
        ns_writes = self._writes.get(namespace)
        if ns_writes is None:
            ns_writes = self._writes[namespace] = {}
        ns_writes[key] = value

    # fast path: plain=storage.overlay.Overlay.set test=tests/storage/test_overlay_update.py::test_update_is_set_and_delete_in_order
    def update(self, namespace: bytes, writes: Mapping[bytes, bytes | None]) -> None:
        """``set`` (or ``delete``, for None) each of ``writes`` in its order: a VM call's
        buffered writes in one call, checked in one loop and stored with one ``dict.update``;
        anything the loop does not pass goes through ``set``/``delete`` for the exact error."""
        if self._closed:
            self._check_open()
        if not writes:
            return  # set would make no namespace entry either
        if type(namespace) is bytes and len(namespace) <= K.MAX_NAMESPACE:
            max_key, max_value = K.MAX_STATE_KEY, K.MAX_VALUE
            for key, value in writes.items():  # (a few writes: map() set-ups cost more)
                if (
                    type(key) is not bytes
                    or len(key) > max_key
                    or (value is not None and (type(value) is not bytes or len(value) > max_value))
                ):
                    break
            else:
                ns_writes = self._writes.get(namespace)
                if ns_writes is None:
                    ns_writes = self._writes[namespace] = {}
                ns_writes.update(writes)
                return
        for key, value in writes.items():
            if value is None:
                self.delete(namespace, key)
            else:
                self.set(namespace, key, value)

    def delete(self, namespace: bytes, key: bytes) -> None:
        self._check_open()
        check_bytes("namespace", namespace, K.MAX_NAMESPACE)
        check_bytes("key", key, K.MAX_STATE_KEY)
        self._writes.setdefault(namespace, {})[key] = _DELETED

    # -- nesting ----------------------------------------------------------------------------
    def child(self) -> Overlay:
        """A nested overlay reading through this one (for a nested call)."""
        self._check_open()
        return Overlay(self)

    def commit_to_parent(self) -> None:
        """Fold this overlay's writes into its parent overlay; this overlay is then closed."""
        self._check_open()
        parent = self._base
        if not isinstance(parent, Overlay):
            raise StorageError("commit_to_parent needs an Overlay parent; commit writes() instead")
        parent._check_open()
        for ns, ns_writes in self._writes.items():
            parent._writes.setdefault(ns, {}).update(ns_writes)
        self._writes = {}
        self._closed = True

    def writes(self) -> dict[tuple[bytes, bytes], bytes | None]:
        """All buffered writes as {(namespace, key): value or None for delete}."""
        out: dict[tuple[bytes, bytes], bytes | None] = {}
        for ns, kv in self._writes.items():  # pairs made at C level: a block writes thousands
            out.update(zip(zip(repeat(ns), kv), kv.values(), strict=True))
        return out

    def namespaced_writes(self) -> Mapping[bytes, Mapping[bytes, bytes | None]]:
        """The buffered writes as namespace -> key -> value (None: delete), live and not to be
        mutated: lets a caller walk them in (namespace, key) order by sorting each small
        level on its own instead of sorting flattened (namespace, key) pairs."""
        return self._writes

    def __len__(self) -> int:
        return sum(len(kv) for kv in self._writes.values())


class ReadRecorder:
    """A :class:`StateReader` over ``base`` that keeps what was read through it: the value
    (None: absent) of each key got, by (namespace, key). Under a block's overlay it holds the
    committed values of the keys the block read before writing them, so a caller that needs
    the values a block's writes replace (the ledger's undo records) looks up only the keys
    written blind: most of a block's writes follow a read (a nonce, a record checked absent,
    a counter), and a LevelDB miss costs ~2 us on a large state. Scans pass through
    unrecorded."""

    __slots__ = ("_base", "reads")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        self.reads: dict[tuple[bytes, bytes], bytes | None] = {}

    def state_get(self, namespace: bytes, key: bytes) -> bytes | None:
        v = self._base.state_get(namespace, key)
        self.reads[(namespace, key)] = v  # the base does not change while a block runs
        return v

    def state_scan(
        self,
        namespace: bytes,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._base.state_scan(namespace, prefix, start=start, stop=stop)


def _merge(
    mine: list[tuple[bytes, bytes | None]], base: Iterator[tuple[bytes, bytes]]
) -> Iterator[tuple[bytes, bytes]]:
    """Merge two key-ordered streams; on equal keys the buffered entry (first) wins."""
    tagged_mine = ((k, 0, v) for k, v in mine)
    tagged_base = ((k, 1, v) for k, v in base)
    last: bytes | None = None
    for key, _, value in heapq.merge(tagged_mine, tagged_base):
        if key == last:
            continue
        last = key
        if value is not None:
            yield key, value
