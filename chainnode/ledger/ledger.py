"""The ledger: the node's chain state behind one object the runtime drives.

`Ledger.open(data_dir, genesis)` opens (or creates, with block 0) the LevelDB store under
`data_dir/ledger`. Consensus asks `build_block` for a proposal (the proposer executes it
tentatively), `validate_block` for a peer's proposal (checks and re-executes; the result is
cached by block hash) and `commit_block` once it has a certificate (one storage commit: block,
txs, receipts, state writes, certificate). Queries read committed data only.

API (what the runtime uses):
  ledger.chain_id, .suite, .genesis, .params (ConsensusParams), .height, .head_hash, .head
  (BlockHeader), .state_root, .mempool (Mempool: submit / size / has / get / verify / remove)
  submit(txs) -> [Admission]            same as mempool.submit (bytes or Transaction)
  decode_block(bytes) -> Block           prefer to Block.decode: reuses pending txs
  build_block(height, view, proposer, timestamp_ms, max_txs=None) -> Block
  validate_block(block)                  raises InvalidBlock(code, message)
  commit_block(block, certificate) -> [Receipt];  on_commit(cb(block, receipts))
  validators_at(height) -> [ValidatorInfo];  validator_history() -> [(height, [ValidatorInfo])]
  block(h) / block_bytes(h) / block_by_hash(hash) / certificate(h) / tx(hash) ->
  (Transaction, height, index) / receipt(hash) / tx_proof(hash) -> TxProof /
  contract_address(name_or_hex) / state_get(contract, key_bytes) / state_value(contract,
  vm_key) / call_view(contract, method, args, caller=None) -> CallResult  (CallError)
  close()
Thread-safety: block operations take one lock; `mempool.submit`/`verify` may run on other
threads (e.g. to verify signatures off the event loop) while blocks are built or committed.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import contracts
import crypto
from chainnode.ledger import interface
from chainnode.ledger.checkpoints import Checkpoints, entry_key, undo_key
from chainnode.ledger.executor import (
    SYSTEM_METHODS,
    BlockResult,
    Executor,
    NodeHost,
    Resolver,
    Target,
    roots_of,
    state_root,
)
from chainnode.ledger.interface import MethodSpec
from chainnode.ledger.mempool import Admission, LedgerObserver, Mempool, VerifyItem
from chainnode.ledger.snapfiles import SNAPSHOT_DIR, SnapshotFiles
from chainnode.ledger.stages import StageClock, in_stage
from chainnode.ledger.system import SysContext, SysError, governance, permissions
from chainnode.ledger.system.governance import P_VSET, decode_validators, vset_height
from chainnode.model.addresses import contract_ref
from chainnode.model.chain import CallResult, TxProof
from chainnode.model.codes import (
    CallError,
    Code,
    GenesisError,
    InvalidBlock,
    LedgerError,
    MalformedError,
)
from chainnode.model.encoding import pack, unpack
from chainnode.model.genesis import ConsensusParams, Genesis, ValidatorInfo
from chainnode.model.layout import (
    NS_CHAIN,
    NS_CODE,
    NS_GOV,
    NS_NAMES,
    NS_NONCE,
    NS_PERM,
    SYSTEM_CONTRACTS,
    SYSTEM_NAMESPACES,
    cert_key,
    nonce_key,
    well_known_address,
)
from chainnode.model.snapshot import HashedChunk, Manifest, SnapshotError, verify_chunk
from chainnode.model.types import (
    MAX_GAS_LIMIT,
    ZERO_HASH,
    Block,
    BlockHeader,
    Receipt,
    StateCheckpoint,
    Transaction,
    decode_args,
    encode_args,
    is_contract_ref,
)
from crypto.merkle import merkle_proof
from crypto.suite import get_suite
from storage import (
    ChainMismatch,
    CommitBatch,
    LevelStats,
    Overlay,
    ReadRecorder,
    Snapshot,
    StagedBatch,
    Store,
)

__all__ = [
    "Admission",
    "CallResult",
    "ContractEntry",
    "ContractInterface",
    "InvalidBlock",
    "Ledger",
    "TxProof",
    "ValidatorInfo",
]

STORE_DIR = "ledger"
K_SNAPSHOT_GOVERNANCE = b"snapshot.governance"  # meta: see Ledger.snapshot_governance
#: Memtable of a store filled by install_snapshot. The state comes in key order, so with a
#: small buffer each flush is one table that compaction moves down untouched; with a large one
#: the whole state sits in the memtable and its log, replayed at the node's first open.
#: Measured on a 113 MB, 588k-entry snapshot, against the node's 128 MiB of then: install
#: 2.3 -> 1.5 s, first open 1.0 -> 0.07 s.
INSTALL_BUFFER = 8 << 20
MAX_STATE_KEY = 4096
CONTRACTS_PAGE = 100  # deployed contracts per answer of contract_list
MAX_HEIGHT = (1 << 63) - 1


def _height_ok(h: Any) -> bool:
    return type(h) is int and 0 <= h <= MAX_HEIGHT


def _hash_ok(h: Any) -> bool:
    return isinstance(h, bytes) and len(h) == 32


MAX_CANDIDATES = 8
#: Admission's remembered (sender, contract, method) answers (cleared at every new head).
MAX_TARGET_ANSWERS = 4096
#: Why admission refuses a call: (code, message, the field at fault).
Refusal = tuple[Code, str, str | None]
#: The interface of an allowed (sender, contract, method), or the refusal.
_TargetAnswer = tuple[MethodSpec | None, Refusal | None]
K_GENESIS = b"genesis"


@dataclass(frozen=True, slots=True)
class ContractEntry:
    """One contract on chain: its name (None for an unnamed deployment), address and kind
    (system: built into the node; stdlib: a standard contract installed at genesis;
    deployed: put on chain by a deploy transaction)."""

    name: str | None
    address: bytes
    kind: str


@dataclass(frozen=True, slots=True)
class ContractInterface:
    entry: ContractEntry
    doc: str | None
    methods: dict[str, MethodSpec]


_SYSTEM_DOCS = {
    "governance": "Admins and validators: every change is an admin's vote; 2/3 apply it.",
    "permissions": "Who may send: the mode (open or closed) and the writer/deployer roles.",
    "deployment": "Puts compiled contract bytecode on chain, optionally under a name.",
}


class StagedCommit:
    """A block between `Ledger.stage_commit` and `Ledger.finish_commit`: its execution, its
    staged storage batch, and whether that is written."""

    __slots__ = ("block", "res", "storage", "written")

    def __init__(self, block: Block, res: BlockResult, storage: StagedBatch) -> None:
        self.block = block
        self.res = res
        self.storage = storage
        self.written = False


class _StoreView:
    """get(ns, key) over the committed store, caching the small system namespaces.

    Admission reads permissions and names for every tx; those live in a few keys that change
    rarely, so they are cached and the cache is dropped by any commit touching them. A
    generation counter keeps a read that raced with a commit from caching a stale value.
    """

    __slots__ = ("_store", "_cache", "_gen")
    CACHED = frozenset(SYSTEM_NAMESPACES)
    MAX = 65_536

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[tuple[bytes, bytes], bytes | None] = {}
        self._gen = 0

    def get(self, ns: bytes, key: bytes) -> bytes | None:
        if ns not in self.CACHED:
            v: bytes | None = self._store.state_get(ns, key)
            return v
        k = (ns, key)
        cache = self._cache  # a commit replaces the dict: a late write lands in the old one
        try:
            return cache[k]
        except KeyError:
            pass
        gen = self._gen
        v = self._store.state_get(ns, key)
        if gen == self._gen:
            if len(cache) >= self.MAX:
                cache.clear()
            cache[k] = v
        return v

    state_get = get  # so an Overlay can sit on top (execution reads go through the cache)

    def state_scan(
        self,
        ns: bytes,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._store.state_scan(ns, prefix, start=start, stop=stop)

    def committed(self, writes: Mapping[tuple[bytes, bytes], bytes | None]) -> None:
        if any(ns in self.CACHED for ns, _ in writes):
            self._cache = {}
            self._gen += 1


class Ledger:
    """Committed chain + mempool + execution cache. Use `Ledger.open`."""

    def __init__(
        self,
        store: Store,
        genesis: Genesis,
        mempool_capacity: int = 100_000,
        mempool_bytes: int = 256 * 1024 * 1024,
        observer: LedgerObserver | None = None,
        stages: StageClock | None = None,
        snapshot_keep: int = 2,
    ) -> None:
        self._store = store
        self._observer = observer
        self.stages = stages or StageClock()  # CPU by stage (the node's metrics show it)
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.suite = get_suite(genesis.suite)
        self.params: ConsensusParams = genesis.consensus
        self._checkpoints = Checkpoints(
            self.params,
            SnapshotFiles(Path(store.path).parent / SNAPSHOT_DIR, snapshot_keep),
            store,
        )
        self._lock = threading.RLock()
        self._view = _StoreView(store)
        self.resolver = Resolver(self.suite, store.state_get)
        self.executor = Executor(self.suite, self.resolver, self.address)
        self.mempool = Mempool(
            self,
            capacity=mempool_capacity,
            max_bytes=mempool_bytes,
            observer=observer,
            stages=self.stages,
        )
        self._listeners: list[Callable[[Block, list[Receipt]], None]] = []
        self._cache: dict[bytes, tuple[Block, BlockResult]] = {}
        self._staged: StagedCommit | None = None  # a block whose storage write is under way
        self._vsets: list[tuple[int, list[ValidatorInfo]]] = []
        self._addresses: dict[bytes, bytes] = {}
        self._specs: dict[tuple[bytes, str], MethodSpec] = {}
        # admission's (sender, contract, method) answers on the state at _targets_head
        self._targets: dict[tuple[bytes, str, str], _TargetAnswer] = {}
        self._targets_head = b""
        self._head: BlockHeader
        self._head_hash: bytes

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        genesis: Genesis,
        mempool_capacity: int = 100_000,
        mempool_bytes: int = 256 * 1024 * 1024,
        observer: LedgerObserver | None = None,
        stages: StageClock | None = None,
        snapshot_keep: int = 2,
        write_buffer_size: int | None = None,
    ) -> Ledger:
        """Open the chain in data_dir (creating block 0 from genesis when new); the mempool
        holds at most `mempool_capacity` txs and `mempool_bytes` bytes of them; `observer`
        counts admission and verification batches (the node's metrics); `stages` counts CPU
        by stage (the node's, shown by its metrics); the newest `snapshot_keep` state
        snapshots are kept under data_dir/snapshots; `write_buffer_size` replaces the store's
        default memtable size (None: ``storage.WRITE_BUFFER``)."""
        path = Path(data_dir) / STORE_DIR
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            store = Store.open(
                str(path),
                genesis.chain_id.encode(),
                create=True,
                write_buffer_size=write_buffer_size,
            )
        except ChainMismatch as e:
            raise GenesisError(f"{path} holds another chain: {e}") from None
        try:
            led = cls(
                store, genesis, mempool_capacity, mempool_bytes, observer, stages, snapshot_keep
            )
            if store.head() is None:
                led._create_genesis()
            else:
                stored = store.state_get(NS_CHAIN, K_GENESIS)
                if stored != genesis.hash:
                    raise GenesisError(f"{path} holds a chain with a different genesis")
            led._load_head()
            led._checkpoints.resume(led.height, store.snapshot(), store)
        except BaseException:
            store.close()
            raise
        return led

    def close(self) -> None:
        self._checkpoints.close()
        self._store.close()

    def storage_levels(self) -> tuple[LevelStats, ...]:
        """The store's LevelDB levels and their compaction work (metrics); any thread."""
        return self._store.level_stats()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _genesis_writes(self) -> dict[tuple[bytes, bytes], bytes | None]:
        g, h = self.genesis, self.suite.hash
        w: dict[tuple[bytes, bytes], bytes | None] = {
            (NS_CHAIN, K_GENESIS): g.hash,
            (NS_CHAIN, b"chain_id"): g.chain_id.encode(),
            (NS_CHAIN, b"params"): pack(g.consensus.to_list()),
            (NS_PERM, permissions.K_MODE): g.permissions.encode(),
        }
        for k, v in governance.genesis_writes(
            g.admins, g.validators, self.suite.address, g.governance
        ).items():
            w[(NS_GOV, k)] = v
        for name in SYSTEM_CONTRACTS:
            w[(NS_NAMES, name.encode())] = well_known_address(h, name)
        for name, code in zip(g.contracts, g.code, strict=True):
            addr = well_known_address(h, name)
            w[(NS_NAMES, name.encode())] = addr
            w[(NS_CODE, addr)] = code
        return w

    def _create_genesis(self) -> None:
        h = self.suite.hash
        writes = self._genesis_writes()
        header = BlockHeader(
            height=0,
            prev_hash=ZERO_HASH,
            tx_root=roots_of(h, []),
            receipts_root=roots_of(h, []),
            state_root=state_root(h, ZERO_HASH, 0, writes),
            timestamp=self.genesis.timestamp,
            proposer=b"",
            view=0,
        )
        block = Block(header, (), hasher=h)
        self._store.commit(
            CommitBatch(
                height=0,
                block_hash=block.hash,
                block=block.raw,
                txs=[],
                receipts=[],
                state_writes=writes,
                meta={b"genesis.json": pack(self.genesis.to_list())},
            )
        )

    def _load_head(self) -> None:
        head = self._store.head()
        assert head is not None
        height, bhash = head
        header = self.header(height)  # a body, or only a header (installed from a snapshot)
        if header is None:
            raise LedgerError(Code.BAD_HEIGHT, f"store head {height} has no block")
        self._head = header
        self._head_hash = bhash
        self._vsets = sorted(
            (vset_height(k), decode_validators(v))
            for k, v in self._store.state_scan(NS_GOV, P_VSET)
        )

    # ------------------------------------------------------------------ head

    @property
    def height(self) -> int:
        return self._head.height

    @property
    def head_hash(self) -> bytes:
        return self._head_hash

    @property
    def head(self) -> BlockHeader:
        return self._head

    @property
    def state_root(self) -> bytes:
        return self._head.state_root

    def on_commit(self, cb: Callable[[Block, list[Receipt]], None]) -> None:
        """Call cb(block, receipts) after each commit (in the committing thread)."""
        self._listeners.append(cb)

    def validator_history(self) -> list[tuple[int, list[ValidatorInfo]]]:
        """(effective height, validator set) of every set the chain has had, oldest first."""
        return [(h, list(vs)) for h, vs in self._vsets]

    def validators_at(self, height: int) -> list[ValidatorInfo]:
        """The validator set that signs block `height` (changes apply at commit height + 1)."""
        vs = self._vsets
        i = bisect.bisect_right([h for h, _ in vs], height) - 1
        return list(vs[max(i, 0)][1])

    # ------------------------------------------------------------------ mempool context

    def next_height(self) -> int:
        return self._head.height + 1

    def block_limit_window(self) -> int:
        return self.params.block_limit_window

    def is_committed(self, tx_hash: bytes) -> bool:
        return bool(self._store.has_tx(tx_hash))

    def nonce_owner(self, tx: Transaction) -> bytes | None:
        """The hash of the committed tx that used `tx`'s sender and nonce (executing a tx
        stores its hash under them); None while unused."""
        return self._store.state_get(NS_NONCE, nonce_key(self.address(tx.sender), tx.nonce))

    @in_stage("verify")
    def verify_batch(self, items: Sequence[VerifyItem]) -> list[bool]:
        if self._observer is None:
            return list(crypto.verify_batch(list(items), suite=self.suite.name))
        t0 = time.perf_counter()
        out = list(crypto.verify_batch(list(items), suite=self.suite.name))
        self._observer.verified_batch(len(items), time.perf_counter() - t0)
        return out

    def block_programs(self, txs: Sequence[Transaction]) -> list[bytes]:
        """The distinct bytecode executing `txs` on our committed state loads, in order of
        first use (``Executor.program_of``: a deployment's code, a called contract's; a
        contract deployed earlier in `txs` is listed by its deployment). What the node loads
        off the event loop before a proposal or synced blocks execute on it."""
        out: dict[bytes, None] = {}
        for tx in txs:
            code = self.executor.program_of(self._view, tx)
            if code is not None:
                out.setdefault(code)
        return list(out)

    def programs_to_load(self, txs: Sequence[Transaction]) -> list[bytes]:
        """Bytecode that executing admitted `txs` will load and that is not loaded yet: a
        deployment's code and the code of the contracts called. The node loads (verifies and
        translates) it in a worker thread, off the event loop that executes blocks."""
        return [code for code in self.block_programs(txs) if not contracts.vm.is_loaded(code)]

    # fast path: plain=chainnode.ledger.ledger.Ledger.check_target_plain test=tests/chainnode/ledger/test_check_target_memo.py::test_the_memo_answers_as_the_plain_check_across_commits
    def check_target(self, tx: Transaction) -> Refusal | None:
        """:meth:`check_target_plain`, with the part that depends on (sender, contract,
        method) alone (the contract, its method, the sender's permission, the method's
        interface) answered once per committed head: clients send many calls alike."""
        if self._targets_head != self._head_hash:
            self._targets.clear()
            self._targets_head = self._head_hash
        key = (tx.sender, tx.contract, tx.method)
        answer = self._targets.get(key)
        if answer is None:
            if len(self._targets) >= MAX_TARGET_ANSWERS:
                self._targets.clear()
            answer = self._targets[key] = self._target_answer(tx)
        spec, refusal = answer
        if spec is None:
            return refusal
        return self._check_call(tx, spec)

    def _target_answer(self, tx: Transaction) -> _TargetAnswer:
        t = self.resolver.resolve(self._view, tx.contract)
        if t is None:
            return None, (Code.UNKNOWN_CONTRACT, f"no contract {tx.contract!r}", "contract")
        exists, view = t.method(tx.method)
        if not exists:
            return None, (Code.UNKNOWN_METHOD, self._no_method(t, tx.contract, tx.method), "method")
        if not permissions.may_call(self._view, self.address(tx.sender), t.system, view):
            return None, (Code.NO_PERMISSION, "sender may not call this contract", None)
        return self._spec(t, tx.method), None

    def _check_call(self, tx: Transaction, spec: MethodSpec) -> Refusal | None:
        """The rules of one call: its gas limit and its arguments."""
        if tx.gas_limit > self.params.tx_gas:
            return (
                Code.GAS_LIMIT,
                f"gas_limit above the chain's max_tx_gas {self.params.tx_gas}",
                "gas_limit",
            )
        try:
            tx.check_args()
        except MalformedError as e:
            return (Code.MALFORMED, e.message, "args")
        bad = spec.check(tx.vm_args())
        if bad is not None:
            return (Code.INVALID_ARGS, bad.message, bad.field)
        return None

    def check_target_plain(self, tx: Transaction) -> Refusal | None:
        """Admission-time check of contract, method, permission, gas limit and arguments
        against committed state: (code, message, field at fault) or None. Admission only: a
        block's validity never depends on it (a call it refuses would fail in execution)."""
        t = self.resolver.resolve(self._view, tx.contract)
        if t is None:
            return (Code.UNKNOWN_CONTRACT, f"no contract {tx.contract!r}", "contract")
        exists, view = t.method(tx.method)
        if not exists:
            return (Code.UNKNOWN_METHOD, self._no_method(t, tx.contract, tx.method), "method")
        if not permissions.may_call(self._view, self.address(tx.sender), t.system, view):
            return (Code.NO_PERMISSION, "sender may not call this contract", None)
        return self._check_call(tx, self._spec(t, tx.method))

    def _spec(self, t: Target, method: str) -> MethodSpec:
        """The interface of an existing method (cached: code at an address never changes)."""
        key = (t.address, method)
        spec = self._specs.get(key)
        if spec is None:
            spec = self._methods(t)[method]
            if len(self._specs) >= 4096:
                self._specs.clear()
            self._specs[key] = spec
        return spec

    def _methods(self, t: Target) -> dict[str, MethodSpec]:
        if t.system is not None:
            return interface.system_specs(SYSTEM_METHODS[t.system])
        return interface.vm_specs(t.abi, self._source_docs(t)[1])

    def _source_docs(self, t: Target) -> tuple[str | None, dict[str, str]]:
        """Docs of a standard contract running unchanged from genesis (bytecode has none)."""
        for name in self.genesis.contracts:
            if (
                well_known_address(self.suite.hash, name) == t.address
                and name in contracts.stdlib.NAMES
                and contracts.stdlib.compiled(name) == t.code
            ):
                return interface.source_docs(contracts.stdlib.source(name))
        return None, {}

    def _no_method(self, t: Target, contract: str, method: str) -> str:
        names = ", ".join(sorted(self._methods(t)))
        return f"contract {contract!r} has no method {method!r}; its methods: {names}"

    def contract_list(
        self, after: bytes | None = None, limit: int = CONTRACTS_PAGE
    ) -> tuple[list[ContractEntry], bytes | None]:
        """Contracts on chain, a page at a time: the system and standard ones (on the first
        page), then deployed ones by address, at most `limit` of them after the address
        `after`; with the address to continue after (None at the end). Committed state only.
        Paged because anyone allowed to deploy can add contracts: one answer stays bounded."""
        builtin = self._builtin_contracts()
        known = {e.address for e in builtin}
        names: dict[bytes, str] = {}
        for k, addr in self._store.state_scan(NS_NAMES):
            if addr not in known:
                names.setdefault(addr, k.decode("utf-8", "replace"))
        out = builtin if after is None else []
        deployed: list[ContractEntry] = []
        start = None if after is None else after + b"\x00"  # the first address past `after`
        for addr, _code in self._store.state_scan(NS_CODE, start=start):
            if addr in known:
                continue
            if len(deployed) >= limit:
                return out + deployed, deployed[-1].address
            deployed.append(ContractEntry(names.get(addr), addr, "deployed"))
        return out + deployed, None

    def _builtin_contracts(self) -> list[ContractEntry]:
        h = self.suite.hash
        out = [ContractEntry(n, well_known_address(h, n), "system") for n in SYSTEM_CONTRACTS]
        out += [
            ContractEntry(n, well_known_address(h, n), "stdlib") for n in self.genesis.contracts
        ]
        return out

    def contract_interface(self, contract: str) -> ContractInterface | None:
        """A contract's methods with their parameters, types and docs (None: no contract)."""
        addr = self.contract_address(contract)
        if addr is None:
            return None
        t = self.resolver.target(self._view, addr)
        if t is None:
            return None
        entry = next((e for e in self._builtin_contracts() if e.address == addr), None)
        if entry is None:
            name = next(
                (
                    k.decode("utf-8", "replace")
                    for k, a in self._store.state_scan(NS_NAMES)
                    if a == addr
                ),
                None,
            )
            entry = ContractEntry(name, addr, "deployed")
        doc = self._source_docs(t)[0] if t.system is None else _SYSTEM_DOCS.get(t.system)
        return ContractInterface(entry, doc, self._methods(t))

    def address(self, public_key: bytes) -> bytes:
        """suite.address, memoised (senders repeat; hashing is the cost)."""
        a = self._addresses.get(public_key)
        if a is None:
            if len(self._addresses) >= 100_000:
                self._addresses.clear()
            a = self._addresses[public_key] = self.suite.address(public_key)
        return a

    def submit(self, txs: Sequence[bytes | Transaction]) -> list[Admission]:
        return self.mempool.submit(txs)

    # ------------------------------------------------------------------ blocks

    def decode_block(self, data: bytes) -> Block:
        """Block.decode for this chain; txs already in our mempool are reused, not re-decoded
        (prefer this over Block.decode for proposals and synced blocks)."""
        return Block.decode(data, self.suite, known=self.mempool.lookup_raw)

    @in_stage("execute")
    def build_block(
        self, height: int, view: int, proposer: bytes, timestamp: int, max_txs: int | None = None
    ) -> Block:
        """A proposal for `height` from the mempool (FIFO), executed and cached."""
        with self._lock:
            self._not_staged()
            if height != self._head.height + 1:
                raise LedgerError(Code.BAD_HEIGHT, f"next height is {self._head.height + 1}")
            n = (
                self.params.max_block_txs
                if max_txs is None
                else min(max_txs, self.params.max_block_txs)
            )
            limit = self.params.max_block_bytes - 1024  # room for the header
            txs = self.mempool.take(n, height, limit)
            ts = max(timestamp, self._head.timestamp)
            res = self._fill(height, ts, txs)
            txs = txs[: len(res.receipts)]
            done = self._committed_of(txs, res)
            if done:  # admitted while their block was being committed: run it without them
                self.mempool.remove(done)
                gone = set(done)
                txs = [tx for tx in txs if tx.hash not in gone]
                res = self._fill(height, ts, txs)
                txs = txs[: len(res.receipts)]
            _known, checkpoint = self._checkpoints.carried(height)
            header = BlockHeader(
                height=height,
                prev_hash=self._head_hash,
                tx_root=res.tx_root,
                receipts_root=res.receipts_root,
                state_root=res.state_root,
                timestamp=ts,
                proposer=proposer,
                view=view,
                checkpoint=checkpoint,
            )
            block = Block(header, tuple(txs), hasher=self.suite.hash)
            self._remember(block, res)
            return block

    def _fill(self, height: int, ts: int, txs: Sequence[Transaction]) -> BlockResult:
        """The execution of a proposal's txs: it stops at the block gas limit (the rest stays
        in the mempool)."""
        try:
            return self.executor.execute_block(
                self._execution_base(height),
                height,
                ts,
                txs,
                self._head.state_root,
                max_gas=self.params.block_gas,
                fill=True,
            )
        except (MemoryError, RecursionError) as e:
            raise LedgerError(Code.EXECUTION_FAULT, type(e).__name__) from None

    def _committed_of(self, txs: Sequence[Transaction], res: BlockResult) -> list[bytes]:
        """The hashes of those of `txs` (executed as `res`) that are committed already.

        Only a tx that found its nonce used can be: executing any tx marks its sender's
        nonce used (a tx that fails too) and nothing unmarks one, so a committed tx's nonce
        is used in every later state. The tx index is asked about those few only, not about
        every tx of every block (a LevelDB miss each: microseconds on a large store)."""
        return [h for i in res.nonce_reused if self.is_committed(h := txs[i].hash)]

    @in_stage("execute")
    def validate_block(self, block: Block) -> None:
        """Raise InvalidBlock unless `block` may be committed next; caches its execution."""
        with self._lock:
            self._not_staged()
            self._validate(block)

    @property
    def committing(self) -> bool:
        """A block is staged (``stage_commit``) and not finished yet."""
        return self._staged is not None

    def _not_staged(self) -> None:
        """The next block is known only once a staged commit is finished: until then nothing
        may be built or checked against the parent (the caller's bug: loud)."""
        if self._staged is not None:
            raise RuntimeError(f"block {self._staged.block.height} is being committed")

    # long: the block validity rules in order, one InvalidBlock code each
    def _validate(self, block: Block) -> BlockResult:
        cached = self._cache.get(block.hash)
        if cached is not None:
            return cached[1]
        hd, head = block.header, self._head
        if hd.height != head.height + 1:
            raise InvalidBlock(
                Code.BAD_HEIGHT, f"expected height {head.height + 1}, got {hd.height}"
            )
        if hd.prev_hash != self._head_hash:
            raise InvalidBlock(Code.BAD_PARENT, "previous hash is not our head")
        if hd.timestamp < head.timestamp:
            raise InvalidBlock(Code.BAD_TIMESTAMP, "timestamp before the parent's")
        if hd.proposer not in {v.public_key for v in self.validators_at(hd.height)}:
            raise InvalidBlock(Code.BAD_PROPOSER, "proposer is not a validator at this height")
        self._checkpoints.check(hd)  # may wait for our own computation (the node awaits first)
        if len(block.txs) > self.params.max_block_txs:
            raise InvalidBlock(Code.TOO_MANY_TXS, f"more than {self.params.max_block_txs} txs")
        if len(block.raw) > self.params.max_block_bytes:
            raise InvalidBlock(Code.TOO_LARGE, f"block larger than {self.params.max_block_bytes}")
        top = hd.height + self.params.block_limit_window
        seen: set[bytes] = set()
        for tx in block.txs:
            if tx.chain_id != self.chain_id:
                raise InvalidBlock(Code.WRONG_CHAIN, f"tx {tx.hash.hex()} of another chain")
            if tx.block_limit < hd.height:
                raise InvalidBlock(Code.EXPIRED, f"tx {tx.hash.hex()} expired")
            if tx.block_limit > top:
                raise InvalidBlock(Code.FUTURE_BLOCK_LIMIT, f"tx {tx.hash.hex()} too far ahead")
            if tx.hash in seen:  # and committed before: after execution (_committed_of)
                raise InvalidBlock(Code.DUPLICATE, f"tx {tx.hash.hex()} repeated")
            if tx.gas_limit > self.params.tx_gas:
                raise InvalidBlock(Code.GAS_LIMIT, f"tx {tx.hash.hex()} gas limit above max_tx_gas")
            seen.add(tx.hash)
        h = self.suite.hash
        tx_root = roots_of(h, [tx.hash for tx in block.txs])
        if tx_root != hd.tx_root:
            raise InvalidBlock(Code.BAD_TX_ROOT, "tx root does not match")
        oks = self.mempool.verify(block.txs)
        if not all(oks):
            bad = block.txs[oks.index(False)]
            raise InvalidBlock(Code.BAD_SIGNATURE, f"tx {bad.hash.hex()} signature")
        try:
            res = self.executor.execute_block(
                self._execution_base(hd.height),
                hd.height,
                hd.timestamp,
                block.txs,
                head.state_root,
                tx_root,
                max_gas=self.params.block_gas,
            )
        except (MemoryError, RecursionError) as e:
            # This machine's failure, not the block's (another node may execute it fine): not
            # an InvalidBlock, so the proposer is not blamed for it.
            msg = f"cannot execute here: {type(e).__name__}"
            raise LedgerError(Code.EXECUTION_FAULT, msg) from None
        done = self._committed_of(block.txs, res)
        if done:
            raise InvalidBlock(Code.DUPLICATE, f"tx {done[0].hex()} committed before")
        if res.receipts_root != hd.receipts_root:
            raise InvalidBlock(Code.BAD_RECEIPTS_ROOT, "receipts root does not match")
        if res.state_root != hd.state_root:
            raise InvalidBlock(Code.BAD_STATE_ROOT, "state root does not match")
        self._remember(block, res)
        return res

    def _remember(self, block: Block, res: BlockResult) -> None:
        """Keep executions of candidate blocks for this height (a few views' worth)."""
        while len(self._cache) >= MAX_CANDIDATES:
            del self._cache[next(iter(self._cache))]
        self._cache[block.hash] = (block, res)

    @in_stage("commit")
    def commit_block(self, block: Block, certificate: bytes) -> list[Receipt]:
        """Commit the next block with its certificate in one storage write."""
        with self._lock:
            staged = self.stage_commit(block, certificate)
            self.write_commit(staged)
            return self.finish_commit(staged)

    # fast path: plain=chainnode.ledger.ledger.Ledger.commit_block test=tests/chainnode/ledger/test_staged_commit.py::test_staged_commit_matches_commit_block_and_holds_the_parent
    @in_stage("commit")
    def stage_commit(self, block: Block, certificate: bytes) -> StagedCommit:
        """The first of `commit_block`'s three steps, for a caller that writes on another
        thread (the node: its event loop admits txs while LevelDB writes and syncs, the GIL
        released): check the block and make its storage batch. Until `finish_commit` the
        ledger is still at the parent (head, caches, mempool, listeners) and refuses to build,
        validate or commit another block."""
        with self._lock:
            if self._staged is not None:
                raise RuntimeError(f"block {self._staged.block.height} is being committed")
            res = self._validate(block)
            hd = block.header
            meta = {cert_key(hd.height): bytes(certificate)}
            if self._checkpoints.recording_undo(hd.height):  # a few blocks per interval
                meta[undo_key(hd.height)] = self._undo(res.writes, res.base_reads)
            batch = CommitBatch(  # staged in memory here, under the GIL; written elsewhere
                height=hd.height,
                block_hash=block.hash,
                block=block.raw,
                txs=[(tx.hash, tx.raw) for tx in block.txs],
                receipts=[
                    (tx.hash, rb) for tx, rb in zip(block.txs, res.receipt_bytes, strict=True)
                ],
                state_writes=res.writes,
                meta=meta,
            )
            self._staged = staged = StagedCommit(block, res, self._store.stage(batch))
            return staged

    @in_stage("commit")
    def write_commit(self, staged: StagedCommit) -> None:
        """The storage write of a staged commit (the bodies', then the rest with the head: two
        synced LevelDB writes, the GIL released); any thread. On a failure the block stays
        staged: the node stops (a store that cannot write)."""
        if self._staged is not staged:
            raise RuntimeError("write_commit of a commit that is not the staged one")
        t0 = time.perf_counter()
        self._store.write_staged(staged.storage)
        staged.written = True
        if self._observer is not None:
            self._observer.block_written(time.perf_counter() - t0)

    @in_stage("commit")
    def finish_commit(self, staged: StagedCommit) -> list[Receipt]:
        """After `write_commit`: the ledger moves to the block (head, caches, mempool), then
        the commit listeners run."""
        block, res = staged.block, staged.res
        with self._lock:
            if self._staged is not staged or not staged.written:
                raise RuntimeError("finish_commit of a commit that is not written")
            hd = block.header
            if self.params.is_checkpoint(hd.height):  # the state at hd.height, exactly
                self._checkpoints.start(hd.height, self._store.snapshot())
            self._head, self._head_hash = hd, block.hash
            self._staged = None
            self._view.committed(res.writes)
            self._cache.clear()
            self._after_commit(hd.height, res)
            self.mempool.remove_committed([tx.hash for tx in block.txs], hd.height, block.txs)
            receipts = list(res.receipts)
        for cb in list(self._listeners):
            cb(block, receipts)
        return receipts

    def _execution_base(self, height: int) -> _StoreView | ReadRecorder:
        """What block `height` executes over: the committed state, through a ReadRecorder
        while committing it would record an undo (its reads then save lookups, see _undo);
        else directly (an extra call per read is not free)."""
        if self._checkpoints.will_record_undo(height):
            return ReadRecorder(self._view)
        return self._view

    def _undo(
        self,
        writes: Mapping[tuple[bytes, bytes], bytes | None],
        read: Mapping[tuple[bytes, bytes], bytes | None],
    ) -> bytes:
        """The undo record of a block: the committed values its `writes` replace, taken
        from what its execution `read` (the store is read only for keys written blind)."""
        get = self._store.state_get
        old = {
            entry_key(ns, k): read[(ns, k)] if (ns, k) in read else get(ns, k) for ns, k in writes
        }
        return Checkpoints.undo_record(old)

    def _after_commit(self, height: int, res: BlockResult) -> None:
        changed = [
            (vset_height(k), decode_validators(v))
            for (ns, k), v in res.writes.items()
            if ns == NS_GOV and k.startswith(P_VSET) and v is not None
        ]
        if changed:
            known = dict(self._vsets)
            known.update(changed)
            self._vsets = sorted(known.items())

    # ------------------------------------------------------------------ queries

    def block(self, height: int) -> Block | None:
        if not _height_ok(height):
            return None
        raw = self._store.block_by_height(height)
        return Block.decode(raw, self.suite) if raw is not None else None

    def block_tx_hashes(self, height: int) -> list[bytes] | None:
        """The hashes of block ``height``'s txs in block order, read from the store's list
        without decoding the block (None: no body here)."""
        if not _height_ok(height):
            return None
        return self._store.block_tx_hashes(height)

    # ------------------------------------------------------------------ pruning

    @property
    def prune_floor(self) -> int:
        """Bodies below this height may be pruned (0: nothing is)."""
        return int(self._store.prune_floor())

    def is_pruned(self, height: int) -> bool:
        """Whether block ``height`` was committed and its body (txs, receipts) is not here:
        pruned, or below the snapshot this node joined from (an archive has it)."""
        return (
            _height_ok(height)
            and 0 < height < self.prune_floor
            and self._store.block_by_height(height) is None
        )

    def tx_pruned_at(self, tx_hash: bytes) -> int | None:
        """The height of a committed tx whose body was pruned here (None: not pruned)."""
        if not _hash_ok(tx_hash):
            return None
        loc = self._store.tx(tx_hash)
        return loc.height if loc is not None and not loc.tx else None

    def header(self, height: int) -> BlockHeader | None:
        """The header of a committed block, pruned or not (headers are never pruned)."""
        if not _height_ok(height):
            return None
        raw = self._store.block_by_height(height)
        if raw is not None:
            return Block.decode_header(raw)
        kept = self._store.pruned_header(height)
        return BlockHeader.from_list(unpack(kept)) if kept is not None else None

    def prune(self, keep: int, max_heights: int = 256) -> int:
        """Drop the bodies and receipts of blocks more than ``keep`` below the head, at most
        ``max_heights`` of them in one pass (the headers synced, then the deletes); headers,
        certificates and the hash indexes stay. Genesis and every block that changed the
        validator set keep their bodies (a proof of any later record cites the changes).
        Returns the heights pruned. Commits go on meanwhile (the store serialises the
        writes)."""
        if keep < 1:
            raise ValueError("keep at least the head")
        target = self.height - keep + 1  # the new floor: heights below it are pruned
        start = max(1, self.prune_floor)
        if target <= start:
            return 0
        stop = min(target, start + max_heights)
        changes = {eff - 1 for eff, _ in self._vsets if eff > 0}
        heights, headers = [], []
        for h in range(start, stop):
            raw = self._store.block_by_height(h)
            if raw is None or h in changes:
                continue
            heights.append(h)
            headers.append(Block.decode_header(raw).encode())
        self._store.prune(heights, headers, stop)
        return len(heights)

    def block_bytes(self, height: int) -> bytes | None:
        """The canonical encoding of a committed block (for serving sync without decoding)."""
        if not _height_ok(height):
            return None
        raw: bytes | None = self._store.block_by_height(height)
        return raw

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of a committed block (pruned or not)."""
        if not _hash_ok(block_hash):
            return None
        h: int | None = self._store.height_of(block_hash)
        return h

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        if not _hash_ok(block_hash):
            return None
        raw = self._store.block_by_hash(block_hash)
        return Block.decode(raw, self.suite) if raw is not None else None

    def certificate(self, height: int) -> bytes | None:
        if not _height_ok(height):
            return None
        v: bytes | None = self._store.get_meta(cert_key(height))
        return v

    def tx(self, tx_hash: bytes) -> tuple[Transaction, int, int] | None:
        if not _hash_ok(tx_hash):
            return None
        loc = self._store.tx(tx_hash)
        if loc is None or not loc.tx:  # unknown, or pruned (tx_pruned_at says)
            return None
        return Transaction.decode(loc.tx, self.suite), loc.height, loc.index

    def tx_proof(self, tx_hash: bytes) -> TxProof | None:
        """Merkle proofs of a committed tx and its receipt against its block's header."""
        if not _hash_ok(tx_hash):
            return None
        loc = self._store.tx(tx_hash)
        if loc is None:
            return None
        hashes = self._store.block_tx_hashes(loc.height)
        raw = self._store.block_by_height(loc.height)
        bhash = self._store.block_hash_at(loc.height)
        if hashes is None or raw is None or bhash is None:
            return None
        h = self.suite.hash
        rleaves = []
        for th in hashes:
            r = self._store.receipt(th)
            if r is None:
                return None
            rleaves.append(r)
        return TxProof(
            tx_hash,
            loc.height,
            loc.index,
            bhash,
            Block.decode_header(raw),
            merkle_proof(hashes, loc.index, h),
            rleaves[loc.index],
            merkle_proof(rleaves, loc.index, h),
        )

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        if not _hash_ok(tx_hash):
            return None
        raw = self._store.receipt(tx_hash)
        return Receipt.decode(raw) if raw is not None else None

    def contract_address(self, contract: str) -> bytes | None:
        """Address of a contract given by name or 40-hex address (0x optional); None if
        nothing lives there."""
        if not isinstance(contract, str):
            return None
        contract = contract_ref(contract)
        if not is_contract_ref(contract):
            return None
        t = self.resolver.resolve(self._view, contract)
        return t.address if t is not None else None

    def state_get(self, contract: str, key: bytes) -> bytes | None:
        """Raw stored value of a contract's key (None when unset or no such contract)."""
        addr = self.contract_address(contract)
        if addr is None or not isinstance(key, bytes) or len(key) > MAX_STATE_KEY:
            return None
        v: bytes | None = self._store.state_get(addr, key)
        return v

    def state_value(self, contract: str, key: Any) -> Any:
        """Decoded value a VM contract stored under VM value `key` (None when unset)."""
        try:
            raw = self.state_get(contract, contracts.encode_value(key))
        except contracts.ContractError as e:
            raise CallError(Code.MALFORMED, f"key: {e}") from None
        return contracts.decode_value(raw) if raw is not None else None

    def call_view(
        self,
        contract: str,
        method: str,
        args: Sequence[Any] | bytes = (),
        caller: bytes | None = None,
        gas_limit: int = 10_000_000,
    ) -> CallResult:
        """Run a @view method read-only on the committed state.

        Raises CallError (UNKNOWN_CONTRACT, UNKNOWN_METHOD, NOT_VIEW, MALFORMED) when the call
        cannot run; an execution failure is a CallResult with ok=False.
        """
        try:
            argv = decode_args(args) if isinstance(args, bytes) else list(args)
            encode_args(argv)  # validates VM values
        except MalformedError as e:
            raise CallError(Code.MALFORMED, e.message) from None
        except Exception as e:  # noqa: BLE001  # bad VM values from outside
            raise CallError(Code.MALFORMED, f"args: {e}") from None
        if isinstance(contract, str):
            contract = contract_ref(contract)
        if not isinstance(contract, str) or not is_contract_ref(contract):
            raise CallError(Code.UNKNOWN_CONTRACT, f"no contract {contract!r}")
        if caller is not None and (
            not isinstance(caller, bytes)
            or len(caller) not in (20, 65)
            or (len(caller) == 65 and caller[0] != 4)
        ):
            raise CallError(Code.MALFORMED, "caller: a 20-byte address or 65-byte key 04||x||y")
        if type(gas_limit) is not int or not 0 < gas_limit <= MAX_GAS_LIMIT:
            raise CallError(Code.GAS_LIMIT, f"gas_limit: 1..{MAX_GAS_LIMIT}")
        with self._store.snapshot() as snap:  # a consistent view while commits go on
            return self._call_view(snap, contract, method, argv, caller, gas_limit)

    def _call_view(
        self,
        snap: Any,
        contract: str,
        method: str,
        argv: list[Any],
        caller: bytes | None,
        gas_limit: int,
    ) -> CallResult:
        ov = Overlay(snap)
        t = self.resolver.resolve(ov, contract)
        if t is None:
            raise CallError(Code.UNKNOWN_CONTRACT, f"no contract {contract!r}")
        exists, view = t.method(method)
        if not exists:
            raise CallError(Code.UNKNOWN_METHOD, self._no_method(t, contract, method), "method")
        if not view:
            raise CallError(
                Code.NOT_VIEW, f"{method!r} is not a view method; send a transaction", "method"
            )
        bad = self._spec(t, method).check(argv)
        if bad is not None:
            raise CallError(Code.INVALID_ARGS, bad.message, bad.field)
        pub = caller if caller is not None and len(caller) == 65 else b""
        addr = self.address(pub) if pub else (caller or bytes(20))
        height, ts = self._head.height, self._head.timestamp
        if t.system is not None:
            ctx = SysContext(ov, pub, addr, 0, height, self.suite.hash, self.suite.address, True)
            try:
                value = SYSTEM_METHODS[t.system][method].handler(ctx, argv)
            except SysError as e:
                return CallResult(False, None, 0, f"{e.code}: {e.message}")
            except Exception as e:  # noqa: BLE001  # never a 500 for a read-only call
                return CallResult(False, None, 0, f"VM_ERROR: {type(e).__name__}")
            return CallResult(True, value, 0, None)
        assert t.code is not None
        host = NodeHost(ov, t.address, addr, ZERO_HASH, height, ts, self.suite.hash)
        try:
            r = contracts.execute(t.code, method, argv, host, gas_limit, readonly=True)
        except Exception as e:  # noqa: BLE001
            return CallResult(False, None, gas_limit, f"VM_ERROR: {type(e).__name__}: {e}")
        return CallResult(r.ok, r.return_value if r.ok else None, r.gas_used, r.error)

    # ------------------------------------------------------------------ state snapshots

    def available_snapshots(self) -> list[int]:
        """Heights of the state snapshots this node serves, oldest first."""
        return self._checkpoints.files.available()

    def snapshot_manifest(self, height: int) -> Manifest | None:
        """The manifest of the snapshot at `height` (None: not here)."""
        return self._checkpoints.files.manifest(height)

    def snapshot_chunk(self, height: int, index: int) -> bytes | None:
        """The bytes of chunk `index` of the snapshot at `height` (None: not here)."""
        return self._checkpoints.files.chunk(height, index)

    def checkpoint_pending(self, block_height: int) -> Future[Manifest | None] | None:
        """The running computation whose result the header of `block_height` carries: the
        node awaits it (off the event loop) before building or validating that block."""
        return self._checkpoints.pending(block_height)

    def checkpoint_of(self, block_height: int) -> StateCheckpoint | None:
        """The checkpoint the header of `block_height` must carry, by our own computation
        (waits for it; None: that header carries none, or we have none)."""
        return self._checkpoints.carried(block_height)[1]

    # long: one install's steps and their undoing on failure (store, chunk files, rename)
    @classmethod
    def install_snapshot(  # the parts a joining node verified
        cls,
        data_dir: Path | str,
        genesis: Genesis,
        header: BlockHeader,
        certificate: bytes,
        manifest: Manifest,
        chunks: Iterable[bytes | HashedChunk],
        governance: bytes = b"[]",
        recent: Sequence[tuple[int, Sequence[bytes]]] = (),
    ) -> int:
        """Start an EMPTY data dir from the state snapshot at ``header.height`` (= c): every
        chunk is checked against `manifest` (which the caller checked against the checkpoint of
        a certified header) and the keys across chunks must increase; the store gets the
        state, block c's header as its head (a block c + 1 follows it), its certificate, and
        c + 1 as its prune floor (bodies below are not here: they answer like pruned ones).
        Written into a fresh directory renamed into place at the end: a failure leaves the
        data dir as it was. `chunks` may come as they are fetched (it is read once, in order;
        a :class:`HashedChunk` is one whose hash the fetcher checked against this manifest);
        they become this node's snapshot files of c (served at once, not recomputed).
        `governance`: the proofs of the validator-set changes up to c the caller verified (a
        JSON list, :meth:`snapshot_governance`), for proof bundles of later records.
        `recent`: (height, tx hashes) of the blocks up to c the caller verified (the
        ``block_limit_window`` below c): indexed as committed txs whose bodies are pruned, so
        that one of them proposed again is refused as DUPLICATE here as on every other node.
        Returns the entries installed; open it with :meth:`open`."""
        path = Path(data_dir) / STORE_DIR
        if path.exists():
            raise LedgerError(Code.BAD_HEIGHT, f"{path} exists: install into an empty data dir")
        if header.height != manifest.height or header.height == 0:
            raise SnapshotError(f"manifest of height {manifest.height}, header {header.height}")
        tmp = Path(data_dir) / (STORE_DIR + ".installing")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        # the verified chunks become this node's snapshot c (no pass over the state to
        # recompute it when it opens), each written as it is installed (none kept in memory)
        # and published before the store is in place: a store means files too
        adoption = SnapshotFiles(Path(data_dir) / SNAPSHOT_DIR).adoption(manifest)
        store = Store.open(
            str(tmp), genesis.chain_id.encode(), create=True, write_buffer_size=INSTALL_BUFFER
        )
        try:
            n = store.install(
                header.height,
                get_suite(genesis.suite).hash(header.encode()),
                header.encode(),
                _verified_state(manifest, chunks, adoption.add),
                {
                    cert_key(header.height): bytes(certificate),
                    b"genesis.json": pack(genesis.to_list()),
                    K_SNAPSHOT_GOVERNANCE: governance,
                },
                header.height + 1,
                recent,
            )
            if store.state_get(NS_CHAIN, K_GENESIS) != genesis.hash:
                raise SnapshotError("the snapshot's state is of a chain with another genesis")
            store.close()
            adoption.publish()
        except BaseException:
            store.close()
            adoption.abandon()
            with contextlib.suppress(OSError):  # made for this install: the dir as it was
                (Path(data_dir) / SNAPSHOT_DIR).rmdir()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, path)
        return n

    def snapshot(self) -> Snapshot:
        """A consistent read-only view of the whole store at one committed head (every commit
        is one write batch); for backups, which read it on another thread while commits go
        on. Close it when done."""
        return self._store.snapshot()

    def snapshot_governance(self) -> bytes | None:
        """The governance proofs kept by :meth:`install_snapshot` (None: not installed so)."""
        v: bytes | None = self._store.get_meta(K_SNAPSHOT_GOVERNANCE)
        return v

    def genesis_stored(self) -> Any:
        raw = self._store.get_meta(b"genesis.json")
        return unpack(raw) if raw is not None else None


def _verified_state(
    manifest: Manifest,
    chunks: Iterable[bytes | HashedChunk],
    keep: Callable[[bytes], None] = lambda data: None,
) -> Iterator[list[tuple[bytes, bytes]]]:
    """The store's state items of `chunks`, a list per chunk, each verified against
    `manifest`, in order; each chunk's bytes handed to `keep` once verified."""
    prev = b""
    count = n = 0
    for i, data in enumerate(chunks):
        entries = verify_chunk(manifest, i, data)
        if i and entries[0][0] <= prev:
            raise SnapshotError(f"chunk {i}: its first key is not above chunk {i - 1}'s last")
        prev = entries[-1][0]
        keep(data.data if isinstance(data, HashedChunk) else data)
        yield [(b"s" + k, v) for k, v in entries]
        count += 1
        n += len(entries)
    if count != len(manifest.chunk_hashes) or n != manifest.entries:
        raise SnapshotError(f"{count} chunks of {n} entries, the manifest says {manifest.entries}")
