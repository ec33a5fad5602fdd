"""Native system contracts: governance, permissions, deployment.

They run inside the executor like VM contracts (same overlay, same receipts) but are plain
Python. A handler gets a `SysContext` and the decoded argument list, returns a VM value, and
raises `SysError` to fail the transaction (the executor then discards its overlay).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chainnode.codes import Code


class StateRW(Protocol):
    """The subset of `storage.Overlay` the system contracts use."""

    def get(self, ns: bytes, key: bytes) -> bytes | None: ...

    def set(self, ns: bytes, key: bytes, value: bytes) -> None: ...

    def delete(self, ns: bytes, key: bytes) -> None: ...


class SysError(Exception):
    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(slots=True)
class SysContext:
    state: StateRW
    sender: bytes  # 65-byte public key (b"" for anonymous read-only calls)
    sender_address: bytes  # 20 bytes
    nonce: int
    height: int  # height of the block being executed
    hash: Callable[[bytes], bytes]
    address_of: Callable[[bytes], bytes]  # public key -> address
    readonly: bool = False


Handler = Callable[[SysContext, list[Any]], Any]


@dataclass(frozen=True, slots=True)
class Method:
    handler: Handler
    view: bool
    params: tuple[str, ...]


def arg_bytes(args: list[Any], i: int, what: str, size: int | None = None) -> bytes:
    if i >= len(args) or not isinstance(args[i], bytes):
        raise SysError(Code.MALFORMED, f"argument {i} ({what}) must be bytes")
    v: bytes = args[i]
    if size is not None and len(v) != size:
        raise SysError(Code.MALFORMED, f"argument {i} ({what}) must be {size} bytes")
    return v


def arg_str(
    args: list[Any], i: int, what: str, max_len: int = 256, default: str | None = None
) -> str:
    if i >= len(args) and default is not None:
        return default
    if i >= len(args) or not isinstance(args[i], str) or len(args[i]) > max_len:
        raise SysError(Code.MALFORMED, f"argument {i} ({what}) must be a string")
    v: str = args[i]
    return v


def pubkey_arg(args: list[Any], i: int, what: str) -> bytes:
    v = arg_bytes(args, i, what, 65)
    if v[0] != 4:
        raise SysError(Code.MALFORMED, f"argument {i} ({what}) must be 04||x||y")
    return v


def max_args(args: list[Any], n: int) -> None:
    if len(args) > n:
        raise SysError(Code.MALFORMED, f"at most {n} arguments")
