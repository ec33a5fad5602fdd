"""Transactions into the mempool: from clients (all or nothing, then gossiped) and from gossip.

Signature verification of a large batch runs in a worker thread (OpenSSL releases the GIL) and
only fills the mempool's verified-signature cache; admission itself runs on the event loop.
The contract programs that admitted transactions will run (a deployment's code, a called
contract's) are loaded (verified and translated into Python, up to ~0.1 s each) off the loop
by the node's :class:`ProgramLoader`, so the block that executes them finds them cached.
After an admission the proposer is woken (:attr:`Admission.arrived`) and consensus is told when
the oldest waiting transaction changes (its request timer follows it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from chainnode.api.backend import Unavailable
from chainnode.ledger.ledger import Ledger
from chainnode.ledger.mempool import Admission as Outcome
from chainnode.ledger.pending import OldestPending
from chainnode.ledger.stages import in_stage
from chainnode.model.codes import LedgerError
from chainnode.model.types import Transaction
from chainnode.node.backlog import Backlog
from chainnode.node.compact import RecentTxs
from chainnode.node.lifecycle import Spawn
from chainnode.node.programs import ProgramLoader
from crypto import sm3
from crypto.batch import INLINE_MAX
from p2p import Network

log = logging.getLogger("chainnode.node")

MAX_GOSSIP_INFLIGHT = 64
VERIFY_THREADS = 4  # batches verifying at once (each on crypto.verify_batch's threads)


class Admission:
    def __init__(
        self,
        ledger: Ledger,
        net: Network,
        spawn: Spawn,
        accepting: Callable[[], bool],
        pending_changed: Callable[[bytes | None], None],
        arrived: asyncio.Event,
        programs: ProgramLoader,
        backlog: Backlog,
    ) -> None:
        """``accepting()``: consensus still runs (not stopping); ``pending_changed(oldest)``:
        tell consensus the oldest waiting transaction (or None); ``arrived`` is set on every
        admission (the proposer waits on it for work)."""
        # our clients' latest txs: our proposals carry their bodies (peers may not have them
        # from our gossip yet; the node hands this to its ConsensusHost)
        self.recent = RecentTxs()
        self.ledger = ledger
        self.stages = ledger.stages
        self.net = net
        self._spawn = spawn
        self._accepting = accepting
        self._pending_changed = pending_changed
        mempool = ledger.mempool
        self.pending = OldestPending(mempool.has, lambda: (tx.hash for tx in mempool.pending()))
        self.arrived = arrived
        # Several batches verify at once so the verifying threads of crypto.verify_batch stay fed.
        self._verify_pool = ThreadPoolExecutor(VERIFY_THREADS, thread_name_prefix="verify")
        self.programs = programs
        self.backlog = backlog
        self._gossip_inflight = 0

    def busy(self) -> int | None:
        """Seconds a client should wait before submitting again, or None: more wait already
        than the chain commits within the admission budget (:mod:`chainnode.node.backlog`)."""
        return self.backlog.retry_after(self.ledger.mempool.size)

    def committed(self, txs: int, full_block: int) -> None:
        """A block of ``txs`` committed (the backlog measures the chain's rate)."""
        self.backlog.committed(txs, self.ledger.mempool.size, full_block)

    def close(self) -> None:
        self._verify_pool.shutdown(wait=True, cancel_futures=True)

    def _load_programs(self, txs: Sequence[Transaction]) -> None:
        """Load the programs these txs will run, off the loop (best effort: a program that
        fails to load fails the same way, deterministically, when the block executes it)."""
        try:
            codes = self.ledger.programs_to_load(txs)
        except Exception:  # a warm-up only; execution decides
            log.debug("cannot list the programs of admitted txs", exc_info=True)
            return
        self.programs.submit(codes)

    @in_stage("admission")
    def on_peer(self, peer: bytes, connected: bool) -> None:
        """A peer that connects gets the transactions waiting here that it is not known to
        hold: admitted while it was away (or with no peer at all), they would otherwise never
        reach it, and a primary proposes only what its own mempool holds."""
        mempool = self.ledger.mempool
        if connected and mempool.size:
            self.net.offer_txs(peer, ((sm3.digest(tx.raw), tx.raw) for tx in mempool.pending()))

    def on_gossip_txs(self, peer: bytes, raws: list[bytes]) -> None:
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
            task = self._spawn(self.admit(txs, from_client=False))
            task.add_done_callback(self._gossip_done)

    def _gossip_done(self, task: asyncio.Task[object]) -> None:
        self._gossip_inflight -= 1

    async def admit(self, txs: Sequence[Transaction], from_client: bool) -> list[Outcome]:
        """Verify (off the loop), admit, and for a client's txs gossip them; a client's batch
        is all or nothing."""
        mempool = self.ledger.mempool
        if len(txs) > INLINE_MAX and self._accepting():
            # Fill the verified-signature cache off the loop (OpenSSL releases the GIL). A small
            # batch is verified inline by crypto anyway: there the thread hop and future
            # chaining cost more than the few milliseconds on the loop (submit verifies it).
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._verify_pool, mempool.verify, list(txs))
        if not self._accepting():
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
                self.recent.add(tx.hash for tx in accepted)
            self._load_programs(accepted)
            self.arrived.set()
            self.pending.add(tx.hash for tx in accepted)
            self.report_pending()
        return admissions

    def report_pending(self) -> None:
        """Tell consensus when the oldest waiting tx changes (its request timer follows it)."""
        oldest = self.pending.changed()
        if oldest is not False:
            self._pending_changed(oldest)  # type: ignore[arg-type]
