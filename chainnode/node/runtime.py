"""The node process: a thin asyncio shell around the consensus core, the ledger and p2p.

``run(config)`` opens the ledger (recovering from disk), starts p2p, the consensus driver and
the HTTP API in one task group, and stops them in reverse order on SIGTERM/SIGINT within
``shutdown_timeout`` (hypercorn's run.py is the model). Everything runs on the event loop
thread except signature verification of submitted transactions, which runs in a worker thread
(OpenSSL releases the GIL) and only fills the mempool's verified-signature cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from chainnode.api.app import make_app
from chainnode.api.backend import Unavailable
from chainnode.ledger.ledger import Ledger
from chainnode.ledger.pending import OldestPending
from chainnode.model.codes import LedgerError
from chainnode.model.genesis import Genesis
from chainnode.model.keys import KeyFileError, load_private_key
from chainnode.model.types import Block, Receipt, Transaction
from chainnode.node import testhooks
from chainnode.node.blocksync import KIND as SYNC_KIND
from chainnode.node.blocksync import SyncError, decode_response, encode_request, serve
from chainnode.node.config import NodeConfig
from chainnode.node.consensus_glue import make_replica, sm2_signer
from chainnode.node.driver import CONSENSUS_CHANNEL, Driver
from chainnode.node.logs import setup_logging
from chainnode.node.ops import NodeOps
from chainnode.node.waiters import ReceiptWaiters
from chainnode.node.wal import WriteAheadLog
from consensus import events as E
from consensus.certificate import encode_certificate
from consensus.errors import ConsensusError
from consensus.messages import Status, decode_message, encode_message
from consensus.types import Proposal
from crypto import sm2, sm3
from crypto.batch import INLINE_MAX
from p2p import Network, P2PConfig

log = logging.getLogger("chainnode.node")

WAL_COMPACT_EVERY = 32
MAX_CACHED_BLOCKS = 64
MAX_FAULT_KINDS = 4096
_DIGITS = re.compile(r"\d+")
#: A proposal stamped further than this ahead of our clock is refused: a primary must not push
#: the chain's time (and every later block's lower bound) into the future.
MAX_CLOCK_AHEAD_MS = 15_000


def timestamp_acceptable(timestamp_ms: int, now_ms: int) -> bool:
    return timestamp_ms <= now_ms + MAX_CLOCK_AHEAD_MS


MAX_GOSSIP_INFLIGHT = 64
VERIFY_THREADS = 4  # batches verifying at once (each spread over the process pool)


class StartupError(Exception):
    """The node cannot start; the message says what to fix."""


class Node:
    """One validator: ledger + p2p + consensus driver + HTTP API."""

    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        try:
            self.genesis = Genesis.load(cfg.genesis)
        except LedgerError as e:
            raise StartupError(f"genesis {cfg.genesis}: {e.message}") from None
        try:
            suite_name, priv = load_private_key(cfg.node_key)
        except KeyFileError as e:
            raise StartupError(str(e)) from None
        if suite_name != "sm":
            raise StartupError(f"{cfg.node_key}: a node key is an SM2 key (chainnode keygen)")
        self.key = sm2.PrivateKey.from_bytes(priv)
        self.public_key = self.key.public_key().to_bytes()
        self.chain_id = self.genesis.chain_id.encode()
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.ledger = Ledger.open(cfg.data_dir, self.genesis)
        except Exception as e:  # storage/ledger errors: a locked or foreign data dir
            raise StartupError(f"cannot open the chain in {cfg.data_dir}: {e}") from None
        self.wal = WriteAheadLog(cfg.data_dir / "consensus.wal")
        self.waiters = ReceiptWaiters(self.ledger.receipt)
        mempool = self.ledger.mempool
        self.pending = OldestPending(mempool.has, lambda: (tx.hash for tx in mempool.pending()))
        self._blocks: dict[bytes, Block] = {}
        self._fetched_digests: dict[bytes, None] = {}  # blocks that came by sync (bounded)
        # Several batches verify at once so the process pool of crypto.verify_batch stays fed.
        self._verify_pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify")
        self._tx_arrived = asyncio.Event()
        self._propose_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._last_commit = time.monotonic()
        self._commits_since_compaction = 0
        self._fatal: asyncio.Future[BaseException] | None = None
        self._api: web.AppRunner | None = None
        self.started = False
        self._peer_heights: dict[bytes, int] = {}
        self._faults: dict[tuple[bytes, str], int] = {}
        self._gossip_inflight = 0
        self._stopping = False
        self.view = 0
        self.api_port = cfg.api_port
        validators = self.ledger.validators_at(self.ledger.height + 1)
        self._validators = tuple(v.public_key for v in validators)
        peers = [
            (v.public_key, *_split_addr(v.p2p_addr))
            for v in validators
            if v.public_key != self.public_key
        ]
        if cfg.peers is not None:
            peers = [
                (bytes.fromhex(p.public_key.removeprefix("0x")), p.host, p.port) for p in cfg.peers
            ]
        self.net = Network(
            P2PConfig(
                chain_id=self.chain_id,
                node_key=self.key,
                host=cfg.p2p_host,
                port=cfg.p2p_port,
                peers=peers,
                allowed=set(self._validators),
            )
        )
        # The consensus driver's transport: the p2p network itself, or (tests only) a wrapper
        # that can be told to lie (chainnode.node.testhooks).
        self.transport: Any = self.net
        self._byzantine: testhooks.ByzantineTransport | None = None
        if testhooks.enabled():
            self._byzantine = testhooks.ByzantineTransport(
                self.net,
                self.chain_id,
                self.public_key,
                sm2_signer(self.key),
                self._alternative_proposal,
                CONSENSUS_CHANNEL,
            )
            self.transport = self._byzantine
            log.warning("test hooks enabled (%s=1): never in production", testhooks.ENV_FLAG)
        self.replica = make_replica(
            self.genesis, self.public_key, sm2_signer(self.key), self._validate_proposal
        )
        self.driver: Driver | None = None
        self.ops = NodeOps(self)  # metrics, event stream, proof bundles, JSON logs

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._fatal = loop.create_future()
        self.net.on_message(CONSENSUS_CHANNEL, self._on_consensus)
        self.net.on_txs(self._on_gossip_txs)
        self.net.on_request(SYNC_KIND, self._serve_blocks)
        self.net.on_peer(self._on_peer)
        self.ledger.on_commit(self._on_commit)
        # The core starts before the transport: whatever it sends now reaches no one, and each
        # peer gets our current-height messages from the WAL when it connects (_on_peer).
        self.driver = Driver(
            self.replica, self.wal, self.transport, self, loop, on_step=self._after_step
        )
        records = tuple(_decode_records(self.wal.records()))
        self.driver.step(
            E.Start(self.ledger.height + 1, self.ledger.head_hash, self._validators, records)
        )
        try:
            await self.net.start()
        except OSError as e:
            raise StartupError(
                f"cannot listen for p2p on {self.cfg.p2p_host}:{self.cfg.p2p_port}: {e.strerror}"
                " (another node running? change p2p_port)"
            ) from None
        app = make_app(
            self,
            max_body_bytes=self.cfg.max_body_bytes,
            max_batch_txs=self.cfg.max_batch_txs,
            max_wait_seconds=self.cfg.max_wait_seconds,
        )
        self.ops.install(app)
        if self._byzantine is not None:
            testhooks.install(app, self, self._byzantine)
        self._api = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._api.setup()
        site = web.TCPSite(self._api, self.cfg.api_host, self.cfg.api_port, reuse_address=True)
        try:
            await site.start()
        except OSError as e:
            raise StartupError(
                f"cannot serve HTTP on {self.cfg.api_host}:{self.cfg.api_port}: {e.strerror}"
                " (another node running? change api_port)"
            ) from None
        self.started = True
        self._spawn(self._status_loop())
        log.info(
            "node %s up (%s loop): chain %s height %d, API http://%s:%d, p2p %s:%d",
            self.cfg.node_id,
            type(asyncio.get_running_loop()).__module__.split(".")[0],
            self.genesis.chain_id,
            self.ledger.height,
            self.cfg.api_host,
            self.cfg.api_port,
            self.cfg.p2p_host,
            self.net.port,
        )

    async def wait_fatal(self) -> BaseException:
        assert self._fatal is not None
        return await self._fatal

    async def stop(self) -> None:
        """Stop taking work, then close in reverse order of start; the ledger closes last."""
        self.started = False
        self._stopping = True
        if self.driver is not None:
            self.driver.close()
        if self._propose_task is not None:
            self._propose_task.cancel()
        for t in list(self._tasks):
            t.cancel()
        self.ops.close()
        if self._api is not None:
            await self._api.cleanup()
        await self.net.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._verify_pool.shutdown(wait=True, cancel_futures=True)
        self.wal.close()
        self.ledger.close()
        log.info("node %s stopped at height %d", self.cfg.node_id, self.ledger.height)

    def _die(self, exc: BaseException) -> None:
        """Our bug or a broken disk: stop the process loudly rather than run on half-applied."""
        log.critical("fatal: %r", exc, exc_info=exc)
        if self.driver is not None:
            self.driver.close()  # no further steps on a core whose actions did not all happen
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_result(exc)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._stopping:
            return
        if (exc := task.exception()) is not None:
            self._die(exc)

    def _step(self, event: Any) -> None:
        if self.driver is None:
            return
        try:
            self.driver.step(event)
        except Exception as e:
            self._die(e)

    # ---- consensus inputs -------------------------------------------------------------------

    def _status(self) -> bytes:
        return encode_message(Status(self.ledger.height + 1))

    def _on_peer(self, peer: bytes, connected: bool) -> None:
        """A newly connected peer gets our height (whichever is behind syncs) and our own
        signed messages of the current height from the WAL: messages sent while it was
        unreachable (e.g. a proposal made before it came up) are not lost for good."""
        if not connected:
            self._peer_heights.pop(peer, None)
            return
        if self.driver is None or self.driver.closed:
            return
        self.net.send(peer, CONSENSUS_CHANNEL, self._status())
        height = self.replica.height
        for rec in _decode_records(self.wal.records()):
            if rec.height == height and rec.message.sender == self.public_key:
                self.net.send(peer, CONSENSUS_CHANNEL, encode_message(rec.message))

    async def _status_loop(self) -> None:
        """Heights also spread while the chain is idle: a restarted node finds it is behind."""
        while True:
            await asyncio.sleep(self.cfg.sync_interval_ms / 1000)
            self.net.broadcast(CONSENSUS_CHANNEL, self._status())

    def _on_consensus(self, peer: bytes, payload: bytes) -> None:
        try:
            msg = decode_message(payload)
        except ConsensusError as e:
            log.debug("bad consensus message from %s: %s", peer.hex()[:16], e)
            return
        if isinstance(msg, Status):
            self._peer_heights[peer] = msg.height
        self._step(E.MessageReceived(peer, msg))

    @property
    def syncing(self) -> bool:
        """A peer told us of a next height more than a block ahead of ours."""
        ahead = max(self._peer_heights.values(), default=0)
        return ahead > self.ledger.height + 2

    def _after_step(self) -> None:
        rep = self.replica
        if rep.view != self.view:
            log.info("height %d: view %d -> %d (%s)", rep.height, self.view, rep.view, rep.phase)
        self.view = rep.view
        self.ops.after_step(rep)

    def _validate_proposal(self, proposal: Proposal) -> bool:
        try:
            block = self._blocks.get(proposal.digest)
            if block is None:
                block = self.ledger.decode_block(proposal.payload)
            if (
                block.hash != proposal.digest
                or block.height != proposal.height
                or block.header.prev_hash != proposal.parent
            ):
                return False
            # A fetched block comes with a commit certificate (verified before this callback):
            # a quorum took its time already, our clock has no say.
            fetched = proposal.digest in self._fetched_digests
            if not fetched and not timestamp_acceptable(
                block.header.timestamp, int(time.time() * 1000)
            ):
                log.warning(
                    "rejected proposal at height %d: timestamp %d is more than %d ms ahead of ours",
                    proposal.height,
                    block.header.timestamp,
                    MAX_CLOCK_AHEAD_MS,
                )
                return False
            self.ledger.validate_block(block)
        except LedgerError as e:
            log.warning("rejected proposal at height %d: %s", proposal.height, e)
            return False
        self._remember_block(block)
        return True

    def _remember_block(self, block: Block) -> None:
        self._blocks[block.hash] = block
        while len(self._blocks) > MAX_CACHED_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        while len(self._fetched_digests) > MAX_CACHED_BLOCKS:
            del self._fetched_digests[next(iter(self._fetched_digests))]

    # ---- consensus actions (Driver host) ----------------------------------------------------

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        if self._propose_task is not None:
            self._propose_task.cancel()
        self._propose_task = self._spawn(self._propose(height, parent, view))

    async def _propose(self, height: int, parent: bytes, view: int) -> None:
        params = self.genesis.consensus
        mempool = self.ledger.mempool
        # Gather transactions for up to the block interval since the last commit, unless a
        # full block is already waiting; then wait for work (block 1 goes out at once so a
        # new chain shows it is live).
        deadline = self._last_commit + params.block_interval_ms / 1000
        while mempool.size < params.max_block_txs and (left := deadline - time.monotonic()) > 0:
            self._tx_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tx_arrived.wait(), left)
        while mempool.size == 0 and height > 1:
            self._tx_arrived.clear()
            await self._tx_arrived.wait()
        if self.ledger.height + 1 != height or self.ledger.head_hash != parent:
            return  # the chain moved on (synced) while we waited; consensus will ask again
        now = int(time.time() * 1000)
        block = self.ledger.build_block(height, view, self.public_key, now, params.max_block_txs)
        self._remember_block(block)
        proposal = Proposal(height, parent, block.hash, block.encode())
        self._step(E.ProposalReady(proposal, view))

    def commit(self, proposal: Proposal, certificate: Any) -> E.Executed:
        block = self._blocks.pop(proposal.digest, None)
        if block is None:
            block = self.ledger.decode_block(proposal.payload)
        if block.height != self.ledger.height + 1:
            raise RuntimeError(
                f"consensus committed height {block.height} on head {self.ledger.height}"
            )
        before = self._validators
        self.ledger.commit_block(block, encode_certificate(certificate))
        self._last_commit = time.monotonic()
        after = tuple(v.public_key for v in self.ledger.validators_at(block.height + 1))
        changed = None
        if after != before:
            self._validators = after
            changed = after
            self._validator_set_changed()
        self._commits_since_compaction += 1
        if self._commits_since_compaction >= WAL_COMPACT_EVERY:
            self._compact_wal(block.height)
        return E.Executed(block.height, changed)

    def _on_commit(self, block: Block, receipts: Sequence[Receipt]) -> None:
        self.waiters.committed(receipts)
        # After the current step batch, so consensus sees Executed before the new oldest tx.
        asyncio.get_running_loop().call_soon(self._report_pending)

    def _report_pending(self) -> None:
        """Tell consensus when the oldest waiting tx changes (its request timer follows it)."""
        oldest = self.pending.changed()
        if oldest is not False:
            self._step(E.PendingWork(oldest))  # type: ignore[arg-type]

    def _validator_set_changed(self) -> None:
        infos = self.ledger.validators_at(self.ledger.height + 1)
        keys = {v.public_key for v in infos}
        for v in infos:
            if v.public_key != self.public_key:
                host, port = _split_addr(v.p2p_addr)
                self.net.add_peer(v.public_key, host, port)
        self.net.set_allowed(keys)
        log.info("validator set changed: %d validators", len(keys))

    def _compact_wal(self, height: int) -> None:
        keep = [r for r in self.wal.records() if _record_height(r) > height]
        self.wal.rewrite(keep)
        self._commits_since_compaction = 0

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None:
        self._spawn(self._fetch_blocks(peer, from_height, to_height))

    async def _fetch_blocks(self, peer: bytes, lo: int, hi: int) -> None:
        fetched: list[tuple[Proposal, Any]] = []
        try:
            raw = await self.net.request(peer, SYNC_KIND, encode_request(lo, hi), timeout=10)
            for proposal, cert, block in decode_response(raw, self.ledger.decode_block, lo, hi):
                self._remember_block(block)
                self._fetched_digests[block.hash] = None
                fetched.append((proposal, cert))
        except SyncError as e:
            log.warning("block sync from %s: %s", peer.hex()[:16], e)
        except Exception as e:  # p2p errors: not connected, timeout, remote failure
            log.info("block sync from %s failed: %r", peer.hex()[:16], e)
        self._step(E.BlocksFetched(peer, tuple(fetched)))

    async def _serve_blocks(self, peer: bytes, payload: bytes) -> bytes:
        response = serve(self.ledger, payload)
        if self._byzantine is not None:
            response = self._byzantine.forge_sync(response, self._forged_block)
        return response

    # ---- fault injection (tests only: chainnode.node.testhooks) ----------------------------------

    def _alternative_proposal(self, pp: Any, later_ms: int) -> Proposal | None:
        """Another block for the height of our PRE-PREPARE, stamped ``later_ms`` later."""
        block = self._blocks.get(pp.digest)
        if block is None:
            return None
        try:
            alt = self.ledger.build_block(
                block.height, block.header.view, self.public_key, block.header.timestamp + later_ms
            )
        except LedgerError:
            return None
        self._remember_block(alt)
        return Proposal(alt.height, pp.proposal.parent, alt.hash, alt.encode())

    def _forged_block(self, raw: bytes) -> bytes:
        block = self.ledger.decode_block(raw)
        header = dataclasses.replace(block.header, timestamp=block.header.timestamp + 1)
        return Block(header, block.txs).encode()

    def fault(self, peer: bytes, reason: str) -> None:
        """Log a misbehaving peer: the 1st, 2nd, 4th, 8th... fault of each kind, not a flood.

        Counted per (peer, kind of fault), so that a new kind of misbehaviour is always logged
        the first time, however many faults of another kind came before it."""
        key = (peer, _DIGITS.sub("#", reason))
        if key not in self._faults and len(self._faults) >= MAX_FAULT_KINDS:
            self._faults.clear()
        n = self._faults[key] = self._faults.get(key, 0) + 1
        if n & (n - 1) == 0:
            log.warning("peer %s misbehaved (%d times): %s", peer.hex()[:16], n, reason)

    # ---- transactions -----------------------------------------------------------------------

    def _on_gossip_txs(self, peer: bytes, raws: list[bytes]) -> None:
        if self._gossip_inflight >= MAX_GOSSIP_INFLIGHT:
            return  # overloaded: gossip is best effort, these txs still arrive in blocks
        txs = []
        for raw in raws:
            try:
                txs.append(Transaction.decode(raw, self.ledger.suite))
            except LedgerError:
                continue
        if txs:
            self._gossip_inflight += 1
            task = self._spawn(self._admit(txs, from_client=False))
            task.add_done_callback(self._gossip_done)

    def _gossip_done(self, task: asyncio.Task[Any]) -> None:
        self._gossip_inflight -= 1

    async def _admit(self, txs: Sequence[Transaction], from_client: bool) -> list[Any]:
        """Verify (off the loop), admit, and for a client's txs gossip them; a client's batch
        is all or nothing."""
        mempool = self.ledger.mempool
        if len(txs) > INLINE_MAX and not self._stopping:
            # Fill the verified-signature cache off the loop (OpenSSL releases the GIL). A small
            # batch is verified inline by crypto anyway: there the thread hop and future
            # chaining cost more than the few milliseconds on the loop (submit verifies it).
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._verify_pool, mempool.verify, list(txs))
        if self.driver is None or self.driver.closed:
            if not from_client:
                return []  # gossip while stopping: drop it
            raise Unavailable("the node is shutting down; send to another node")
        admissions = mempool.submit(list(txs))
        accepted = [tx for tx, a in zip(txs, admissions, strict=True) if a.accepted]
        if from_client and len(accepted) != len(txs):
            # All or nothing for a client's batch: take back the ones admitted just now.
            mempool.remove([tx.hash for tx in accepted])
            return admissions
        if accepted:
            if from_client and self.net.connected_peers():
                # (no peer: nothing to flood, and they reach later peers in blocks anyway)
                self.net.gossip_txs((sm3.digest(tx.raw), tx.raw) for tx in accepted)
            self._tx_arrived.set()
            self.pending.add(tx.hash for tx in accepted)
            self._report_pending()
        return admissions

    # ---- Backend for the HTTP API -----------------------------------------------------------

    async def submit(self, txs: Sequence[Transaction]) -> list[Any]:
        return await self._admit(txs, from_client=True)

    async def wait_receipts(self, hashes: Sequence[bytes], timeout: float) -> list[Any]:
        return await self.waiters.wait(hashes, timeout)

    def status(self) -> dict[str, Any]:
        ledger = self.ledger
        primary = None
        rep = self.replica
        if rep.validators is not None:
            primary = rep.validators.primary(rep.height, rep.view).hex()
        peers = self.net.connected_peers()
        names = {v.public_key: v.node_id for v in ledger.validators_at(ledger.height + 1)}
        return {
            "node_id": self.cfg.node_id,
            "chain_id": ledger.chain_id,
            "height": ledger.height,
            "head_hash": ledger.head_hash.hex(),
            "view": self.view,
            "primary": primary,
            "validator": self.public_key in self._validators,
            "peers": [{"public_key": p.hex(), "node_id": names.get(p)} for p in peers],
            "mempool": ledger.mempool.size,
            "syncing": self.syncing,
        }

    def readiness(self) -> tuple[bool, str | None]:
        if not self.started:
            return False, "starting"
        need = max(0, (2 * len(self._validators)) // 3)  # quorum minus ourselves
        have = len(self.net.connected_peers())
        if have < need:
            return False, f"connected to {have} validators, need {need} for a quorum"
        if self.syncing:
            return False, "catching up with the chain"
        return True, None


def _split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def _decode_records(raws: Sequence[bytes]) -> list[Any]:
    from consensus.wal import decode_record

    out = []
    for raw in raws:
        try:
            out.append(decode_record(raw))
        except ConsensusError:
            log.warning("skipping an undecodable consensus WAL record")
    return out


def _record_height(raw: bytes) -> int:
    from consensus.wal import decode_record

    try:
        return int(decode_record(raw).height)
    except ConsensusError:
        return -1


async def serve_node(cfg: NodeConfig) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or a fatal error (exit 1)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node = Node(cfg)
    code = 0
    try:
        await node.start()
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


def run(cfg: NodeConfig) -> None:
    """Entry point of ``chainnode start``."""
    setup_logging(cfg.log_level, cfg.log_json, cfg.node_id)
    runner: Any = asyncio.run
    if cfg.event_loop != "asyncio":
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            if cfg.event_loop == "uvloop":
                raise StartupError("event_loop = uvloop, but uvloop is not installed") from None
    code = runner(serve_node(cfg))
    if code:
        sys.exit(code)
