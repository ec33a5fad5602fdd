"""The consensus host: what the driver asks of the node, and what peers tell consensus.

Consensus orders, the ledger executes (STYLE.md 5). This object is the seam between them:
it feeds peers' consensus messages and status heights to the :class:`Driver`, builds our
proposals when the core asks (:meth:`request_proposal`), commits what the core decided
(:meth:`commit`, which also compacts the WAL and reports validator-set changes), fetches and
serves blocks for sync, and logs faulty peers. Rules about proposals live in
:mod:`chainnode.node.proposals`; the ledger's rules in the ledger.

Validating a block executes it, on the event loop. The contract programs a proposal or synced
blocks run that this node has not loaded yet (their txs never reached it by gossip) are loaded
first, off the loop (:class:`ProgramLoader`), and only then is the message or the blocks handed
to the core: peers' consensus messages wait behind such a proposal in arrival order (an inbox
that is empty, and bypassed, unless a load is under way), so none overtakes another.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import contracts
from chainnode.ledger.executor import MAX_BLOCK_LOAD
from chainnode.ledger.ledger import Ledger, StagedCommit
from chainnode.ledger.stages import in_stage
from chainnode.model.codes import Code, LedgerError
from chainnode.model.genesis import Genesis, ValidatorInfo
from chainnode.model.types import Block, Transaction
from chainnode.node import compact
from chainnode.node.batching import Batching
from chainnode.node.blocksync import KIND as SYNC_KIND
from chainnode.node.blocksync import SyncError, decode_response, encode_request, serve
from chainnode.node.consensus_glue import sm2_verify
from chainnode.node.driver import CONSENSUS_CHANNEL, Driver, Transport
from chainnode.node.faults import FaultLog
from chainnode.node.lifecycle import Spawn
from chainnode.node.programs import ProgramLoader
from chainnode.node.proposals import BlockCache, wall_clock_ms
from chainnode.node.wal import WriteAheadLog
from consensus import events as E
from consensus.certificate import CommitCertificate, decode_certificate, encode_certificate
from consensus.errors import ConsensusError
from consensus.messages import (
    Message,
    NewView,
    PrePrepare,
    Status,
    decode_message,
    encode_message,
)
from consensus.replica import Replica
from consensus.types import Proposal
from consensus.wal import WalRecord, decode_record
from p2p import ConnectionClosed, Network, PeerNotConnected

log = logging.getLogger("chainnode.node")

WAL_COMPACT_EVERY = 32
#: Peers' consensus messages held while a proposal's programs load (more are dropped, as a
#: lossy network would: consensus retransmits and changes view).
MAX_INBOX = 4096
#: New generated source loaded before one batch of synced blocks runs: a third of the program
#: cache (``contracts.vm``), so the first blocks' programs are still there when they execute.
SYNC_LOAD_BUDGET = 16 * MAX_BLOCK_LOAD
#: A filter over our block-sync answers (a seam: the chaos launcher forges them).
SyncFilter = Callable[[bytes], bytes]
#: A filter over our tx-fetch answers (a seam: the chaos launcher withholds them).
TxsFilter = Callable[[bytes], bytes]


class ConsensusHost:
    def __init__(  # noqa: PLR0913  # keyword-only: every collaborator explicit
        self,
        *,
        genesis: Genesis,
        public_key: bytes,
        ledger: Ledger,
        net: Network,
        replica: Replica,
        wal: WriteAheadLog,
        blocks: BlockCache,
        programs: ProgramLoader,
        tx_arrived: asyncio.Event,
        spawn: Spawn,
        die: Callable[[BaseException], None],
        on_validators: Callable[[Sequence[ValidatorInfo]], None],
        commit_thread_min_txs: int = 0,
        batch_txs: int = 0,
        batch_wait_ms: int = 0,
    ) -> None:
        self.genesis = genesis
        self.public_key = public_key
        self.ledger = ledger
        self.stages = ledger.stages
        self.net = net
        self.replica = replica
        self.wal = wal
        self.blocks = blocks
        self.programs = programs
        self.tx_arrived = tx_arrived
        self._spawn = spawn
        self._die = die
        self._on_validators = on_validators
        self.driver: Driver | None = None
        self.fault = FaultLog()
        self.sync_filter: SyncFilter | None = None
        self.txs_filter: TxsFilter | None = None
        #: our own clients' latest txs: our proposals carry their bodies (the node's
        #: Admission notes them)
        self.recent = compact.RecentTxs()
        self.after_step: list[Callable[[Replica], None]] = []
        self.view = 0
        self.validators = tuple(v.public_key for v in ledger.validators_at(ledger.height + 1))
        self._peer_heights: dict[bytes, int] = {}
        self._propose_task: asyncio.Task[object] | None = None
        # peers' messages waiting behind a proposal whose txs are fetched or whose programs
        # load: (peer, message, its programs (None: not listed yet), tx hashes to fetch)
        self._inbox: deque[tuple[bytes, Message, list[bytes] | None, list[bytes]]] = deque()
        self._inbox_task: asyncio.Task[object] | None = None
        self._loaded_for: set[tuple[int, int]] = set()  # (height, view) proposals loaded
        self._fetched_for: set[tuple[int, int]] = set()  # (height, view) proposals fetched
        self._compacted: tuple[bytes, bytes] = (b"", b"")  # (digest, compact payload) last sent
        self._sync_loading = asyncio.Lock()
        self.batching = Batching.of(genesis.consensus, batch_txs, batch_wait_ms)  # fed commits
        self._commits_since_compaction = 0
        # the commit thread (``commit``), from ``start`` to ``close``
        self._writer: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # blocks of fewer txs commit in line, and WAL appends too after such a block
        self._thread_min_txs = commit_thread_min_txs
        self._large_blocks = commit_thread_min_txs == 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(
        self,
        transport: Transport,
        loop: asyncio.AbstractEventLoop,
        on_send: Callable[[Message], None] | None = None,
    ) -> None:
        """Start the core from the WAL. It starts before the transport: whatever it sends now
        reaches no one, and each peer gets our current-height messages when it connects.

        A WAL that lost records of the next height (a torn tail cut at this open or at an
        earlier one since the last commit, or a record that does not decode) is said so to the
        core, with the durable signing mark: it then signs nothing it cannot prove it did not
        sign before (consensus ``Start.torn``)."""
        self.driver = Driver(
            self.replica,
            self.wal,
            transport,
            self,
            loop,
            on_step=self._stepped,
            on_send=on_send,
            wire=self.wire,
            persist=self._persist,
        )
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="commit")
        self._loop = loop
        raws = self.wal.records()
        records = tuple(decode_records(raws))
        ledger = self.ledger
        height = ledger.height + 1
        torn = height_note(height) in self.wal.torn_notes or len(records) != len(raws)
        if torn:
            log.warning(
                "consensus WAL lost records of height %d: signing nothing more there in the "
                "views up to the signing mark %s (a view change past it, or block sync)",
                height,
                self.wal.reserved,
            )
        self.driver.step(
            E.Start(
                height,
                ledger.head_hash,
                self.validators,
                records,
                torn=torn,
                reserved=self.wal.reserved,
                view=head_view(ledger),
            )
        )

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
        if self._writer is not None:  # a write under way ends first (the store closes later)
            self._writer.shutdown(wait=True)
            self._writer = None
        if self._propose_task is not None:
            self._propose_task.cancel()
        if self._inbox_task is not None:
            self._inbox_task.cancel()
        self._inbox.clear()

    @property
    def role(self) -> str:
        """``validator`` while our key is in the set for the next height, else ``observer``:
        the core signs nothing then (it counts and sends votes of the set's members only),
        and a governance change that adds us makes us vote from its activation height."""
        return "validator" if self.public_key in self.validators else "observer"

    @property
    def running(self) -> bool:
        return self.driver is not None and not self.driver.closed

    @in_stage("consensus")
    def step(self, event: E.Event) -> None:
        if self.driver is None:
            return
        try:
            self.driver.step(event)
        except Exception as e:  # noqa: BLE001  # a step that raised left the core half-done
            self._die(e)

    def pending_work(self, oldest: bytes | None) -> None:
        self.step(E.PendingWork(oldest))

    def _stepped(self) -> None:
        rep = self.replica
        if rep.view != self.view:
            log.info("height %d: view %d -> %d (%s)", rep.height, self.view, rep.view, rep.phase)
        self.view = rep.view
        for observer in self.after_step:
            observer(rep)

    # ---- inputs from peers -------------------------------------------------------------------

    def status_message(self) -> bytes:
        return encode_message(Status(self.ledger.height + 1))

    def on_peer(self, peer: bytes, connected: bool) -> None:
        """A newly connected peer gets our height (whichever is behind syncs) and our own
        signed messages of the current height from the WAL: messages sent while it was
        unreachable (e.g. a proposal made before it came up) are not lost for good."""
        if not connected:
            self._peer_heights.pop(peer, None)
            return
        if not self.running:
            return
        self.net.send(peer, CONSENSUS_CHANNEL, self.status_message())
        height = self.replica.height
        for rec in decode_records(self.wal.records()):
            if rec.height == height and rec.message.sender == self.public_key:
                self.net.send(peer, CONSENSUS_CHANNEL, encode_message(self.wire(rec.message)))

    async def status_loop(self, interval_s: float) -> None:
        """Heights also spread while the chain is idle: a restarted node finds it is behind."""
        while True:
            await asyncio.sleep(interval_s)
            self.net.broadcast(CONSENSUS_CHANNEL, self.status_message())

    @in_stage("consensus")
    def on_consensus(self, peer: bytes, payload: bytes) -> None:
        try:
            msg = decode_message(payload)
        except ConsensusError as e:
            log.debug("bad consensus message from %s: %s", peer.hex()[:16], e)
            return
        if isinstance(msg, Status):
            self._peer_heights[peer] = msg.height
        fetch: list[bytes] = []
        if isinstance(msg, PrePrepare) and compact.is_compact(msg.proposal.payload):
            msg, fetch = self._expand(msg)
        if not self._inbox:
            codes = None if fetch else self._programs_to_load(msg)
            if not codes and not fetch and self._checkpoint_wait(msg) is None:
                self.step(E.MessageReceived(peer, msg))  # the usual case: no wait, no task
                return
            self._inbox.append((peer, msg, codes, fetch))
        elif len(self._inbox) < MAX_INBOX:
            self._inbox.append((peer, msg, None, fetch))
        else:
            log.debug("consensus inbox full: dropped a message from %s", peer.hex()[:16])
        if self._inbox_task is None:
            self._inbox_task = self._spawn(self._drain_inbox())

    async def _drain_inbox(self) -> None:
        """Step the held messages in arrival order, each after its proposal's missing txs are
        fetched and its programs load."""
        try:
            while self._inbox and self.running:
                peer, msg, codes, fetch = self._inbox[0]
                if fetch and isinstance(msg, PrePrepare):
                    msg = await self._fetch_txs(msg, fetch)
                if codes is None:
                    codes = self._programs_to_load(msg)
                if codes:
                    await self._warm([codes], MAX_BLOCK_LOAD)
                wait = self._checkpoint_wait(msg)
                if wait is not None:
                    await self._checkpoint_done(wait)
                self._inbox.popleft()
                self.step(E.MessageReceived(peer, msg))
        finally:
            self._inbox_task = None

    def _checkpoint_wait(self, msg: Message) -> int | None:
        """The height of the block a PRE-PREPARE (or a NEW-VIEW's) proposes when its header
        carries a state checkpoint our own background computation has not finished: the
        message waits for it (validating would otherwise block the loop); else None."""
        pp = msg.pre_prepare if isinstance(msg, NewView) else msg
        if not isinstance(pp, PrePrepare) or self.ledger.checkpoint_pending(pp.height) is None:
            return None
        return int(pp.height)

    async def _checkpoint_done(self, height: int) -> None:
        """Wait (off the loop) for the checkpoint computation the header of `height` carries;
        bounded by our own computation, never by a peer."""
        pending = self.ledger.checkpoint_pending(height)
        if pending is None:
            return
        log.info("block %d waits for this node's state checkpoint computation", height)
        with contextlib.suppress(Exception):  # a failure is logged by the computation
            await asyncio.wrap_future(pending)

    def _programs_to_load(self, msg: Message) -> list[bytes]:
        """The programs of the block a PRE-PREPARE (or a NEW-VIEW's) proposes when some are
        not loaded yet, in the order its txs use them; else []. Only for the height being
        decided or the next, signed by the primary of its view (a check the core repeats):
        anyone else's junk costs a decode at most, nothing is loaded for it."""
        pp = msg.pre_prepare if isinstance(msg, NewView) else msg
        if not isinstance(pp, PrePrepare) or not self.running:
            return []
        rep = self.replica
        slot = (pp.height, pp.view)
        if (
            not rep.height <= pp.height <= rep.height + 1
            or not rep.view <= pp.view <= rep.view + rep.config.vote_view_window
            or slot in self._loaded_for
        ):
            return []
        if not self._from_primary(pp):
            return []
        block = self.blocks.get(pp.digest) or self._decoded(pp.proposal.payload)
        if block is None or block.hash != pp.digest:
            return []
        if len(self._loaded_for) >= MAX_INBOX:
            self._loaded_for.clear()
        self._loaded_for.add(slot)  # once per slot: an equivocating primary gets no more
        return self._unloaded([block])[0]

    def _from_primary(self, pp: PrePrepare) -> bool:
        rep = self.replica
        return pp.sender == rep.vset.primary(pp.height, pp.view) and sm2_verify(
            pp.sender, pp.signing_bytes(rep.config.chain_id), pp.signature
        )

    # ---- proposals by tx hash (chainnode.node.compact) --------------------------------------

    def wire(self, msg: Message) -> Message:
        """The form of ``msg`` that goes to peers: our PRE-PREPARE names its txs by hash (the
        core and the WAL keep the full block)."""
        if not isinstance(msg, PrePrepare) or compact.is_compact(msg.proposal.payload):
            return msg
        digest, payload = self._compacted
        if digest != msg.digest:
            block = self.blocks.get(msg.digest)
            if block is None:
                return msg
            payload = compact.compact_payload(block, self.recent.fresh())
            self._compacted = (msg.digest, payload)
        return dataclasses.replace(msg, proposal=dataclasses.replace(msg.proposal, payload=payload))

    def _expand(self, pp: PrePrepare) -> tuple[PrePrepare, list[bytes]]:
        """A compact PRE-PREPARE with its full block when every tx is here, else as it came
        and the hashes to fetch from its primary (only for the height being decided or the
        next, once per slot, from the primary of its view: a malformed one, or anyone
        else's, is left to the core and the block check to refuse)."""
        try:
            full, missing = self._rebuilt(pp, {})
        except LedgerError:
            return pp, []
        if not missing:
            return full, []
        rep = self.replica
        slot = (pp.height, pp.view)
        if (
            not self.running
            or not rep.height <= pp.height <= rep.height + 1
            or not rep.view <= pp.view <= rep.view + rep.config.vote_view_window
            or slot in self._fetched_for
            or not self._from_primary(pp)
        ):
            return pp, []
        if len(self._fetched_for) >= MAX_INBOX:
            self._fetched_for.clear()
        self._fetched_for.add(slot)
        return pp, missing

    def _rebuilt(
        self, pp: PrePrepare, extra: dict[bytes, Transaction]
    ) -> tuple[PrePrepare, list[bytes]]:
        """``pp`` carrying its full block (remembered in the block cache) when the mempool and
        ``extra`` hold every tx; else ``pp`` and the hashes missing. LedgerError: malformed."""
        mempool = self.ledger.mempool
        block, missing = compact.rebuild(
            pp.proposal.payload, mempool.get, self.ledger.suite, extra, mempool.lookup_raw
        )
        if block is None:
            return pp, missing
        if block.hash != pp.digest:
            return pp, []  # not the block it signed: the block check refuses the compact form
        self.blocks.remember(block)
        full = dataclasses.replace(pp.proposal, payload=block.raw)
        return dataclasses.replace(pp, proposal=full), []

    async def _fetch_txs(self, pp: PrePrepare, missing: list[bytes]) -> PrePrepare:
        """Ask the primary for the txs of its proposal we lack; the PRE-PREPARE with its full
        block, or as it came when the primary does not supply them within FETCH_TIMEOUT_S
        (the block check then refuses it and the core blames the primary)."""
        try:
            async with asyncio.timeout(compact.FETCH_TIMEOUT_S):
                raw = await self._request_txs(pp, missing)
            got = compact.check_answer(raw, missing, self.ledger.suite)
            full, still = self._rebuilt(pp, got)
        except Exception as e:  # noqa: BLE001  # p2p errors, a bad answer: the primary's fault
            log.warning(
                "height %d view %d: the primary did not supply %d txs of its proposal: %s",
                pp.height,
                pp.view,
                len(missing),
                e,
            )
            return pp
        if not still:
            log.info(
                "height %d view %d: fetched %d txs of the proposal from its primary",
                pp.height,
                pp.view,
                len(missing),
            )
        return full

    async def _request_txs(self, pp: PrePrepare, missing: list[bytes]) -> bytes:
        """The primary's answer; a link that drops just then (two peers dialling each other
        keep one connection of the two) is waited for, within the caller's deadline."""
        request = compact.encode_request(pp.digest, missing)
        while True:
            try:
                return await self.net.request(pp.sender, compact.KIND, request)
            except (PeerNotConnected, ConnectionClosed):
                await asyncio.sleep(0.02)  # yield: the old link may still count as connected
                await self.net.wait_for_peers([pp.sender], compact.FETCH_TIMEOUT_S)

    async def serve_txs(self, peer: bytes, payload: bytes) -> bytes:
        """Answer a peer's tx fetch for a block we proposed (or hold the txs of)."""
        digest, hashes = compact.decode_request(payload)
        response = compact.answer(hashes, self.blocks.get(digest), self._known_tx)
        if self.txs_filter is not None:
            response = self.txs_filter(response)
        return response

    def _known_tx(self, tx_hash: bytes) -> Transaction | None:
        tx = self.ledger.mempool.get(tx_hash)
        if tx is None:
            found = self.ledger.tx(tx_hash)
            tx = found[0] if found is not None else None
        return tx

    def _decoded(self, payload: bytes) -> Block | None:
        try:
            return self.ledger.decode_block(payload)
        except Exception:  # noqa: BLE001 - a peer's bytes: validation judges them
            return None

    async def _warm(self, lists: Sequence[Sequence[bytes]], budget: int) -> None:
        try:
            await self.programs.warm(lists, budget)
        except Exception:  # a warm-up only (the loader closed...): execution loads them
            log.debug("could not load a block's programs ahead", exc_info=True)

    def _unloaded(self, blocks: Sequence[Block]) -> list[list[bytes]]:
        """Each block's programs (``Ledger.block_programs``), or none at all when every one
        of them is loaded already (or they cannot be listed: validating meets the cause)."""
        try:
            lists = [self.ledger.block_programs(block.txs) for block in blocks]
        except Exception:  # e.g. a StorageError: the block's validation meets it
            log.debug("cannot list a block's programs", exc_info=True)
            return [[] for _ in blocks]
        loaded = contracts.vm.is_loaded
        if all(loaded(code) for codes in lists for code in codes):
            return [[] for _ in blocks]
        return lists

    @property
    def syncing(self) -> bool:
        """A peer told us of a next height more than a block ahead of ours."""
        ahead = max(self._peer_heights.values(), default=0)
        return ahead > self.ledger.height + 2

    # ---- the Driver's Host protocol ----------------------------------------------------------

    def request_proposal(self, height: int, parent: bytes, view: int) -> None:
        if self._propose_task is not None:
            self._propose_task.cancel()
        self._propose_task = self._spawn(self._propose(height, parent, view))

    async def _propose(self, height: int, parent: bytes, view: int) -> None:
        params = self.genesis.consensus
        mempool = self.ledger.mempool
        arrived = self.tx_arrived
        # Propose as soon as a transaction waits (the core asks once the previous height is
        # committed), but under load wait a little, from that commit, for a larger block
        # (chainnode.node.batching). Block 1 goes out even empty, so a new chain shows it is
        # live.
        wait = self.batching.wait()
        if wait is not None:
            deadline, enough = wait
            while mempool.size < enough and (left := deadline - time.monotonic()) > 0:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), left)
        while mempool.size == 0 and height > 1:
            arrived.clear()
            await arrived.wait()
        await self._checkpoint_done(height)
        ledger = self.ledger
        if ledger.committing or ledger.height + 1 != height or ledger.head_hash != parent:
            # the chain moved on (synced, or a block of this height is being written) while
            # we waited; consensus will ask again
            return
        now = wall_clock_ms()
        try:
            block = self.ledger.build_block(
                height, view, self.public_key, now, params.max_block_txs
            )
        except LedgerError as e:
            if e.code != Code.EXECUTION_FAULT:
                raise
            # this machine could not execute the txs (MemoryError, RecursionError): no tx's
            # fault and no reason to stop; no proposal from us (the others change view)
            log.error("cannot build block %d here: %s", height, e)
            return
        self.blocks.remember(block)
        proposal = Proposal(height, parent, block.hash, block.encode())
        self.step(E.ProposalReady(proposal, view))

    # fast path: plain=chainnode.ledger.ledger.Ledger.commit_block test=tests/chainnode/node/test_driver_background_commit.py::test_a_background_commit_steps_what_an_inline_one_steps_in_the_same_order
    def commit(self, proposal: Proposal, certificate: CommitCertificate) -> E.Executed | None:
        """Commit a decided block. Once started (``start``: a loop and the commit thread), the
        storage write (two synced LevelDB batches, the GIL released: milliseconds of a 2,000-tx
        block, ~10% of a 1-validator node's time when it held the loop) goes to the commit
        thread while the loop admits and answers clients; the driver steps nothing until
        ``_written`` resumes it with the ``Executed``, so consensus sees the commit at the
        same point of its event order as in line. Before ``start``: in line."""
        block = self.blocks.pop(proposal.digest)
        if block is None:
            block = self.ledger.decode_block(proposal.payload)
        if block.height != self.ledger.height + 1:
            raise RuntimeError(
                f"consensus committed height {block.height} on head {self.ledger.height}"
            )
        cert = encode_certificate(certificate)
        writer, loop = self._writer, self._loop
        self._large_blocks = len(block.txs) >= self._thread_min_txs
        if writer is None or loop is None or not self._large_blocks:
            before = self.validators
            self.ledger.commit_block(block, cert)
            return self._committed(block, before)
        staged = self.ledger.stage_commit(block, cert)
        done = loop.run_in_executor(writer, self.ledger.write_commit, staged)
        done.add_done_callback(functools.partial(self._written, staged))
        return None

    @in_stage("consensus")
    def _written(self, staged: StagedCommit, done: asyncio.Future[None]) -> None:
        """The commit thread wrote ``staged``: the ledger moves to it, the driver resumes."""
        try:
            done.result()
            before = self.validators
            self.ledger.finish_commit(staged)
            executed = self._committed(staged.block, before)
            if self.driver is not None:
                self.driver.resume(executed)
        except asyncio.CancelledError:
            return  # stopping
        except Exception as e:  # noqa: BLE001  # a store that cannot write: the node stops
            if self.running:
                self._die(e)
            else:
                log.warning("commit of block %d while stopping: %s", staged.block.height, e)

    # fast path: plain=chainnode.node.wal.WriteAheadLog.append test=tests/chainnode/node/test_driver_background_commit.py::test_a_background_wal_append_sends_what_an_inline_one_sends_after_it_is_durable
    def _persist(self, records: list[bytes]) -> None:
        """The driver's background WAL append: the fsync (a millisecond or more, once or twice
        a block) on the commit thread; the driver carries out nothing until ``_persisted``."""
        writer, loop = self._writer, self._loop
        if writer is None or loop is None or not self._large_blocks:
            self.wal.append_many(records)
            self._persisted(None)
            return
        done = loop.run_in_executor(writer, self.wal.append_many, records)
        done.add_done_callback(self._persisted)

    @in_stage("consensus")
    def _persisted(self, done: asyncio.Future[None] | None) -> None:
        try:
            if done is not None:
                done.result()
            if self.driver is not None:
                self.driver.persisted()
        except asyncio.CancelledError:
            return  # stopping
        except Exception as e:  # noqa: BLE001  # a WAL that cannot be written: the node stops
            if self.running:
                self._die(e)
            else:
                log.warning("WAL append while stopping: %s", e)

    def _committed(self, block: Block, before: tuple[bytes, ...]) -> E.Executed:
        self.batching.committed(len(block.txs), time.monotonic())
        infos = self.ledger.validators_at(block.height + 1)
        after = tuple(v.public_key for v in infos)
        changed = None
        if after != before:
            self.validators = changed = after
            self._on_validators(infos)
        self._commits_since_compaction += 1
        if self._commits_since_compaction >= WAL_COMPACT_EVERY:
            self._compact_wal(block.height)
        return E.Executed(block.height, changed)

    def _compact_wal(self, height: int) -> None:
        keep = [r for r in self.wal.records() if record_height(r) > height]
        self.wal.rewrite(keep)
        self._commits_since_compaction = 0

    def request_blocks(self, peer: bytes, from_height: int, to_height: int) -> None:
        self._spawn(self._fetch_blocks(peer, from_height, to_height))

    async def _fetch_blocks(self, peer: bytes, lo: int, hi: int) -> None:
        fetched: list[tuple[Proposal, CommitCertificate]] = []
        blocks: list[Block] = []
        try:
            raw = await self.net.request(peer, SYNC_KIND, encode_request(lo, hi), timeout=10)
            for proposal, cert, block in decode_response(raw, self.ledger.decode_block, lo, hi):
                self.blocks.remember(block, fetched=True)
                fetched.append((proposal, cert))
                blocks.append(block)
        except SyncError as e:
            log.warning("block sync from %s: %s", peer.hex()[:16], e)
        except Exception as e:  # noqa: BLE001  # p2p errors: not connected, timeout, remote
            log.info("block sync from %s failed: %r", peer.hex()[:16], e)
        cut = self._checkpoint_cut(blocks)
        fetched, blocks = fetched[:cut], blocks[:cut]
        if blocks:
            await self._checkpoint_done(blocks[0].height)
        lists = self._unloaded(blocks)
        if any(lists):
            # One batch at a time: the core checks the certificates later, so a lying peer
            # (a validator: p2p admits no one else) costs this budget once per request we make
            # to it, and we make those at the core's sync timer's pace.
            async with self._sync_loading:
                await self._warm(lists, SYNC_LOAD_BUDGET)
        self.step(E.BlocksFetched(peer, tuple(fetched)))

    def _checkpoint_cut(self, blocks: Sequence[Block]) -> int:
        """How many of the fetched `blocks` to hand the core now: up to (not including) one
        whose header carries the checkpoint of a height in this batch, or whose computation
        runs while it is not the first. Committing that height starts our computation; the
        rest comes with the next request, after :meth:`_checkpoint_done` (validating them in
        this step would wait for the computation on the event loop)."""
        params = self.genesis.consensus
        for i, block in enumerate(blocks):
            c = params.checkpoint_carried_by(block.height)
            if c is None:
                continue
            if c > self.ledger.height or (i and self.ledger.checkpoint_pending(block.height)):
                return i
        return len(blocks)

    async def serve_blocks(self, peer: bytes, payload: bytes) -> bytes:
        response = serve(self.ledger, payload)
        if self.sync_filter is not None:
            response = self.sync_filter(response)
        return response


def head_view(ledger: Ledger) -> int:
    """The view our head block was decided in (its certificate's view; 0 at genesis): the
    view carries across heights, so the next height starts there."""
    raw = ledger.certificate(ledger.height) if ledger.height > 0 else None
    if raw is None:
        return 0
    try:
        return decode_certificate(raw).view
    except ConsensusError:
        return 0


def height_note(height: int) -> bytes:
    """What the WAL writes into a TORN marker: the height whose records it may have lost."""
    return height.to_bytes(8, "big")


def decode_records(raws: Sequence[bytes]) -> list[WalRecord]:
    out = []
    for raw in raws:
        try:
            out.append(decode_record(raw))
        except ConsensusError:
            log.warning("skipping an undecodable consensus WAL record")
    return out


def record_height(raw: bytes) -> int:
    try:
        return int(decode_record(raw).height)
    except ConsensusError:
        return -1
