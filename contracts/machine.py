"""Per-execution state: gas, the write buffer, events and guarded access to the host.

Writes are buffered here, not sent to the host, until the whole call has succeeded (the
buffer is then flushed in first-write order). So a failed or out-of-gas execution has only
ever *read* from the host, and the caller may discard its overlay or not: either way no
write of a reverted call reaches state. Reads see the buffer first.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.errors import EncodingError, ExecutionError, LimitExceeded, OutOfGas
from contracts.host import Host
from contracts.opcodes import MAX_MEMORY
from contracts.values import STR_HEAD, Value, encode_quick, encode_value, type_name

MAX_CALL_DEPTH = 64
"""Deepest chain of contract-internal function calls (the entry method is depth 1)."""
MAX_KEY_SIZE = 1_024
"""Largest encoded storage key."""
MAX_EVENT_SIZE = 8_192
"""Largest encoded event fields (the name is at most ``MAX_EVENT_NAME`` characters more)."""
MAX_EVENTS = 256
"""Most events one execution may emit."""
MAX_EVENT_NAME = 64


@dataclass(slots=True)
class Event:
    """An event emitted by a successful execution; ``fields`` is a map of str to value and
    ``data`` its canonical encoding (``encode_value(fields)``, already made for gas).

    Not frozen (read-only by convention): one is made per emit, and a frozen dataclass's
    ``__init__`` (``object.__setattr__`` per field) costs ~3x a plain one. Not a wire type:
    the node turns it into ``chainnode.model.types.Event``."""

    name: str
    fields: dict[str, Value]
    data: bytes = b""


class HostFault(Exception):
    """Wraps an exception raised by the host so that ``execute`` re-raises it unchanged."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


class Machine:
    __slots__ = ("host", "gas", "mem", "readonly", "writes", "events", "ctx")

    def __init__(self, host: Host, gas: int, readonly: bool) -> None:
        self.host = host
        self.gas = gas
        self.mem = 0
        """Bytes allocated so far under the size model (``opcodes.MEM_*``); never decreases."""
        self.readonly = readonly
        self.writes: dict[bytes, bytes | None] = {}
        self.events: list[Event] = []
        self.ctx: tuple[Value, ...] | None = None

    def charge(self, amount: int) -> None:
        gas = self.gas - amount
        self.gas = gas
        if gas < 0:
            raise OutOfGas("out of gas")

    def alloc(self, size: int) -> None:
        """Account ``size`` bytes of new memory: gas (one per ``MEM_BYTES_PER_GAS`` bytes,
        rounded up) and the per-execution cap. Both depend only on the program's values, so
        every node fails the same execution at the same point."""
        mem = self.mem + size
        self.mem = mem
        gas = self.gas - ((size + 7) >> 3)  # MEM_BYTES_PER_GAS = 8
        self.gas = gas
        if mem > MAX_MEMORY:  # (natives.add inlines this; its alloc(0) raises the same)
            raise LimitExceeded(f"memory limit of {MAX_MEMORY} bytes exceeded")
        if gas < 0:
            raise OutOfGas("out of gas")

    def context(self, index: int) -> Value:
        ctx = self.ctx
        if ctx is None:
            h = self.host
            try:
                ctx = (h.caller, h.tx_hash, h.block_height, h.timestamp)
            except Exception as exc:
                raise HostFault(exc) from exc
            if not (type(ctx[0]) is bytes and type(ctx[1]) is bytes
                    and type(ctx[2]) is int and type(ctx[3]) is int):  # fmt: skip
                for value, want in zip(ctx, (bytes, bytes, int, int), strict=True):
                    if type(value) is not want:
                        raise ExecutionError(f"host context field of type {type_name(value)}")
            self.ctx = ctx
        return ctx[index]

    def key(self, key: Value) -> bytes:
        if type(key) is str and len(key) < 256 and key.isascii():  # the common key, inline
            return STR_HEAD[len(key)] + key.encode()  # ASCII: a byte per character
        data = encode_quick(key, MAX_KEY_SIZE)
        if data is not None:
            return data
        try:
            return encode_value(key, MAX_KEY_SIZE)
        except EncodingError as exc:
            raise LimitExceeded(f"storage key: {exc}") from None

    def read(self, key: bytes) -> bytes | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        try:
            return self.host.storage_get(key)
        except Exception as exc:
            raise HostFault(exc) from exc

    def has(self, key: bytes) -> bool:
        writes = self.writes
        if key in writes:
            return writes[key] is not None
        try:
            return bool(self.host.storage_has(key))
        except Exception as exc:
            raise HostFault(exc) from exc

    def write(self, key: bytes, value: bytes | None) -> None:
        if self.readonly:
            raise ExecutionError("state change in a read-only call")
        self.writes[key] = value

    def hash(self, data: bytes) -> bytes:
        try:
            digest = self.host.hash(data)
        except Exception as exc:
            raise HostFault(exc) from exc
        if type(digest) is not bytes:
            raise ExecutionError("host hash returned a non-bytes value")
        return digest

    # fast path: plain=contracts.machine.Machine.flush test=tests/chainnode/ledger/test_executor_fast.py::test_a_vm_calls_writes_reach_the_overlay_alike_in_one_update
    def flush(self) -> None:
        """Send the buffered writes to the host (only after success): in one
        ``storage_update(writes)`` when the host has one (the node's: its overlay's
        ``update``), else one ``storage_set``/``storage_delete`` per write, in order."""
        host = self.host
        update = getattr(host, "storage_update", None)
        if update is not None:
            update(self.writes)
            return
        for key, value in self.writes.items():
            if value is None:
                host.storage_delete(key)
            else:
                host.storage_set(key, value)
