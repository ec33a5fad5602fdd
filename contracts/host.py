"""What the VM needs from its embedder, and an in-memory implementation of it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Host(Protocol):
    """The node's side of a contract call.

    Storage is the contract's own namespace: keys and values are opaque bytes (the VM stores
    canonical encodings of its values). ``hash`` is SM3, injected so that ``contracts``
    imports nothing of ours. ``caller`` is the 20-byte address of the transaction sender,
    ``block_height`` and ``timestamp`` come from the block header being executed. Exceptions
    raised by a host method are node faults: ``execute`` lets them propagate unchanged.
    """

    @property
    def caller(self) -> bytes: ...

    @property
    def tx_hash(self) -> bytes: ...

    @property
    def block_height(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    def storage_get(self, key: bytes) -> bytes | None: ...

    def storage_set(self, key: bytes, value: bytes) -> None: ...

    def storage_delete(self, key: bytes) -> None: ...

    def storage_has(self, key: bytes) -> bool: ...

    def hash(self, data: bytes) -> bytes: ...


def _sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


class MemoryHost:
    """A dict-backed host for tests, benchmarks and tools; not used by the node."""

    def __init__(
        self,
        *,
        caller: bytes = b"\x01" * 20,
        tx_hash: bytes = b"\x00" * 32,
        block_height: int = 1,
        timestamp: int = 1_700_000_000,
        storage: dict[bytes, bytes] | None = None,
        hash_fn: Callable[[bytes], bytes] = _sm3,
    ) -> None:
        self.caller = caller
        self.tx_hash = tx_hash
        self.block_height = block_height
        self.timestamp = timestamp
        self.storage: dict[bytes, bytes] = {} if storage is None else storage
        self._hash = hash_fn
        self.reads = 0
        self.writes = 0

    def storage_get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.storage.get(key)

    def storage_set(self, key: bytes, value: bytes) -> None:
        self.writes += 1
        self.storage[key] = value

    def storage_delete(self, key: bytes) -> None:
        self.writes += 1
        self.storage.pop(key, None)

    def storage_has(self, key: bytes) -> bool:
        self.reads += 1
        return key in self.storage

    def hash(self, data: bytes) -> bytes:
        return self._hash(data)
