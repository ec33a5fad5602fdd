"""Permissions: who may submit transactions and deploy contracts.

Mode `open`: anyone may send transactions and deploy. Mode `closed`: a sender needs the
`writer` role to call contracts and the `deployer` role to deploy (deployer implies writer).
Admins (the governance admin set) may do everything, and only they change roles or the mode:
on a chain whose genesis has governance parameters each change is a proposal the admins vote
on like a governance change (the same threshold and expiry, listed by ``governance.pending``);
on an older chain one admin suffices, as it always did.
"""

from __future__ import annotations

from typing import Any

from chainnode.ledger.system import (
    ADDRESS,
    Method,
    StateReader,
    SysContext,
    SysError,
    address_arg,
    arg_str,
    max_args,
)
from chainnode.ledger.system.governance import is_admin_address, read_params, vote
from chainnode.model.codes import Code
from chainnode.model.layout import DEPLOYMENT, GOVERNANCE, NS_PERM, PERMISSIONS

K_MODE = b"mode"
P_ROLE = b"role/"
ROLE_BITS = {"deployer": 1, "writer": 2}
MODES = ("open", "closed")


def read_mode(state: StateReader) -> str:
    raw = state.get(NS_PERM, K_MODE)
    return raw.decode() if raw else "open"


def read_roles(state: StateReader, address: bytes) -> int:
    raw = state.get(NS_PERM, P_ROLE + address)
    return raw[0] if raw else 0


def may_call(state: StateReader, address: bytes, contract_name: str | None, view: bool) -> bool:
    """May `address` send a transaction to this contract (by system name, or None for VM)?"""
    if is_admin_address(state, address):
        return True
    if contract_name in (GOVERNANCE, PERMISSIONS) and not view:
        return False
    if read_mode(state) != "closed":
        return True
    roles = read_roles(state, address)
    if contract_name == DEPLOYMENT and not view:
        return bool(roles & ROLE_BITS["deployer"])
    return bool(roles & (ROLE_BITS["writer"] | ROLE_BITS["deployer"]))


def _admin(ctx: SysContext) -> None:
    if not is_admin_address(ctx.state, ctx.sender_address):
        raise SysError(Code.NO_PERMISSION, "only admins change permissions")


def _target(ctx: SysContext, args: list[Any]) -> bytes:
    who = address_arg(args[0], keys=True) if args else None
    if who is None:
        raise SysError(
            Code.MALFORMED,
            'argument 0 (who) must be an address ("0x" + 40 hex digits, 0x optional, or 20 '
            "bytes) or a 65-byte public key",
        )
    return ctx.address_of(who) if len(who) == 65 else who


def _role(args: list[Any]) -> int:
    role = arg_str(args, 1, "role")
    if role not in ROLE_BITS:
        raise SysError(Code.MALFORMED, f"role must be one of {sorted(ROLE_BITS)}")
    return ROLE_BITS[role]


def _decided(ctx: SysContext, action: list[Any]) -> bool:
    """Whether the change applies now: by the admins' vote (genesis governance parameters),
    else at once (one admin, the first rule)."""
    if read_params(ctx.state) is None:
        return True
    return vote(ctx, action)


def grant(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 2)
    _admin(ctx)
    addr, bit = _target(ctx, args), _role(args)
    if not _decided(ctx, [b"grant", addr, args[1].encode()]):
        return False
    ctx.state.set(NS_PERM, P_ROLE + addr, bytes([read_roles(ctx.state, addr) | bit]))
    ctx.emit("RoleGranted", address=addr, role=args[1])
    return True


def revoke(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 2)
    _admin(ctx)
    addr, bit = _target(ctx, args), _role(args)
    if not _decided(ctx, [b"revoke", addr, args[1].encode()]):
        return False
    roles = read_roles(ctx.state, addr) & ~bit
    if roles:
        ctx.state.set(NS_PERM, P_ROLE + addr, bytes([roles]))
    else:
        ctx.state.delete(NS_PERM, P_ROLE + addr)
    ctx.emit("RoleRevoked", address=addr, role=args[1])
    return True


def set_mode(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    _admin(ctx)
    mode = arg_str(args, 0, "mode")
    if mode not in MODES:
        raise SysError(Code.MALFORMED, f"mode must be one of {MODES}")
    if not _decided(ctx, [b"set_mode", mode.encode()]):
        return False
    ctx.state.set(NS_PERM, K_MODE, mode.encode())
    ctx.emit("ModeChanged", mode=mode)
    return True


def view_mode(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 0)
    return read_mode(ctx.state)


def view_roles(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    addr = _target(ctx, args)
    bits = read_roles(ctx.state, addr)
    roles = [r for r, b in sorted(ROLE_BITS.items()) if bits & b]
    if is_admin_address(ctx.state, addr):
        roles.insert(0, "admin")
    return roles


METHODS: dict[str, Method] = {
    "grant": Method(
        grant,
        False,
        ("who", "role"),
        (ADDRESS, "str"),
        "Any admin: give an address (0x + 40 hex, or 20 bytes) or public key (65 bytes) the "
        "role writer or deployer.",
    ),
    "revoke": Method(
        revoke,
        False,
        ("who", "role"),
        (ADDRESS, "str"),
        "Any admin: take a role (writer or deployer) from an address or public key.",
    ),
    "set_mode": Method(
        set_mode,
        False,
        ("mode",),
        ("str",),
        "Any admin: open (anyone may send) or closed (only holders of a role).",
    ),
    "mode": Method(view_mode, True, (), (), "The permission mode: open or closed."),
    "roles": Method(
        view_roles,
        True,
        ("who",),
        (ADDRESS,),
        'The roles of an address or public key ("admin" first for admins).',
    ),
}
