"""Governance: the admin set and the validator set, changed by a 2/3 vote of the admins.

Each admin votes by sending the change itself (`add_validator(pub, node_id, p2p, api)`,
`remove_validator(pub)`, `add_admin(pub)`, `remove_admin(pub)`); identical calls are the same
proposal (id = hash of the canonical action). When the votes of *current* admins reach
2/3 (votes * 3 >= admins * 2) the change applies. A validator change made in block h takes
effect at height h + 1: it is written as `vset/<h+1>` (history kept forever) so every node
answers `validators_at(height)` the same way, for past heights too.

A genesis with governance parameters (``GovernanceParams``, stored at genesis under
``params``) sets the threshold (``votes * den >= admins * num``) and lets an open proposal
expire ``proposal_ttl_blocks`` after its first vote: its record then carries that height, the
open proposals are listed under ``open`` (for ``pending()``), and a vote after the expiry starts
the proposal afresh. Without them, the first rule and record format hold unchanged (an existing
chain replays to the same state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.ledger.system import (
    Method,
    StateReader,
    SysContext,
    SysError,
    arg_bytes,
    arg_str,
    max_args,
    pubkey_arg,
)
from chainnode.model.codes import Code
from chainnode.model.encoding import pack, unpack
from chainnode.model.genesis import GovernanceParams, ValidatorInfo
from chainnode.model.layout import NS_GOV, from_u64, u64
from chainnode.model.validator_set import apply_validator_change, removal_problem

K_ADMINS = b"admins"
K_VALIDATORS = b"validators"
P_VSET = b"vset/"
P_PROP = b"prop/"
P_ADMIN_ADDR = b"admin/"
K_PARAMS = b"params"
K_OPEN = b"open"


def encode_validators(vs: list[ValidatorInfo] | tuple[ValidatorInfo, ...]) -> bytes:
    return pack([v.to_list() for v in vs])


def decode_validators(b: bytes) -> list[ValidatorInfo]:
    return [ValidatorInfo.from_list(v) for v in unpack(b)]


def read_admins(ctx: SysContext) -> list[bytes]:
    raw = ctx.state.get(NS_GOV, K_ADMINS)
    return list(unpack(raw)) if raw else []


def read_validators(ctx: SysContext) -> list[ValidatorInfo]:
    raw = ctx.state.get(NS_GOV, K_VALIDATORS)
    return decode_validators(raw) if raw else []


def genesis_writes(
    admins: tuple[bytes, ...],
    validators: tuple[ValidatorInfo, ...],
    address_of: Callable[[bytes], bytes],
    params: GovernanceParams | None = None,
) -> dict[bytes, bytes]:
    """Initial governance state (key -> value in NS_GOV)."""
    out = {
        K_ADMINS: pack(list(admins)),
        K_VALIDATORS: encode_validators(validators),
        P_VSET + u64(0): encode_validators(validators),
    }
    if params is not None:
        out[K_PARAMS] = pack(params.to_list())
        out[K_OPEN] = pack([])
    for a in admins:
        out[P_ADMIN_ADDR + address_of(a)] = b"\x01"
    return out


def is_admin_address(state: StateReader, address: bytes) -> bool:
    return state.get(NS_GOV, P_ADMIN_ADDR + address) is not None


def _require_admin(ctx: SysContext) -> list[bytes]:
    admins = read_admins(ctx)
    if ctx.sender not in admins:
        raise SysError(Code.NO_PERMISSION, "only admins vote on governance changes")
    return admins


def read_params(state: Any) -> GovernanceParams | None:
    """The chain's governance parameters; None for a genesis without them (2/3, no expiry)."""
    raw = state.get(NS_GOV, K_PARAMS)
    return GovernanceParams(*unpack(raw)) if raw else None


def vote(ctx: SysContext, action: list[Any]) -> bool:
    """Record the sender's vote; True when the change reached the threshold and must apply
    now."""
    params = read_params(ctx.state)
    if params is None:
        return _vote_first_rule(ctx, action)
    admins = _require_admin(ctx)
    pid = ctx.hash(pack(action))
    key = P_PROP + pid
    open_ids = _prune_expired(ctx, params)
    raw = ctx.state.get(NS_GOV, key)
    voters: list[bytes] = list(unpack(raw)[1]) if raw else []
    since = unpack(raw)[2] if raw else ctx.height
    if ctx.sender in voters:
        raise SysError(Code.DUPLICATE, "this admin already voted for this change")
    voters.append(ctx.sender)
    valid = [v for v in voters if v in admins]
    needed = params.needed(len(admins))
    passed = len(valid) >= needed
    ctx.emit(
        "Voted",
        action=action[0].decode(),
        proposal=pid,
        voter=ctx.sender,
        votes=len(valid),
        admins=len(admins),
        needed=needed,
        expires_at=since + params.proposal_ttl_blocks,
    )
    if passed:
        ctx.state.delete(NS_GOV, key)
        open_ids = [p for p in open_ids if p != pid]
    else:
        ctx.state.set(NS_GOV, key, pack([action, voters, since]))
        if pid not in open_ids:
            open_ids.append(pid)
    ctx.state.set(NS_GOV, K_OPEN, pack(open_ids))
    return passed


def _prune_expired(ctx: SysContext, params: GovernanceParams) -> list[bytes]:
    """The open proposal ids after dropping those past their expiry (records deleted)."""
    kept = []
    for pid in unpack(ctx.state.get(NS_GOV, K_OPEN) or pack([])):
        raw = ctx.state.get(NS_GOV, P_PROP + pid)
        if raw is None:
            continue
        if ctx.height > unpack(raw)[2] + params.proposal_ttl_blocks:
            ctx.state.delete(NS_GOV, P_PROP + pid)
            continue
        kept.append(pid)
    return kept


def _vote_first_rule(ctx: SysContext, action: list[Any]) -> bool:
    """The rule of a genesis without governance parameters: 2/3, no expiry (unchanged)."""
    admins = _require_admin(ctx)
    pid = ctx.hash(pack(action))
    key = P_PROP + pid
    raw = ctx.state.get(NS_GOV, key)
    voters: list[bytes] = list(unpack(raw)[1]) if raw else []
    if ctx.sender in voters:
        raise SysError(Code.DUPLICATE, "this admin already voted for this change")
    voters.append(ctx.sender)
    valid = [v for v in voters if v in admins]
    ctx.emit(
        "Voted",
        action=action[0].decode(),
        proposal=pid,
        voter=ctx.sender,
        votes=len(valid),
        admins=len(admins),
    )
    if len(valid) * 3 >= len(admins) * 2:
        ctx.state.delete(NS_GOV, key)
        return True
    ctx.state.set(NS_GOV, key, pack([action, voters]))
    return False


def _set_validators(ctx: SysContext, vs: list[ValidatorInfo]) -> None:
    enc = encode_validators(vs)
    ctx.state.set(NS_GOV, K_VALIDATORS, enc)
    ctx.state.set(NS_GOV, P_VSET + u64(ctx.height + 1), enc)


def add_validator(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 4)
    pub = pubkey_arg(args, 0, "public_key", ctx)
    info = ValidatorInfo(
        pub, arg_str(args, 1, "node_id"), arg_str(args, 2, "p2p_addr"), arg_str(args, 3, "api_addr")
    )
    if not vote(ctx, [b"add_validator", *info.to_list()]):
        return False
    _set_validators(ctx, apply_validator_change(read_validators(ctx), info))
    ctx.emit(
        "ValidatorAdded", public_key=pub, node_id=info.node_id, effective_height=ctx.height + 1
    )
    return True


def remove_validator(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    pub = pubkey_arg(args, 0, "public_key")
    vs = read_validators(ctx)
    problem = removal_problem(vs, pub)
    if problem is not None:
        raise SysError(Code.MALFORMED, problem)
    if not vote(ctx, [b"remove_validator", pub]):
        return False
    _set_validators(ctx, apply_validator_change(vs, pub))
    ctx.emit("ValidatorRemoved", public_key=pub, effective_height=ctx.height + 1)
    return True


def add_admin(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    pub = pubkey_arg(args, 0, "public_key", ctx)
    admins = read_admins(ctx)
    if pub in admins:
        raise SysError(Code.MALFORMED, "already an admin")
    if not vote(ctx, [b"add_admin", pub]):
        return False
    ctx.state.set(NS_GOV, K_ADMINS, pack([*admins, pub]))
    ctx.state.set(NS_GOV, P_ADMIN_ADDR + ctx.address_of(pub), b"\x01")
    ctx.emit("AdminAdded", public_key=pub)
    return True


def remove_admin(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 1)
    pub = pubkey_arg(args, 0, "public_key")
    admins = read_admins(ctx)
    if pub not in admins:
        raise SysError(Code.MALFORMED, "not an admin")
    if len(admins) == 1:
        raise SysError(Code.MALFORMED, "cannot remove the last admin")
    if not vote(ctx, [b"remove_admin", pub]):
        return False
    ctx.state.set(NS_GOV, K_ADMINS, pack([a for a in admins if a != pub]))
    ctx.state.delete(NS_GOV, P_ADMIN_ADDR + ctx.address_of(pub))
    ctx.emit("AdminRemoved", public_key=pub)
    return True


def view_admins(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 0)
    return read_admins(ctx)


def view_validators(ctx: SysContext, args: list[Any]) -> Any:
    max_args(args, 0)
    return [v.to_list() for v in read_validators(ctx)]


def view_votes(ctx: SysContext, args: list[Any]) -> Any:
    """Voters so far of a pending proposal, by proposal id (hash of the action)."""
    max_args(args, 1)
    raw = ctx.state.get(NS_GOV, P_PROP + arg_bytes(args, 0, "proposal_id", 32))
    return list(unpack(raw)[1]) if raw else []


def view_pending(ctx: SysContext, args: list[Any]) -> Any:
    """The open proposals at this height: [id, method, args, voters, votes needed, expires
    at] each (a genesis without governance parameters lists none: it keeps no index)."""
    max_args(args, 0)
    params = read_params(ctx.state)
    if params is None:
        return []
    needed = params.needed(len(read_admins(ctx)))
    out = []
    for pid in unpack(ctx.state.get(NS_GOV, K_OPEN) or pack([])):
        raw = ctx.state.get(NS_GOV, P_PROP + pid)
        if raw is None:
            continue
        action, voters, since = unpack(raw)
        expires = since + params.proposal_ttl_blocks
        if ctx.height > expires:
            continue
        method, args = action[0].decode(), list(action[1:])
        if method == "add_validator":  # the call's arguments (the record holds them as bytes)
            info = ValidatorInfo.from_list(args)
            args = [info.public_key, info.node_id, info.p2p_addr, info.api_addr]
        out.append([pid, method, args, list(voters), needed, expires])
    return out


def view_params(ctx: SysContext, args: list[Any]) -> Any:
    """[threshold numerator, denominator, proposal ttl in blocks] (None: 2/3, no expiry)."""
    max_args(args, 0)
    params = read_params(ctx.state)
    return params.to_list() if params is not None else None


METHODS: dict[str, Method] = {
    "add_validator": Method(
        add_validator,
        False,
        ("public_key", "node_id", "p2p_addr", "api_addr"),
        ("bytes", "str", "str", "str"),
        "Admins only: this admin's vote to add a validator (65-byte key); 2/3 of the admins "
        "apply it, effective at the next height. True when this vote applied it.",
    ),
    "remove_validator": Method(
        remove_validator,
        False,
        ("public_key",),
        ("bytes",),
        "Admins only: this admin's vote to remove a validator. True when this vote applied it.",
    ),
    "add_admin": Method(
        add_admin,
        False,
        ("public_key",),
        ("bytes",),
        "Admins only: this admin's vote to add an admin. True when this vote applied it.",
    ),
    "remove_admin": Method(
        remove_admin,
        False,
        ("public_key",),
        ("bytes",),
        "Admins only: this admin's vote to remove an admin. True when this vote applied it.",
    ),
    "admins": Method(view_admins, True, (), (), "The admins' public keys."),
    "validators": Method(
        view_validators,
        True,
        (),
        (),
        "The current validators: [public_key, node_id, p2p_addr, api_addr] each.",
    ),
    "pending": Method(
        view_pending,
        True,
        (),
        (),
        "The open proposals: [id, method, args, voters, votes needed, expires at height] each.",
    ),
    "params": Method(
        view_params,
        True,
        (),
        (),
        "[threshold numerator, denominator, proposal ttl in blocks], or None (2/3, no expiry).",
    ),
    "votes": Method(
        view_votes,
        True,
        ("proposal_id",),
        ("bytes",),
        "The admins (public keys) who voted for a pending proposal (32-byte id).",
    ),
}


def vset_height(key: bytes) -> int:
    return from_u64(key[len(P_VSET) :])
