"""The validator-set change rule: one pure function, used by governance and the proof verifier.

Governance (``chainnode.ledger.system.governance``) applies a change when the admins' vote is
decisive; the offline proof verifier (``chainnode.proofs.bundle``) replays the proven changes
from genesis to derive the set that signed a record. Both must agree byte for byte, so both
call :func:`apply_validator_change`: an added validator replaces any entry with its key and goes
last; a removed one is dropped; the order of the others is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainnode.model.codes import MalformedError
from chainnode.model.genesis import ValidatorInfo
from chainnode.model.types import PUBKEY_LEN

ADD = "add_validator"
REMOVE = "remove_validator"
#: The governance methods that change the validator set, and their argument names.
VALIDATOR_METHODS = {
    ADD: ("public_key", "node_id", "p2p_addr", "api_addr"),
    REMOVE: ("public_key",),
}


def with_validator(vs: Sequence[ValidatorInfo], info: ValidatorInfo) -> list[ValidatorInfo]:
    return [v for v in vs if v.public_key != info.public_key] + [info]


def without_validator(vs: Sequence[ValidatorInfo], public_key: bytes) -> list[ValidatorInfo]:
    return [v for v in vs if v.public_key != public_key]


def removal_problem(vs: Sequence[ValidatorInfo], public_key: bytes) -> str | None:
    """Why ``public_key`` cannot be removed from ``vs`` (None: it can)."""
    if public_key not in [v.public_key for v in vs]:
        return "not a validator"
    if len(vs) == 1:
        return "cannot remove the last validator"
    return None


def parse_change(method: str, args: Sequence[Any]) -> ValidatorInfo | bytes:
    """A change from a governance call's decoded arguments: the added validator, or the key
    of the removed one. :class:`MalformedError` when they do not make one."""
    names = VALIDATOR_METHODS.get(method)
    if names is None:
        raise MalformedError(f"{method} does not change the validator set")
    if len(args) != len(names):
        raise MalformedError(f"{method} takes {len(names)} arguments, got {len(args)}")
    if method == REMOVE:
        key = args[0]
        if not isinstance(key, bytes) or len(key) != PUBKEY_LEN or key[0] != 4:
            raise MalformedError("public_key: expected 65 bytes 04||x||y")
        return key
    return ValidatorInfo(*args)


def apply_validator_change(
    vs: Sequence[ValidatorInfo], change: ValidatorInfo | bytes
) -> list[ValidatorInfo]:
    """The set after one applied change (an added validator, or a removed key)."""
    if isinstance(change, ValidatorInfo):
        return with_validator(vs, change)
    return without_validator(vs, change)
