"""The node process: builds a validator from its parts, starts them in order, stops them.

``run(config)`` opens the ledger (recovering from disk), starts p2p, the consensus driver and
the HTTP API, and stops them in reverse order on SIGTERM/SIGINT within ``shutdown_timeout``
(hypercorn's run.py is the model). The parts, each with one job:

- :class:`~chainnode.node.lifecycle.TaskGroup`: background tasks and the fatal-error latch;
- :class:`~chainnode.node.consensus_host.ConsensusHost`: the driver's host (proposals, commit,
  block sync, faults) and the consensus inputs from peers;
- :class:`~chainnode.node.admission.Admission`: client and gossip transactions into the mempool;
- :class:`~chainnode.node.programs.ProgramLoader`: contract programs translated off the loop
  before the blocks that run them execute (for admission and for consensus);
- :mod:`~chainnode.node.validator_peers`: who p2p dials and admits;
- :class:`~chainnode.node.http_backend.NodeBackend`: what the HTTP API reads and calls.

:class:`Seams` is the only way to change a node's behaviour from outside (the chaos launcher
``bench.chaos.node`` uses it); ``chainnode start`` passes none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import ssl
import sys
from collections.abc import Callable, Coroutine

from aiohttp import web

from chainnode.api.app import make_app
from chainnode.api.metrics import NodeMetrics
from chainnode.api.server import ConnectionGuard
from chainnode.api.server import serve as serve_http
from chainnode.api.tls import client_cert_middleware, server_context
from chainnode.ledger.ledger import Ledger
from chainnode.ledger.mempool import LedgerObserver
from chainnode.ledger.stages import StageClock
from chainnode.model.codes import LedgerError
from chainnode.model.genesis import Genesis
from chainnode.model.keys import KeyFileError, load_private_key, read_password_file
from chainnode.model.types import Block, Receipt
from chainnode.node.admin import SOCKET_NAME, AdminServer
from chainnode.node.admission import Admission
from chainnode.node.backlog import Backlog
from chainnode.node.blocksync import KIND as SYNC_KIND
from chainnode.node.compact import KIND as TXS_KIND
from chainnode.node.config import ConfigError, NodeConfig, api_limits, server_limits
from chainnode.node.consensus_glue import make_replica, sm2_signer
from chainnode.node.consensus_host import ConsensusHost, SyncFilter, TxsFilter, height_note
from chainnode.node.driver import CONSENSUS_CHANNEL, Transport
from chainnode.node.http_backend import NodeBackend
from chainnode.node.lifecycle import TaskGroup, tune_gc
from chainnode.node.logs import setup_logging
from chainnode.node.ops import NodeOps
from chainnode.node.programs import ProgramLoader
from chainnode.node.proposals import BlockCache, ProposalCheck
from chainnode.node.snapshot_sync import SnapshotSyncError, holds_chain, join
from chainnode.node.snapshot_wire import SnapshotFilter
from chainnode.node.snapshot_wire import handlers as snapshot_handlers
from chainnode.node.validator_peers import allowed_keys, initial_peers, push_validator_set
from chainnode.node.waiters import ReceiptWaiters
from chainnode.node.wal import WriteAheadLog
from consensus.messages import Message
from crypto import sm2
from p2p import Network, P2PConfig
from storage.background import lower_background_priority, thread_nice

log = logging.getLogger("chainnode.node")
PRUNE_EVERY = 16  # heights between prune passes (when prune_keep_blocks is set)


class StartupError(Exception):
    """The node cannot start; the message says what to fix."""


@dataclasses.dataclass(frozen=True, slots=True)
class Seams:
    """Explicit points where a launcher may change a node; all empty for ``chainnode start``.

    ``transport(node)``: what the consensus driver sends through (default: the p2p network);
    ``sync_filter(node)``: a filter over our block-sync answers; ``txs_filter(node)``: one
    over our answers to peers' tx fetches (``chainnode.node.compact``); ``snapshot_filter(node)``:
    one over our snapshot-sync answers; ``routes(node, app)``: extra
    HTTP routes; ``on_send(node)``: called with every message the consensus core hands out
    for sending, as it produced it (the chaos checks collect them to find equivocation).
    Each is called once, while the node starts.
    """

    transport: Callable[[Node], Transport] | None = None
    on_send: Callable[[Node], Callable[[Message], None]] | None = None
    sync_filter: Callable[[Node], SyncFilter] | None = None
    txs_filter: Callable[[Node], TxsFilter] | None = None
    snapshot_filter: Callable[[Node], SnapshotFilter] | None = None
    routes: Callable[[Node, web.Application], None] | None = None


def load_identity(cfg: NodeConfig) -> tuple[Genesis, sm2.PrivateKey]:
    try:
        genesis = Genesis.load(cfg.genesis)
    except LedgerError as e:
        raise StartupError(f"genesis {cfg.genesis}: {e.message}") from None
    try:
        password = (
            read_password_file(cfg.node_key_password_file) if cfg.node_key_password_file else None
        )
        suite_name, priv = load_private_key(cfg.node_key, password)
    except KeyFileError as e:
        raise StartupError(str(e)) from None
    if suite_name != "sm":
        raise StartupError(f"{cfg.node_key}: a node key is an SM2 key (chainnode keygen)")
    return genesis, sm2.PrivateKey.from_bytes(priv)


def api_tls(cfg: NodeConfig) -> ssl.SSLContext | None:
    """The API's TLS context from the config (None: plain HTTP)."""
    if cfg.api_tls_cert is None or cfg.api_tls_key is None:
        return None
    try:
        return server_context(
            cfg.api_tls_cert, cfg.api_tls_key, cfg.api_client_ca, cfg.api_client_auth == "all"
        )
    except (OSError, ssl.SSLError) as e:
        raise StartupError(
            f"API TLS (api_tls_cert {cfg.api_tls_cert}, api_tls_key {cfg.api_tls_key}, "
            f"api_client_ca {cfg.api_client_ca}): {e}"
        ) from None


def open_ledger(
    cfg: NodeConfig, genesis: Genesis, observer: LedgerObserver, stages: StageClock
) -> Ledger:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    lower_storage_priority(cfg.storage_background_nice)
    mib = cfg.storage_memtable_mib
    try:
        return Ledger.open(
            cfg.data_dir,
            genesis,
            observer=observer,
            stages=stages,
            snapshot_keep=cfg.snapshot_keep,
            write_buffer_size=None if mib is None else mib << 20,
        )
    except Exception as e:  # noqa: BLE001  # storage or ledger: a locked or foreign data dir
        raise StartupError(f"cannot open the chain in {cfg.data_dir}: {e}") from None


@functools.cache
def lower_storage_priority(nice: int) -> None:
    """LevelDB's background work at `nice` (see storage.background), said in the log once;
    before the process opens its first store (snapshot join, then the ledger)."""
    if nice == 0:
        return
    tid = lower_background_priority(nice)
    if tid is None:
        log.warning(
            "LevelDB flushes and compactions run at the node's CPU priority: could not lower"
            " them to nice %d (a store was opened in this process before, or no /proc)",
            nice,
        )
    else:
        log.info(
            "LevelDB flushes and compactions run at nice %s (thread %d)", thread_nice(tid), tid
        )


class Node:
    """One validator: the composition root of the parts listed in the module docstring."""

    def __init__(self, cfg: NodeConfig, seams: Seams | None = None) -> None:
        self.cfg = cfg
        self.seams = seams or Seams()
        self.genesis, self.key = load_identity(cfg)
        self.public_key = self.key.public_key().to_bytes()
        self.chain_id = self.genesis.chain_id.encode()
        metrics = NodeMetrics(cfg.node_id, self.genesis.chain_id)
        self.ledger = open_ledger(cfg, self.genesis, observer=metrics, stages=metrics.stages)
        self.tasks = TaskGroup()
        self.started = False
        self.waiters = ReceiptWaiters(self.ledger.receipt)
        self._http_guard = ConnectionGuard(server_limits(cfg))
        self.net = self._network()
        self.blocks = BlockCache()
        self.programs = ProgramLoader()
        arrived = asyncio.Event()
        self.host = self._consensus_host(arrived)
        self.tasks.on_fatal(self.host.close)
        self.admission = Admission(
            self.ledger,
            self.net,
            self.tasks.spawn,
            accepting=lambda: self.host.running,
            pending_changed=self.host.pending_work,
            arrived=arrived,
            programs=self.programs,
            backlog=Backlog(cfg.admission_backlog_s, 2 * self.genesis.consensus.max_block_txs),
        )
        self.host.recent = self.admission.recent  # our clients' txs go in our proposals
        self.backend = NodeBackend(
            cfg.node_id,
            self.ledger,
            self.net,
            self.host,
            self.admission,
            self.waiters,
            lambda: self.started,
        )
        self._api: web.AppRunner | None = None
        self.admin = AdminServer(cfg.data_dir / SOCKET_NAME, self.ledger)  # backups
        self._pruning = False
        self.ops = NodeOps(self, metrics)  # metrics, event stream, proof bundles, JSON logs

    def _network(self) -> Network:
        validators = self.ledger.validators_at(self.ledger.height + 1)
        return Network(
            P2PConfig(
                chain_id=self.chain_id,
                node_key=self.key,
                host=self.cfg.p2p_host,
                port=self.cfg.p2p_port,
                peers=initial_peers(self.cfg, validators, self.public_key),
                allowed=allowed_keys(validators, self.cfg.observer_keys),
            )
        )

    def _consensus_host(self, tx_arrived: asyncio.Event) -> ConsensusHost:
        return ConsensusHost(
            genesis=self.genesis,
            public_key=self.public_key,
            ledger=self.ledger,
            net=self.net,
            replica=make_replica(
                self.genesis,
                self.public_key,
                sm2_signer(self.key),
                ProposalCheck(self.ledger, self.blocks),
            ),
            # a torn tail cut now is marked with the height it hides records of (our next one)
            wal=WriteAheadLog(
                self.cfg.data_dir / "consensus.wal", height_note(self.ledger.height + 1)
            ),
            blocks=self.blocks,
            programs=self.programs,
            tx_arrived=tx_arrived,
            spawn=self.tasks.spawn,
            die=self.tasks.die,
            on_validators=lambda infos: push_validator_set(
                self.net, infos, self.public_key, self.cfg.observer_keys
            ),
            commit_thread_min_txs=self.cfg.commit_thread_min_txs,
            batch_txs=self.cfg.proposal_batch_txs,
            batch_wait_ms=self.cfg.proposal_batch_wait_ms,
        )

    def set_observers(self, observers: list[str]) -> None:
        """Replace the admitted observers (``chainnode start`` on SIGHUP, from the config file)
        without a restart: the allow-list becomes the set in force plus these, at once and on
        every later change of the set."""
        self.cfg = self.cfg.model_copy(update={"observers": list(observers)})
        validators = self.ledger.validators_at(self.ledger.height + 1)
        self.net.set_allowed(allowed_keys(validators, self.cfg.observer_keys))
        log.info("observers reloaded: %d admitted", len(self.cfg.observers))

    @property
    def view(self) -> int:
        return self.host.view

    @property
    def role(self) -> str:
        return self.host.role

    def _on_commit(self, block: Block, receipts: list[Receipt]) -> None:
        self.waiters.committed(receipts)
        self.admission.committed(len(block.txs), self.genesis.consensus.max_block_txs)
        keep = self.cfg.prune_keep_blocks
        if keep is not None and not self._pruning and block.height % PRUNE_EVERY == 0:
            self._pruning = True
            self.tasks.spawn(self._prune(keep))
        # After the current step batch, so consensus sees Executed before the new oldest tx.
        asyncio.get_running_loop().call_soon(self.admission.report_pending)

    async def _prune(self, keep: int) -> None:
        """Prune on a worker thread (one pass of synced writes per 256 heights; commits go on)."""
        try:
            while True:
                n = await asyncio.to_thread(self.ledger.prune, keep)
                if n == 0 or not self.started:
                    break
                log.info("pruned %d block bodies (kept from height %d)", n, self.ledger.prune_floor)
        finally:
            self._pruning = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.tasks.bind(loop)
        self.ledger.stages.claim_event_loop()
        seams = self.seams
        host = self.host
        self.net.on_message(CONSENSUS_CHANNEL, host.on_consensus)
        self.net.on_txs(self.admission.on_gossip_txs)
        self.net.on_request(SYNC_KIND, host.serve_blocks)
        self.net.on_request(TXS_KIND, host.serve_txs)
        lag = self.genesis.consensus.checkpoint_lag
        snap_filter = seams.snapshot_filter(self) if seams.snapshot_filter else None
        for kind, handler in snapshot_handlers(self.ledger, lag, snap_filter).items():
            self.net.on_request(kind, handler)
        self.net.on_peer(host.on_peer)
        self.net.on_peer(self.admission.on_peer)
        self.ledger.on_commit(self._on_commit)
        host.after_step.append(self.ops.after_step)
        if seams.sync_filter is not None:
            host.sync_filter = seams.sync_filter(self)
        if seams.txs_filter is not None:
            host.txs_filter = seams.txs_filter(self)
        host.start(
            seams.transport(self) if seams.transport else self.net,
            loop,
            seams.on_send(self) if seams.on_send else None,
        )
        try:
            await self.net.start()
        except OSError as e:
            raise StartupError(
                f"cannot listen for p2p on {self.cfg.p2p_host}:{self.cfg.p2p_port}: {e.strerror}"
                " (another node running? change p2p_port in the config file,"
                " or set CHAINNODE_P2P_PORT)"
            ) from None
        await self._start_api()
        try:
            self.admin.start()
        except OSError as e:
            raise StartupError(f"cannot create the admin socket {self.admin.path}: {e}") from None
        self.started = True
        self.tasks.spawn(host.status_loop(self.cfg.sync_interval_ms / 1000))
        log.info(
            "node %s up (%s loop) as %s: chain %s height %d, API %s://%s:%d, p2p %s:%d",
            self.cfg.node_id,
            type(loop).__module__.split(".")[0],
            self.host.role,
            self.genesis.chain_id,
            self.ledger.height,
            self.cfg.api_scheme,
            self.cfg.api_host,
            self.cfg.api_port,
            self.cfg.p2p_host,
            self.net.port,
        )

    async def _start_api(self) -> None:
        cfg = self.cfg
        tls = api_tls(cfg)
        writes_only = cfg.api_client_ca is not None and cfg.api_client_auth == "writes"
        app = make_app(
            self.backend,
            max_body_bytes=cfg.max_body_bytes,
            limits=api_limits(cfg),
            middlewares=[self._http_guard.middleware]
            + ([client_cert_middleware()] if writes_only else []),
            archives=cfg.archives,
            stages=self.ledger.stages,
        )
        self.ops.install(app)
        if self.seams.routes is not None:
            self.seams.routes(self, app)
        try:
            self._api, _ = await serve_http(app, cfg.api_host, cfg.api_port, self._http_guard, tls)
        except OSError as e:
            raise StartupError(
                f"cannot serve HTTP on {cfg.api_host}:{cfg.api_port}: {e.strerror}"
                " (another node running? change api_port in the config file,"
                " or set CHAINNODE_API_PORT)"
            ) from None

    async def wait_fatal(self) -> BaseException:
        return await self.tasks.wait_fatal()

    async def stop(self) -> None:
        """Stop taking work, then close in reverse order of start; the ledger closes last."""
        self.started = False
        self.host.close()
        self.tasks.cancel_all()
        self.ops.close()
        if self._api is not None:
            await self._api.cleanup()
        await self.net.stop()
        await self.tasks.drain()
        await asyncio.to_thread(self.admin.close)  # before the ledger: snapshots read it
        self.admission.close()
        self.programs.close()
        self.host.wal.close()
        self.ledger.close()
        log.info("node %s stopped at height %d", self.cfg.node_id, self.ledger.height)


def _reload_observers(node: Node, reload: Callable[[], NodeConfig]) -> None:
    """SIGHUP: read the config file again and apply its ``observers`` (only those: every
    other setting needs a restart); a file that no longer loads changes nothing."""
    try:
        fresh = reload()
    except ConfigError as e:
        log.error("SIGHUP: config not reloaded, observers unchanged: %s", e)
        return
    node.set_observers(fresh.observers)


async def join_by_snapshot(cfg: NodeConfig) -> None:
    """``sync = "snapshot"``: on a data directory without a chain, install the newest
    certified state snapshot the peers offer (:mod:`chainnode.node.snapshot_sync`) before the
    node starts; on one that holds a chain already, say so and follow it as usual."""
    lower_storage_priority(cfg.storage_background_nice)
    if holds_chain(cfg.data_dir):
        log.warning(
            "sync = snapshot ignored: %s already holds a chain (snapshot sync only starts a "
            "data directory without one); following it by block sync",
            cfg.data_dir,
        )
        return
    genesis, key = load_identity(cfg)
    public_key = key.public_key().to_bytes()
    net = Network(
        P2PConfig(
            chain_id=genesis.chain_id.encode(),
            node_key=key,
            host=cfg.p2p_host,
            port=cfg.p2p_port,
            peers=initial_peers(cfg, genesis.validators, public_key),
            allowed=allowed_keys(genesis.validators, cfg.observer_keys),
        )
    )
    log.info("joining by snapshot: %s holds no chain yet", cfg.data_dir)
    try:
        await join(net, cfg.data_dir, genesis, cfg.snapshot_sync_timeout)
    except OSError as e:
        raise StartupError(f"snapshot sync: {e}") from None
    except SnapshotSyncError as e:
        raise StartupError(f"snapshot sync: {e}") from None


async def _until_stopped(work: Coroutine[object, object, None], stop: asyncio.Event) -> bool:
    """Run ``work`` unless a signal comes first (then cancel it): whether it finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False
    task.result()  # its StartupError, if any
    return True


async def serve_node(
    cfg: NodeConfig, seams: Seams | None = None, reload: Callable[[], NodeConfig] | None = None
) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a fatal error (exit 1); with ``reload``, SIGHUP
    re-reads the admitted observers."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if cfg.sync == "snapshot" and not await _until_stopped(join_by_snapshot(cfg), stop):
        log.info("stopped while joining by snapshot")
        return 0
    node = Node(cfg, seams)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, _reload_observers, node, reload)
    code = 0
    try:
        await node.start()
        tune_gc()
        stopper = asyncio.ensure_future(stop.wait())
        fatal = asyncio.ensure_future(node.wait_fatal())
        done, _ = await asyncio.wait({stopper, fatal}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        fatal.cancel()
        if fatal in done and not fatal.cancelled():
            code = 1
        log.info("stopping (%s)", "fatal error" if code else "signal")
    finally:
        try:
            await asyncio.wait_for(node.stop(), cfg.shutdown_timeout)
        except TimeoutError:
            log.error("shutdown took longer than %.0fs; exiting anyway", cfg.shutdown_timeout)
            code = code or 1
    return code


def run(
    cfg: NodeConfig, seams: Seams | None = None, reload: Callable[[], NodeConfig] | None = None
) -> None:
    """Entry point of ``chainnode start`` (and, with seams, of ``bench.chaos.node``)."""
    setup_logging(
        cfg.log_level, cfg.log_json, cfg.node_id, cfg.log_file, cfg.log_max_bytes, cfg.log_backups
    )
    runner: Callable[[Coroutine[object, object, int]], int] = asyncio.run
    if cfg.event_loop != "asyncio":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            if cfg.event_loop == "uvloop":
                raise StartupError("event_loop = uvloop, but uvloop is not installed") from None
    code = runner(serve_node(cfg, seams, reload))
    if code:
        sys.exit(code)
