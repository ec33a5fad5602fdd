"""Block execution: run each transaction on an overlay, build receipts and the block roots.

A system call runs on a child of the block overlay, discarded if it fails; a VM call writes
straight into the block overlay because the VM buffers its writes until it succeeds. Either
way a failure changes nothing but its receipt (and the consumed nonce). Contract storage maps onto namespace = contract
address. No wall clock: height and timestamp come from the header being built/checked.

State root (documented, cheap, deterministic): an incremental hash chain,

    state_root(h) = H(canonical [state_root(h-1), h, sorted writes])

where each write is `[ns, key, value]` (set) or `[ns, key]` (delete), sorted by (ns, key),
and state_root(-1) = 32 zero bytes. Equal roots at a height mean equal histories of state
writes, hence equal state. tx root = Merkle root of tx hashes; receipts root = Merkle root
of the receipt encodings (the Merkle leaf hash H(0x00 || leaf) already hashes them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import contracts
from chainnode.ledger.system import (
    Method,
    SysContext,
    SysError,
    deployment,
    governance,
    permissions,
)
from chainnode.model.codes import Code, InvalidBlock, MalformedError
from chainnode.model.encoding import pack
from chainnode.model.layout import (
    DEPLOYMENT,
    GOVERNANCE,
    NS_CODE,
    NS_NAMES,
    NS_NONCE,
    PERMISSIONS,
    SYSTEM_CONTRACTS,
    nonce_key,
    well_known_address,
)
from chainnode.model.types import (
    ADDR_RE,
    MAX_ERROR_CHARS,
    STATUS_FAILED,
    STATUS_OK,
    Event,
    Receipt,
    Suite,
    Transaction,
    decode_args,
    make_event,
    make_receipt,
)
from crypto.merkle import merkle_root
from storage import Overlay, ReadRecorder, StorageError

try:  # the optional C extension (setup.py): the state root's bytes in one call
    from chainnode.ledger import _stateroot
except ImportError:  # not built: state_root_nested packs in Python
    _stateroot = None  # type: ignore[assignment]

SYSTEM_METHODS: dict[str, dict[str, Method]] = {
    GOVERNANCE: governance.METHODS,
    PERMISSIONS: permissions.METHODS,
    DEPLOYMENT: deployment.METHODS,
}
SYS_BASE_GAS = 1000
MAX_BLOCK_LOAD = 512 * 1024
"""Bytes of generated source (``contracts.vm.load_cost``) of the distinct programs one block
may run or deploy. Whether a program is in a node's cache depends on its history, so the
rule counts every program of the block: ~0.35 s of translation at most, whatever the cache
(else a block calling more distinct large programs than the cache holds would translate one
per tx). The standard contracts together count ~70 KB."""

Writes = dict[tuple[bytes, bytes], bytes | None]


def state_root(
    hash_fn: Callable[[bytes], bytes],
    prev: bytes,
    height: int,
    writes: Mapping[tuple[bytes, bytes], bytes | None],
) -> bytes:
    nested: dict[bytes, dict[bytes, bytes | None]] = {}
    for (ns, key), value in writes.items():
        nested.setdefault(ns, {})[key] = value
    return state_root_nested(hash_fn, prev, height, nested)


# fast path: plain=chainnode.ledger.executor.state_root test=tests/chainnode/ledger/test_executor_fast.py::test_state_root_nested_over_an_overlay_matches_flat_writes
def state_root_nested(
    hash_fn: Callable[[bytes], bytes],
    prev: bytes,
    height: int,
    writes: Mapping[bytes, Mapping[bytes, bytes | None]],
) -> bytes:
    """`state_root` of writes given as namespace -> key -> value (an overlay's own layout):
    the same bytes, with (ns, key) order from sorting the few namespaces, then each one's keys.
    The bytes come from ``_stateroot.c`` when it is built, else from :func:`_pack_writes_plain`.
    """
    # fast path: plain=chainnode.ledger.executor._pack_writes_plain test=tests/chainnode/ledger/test_stateroot_native.py::test_native_pack_matches_the_plain_pack
    if (
        _stateroot is not None
        and (data := _stateroot.pack_writes(prev, height, writes)) is not None
    ):
        return hash_fn(data)
    return hash_fn(_pack_writes_plain(prev, height, writes))


def _pack_writes_plain(
    prev: bytes, height: int, writes: Mapping[bytes, Mapping[bytes, bytes | None]]
) -> bytes:
    """What the state root hashes: plain bytes sorts, no key functions, no flattened pairs."""
    items: list[list[bytes]] = []
    for ns in sorted(writes):
        kv = writes[ns]
        items += [[ns, k] if (v := kv[k]) is None else [ns, k, v] for k in sorted(kv)]
    return pack([prev, height, items])


def roots_of(hash_fn: Callable[[bytes], bytes], leaves: Sequence[bytes]) -> bytes:
    return merkle_root(list(leaves), hash_fn=hash_fn)


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved contract: address plus either a system name or bytecode and its ABI."""

    address: bytes
    system: str | None
    code: bytes | None
    abi: Mapping[str, Any]

    def method(self, name: str) -> tuple[bool, bool]:
        """(exists, is_view)."""
        if self.system is not None:
            m = SYSTEM_METHODS[self.system].get(name)
            return (m is not None, bool(m and m.view))
        info = self.abi.get(name)
        return (info is not None, bool(info is not None and getattr(info, "view", False)))


@dataclass(frozen=True, slots=True)
class BlockResult:
    receipts: tuple[Receipt, ...]
    receipt_bytes: tuple[bytes, ...]
    writes: Writes
    tx_root: bytes
    receipts_root: bytes
    state_root: bytes
    #: The committed values (None: absent) of the keys the block read (ReadRecorder): not
    #: part of what a block is, so not compared.
    base_reads: Mapping[tuple[bytes, bytes], bytes | None] = field(
        default_factory=dict, compare=False
    )
    #: Positions of the txs whose nonce was already used (their receipt: ``NONCE_USED``).
    #: Only these can be committed already (``Ledger._committed_of``); not compared either.
    nonce_reused: tuple[int, ...] = field(default=(), compare=False)


class NodeHost:
    """contracts.Host over an overlay, confined to the contract's own namespace.

    The storage methods are the overlay's own, bound to the namespace (``partial``): the VM
    calls them a few times per transaction, and a wrapper method would add a frame each."""

    __slots__ = (
        "storage_get", "storage_set", "storage_delete", "storage_has", "storage_update",
        "caller", "tx_hash", "block_height", "timestamp", "hash",
    )  # fmt: skip

    def __init__(
        self,
        ov: Any,
        ns: bytes,
        caller: bytes,
        tx_hash: bytes,
        height: int,
        ts: int,
        hash_fn: Callable[[bytes], bytes],
    ) -> None:
        self.storage_get: Callable[[bytes], bytes | None] = partial(ov.get, ns)
        self.storage_set: Callable[[bytes, bytes], None] = partial(ov.set, ns)
        self.storage_delete: Callable[[bytes], None] = partial(ov.delete, ns)
        self.storage_has: Callable[[bytes], bool] = partial(ov.has, ns)
        # a successful call's writes, in one call (Machine.flush uses it when a host has it)
        self.storage_update: Callable[[Mapping[bytes, bytes | None]], None] = partial(ov.update, ns)
        self.caller = caller
        self.tx_hash = tx_hash
        self.block_height = height
        self.timestamp = ts
        self.hash = hash_fn


class Resolver:
    """Contract name/address -> Target, caching what is committed (code never changes)."""

    def __init__(self, suite: Suite, committed: Callable[[bytes, bytes], bytes | None]) -> None:
        self._suite = suite
        self._committed = committed
        self.system_by_address = {well_known_address(suite.hash, n): n for n in SYSTEM_CONTRACTS}
        self._system_by_name = {n: a for a, n in self.system_by_address.items()}
        self._names: dict[str, bytes] = {}
        self._targets: dict[bytes, Target] = {}
        self._final: dict[str, Target] = {}  # ref -> target, both committed (so final)

    MAX_FINAL = 4096

    def resolve(self, state: Any, ref: str) -> Target | None:
        """`state` is an overlay/store view with get(ns, key); None when nothing lives there."""
        t = self._final.get(ref)  # every tx resolves its contract twice (admit, execute)
        if t is not None:
            return t
        final = True  # the ref -> address mapping can no longer change
        if ADDR_RE.fullmatch(ref):
            addr = bytes.fromhex(ref)
        else:
            sys_addr = self._system_by_name.get(ref)
            if sys_addr is not None:
                addr = sys_addr
            else:
                cached = self._names.get(ref)
                if cached is None:
                    found = state.get(NS_NAMES, ref.encode())
                    if found is None:
                        return None
                    if self._committed(NS_NAMES, ref.encode()) == found:
                        self._names[ref] = found
                    else:
                        final = False
                    cached = found
                addr = cached
        t = self.target(state, addr)
        if final and t is not None and self._targets.get(addr) is t:  # committed code too
            if len(self._final) >= self.MAX_FINAL:
                self._final.clear()  # bounded: refs are attacker-chosen (hex case, say)
            self._final[ref] = t
        return t

    def target(self, state: Any, addr: bytes) -> Target | None:
        t = self._targets.get(addr)
        if t is not None:
            return t
        sysname = self.system_by_address.get(addr)
        if sysname is not None:
            t = Target(addr, sysname, None, {})
            self._targets[addr] = t
            return t
        code = state.get(NS_CODE, addr)
        if code is None:
            return None
        try:
            abi = contracts.vm.interface(code)  # verified; translated off the loop or at run
        except Exception:  # noqa: BLE001  # stored code was checked at deploy; be safe
            return None
        t = Target(addr, None, code, abi)
        if self._committed(NS_CODE, addr) is not None:
            self._targets[addr] = t
        return t


class BlockMemo:
    """What the transactions of one block share, so each need not recompute it.

    ``calls``: ``permissions.may_call`` answers by (sender address, system contract or None,
    view). Only a system call writes what they read (admins, roles, the mode: a VM call
    writes its own contract's namespace only), so every successful system call clears them.
    ``hosts``: a `NodeHost` per contract address over the block's overlay (its caller and
    tx hash are set for each call; the VM reads them once per call, at its start).
    ``methods``: ``Target.method`` answers by (contract address, method): the code at an
    address never changes (a deployment makes a new address)."""

    __slots__ = ("calls", "hosts", "methods")

    def __init__(self) -> None:
        self.calls: dict[tuple[bytes, str | None, bool], bool] = {}
        self.hosts: dict[bytes, NodeHost] = {}
        self.methods: dict[tuple[bytes, str], tuple[bool, bool]] = {}

    def may_call(self, ov: Any, sender: bytes, system: str | None, view: bool) -> bool:
        key = (sender, system, view)
        allowed = self.calls.get(key)
        if allowed is None:
            allowed = self.calls[key] = permissions.may_call(ov, sender, system, view)
        return allowed

    def method(self, target: Target, name: str) -> tuple[bool, bool]:
        key = (target.address, name)
        found = self.methods.get(key)
        if found is None:
            found = self.methods[key] = target.method(name)
        return found

    def host(
        self,
        ov: Any,
        ns: bytes,
        caller: bytes,
        tx_hash: bytes,
        height: int,
        ts: int,
        hash_fn: Callable[[bytes], bytes],
    ) -> NodeHost:
        """The block's host for contract `ns`, set up for this call (one per contract; only
        the caller and the tx differ between calls)."""
        host = self.hosts.get(ns)
        if host is None:
            host = self.hosts[ns] = NodeHost(ov, ns, caller, tx_hash, height, ts, hash_fn)
        else:
            host.caller = caller
            host.tx_hash = tx_hash
        return host


def _err(code: Code | str, message: str) -> str:
    return f"{code}: {message}"[:MAX_ERROR_CHARS]


NONCE_USED = _err(Code.DUPLICATE, "nonce already used")
"""The error of a tx whose sender's nonce was used before it (in the state it ran on)."""


def nonce_reused(receipts: Sequence[Receipt]) -> tuple[int, ...]:
    """Positions of the receipts of txs that found their nonce used (``NONCE_USED``)."""
    return tuple([i for i, r in enumerate(receipts) if r.error == NONCE_USED])


class Executor:
    def __init__(
        self, suite: Suite, resolver: Resolver, address: Callable[[bytes], bytes] | None = None
    ) -> None:
        self.suite = suite
        self.hash = suite.hash
        self.resolver = resolver
        self.address = address or suite.address

    # long: the block loop with its gas and program budgets, each refusal beside its check
    def execute_block(
        self,
        base: Any,
        height: int,
        timestamp: int,
        txs: Sequence[Transaction],
        prev_state_root: bytes,
        tx_root: bytes | None = None,
        *,
        max_gas: int | None = None,
        fill: bool = False,
    ) -> BlockResult:
        """Run txs on an overlay of `base` (the committed store); nothing is written to it.
        `tx_root`: the root of these txs' hashes when the caller has just computed it.

        `max_gas` (the block gas limit): a tx runs only if the gas the block used before it
        plus its gas limit fits, so no block makes its validators do more work than that;
        and only if the programs it runs or deploys keep the block's distinct programs
        within `MAX_BLOCK_LOAD` bytes of translation. A tx that does not fit ends the block
        when `fill` (a proposer filling a block: the result covers the txs before it), else
        the block is invalid (`InvalidBlock`). A `base` that is a :class:`ReadRecorder` gives
        the result its reads (``base_reads``)."""
        ov = Overlay(base)
        execute_tx, memo = self.execute_tx, BlockMemo()
        if max_gas is None:
            receipts = tuple([execute_tx(ov, tx, height, timestamp, memo) for tx in txs])
        else:
            done: list[Receipt] = []
            used = 0
            programs: dict[bytes, int] = {}  # code -> load cost, this block's
            load = 0
            for tx in txs:
                if used + tx.gas_limit > max_gas:
                    if fill:
                        break
                    raise InvalidBlock(
                        Code.GAS_LIMIT,
                        f"tx {tx.hash.hex()} does not fit the block gas limit {max_gas}",
                    )
                code = self.program_of(ov, tx)
                if code is not None and code not in programs:
                    cost = contracts.vm.load_cost(code)
                    if load + cost > MAX_BLOCK_LOAD:
                        if fill:
                            break
                        raise InvalidBlock(
                            Code.GAS_LIMIT,
                            f"tx {tx.hash.hex()} exceeds the block's {MAX_BLOCK_LOAD} bytes "
                            "of contract translation",
                        )
                    programs[code] = cost
                    load += cost
                r = execute_tx(ov, tx, height, timestamp, memo)
                used += r.gas_used
                done.append(r)
            receipts = tuple(done)
            if len(receipts) < len(txs):
                txs = txs[: len(receipts)]
                tx_root = None
        rbytes = tuple([r.encode() for r in receipts])
        h = self.hash
        return BlockResult(
            receipts=receipts,
            receipt_bytes=rbytes,
            writes=ov.writes(),
            tx_root=tx_root if tx_root is not None else roots_of(h, [tx.hash for tx in txs]),
            receipts_root=roots_of(h, rbytes),
            state_root=state_root_nested(h, prev_state_root, height, ov.namespaced_writes()),
            base_reads=base.reads if isinstance(base, ReadRecorder) else {},
            nonce_reused=nonce_reused(receipts),
        )

    def program_of(self, ov: Any, tx: Transaction) -> bytes | None:
        """The bytecode executing `tx` loads: a deployment's code, or the called contract's
        (None for other system calls and for what fails before loading anything)."""
        try:
            target = self.resolver.resolve(ov, tx.contract)
        except StorageError:
            raise
        except Exception:  # noqa: BLE001 - unresolvable: execute_tx gives its receipt
            return None
        if target is None:
            return None
        if target.system is None:
            return target.code
        if target.system != DEPLOYMENT or tx.method != "deploy":
            return None
        try:
            args = tx.vm_args()
        except MalformedError:
            return None
        code = args[0] if args else None
        return code if type(code) is bytes else None

    # fast path: plain=chainnode.ledger.executor.Executor.execute_tx test=tests/chainnode/ledger/test_executor_fast.py::test_a_block_memo_changes_no_receipt_or_write
    # long: one transaction's state transition, its failure paths side by side
    def execute_tx(
        self,
        ov: Any,
        tx: Transaction,
        height: int,
        timestamp: int,
        memo: BlockMemo | None = None,
    ) -> Receipt:
        """One tx on `ov`. `memo`: what the txs of one block (one `ov`, height, timestamp)
        share, given by `execute_block`; None (the plain path) recomputes it all per tx."""
        sender_addr = self.address(tx.sender)
        nkey = nonce_key(sender_addr, tx.nonce)
        if ov.get(NS_NONCE, nkey) is not None:
            return Receipt(tx.hash, STATUS_FAILED, 0, b"", (), NONCE_USED)
        ov.set(NS_NONCE, nkey, tx.hash)  # consumed even if the call fails
        try:
            target = self.resolver.resolve(ov, tx.contract)
            if target is None:
                raise SysError(Code.UNKNOWN_CONTRACT, f"no contract {tx.contract!r}")
            exists, view = (
                target.method(tx.method) if memo is None else memo.method(target, tx.method)
            )
            if not exists:
                raise SysError(Code.UNKNOWN_METHOD, f"no method {tx.method!r}")
            if not (
                permissions.may_call(ov, sender_addr, target.system, view)
                if memo is None
                else memo.may_call(ov, sender_addr, target.system, view)
            ):
                raise SysError(Code.NO_PERMISSION, "sender may not call this contract")
            try:  # system handlers get a fresh list (they may keep it); the VM copies its own
                args = (
                    decode_args(tx.args, canonical=False)
                    if target.system is not None
                    else tx.vm_args()
                )
            except MalformedError as e:
                raise SysError(Code.MALFORMED, e.message) from None
            if target.system is not None:
                gas = SYS_BASE_GAS + len(tx.args)
                if gas > tx.gas_limit:
                    raise SysError(Code.GAS_LIMIT, f"needs {gas} gas")
                child = ov.child()  # a handler writes as it goes: dropped if it raises
                ctx = SysContext(
                    child,
                    tx.sender,
                    sender_addr,
                    tx.nonce,
                    height,
                    self.hash,
                    self.suite.address,
                    is_key=self.suite.is_public_key,
                )
                value = SYSTEM_METHODS[target.system][tx.method].handler(ctx, args)
                child.commit_to_parent()
                if memo is not None:  # it may have changed admins, roles or the mode
                    memo.calls.clear()
                events = tuple(
                    Event(target.address, name, contracts.encode_value(fields))
                    for name, fields in ctx.events
                )
                return Receipt(tx.hash, STATUS_OK, gas, contracts.encode_value(value), events, "")
            assert target.code is not None
            # No child overlay for a VM call: the VM buffers its writes and hands them to the
            # host only after success (Machine.flush), so a failed call writes nothing. A
            # host write can fail only with StorageError, which fails the whole block below.
            host = (
                NodeHost(ov, target.address, sender_addr, tx.hash, height, timestamp, self.hash)
                if memo is None
                else memo.host(
                    ov, target.address, sender_addr, tx.hash, height, timestamp, self.hash
                )
            )
            res = contracts.execute(target.code, tx.method, args, host, tx.gas_limit)
        except SysError as e:
            return Receipt(
                tx.hash,
                STATUS_FAILED,
                min(SYS_BASE_GAS, tx.gas_limit),
                b"",
                (),
                _err(e.code, e.message),
            )
        except (StorageError, MemoryError, RecursionError):
            raise  # this machine's fault, not the transaction's: may differ between nodes
        except Exception as e:  # noqa: BLE001  # a VM/contract failure is the tx's failure
            return Receipt(
                tx.hash,
                STATUS_FAILED,
                tx.gas_limit,
                b"",
                (),
                _err("VM_ERROR", type(e).__name__),  # no message: must match on every node
            )
        if not res.ok:
            return Receipt(
                tx.hash,
                STATUS_FAILED,
                res.gas_used,
                b"",
                (),
                _err("FAILED", res.error or "execution failed"),
            )
        # the VM already made the canonical bytes (for gas): reuse them, don't re-encode
        addr = target.address
        events = tuple([make_event(addr, ev.name, ev.data) for ev in res.events])
        return make_receipt(tx.hash, STATUS_OK, res.gas_used, res.return_data, events, "")
