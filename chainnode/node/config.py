"""Node configuration: one TOML file per node, validated by pydantic.

Every field can be overridden by an environment variable ``CHAINNODE_<FIELD>`` (upper case), so
a container can take the same file and change only what differs (ports, paths, log level).
Relative paths in the file are resolved against the file's directory, so a generated network
directory can be moved as a whole.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from chainnode.api.app import Limits
from chainnode.api.server import ServerLimits
from chainnode.invocation import command

ENV_PREFIX = "CHAINNODE_"
MAX_CONFIG_BYTES = 1 << 20


class ConfigError(Exception):
    """The node configuration cannot be used; the message says which field and why."""


class PeerConfig(BaseModel):
    """A peer to dial: its 65-byte public key (hex) and p2p address."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_key: str = Field(pattern=r"^(0x)?04[0-9a-fA-F]{128}$")
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class NodeConfig(BaseModel):
    """Everything one validator process needs besides the genesis file and its key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    node_id: str = Field(default="node0", min_length=1, max_length=64)
    data_dir: Path = Path("data")
    genesis: Path = Path("genesis.json")
    node_key: Path = Path("node.pem")
    node_key_password_file: Path | None = None
    """The password of a sealed node key (``org init --password-file``); kept off the key's
    directory in production (a mounted secret)."""
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8700, ge=0, le=65535)
    p2p_host: str = "127.0.0.1"
    p2p_port: int = Field(default=8800, ge=0, le=65535)
    api_tls_cert: Path | None = None
    """Serve the API over TLS with this certificate (PEM; ``org init --tls`` makes one)."""
    api_tls_key: Path | None = None
    api_client_ca: Path | None = None
    """Admit only clients with a certificate of this CA (for ``api_client_auth`` routes)."""
    api_client_auth: Literal["all", "writes"] = "all"
    """With ``api_client_ca``: every route needs a client certificate, or writes only."""
    peers: list[PeerConfig] | None = None
    """Peers to dial; ``None`` means the validators of the genesis file."""
    observers: list[Annotated[str, Field(pattern=r"^(0x)?04[0-9a-fA-F]{128}$")]] = []
    """Public keys (hex) of observer nodes this node admits besides the validators: they sync
    blocks, hear consensus and gossip transactions, and their votes count for nothing (the
    core counts validators only). A node whose own key is not in the validator set runs as an
    observer itself, and votes once governance adds it."""
    max_body_bytes: int = Field(default=16 << 20, ge=1024, le=1 << 30)
    max_batch_txs: int = Field(default=20_000, ge=1, le=1_000_000)
    max_wait_seconds: float = Field(default=60.0, gt=0, le=3600)
    http_max_connections: int = Field(default=1024, ge=1, le=1_000_000)
    """Open HTTP connections; at the cap the oldest idle one is reset for a new one."""
    http_max_connections_per_ip: int = Field(default=256, ge=1, le=1_000_000)
    http_max_requests_per_connection: int = Field(default=10_000, ge=1, le=1 << 30)
    http_header_timeout: float = Field(default=10.0, gt=0, le=3600)
    """Seconds a connection may take to send a request's headers (also the keep-alive idle
    time between requests)."""
    http_body_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a request may take to send its body (408 after)."""
    admission_backlog_s: float = Field(default=1.5, gt=0, le=3600)
    """Clients' transactions are refused (503 BUSY, Retry-After) while more wait in the mempool
    than the chain commits in this many seconds at its measured saturated rate (never below
    two full blocks): a tx taken waits about this long at most, instead of the timers running
    out and the validators changing view under an ever longer queue."""
    call_gas_limit: int = Field(default=2_000_000, ge=1, le=1_000_000_000)
    """Gas of one ``POST /v1/call`` view (a transaction may have up to genesis max_tx_gas)."""
    call_workers: int = Field(default=1, ge=1, le=64)
    """Views running at once, each on its own thread (the loop keeps its share of the GIL)."""
    call_queue: int = Field(default=8, ge=0, le=10_000)
    """Views waiting for a worker; beyond it 503 BUSY."""
    call_rate: float = Field(default=20.0, gt=0, le=1e6)
    """Views per second per client address (token bucket; 429 RATE_LIMITED beyond)."""
    call_burst: float = Field(default=40.0, ge=1, le=1e6)
    sync_interval_ms: int = Field(default=1000, ge=50, le=600_000)
    shutdown_timeout: float = Field(default=10.0, gt=0, le=600)
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    """``auto`` uses uvloop when installed."""
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_json: bool = False
    log_file: Path | None = None
    """Write the log here instead of stderr: rotated by size, and at each start (so the file
    holds this run only; earlier runs are ``<file>.1`` …)."""
    log_max_bytes: int = Field(default=10 << 20, ge=4096, le=1 << 40)
    log_backups: int = Field(default=5, ge=1, le=1000)
    prune_keep_blocks: int | None = Field(default=None, ge=16, le=1 << 62)
    """Keep the bodies (txs, receipts) of the last N blocks only; older ones are dropped,
    their headers and certificates kept (None: keep everything). Export archives first
    (``chainnode archive export``)."""
    archives: str = Field(default="", max_length=1024)
    """Where archives of pruned blocks are (a URL or a path): said in 410 PRUNED answers."""
    commit_thread_min_txs: int = Field(default=48, ge=0, le=1_000_000)
    """A block of at least this many txs is written on the commit thread (the event loop
    serves clients meanwhile), and consensus WAL appends go there too while the last block
    was that large; smaller blocks and quiet times commit in line: a thread hand-off costs
    latency (a few ms on a busy machine) that only a larger write pays back. 0: always.
    Measured, 4 validators on 2 cores, 90 s at 2,000 tx/s (blocks of ~100-250 txs), p99 of
    six runs at 48: 1.14-3.38 s, median 1.7 s (two runs stalled at the first state
    checkpoint); of two at 256: 2.96 and 3.44 s, each with ~5,000 txs refused BUSY (the
    in-line fsyncs held the event loop). At 0, light-load p50 rose ~1.6 ms."""
    proposal_batch_txs: int = Field(default=512, ge=0, le=1_000_000)
    """With ``proposal_batch_wait_ms``: under load (at the chain's recent commit rate, the
    wait would bring at least a quarter of this many txs), the primary proposes once this
    many wait, or that long after the last commit, whichever comes first. 0: never wait (but
    after a full block, the genesis ``block_interval_ms`` as ever). See
    ``chainnode.node.batching``."""
    proposal_batch_wait_ms: int = Field(default=0, ge=0, le=60_000)
    """Under load, the longest a primary waits after a commit for ``proposal_batch_txs``
    (0, the default: propose as soon as a transaction waits). Larger blocks cost each
    validator less CPU per transaction (every block costs a fixed few ms) and each
    transaction more latency: worth it where validators are short of CPU (several on one
    host), not where they have cores to spare; ``chainnode.node.batching`` has the figures."""
    storage_memtable_mib: int | None = Field(default=None, ge=1, le=4096)
    """LevelDB's memtable (MiB; None: ``storage.WRITE_BUFFER``, 32 MiB), one for each of the
    store's two databases (the main one, the bodies'). A full one is written out and synced at
    once, and the block writes wait behind it: larger means fewer flushes and less compaction,
    but longer stalls (validators sharing one disk stall together)."""
    storage_background_nice: int = Field(default=19, ge=0, le=19)
    """Nice value of LevelDB's flushes and compactions (one background thread per process;
    0: the main thread's priority). They only need to keep up on average, and at the main
    thread's priority they take seconds of CPU from consensus and execution at once."""
    snapshot_keep: int = Field(default=2, ge=1, le=1000)
    """State snapshots (one per checkpoint of the genesis' snapshot_interval) kept under
    data_dir/snapshots and served to joining nodes: the newest this many."""
    sync: Literal["replay", "snapshot"] = "replay"
    """How a node whose data directory holds no chain yet gets it: ``replay`` every block from
    genesis, or ``snapshot``: install the newest certified state snapshot its peers serve
    (checked against genesis), then follow by block sync. Ignored once the directory holds a
    chain."""
    snapshot_sync_timeout: float = Field(default=120.0, gt=0, le=86_400)
    """Seconds ``sync = snapshot`` waits for peers offering a snapshot before giving up."""
    event_queue_blocks: int = Field(default=64, ge=1, le=100_000)
    """Blocks an /v1/events consumer may lag behind before it is dropped."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("api_host", "p2p_host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not v or len(v) > 253 or any(c.isspace() for c in v):
            raise ValueError("a host name or IP address")
        return v

    @model_validator(mode="after")
    def _tls_files(self) -> NodeConfig:
        if (self.api_tls_cert is None) != (self.api_tls_key is None):
            raise ValueError("api_tls_cert and api_tls_key: both or neither")
        if self.api_client_ca is not None and self.api_tls_cert is None:
            raise ValueError("api_client_ca needs TLS (api_tls_cert and api_tls_key)")
        return self

    @property
    def observer_keys(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(k.removeprefix("0x")) for k in self.observers)

    @property
    def api_scheme(self) -> str:
        return "https" if self.api_tls_cert is not None else "http"

    def resolve(self, base: Path) -> NodeConfig:
        """Paths relative to ``base`` (the config file's directory) made absolute."""
        fix = {
            name: (base / p) if not p.is_absolute() else p
            for name in (
                "data_dir",
                "genesis",
                "node_key",
                "node_key_password_file",
                "log_file",
                "api_tls_cert",
                "api_tls_key",
                "api_client_ca",
            )
            for p in [getattr(self, name)]
            if p is not None
        }
        return self.model_copy(update=fix)

    def to_toml(self) -> str:
        data = self.model_dump(mode="json", exclude_none=True)
        return tomli_w.dumps(data)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in NodeConfig.model_fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        annotation = str(field.annotation)
        if "list" in annotation or "PeerConfig" in annotation:
            try:
                out[name] = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()}: not valid JSON ({e})") from None
        else:
            out[name] = raw
    return out


def _describe(e: ValidationError, source: str, from_env: set[str]) -> str:
    lines = [f"invalid configuration in {source}:"]
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        root = str(err["loc"][0]) if err["loc"] else ""
        where = f" (from {ENV_PREFIX}{root.upper()})" if root in from_env else ""
        lines.append(f"  {loc}{where}: {err['msg']}")
    return "\n".join(lines)


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Read, override from the environment, validate and resolve one node's config file."""
    path = Path(path)
    env = os.environ if env is None else env
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found (create one with `{command('network', 'init')}`)"
        ) from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    overrides = _env_overrides(env)
    data.update(overrides)
    try:
        cfg = NodeConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, str(path), set(overrides))) from None
    return cfg.resolve(path.resolve().parent)


def api_limits(cfg: NodeConfig) -> Limits:
    return Limits(
        max_batch_txs=cfg.max_batch_txs,
        max_wait_seconds=cfg.max_wait_seconds,
        body_timeout=cfg.http_body_timeout,
        call_gas_limit=cfg.call_gas_limit,
        call_workers=cfg.call_workers,
        call_queue=cfg.call_queue,
        call_rate=cfg.call_rate,
        call_burst=cfg.call_burst,
    )


def server_limits(cfg: NodeConfig) -> ServerLimits:
    return ServerLimits(
        max_connections=cfg.http_max_connections,
        max_connections_per_ip=cfg.http_max_connections_per_ip,
        max_requests_per_connection=cfg.http_max_requests_per_connection,
        header_timeout=cfg.http_header_timeout,
    )


def write_config(path: Path, cfg: NodeConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg.to_toml(), encoding="utf-8")
