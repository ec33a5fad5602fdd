"""Genesis: what every validator of a chain agrees on before block 1.

`genesis.json` holds the chain id, the crypto suite, the validators (public key, node id, p2p
and API addresses), the admin public keys, the permission mode, the consensus parameters and
the standard contracts to pre-deploy with their bytecode, pinned in the file (`code`, compiled
once when the genesis is made) so that nodes running different software versions still build
the same block 0. `Genesis.hash` (suite hash of the canonical encoding)
is recorded in the store so a node refuses to open a data dir of a different chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chainnode.model.codes import GenesisError, MalformedError
from chainnode.model.encoding import from_hex, json_int, json_str, pack
from chainnode.model.types import CHAIN_RE, MAX_GAS_LIMIT, NAME_RE, PUBKEY_LEN

SUITES = ("sm", "ecdsa-p256")
MODES = ("open", "closed")
STANDARD_CONTRACTS = ("evidence", "traceability", "records")
MAX_GENESIS_BYTES = 1024 * 1024
MAX_CODE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ValidatorInfo:
    public_key: bytes  # 65-byte uncompressed node key (also the consensus identity)
    node_id: str
    p2p_addr: str  # "host:port"
    api_addr: str  # "host:port" of the HTTP API

    def __post_init__(self) -> None:
        if (
            not isinstance(self.public_key, bytes)
            or len(self.public_key) != PUBKEY_LEN
            or self.public_key[0] != 4
        ):
            raise MalformedError("validator public_key: expected 65 bytes 04||x||y")
        for name in ("node_id", "p2p_addr", "api_addr"):
            v = getattr(self, name)
            if not isinstance(v, str) or len(v) > 256:
                raise MalformedError(f"validator {name}: expected a string of <= 256 chars")

    @property
    def public_key65(self) -> bytes:
        return self.public_key

    def to_list(self) -> list[Any]:
        return [
            self.public_key,
            self.node_id.encode(),
            self.p2p_addr.encode(),
            self.api_addr.encode(),
        ]

    @classmethod
    def from_list(cls, v: Any) -> ValidatorInfo:
        if not isinstance(v, list) or len(v) != 4:
            raise MalformedError("validator: expected 4 fields")
        try:
            return cls(bytes(v[0]), v[1].decode(), v[2].decode(), v[3].decode())
        except (AttributeError, TypeError, UnicodeDecodeError):
            raise MalformedError("validator: bad field types") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "public_key": self.public_key.hex(),
            "node_id": self.node_id,
            "p2p_addr": self.p2p_addr,
            "api_addr": self.api_addr,
        }

    @classmethod
    def from_json(cls, obj: Any) -> ValidatorInfo:
        if not isinstance(obj, dict):
            raise MalformedError("validator: expected an object")
        try:
            return cls(
                from_hex(obj["public_key"], "validator public_key", PUBKEY_LEN),
                json_str(obj["node_id"], "node_id"),
                json_str(obj["p2p_addr"], "p2p_addr"),
                json_str(obj["api_addr"], "api_addr"),
            )
        except KeyError as e:
            raise MalformedError(f"validator: missing field {e.args[0]}") from None


DEFAULT_MAX_BLOCK_GAS = 25_000_000
"""Gas of all the transactions of one block. At the worst opcode or native of `bench.gas`
(<= 4x the median; ~12 ns/gas on one loaded core here, ~5 when idle) a full block executes
in ~0.1-0.3 s, within its interval's order and far within the request timeout; ordinary
transactions (5,000-13,000 gas) still fill 2,000-tx blocks."""
DEFAULT_MAX_TX_GAS = 10_000_000
"""Gas limit of one transaction (admission refuses more): ~0.1 s of the worst work; the VM
allocates at most 64 MiB in any execution (its cap, reached at 8 bytes per gas)."""
DEFAULT_SNAPSHOT_INTERVAL = 1000
"""Blocks between state checkpoints that `network init` writes: a joining node replays at
most this many blocks past the newest snapshot; each checkpoint costs one background pass over
the state (the header of checkpoint + lag carries its root)."""
DEFAULT_SNAPSHOT_LAG = 64
"""Blocks after a checkpoint height whose header carries it, for a genesis that sets an
interval and omits the lag (its hash must not change, so this stays); `network init` writes
NETWORK_SNAPSHOT_LAG. The time every node has to hash the state in the background before a
proposal needs the root (validators wait, never refuse, when theirs is not done, but the
chain waits with them)."""
NETWORK_SNAPSHOT_LAG = 512
"""The lag `network init` writes (never above the interval). Under load a chain makes ~20
blocks/s, so 64 blocks left the pass over the state ~3 s: too short to pace, every validator
hashed flat out at once (on a shared host, four of them on two cores) and a 4-validator sweep
at 70% of its peak saw p99 1.5 s. 512 blocks (~25 s under load, minutes when idle) let the
pass keep to its share of a core (chainnode.ledger.checkpoints.PACE_SHARE); a joining node
replays at most interval + lag blocks past the newest carried checkpoint."""


@dataclass(frozen=True, slots=True)
class ConsensusParams:
    """Timing, size and gas knobs of consensus; milliseconds, chosen at genesis.

    `max_block_gas` / `max_tx_gas` came later: a genesis without them (None) runs with the
    defaults and keeps its encoding (hence its hash: an existing chain still opens); a
    genesis with them (`network init` writes both) has them in its encoding and hash.

    `snapshot_interval` / `snapshot_lag` came later still, the same way: absent (None), the
    chain has no state checkpoints (interval 0) and its genesis keeps its encoding and hash;
    present, both are encoded after the gas limits (which are then written out too, so the
    list stays unambiguous)."""

    #: A batching bound under load, not a tick: a primary proposes as soon as a transaction
    #: waits; only after a full block does it wait up to this long (from that commit) to fill
    #: the next one.
    block_interval_ms: int = 200
    max_block_txs: int = 2000
    request_timeout_ms: int = 4000
    view_change_timeout_ms: int = 4000
    block_limit_window: int = 1000
    max_block_bytes: int = 4 * 1024 * 1024  # well under p2p's default 8 MiB frame
    max_block_gas: int | None = None
    max_tx_gas: int | None = None
    snapshot_interval: int | None = None
    snapshot_lag: int | None = None

    def __post_init__(self) -> None:
        json_int(self.block_interval_ms, "block_interval_ms", 0, 3_600_000)
        json_int(self.max_block_txs, "max_block_txs", 1, 100_000)
        json_int(self.request_timeout_ms, "request_timeout_ms", 1, 3_600_000)
        json_int(self.view_change_timeout_ms, "view_change_timeout_ms", 1, 3_600_000)
        json_int(self.block_limit_window, "block_limit_window", 1, 1_000_000)
        json_int(self.max_block_bytes, "max_block_bytes", 64 * 1024, 64 * 1024 * 1024)
        if (self.max_block_gas is None) != (self.max_tx_gas is None):  # both or neither
            if self.max_block_gas is None:
                object.__setattr__(self, "max_block_gas", DEFAULT_MAX_BLOCK_GAS)
            else:
                object.__setattr__(self, "max_tx_gas", min(DEFAULT_MAX_TX_GAS, self.block_gas))
        json_int(self.block_gas, "max_block_gas", 1_000, MAX_GAS_LIMIT)
        json_int(self.tx_gas, "max_tx_gas", 1_000, MAX_GAS_LIMIT)
        if self.tx_gas > self.block_gas:
            raise MalformedError("consensus: max_tx_gas above max_block_gas")
        self._check_snapshots()

    def _check_snapshots(self) -> None:
        if self.snapshot_interval is None and self.snapshot_lag is None:
            return
        if self.snapshot_interval is None:
            object.__setattr__(self, "snapshot_interval", DEFAULT_SNAPSHOT_INTERVAL)
        if self.snapshot_lag is None:  # the default, or every interval when that is shorter
            every = self.snapshot_interval
            lag = DEFAULT_SNAPSHOT_LAG
            if isinstance(every, int) and 0 < every < lag:
                lag = every
            object.__setattr__(self, "snapshot_lag", lag)
        if self.max_block_gas is None:  # encoded before the snapshot fields: write them out
            object.__setattr__(self, "max_block_gas", self.block_gas)
            object.__setattr__(self, "max_tx_gas", self.tx_gas)
        interval = json_int(self.snapshot_interval, "snapshot_interval", 0, 1_000_000_000)
        lag = json_int(self.snapshot_lag, "snapshot_lag", 1, 1_000_000)
        if interval and lag > interval:
            raise MalformedError("consensus: snapshot_lag above snapshot_interval")

    @property
    def snapshot_every(self) -> int:
        """Blocks between state checkpoints in force (0: this chain has none)."""
        return self.snapshot_interval or 0

    @property
    def checkpoint_lag(self) -> int:
        """Blocks after a checkpoint height whose header carries its commitment."""
        return DEFAULT_SNAPSHOT_LAG if self.snapshot_lag is None else self.snapshot_lag

    def is_checkpoint(self, height: int) -> bool:
        """Whether the state at `height` is checkpointed (never genesis)."""
        every = self.snapshot_every
        return every > 0 and height > 0 and height % every == 0

    def checkpoint_carried_by(self, height: int) -> int | None:
        """The checkpoint height whose commitment the header of block `height` must carry
        (None: that header carries none)."""
        c = height - self.checkpoint_lag
        return c if self.is_checkpoint(c) else None

    @property
    def block_gas(self) -> int:
        """`max_block_gas` in force (the default when the genesis does not say)."""
        return DEFAULT_MAX_BLOCK_GAS if self.max_block_gas is None else self.max_block_gas

    @property
    def tx_gas(self) -> int:
        """`max_tx_gas` in force (the default when the genesis does not say)."""
        return DEFAULT_MAX_TX_GAS if self.max_tx_gas is None else self.max_tx_gas

    def with_gas_limits(self) -> ConsensusParams:
        """These parameters with the gas limits in force written out (pinned in the hash)."""
        return replace(self, max_block_gas=self.block_gas, max_tx_gas=self.tx_gas)

    def with_snapshots(
        self, interval: int = DEFAULT_SNAPSHOT_INTERVAL, lag: int | None = None
    ) -> ConsensusParams:
        """These parameters with state checkpoints every `interval` blocks (0: none, written
        out), carried `lag` blocks later (None: NETWORK_SNAPSHOT_LAG, or `interval` when that
        is shorter); what `network init` writes."""
        if lag is None and interval > 0:
            lag = min(NETWORK_SNAPSHOT_LAG, interval)
        return replace(self.with_gas_limits(), snapshot_interval=interval, snapshot_lag=lag)

    def to_list(self) -> list[int]:
        out = [
            self.block_interval_ms,
            self.max_block_txs,
            self.request_timeout_ms,
            self.view_change_timeout_ms,
            self.block_limit_window,
            self.max_block_bytes,
        ]
        if self.max_block_gas is not None:  # both set (__post_init__): absent = the old form
            out += [self.block_gas, self.tx_gas]
        if self.snapshot_interval is not None:  # both set, and the gas limits (__post_init__)
            out += [self.snapshot_every, self.checkpoint_lag]
        return out

    def to_json(self) -> dict[str, int]:
        out = {
            "block_interval_ms": self.block_interval_ms,
            "max_block_txs": self.max_block_txs,
            "request_timeout_ms": self.request_timeout_ms,
            "view_change_timeout_ms": self.view_change_timeout_ms,
            "block_limit_window": self.block_limit_window,
            "max_block_bytes": self.max_block_bytes,
        }
        if self.max_block_gas is not None:
            out["max_block_gas"] = self.block_gas
            out["max_tx_gas"] = self.tx_gas
        if self.snapshot_interval is not None:
            out["snapshot_interval"] = self.snapshot_every
            out["snapshot_lag"] = self.checkpoint_lag
        return out

    @classmethod
    def from_json(cls, obj: Any) -> ConsensusParams:
        if not isinstance(obj, dict):
            raise MalformedError("consensus: expected an object")
        known = set(cls().to_json()) | {
            "max_block_gas",
            "max_tx_gas",
            "snapshot_interval",
            "snapshot_lag",
        }
        extra = set(obj) - known
        if extra:
            raise MalformedError(f"consensus: unknown fields {sorted(extra)}")
        return cls(**obj)


DEFAULT_PROPOSAL_TTL = 10_000
"""Blocks an open governance proposal waits for votes (blocks are made only when there are
transactions, so this is a count of busy blocks, not of time)."""


@dataclass(frozen=True, slots=True)
class GovernanceParams:
    """How admins decide: a change applies when ``votes * den >= admins * num``; an open
    proposal expires ``proposal_ttl_blocks`` after its first vote (a later vote starts it
    afresh). A genesis without them (None) keeps the first rule: 2/3, no expiry, and the
    encoding (hence hash) of an existing chain."""

    threshold_num: int = 2
    threshold_den: int = 3
    proposal_ttl_blocks: int = DEFAULT_PROPOSAL_TTL

    def __post_init__(self) -> None:
        json_int(self.threshold_den, "admin_threshold denominator", 1, 1000)
        json_int(self.threshold_num, "admin_threshold numerator", 1, self.threshold_den)
        if 2 * self.threshold_num <= self.threshold_den:
            raise MalformedError("admin_threshold: more than half of the admins must agree")
        json_int(self.proposal_ttl_blocks, "proposal_ttl_blocks", 1, 1_000_000_000)

    def needed(self, admins: int) -> int:
        """Votes that apply a change among ``admins`` admins."""
        return -(-admins * self.threshold_num // self.threshold_den)

    def to_list(self) -> list[int]:
        return [self.threshold_num, self.threshold_den, self.proposal_ttl_blocks]

    def to_json(self) -> dict[str, Any]:
        return {
            "admin_threshold": f"{self.threshold_num}/{self.threshold_den}",
            "proposal_ttl_blocks": self.proposal_ttl_blocks,
        }

    @classmethod
    def from_json(cls, obj: Any) -> GovernanceParams:
        if not isinstance(obj, dict) or set(obj) != {"admin_threshold", "proposal_ttl_blocks"}:
            raise MalformedError("governance: an object of admin_threshold and proposal_ttl_blocks")
        frac = obj["admin_threshold"]
        num, sep, den = frac.partition("/") if isinstance(frac, str) else ("", "", "")
        if not sep or not num.isdigit() or not den.isdigit():
            raise MalformedError('governance: admin_threshold: a fraction like "2/3"')
        return cls(int(num), int(den), obj["proposal_ttl_blocks"])


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    validators: tuple[ValidatorInfo, ...]
    admins: tuple[bytes, ...]
    suite: str = "sm"
    permissions: str = "open"
    consensus: ConsensusParams = field(default_factory=ConsensusParams)
    contracts: tuple[str, ...] = STANDARD_CONTRACTS
    timestamp: int = 0  # ms; the genesis block's timestamp
    code: tuple[bytes, ...] = ()  # bytecode per contract; () = compile the stdlib now
    governance: GovernanceParams | None = None  # None: 2/3, no expiry (the first chains)

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, str) or not CHAIN_RE.fullmatch(self.chain_id):
            raise GenesisError("chain_id: 1-64 chars of [A-Za-z0-9_.-]")
        if self.suite not in SUITES:
            raise GenesisError(f"suite: one of {SUITES}")
        if self.permissions not in MODES:
            raise GenesisError(f"permissions: one of {MODES}")
        if not self.validators:
            raise GenesisError("validators: at least one")
        keys = [v.public_key for v in self.validators]
        if len(set(keys)) != len(keys):
            raise GenesisError("validators: duplicate public key")
        if not self.admins:
            raise GenesisError("admins: at least one")
        for a in self.admins:
            if not isinstance(a, bytes) or len(a) != PUBKEY_LEN or a[0] != 4:
                raise GenesisError("admins: expected 65-byte public keys 04||x||y")
        if len(set(self.admins)) != len(self.admins):
            raise GenesisError("admins: duplicate public key")
        from crypto.suite import get_suite

        on_curve = get_suite(self.suite).is_public_key
        for what, k in [("validator", v.public_key) for v in self.validators] + [
            ("admin", a) for a in self.admins
        ]:
            if not on_curve(k):
                raise GenesisError(f"{what} key {k.hex()[:16]}...: not a {self.suite} public key")
        for c in self.contracts:
            if c not in STANDARD_CONTRACTS:
                raise GenesisError(f"contracts: unknown standard contract {c!r}")
            assert NAME_RE.fullmatch(c)
        json_int(self.timestamp, "timestamp")
        if not self.code:
            import contracts

            object.__setattr__(
                self, "code", tuple(contracts.stdlib.compiled(c) for c in self.contracts)
            )
        if len(self.code) != len(self.contracts):
            raise GenesisError("code: one bytecode per contract")
        _check_code(self.contracts, self.code)

    def to_list(self) -> list[Any]:
        return [
            self.chain_id.encode(),
            self.suite.encode(),
            [v.to_list() for v in self.validators],
            list(self.admins),
            self.permissions.encode(),
            self.consensus.to_list(),
            [c.encode() for c in self.contracts],
            self.timestamp,
            list(self.code),
        ] + ([self.governance.to_list()] if self.governance is not None else [])

    def encode(self) -> bytes:
        return pack(self.to_list())

    @property
    def hash(self) -> bytes:
        from crypto.suite import get_suite

        return get_suite(self.suite).hash(self.encode())

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "suite": self.suite,
            "validators": [v.to_json() for v in self.validators],
            "admins": [a.hex() for a in self.admins],
            "permissions": self.permissions,
            "consensus": self.consensus.to_json(),
            "contracts": list(self.contracts),
            "timestamp": self.timestamp,
            "code": {c: b.hex() for c, b in zip(self.contracts, self.code, strict=True)},
        } | ({"governance": self.governance.to_json()} if self.governance is not None else {})

    @classmethod
    def from_json(cls, obj: Any) -> Genesis:
        if not isinstance(obj, dict):
            raise GenesisError("genesis: expected a JSON object")
        try:
            if not isinstance(obj["validators"], list) or not isinstance(obj["admins"], list):
                raise GenesisError("validators and admins must be lists")
            contracts = obj.get("contracts", list(STANDARD_CONTRACTS))
            if not isinstance(contracts, list) or not all(isinstance(c, str) for c in contracts):
                raise GenesisError("contracts: a list of names")
            return cls(
                chain_id=obj["chain_id"],
                validators=tuple(ValidatorInfo.from_json(v) for v in obj["validators"]),
                admins=tuple(from_hex(a, "admin", PUBKEY_LEN) for a in obj["admins"]),
                suite=obj.get("suite", "sm"),
                permissions=obj.get("permissions", "open"),
                consensus=ConsensusParams.from_json(obj.get("consensus", {})),
                contracts=tuple(contracts),
                timestamp=obj.get("timestamp", 0),
                code=_code_from_json(obj.get("code"), contracts),
                governance=(
                    GovernanceParams.from_json(obj["governance"]) if "governance" in obj else None
                ),
            )
        except KeyError as e:
            raise GenesisError(f"genesis: missing field {e.args[0]}") from None
        except MalformedError as e:
            if isinstance(e, GenesisError):
                raise
            raise GenesisError(e.message) from None
        except TypeError as e:
            raise GenesisError(f"genesis: {e}") from None

    def save(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path | str) -> Genesis:
        p = Path(path)
        try:
            if p.stat().st_size > MAX_GENESIS_BYTES:
                raise GenesisError(f"{p}: larger than {MAX_GENESIS_BYTES} bytes")
            obj = json.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise GenesisError(f"{p}: cannot read ({e.strerror})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise GenesisError(f"{p}: not valid JSON ({e})") from None
        return cls.from_json(obj)


def _code_from_json(obj: Any, names: list[str]) -> tuple[bytes, ...]:
    """Pinned bytecode by contract name; absent (an older genesis.json): compile now."""
    if obj is None:
        return ()
    if not isinstance(obj, dict) or set(obj) != set(names):
        raise GenesisError("code: an object with the bytecode (hex) of each listed contract")
    return tuple(from_hex(obj[n], f"code.{n}", max_len=MAX_CODE_BYTES) for n in names)


def _check_code(names: tuple[str, ...], code: tuple[bytes, ...]) -> None:
    import contracts

    for n, c in zip(names, code, strict=True):
        if not isinstance(c, bytes) or not 0 < len(c) <= MAX_CODE_BYTES:
            raise GenesisError(f"code.{n}: 1..{MAX_CODE_BYTES} bytes")
        try:
            contracts.abi(c)
        except contracts.ContractError as e:
            raise GenesisError(f"code.{n}: not valid bytecode ({e})") from None


def make_genesis(
    chain_id: str,
    validators: list[ValidatorInfo] | tuple[ValidatorInfo, ...],
    admins: list[bytes] | tuple[bytes, ...],
    suite: str = "sm",
    permissions: str = "open",
    consensus: ConsensusParams | None = None,
    contracts: tuple[str, ...] = STANDARD_CONTRACTS,
    timestamp: int = 0,
) -> Genesis:
    """Build a validated Genesis (what `chainnode network init` writes as genesis.json)."""
    return Genesis(
        chain_id=chain_id,
        validators=tuple(validators),
        admins=tuple(admins),
        suite=suite,
        permissions=permissions,
        consensus=(consensus or ConsensusParams()).with_gas_limits(),
        contracts=tuple(contracts),
        timestamp=timestamp,
    )
