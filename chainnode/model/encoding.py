"""Canonical encoding: msgpack of fixed-order arrays with ints and bytes.

`pack` is the only encoder used for anything hashed or signed; `unpack` is bounded and
turns every decoding problem into `MalformedError`. The `want_*` helpers validate decoded
values before use (exact types: a bool is not an int here).
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from chainnode.model.codes import MalformedError

MAX_DECODE = 16 * 1024 * 1024
U64 = (1 << 64) - 1


_local = threading.local()
_RETAIN_BYTES = 1 << 20


# fast path: plain=msgpack.packb test=tests/chainnode/ledger/test_encoding_pack.py::test_pack_is_packb
def pack(obj: Any) -> bytes:
    """Canonical bytes of a value built from lists, ints, bytes (and str/None where allowed).

    A Packer per thread, reused (packb builds one per call: about half the cost of packing a
    receipt or a transaction's canonical check). It resets itself after an error; one that
    has grown its buffer beyond 1 MiB (a whole block) is dropped so the memory is not kept."""
    try:
        packer = _local.pack
    except AttributeError:
        packer = _local.pack = msgpack.Packer(use_bin_type=True).pack
    out: bytes = packer(obj)
    if len(out) > _RETAIN_BYTES:
        del _local.pack
    return out


class ArrayBudget:
    """msgpack ``list_hook`` failing the decode past ``n`` arrays (counted as each completes,
    so at most ``n`` exist when it stops): the size limit alone lets every byte be an empty
    array, ~64 bytes of memory each."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, value: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise ValueError("too many arrays")
        return value


def unpack(data: bytes, max_size: int = MAX_DECODE, max_arrays: int | None = None) -> Any:
    """Decode untrusted msgpack; raise MalformedError on anything odd. ``max_arrays`` caps
    the arrays it may build (for shapes that hold few, such as a block)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError("expected bytes")
    if len(data) > max_size:
        raise MalformedError(f"encoding larger than {max_size} bytes")
    try:
        if max_arrays is not None:
            return msgpack.unpackb(
                data,
                raw=False,
                use_list=True,
                strict_map_key=True,
                max_map_len=0,
                list_hook=ArrayBudget(max_arrays),
            )
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise MalformedError(f"bad msgpack: {e}") from None
    except msgpack.UnpackException as e:  # OutOfData and other non-ValueError kinds
        raise MalformedError(f"bad msgpack: {type(e).__name__}") from None


def want_list(v: Any, n: int, what: str) -> list[Any]:
    if type(v) is not list or len(v) != n:
        raise MalformedError(f"{what}: expected an array of {n} items")
    return v


def want_int(v: Any, what: str, lo: int = 0, hi: int = U64) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise MalformedError(f"{what}: expected an integer in [{lo}, {hi}]")
    return v


def want_bytes(v: Any, what: str, size: int | None = None, max_len: int = MAX_DECODE) -> bytes:
    if type(v) is not bytes:
        raise MalformedError(f"{what}: expected bytes")
    if size is not None and len(v) != size:
        raise MalformedError(f"{what}: expected {size} bytes, got {len(v)}")
    if len(v) > max_len:
        raise MalformedError(f"{what}: longer than {max_len} bytes")
    return v


def want_text(v: Any, what: str, max_len: int = 256) -> str:
    """A utf-8 string carried as bytes in the canonical form."""
    raw = want_bytes(v, what, max_len=max_len)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError(f"{what}: not utf-8") from None


def from_hex(v: Any, what: str, size: int | None = None, max_len: int = MAX_DECODE) -> bytes:
    """Bytes from a JSON hex string (an optional 0x prefix is accepted)."""
    if not isinstance(v, str):
        raise MalformedError(f"{what}: expected a hex string")
    s = v[2:] if v[:2] in ("0x", "0X") else v
    if len(s) > 2 * max_len:
        raise MalformedError(f"{what}: longer than {max_len} bytes")
    try:
        b = bytes.fromhex(s)
    except ValueError:
        raise MalformedError(f"{what}: not hex") from None
    if size is not None and len(b) != size:
        raise MalformedError(f"{what}: expected {size} bytes, got {len(b)}")
    return b


def json_int(v: Any, what: str, lo: int = 0, hi: int = U64) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise MalformedError(f"{what}: expected an integer in [{lo}, {hi}]")
    return v


def json_str(v: Any, what: str, max_len: int = 256) -> str:
    if not isinstance(v, str) or len(v) > max_len:
        raise MalformedError(f"{what}: expected a string of at most {max_len} chars")
    return v
