"""Deployment: put compiled bytecode on chain.

`deploy(code: bytes, name: str = "")` checks the bytecode with `contracts.abi`, stores it at
address = last 20 bytes of H(canonical [b"deploy", deployer address, tx nonce]) and, when a
name is given and free, registers it so transactions can target the contract by name.
Returns the address. Bytecode comes from `contracts.compile_source` on the client side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.ledger.system import (
    ADDRESS,
    Method,
    SysContext,
    SysError,
    address_arg,
    arg_bytes,
    arg_str,
    max_args,
)
from chainnode.model.codes import Code
from chainnode.model.encoding import pack
from chainnode.model.layout import NS_CODE, NS_NAMES
from chainnode.model.types import NAME_RE

MAX_CODE_BYTES = 64 * 1024


def contract_address(hash_fn: Callable[[bytes], bytes], deployer: bytes, nonce: int) -> bytes:
    return bytes(hash_fn(pack([b"deploy", deployer, nonce]))[-20:])


def check_code(code: bytes) -> None:
    import contracts

    try:
        contracts.abi(code)
    except Exception as e:  # noqa: BLE001  # any failure means unusable bytecode
        raise SysError(Code.MALFORMED, f"invalid bytecode: {e}") from None


def deploy(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 2)
    code = arg_bytes(args, 0, "code")
    if not code or len(code) > MAX_CODE_BYTES:
        raise SysError(Code.MALFORMED, f"code must be 1..{MAX_CODE_BYTES} bytes")
    name = arg_str(args, 1, "name", 32, default="")
    if name and not NAME_RE.fullmatch(name):
        raise SysError(Code.MALFORMED, "name must match [a-z][a-z0-9_.-]{0,31}")
    if name and ctx.state.get(NS_NAMES, name.encode()) is not None:
        raise SysError(Code.DUPLICATE, f"name {name!r} is taken")
    check_code(code)
    addr = contract_address(ctx.hash, ctx.sender_address, ctx.nonce)
    if ctx.state.get(NS_CODE, addr) is not None:
        raise SysError(Code.DUPLICATE, "a contract already lives at this address")
    ctx.state.set(NS_CODE, addr, code)
    if name:
        ctx.state.set(NS_NAMES, name.encode(), addr)
    ctx.emit("Deployed", address=addr, name=name, deployer=ctx.sender_address)
    return addr


def view_resolve(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    return ctx.state.get(NS_NAMES, arg_str(args, 0, "name", 32).encode())


def view_code(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    addr = address_arg(args[0], keys=False) if args else None
    if addr is None:
        raise SysError(
            Code.MALFORMED, 'argument 0 (address) must be "0x" + 40 hex digits or 20 bytes'
        )
    return ctx.state.get(NS_CODE, addr)


METHODS: dict[str, Method] = {
    "deploy": Method(
        deploy,
        False,
        ("code", "name"),
        ("bytes", "str"),
        "Put compiled bytecode on chain (open mode: anyone; closed: the deployer role), "
        "registering the name when given and free. Returns the contract's address.",
        required=1,
    ),
    "resolve": Method(
        view_resolve, True, ("name",), ("str",), "The address registered under a name, or None."
    ),
    "code": Method(
        view_code, True, ("address",), (ADDRESS,), "The bytecode at an address, or None."
    ),
}
