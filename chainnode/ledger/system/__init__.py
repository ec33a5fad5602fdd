"""Native system contracts: governance, permissions, deployment.

They run inside the executor like VM contracts (same overlay, same receipts, events on the
receipt) but are plain Python. A handler gets a `SysContext` and the decoded argument list,
returns a VM value, and raises `SysError` to fail the transaction (the executor then discards
its overlay). Gas: a flat 1000 + 1 per byte of encoded arguments.

Reference (contract name, method(args) -> return; `view` methods also via call_view):

governance   (non-view: admins only; each call is that admin's vote, 2/3 of admins applies)
  add_validator(public_key: bytes65, node_id: str, p2p_addr: str, api_addr: str) -> bool
  remove_validator(public_key: bytes65) -> bool
  add_admin(public_key: bytes65) -> bool
  remove_admin(public_key: bytes65) -> bool
      True when this vote applied the change (validator changes take effect at height + 1).
      Events: Voted{action, proposal, voter, votes, admins}, ValidatorAdded{public_key,
      node_id, effective_height}, ValidatorRemoved{...}, AdminAdded{public_key}, AdminRemoved.
  admins() -> [bytes65]                                   (view)
  validators() -> [[public_key, node_id, p2p_addr, api_addr] as bytes] (view)
  votes(proposal_id: bytes32) -> [voter bytes65]          (view)
  pending() -> [[id, method, args, voters, needed, expires_at]]  (view; open proposals)
  params() -> [num, den, proposal_ttl_blocks] | None      (view; genesis.governance)
      With genesis governance parameters the threshold is num/den of the admins, a proposal
      expires proposal_ttl_blocks after its first vote, and Voted carries needed, expires_at.
permissions  (non-view: admins; with genesis governance parameters a vote like governance's,
              returning True when this vote applied it; else any one admin)
  grant(who: address | public_key65, role: "writer" | "deployer") -> True    RoleGranted
  revoke(who, role) -> True                                                 RoleRevoked
  set_mode(mode: "open" | "closed") -> True                                 ModeChanged
  mode() -> str (view);  roles(who) -> [str] (view; "admin" first for admins)
deployment   (open mode: anyone; closed: the deployer role)
  deploy(code: bytes, name: str = "") -> address20        Deployed{address, name, deployer}
      code from contracts.compile_source; address = H([b"deploy", sender address, nonce])[-20:]
  resolve(name: str) -> address20 | None (view);  code(address) -> bytes | None (view)

A parameter typed `address` takes an address as text, "0x" + 40 hex digits (0x optional, any
case; chainnode.model.addresses), or as 20 bytes; `who` also a 65-byte public key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chainnode.model.addresses import parse_address
from chainnode.model.codes import Code


class StateReader(Protocol):
    """Reads of `storage.Overlay` (or of the committed store) the system rules need."""

    def get(self, ns: bytes, key: bytes) -> bytes | None: ...


class StateRW(StateReader, Protocol):
    """The subset of `storage.Overlay` the system contracts use."""

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
    is_key: Callable[[bytes], bool] = lambda pub: len(pub) == 65 and pub[:1] == b"\x04"
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def emit(self, event: str, /, **fields: Any) -> None:
        """Record an event for the receipt (kept only if the call succeeds)."""
        self.events.append((event, fields))


Handler = Callable[[SysContext, list[Any]], Any]


@dataclass(frozen=True, slots=True)
class Method:
    """A system method: its handler and its interface (what admission checks arguments
    against and ``GET /v1/contracts/{name}`` lists). ``types`` are VM type names, one per
    parameter; the last ``len(params) - required`` parameters may be left out."""

    handler: Handler
    view: bool
    params: tuple[str, ...]
    types: tuple[str, ...]
    doc: str
    required: int | None = None  # None: all of them


ADDRESS = "address"
"""A parameter type of system methods beside the VM's: see `address_arg`."""


def address_arg(value: Any, keys: bool) -> bytes | None:
    """What an ``address`` argument names: 20 bytes (from the text form, ``0x`` optional, any
    case, or given as bytes), or with ``keys`` a 65-byte public key as given; None if neither.
    Both forms give the same bytes, so votes on one change agree whatever form each used."""
    if isinstance(value, str):
        return parse_address(value)
    if isinstance(value, bytes) and (len(value) == 20 or (keys and len(value) == 65)):
        return value
    return None


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


def pubkey_arg(args: list[Any], i: int, what: str, ctx: SysContext | None = None) -> bytes:
    """A 65-byte public key; with `ctx`, also a point on the chain's curve."""
    v = arg_bytes(args, i, what, 65)
    if v[0] != 4 or (ctx is not None and not ctx.is_key(v)):
        raise SysError(Code.MALFORMED, f"argument {i} ({what}) must be a public key 04||x||y")
    return v


def max_args(args: list[Any], n: int) -> None:
    if len(args) > n:
        raise SysError(Code.MALFORMED, f"at most {n} arguments")
