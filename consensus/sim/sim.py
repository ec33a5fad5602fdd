"""A seeded, single-threaded simulator: N replicas, a virtual clock, faults, invariants.

Every message crosses the "wire" as bytes (``encode_message``/``decode_message``), every timer
and delivery is an entry in one heap ordered by (virtual time, sequence number), and all
randomness comes from one ``random.Random(seed)``: a seed reproduces a run exactly.
The invariants of CONSENSUS_TESTS.md are checked after every step (``Invariants``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from consensus import actions as act
from consensus.certificate import CommitCertificate, verify_commit_certificate
from consensus.errors import ConsensusError
from consensus.events import (
    BlocksFetched,
    Event,
    Executed,
    MessageReceived,
    PendingWork,
    ProposalReady,
    Start,
    Timeout,
    TimerKind,
)
from consensus.messages import (
    CommitVote,
    Message,
    NewView,
    Prepare,
    PrePrepare,
    SignedMessage,
    Status,
    ViewChange,
    decode_message,
    encode_message,
    pack,
)
from consensus.replica import Replica, ReplicaConfig
from consensus.sim.app import (
    GENESIS_HASH,
    MAX_BLOCK_TXS,
    make_proposal,
    make_validator,
    payload_txs,
)
from consensus.sim.faults import FaultPlan
from consensus.sim.signer import FakeSuite
from consensus.types import Proposal
from consensus.wal import WalRecord

CHAIN_ID = b"sim-chain"
TYPE_NAMES: dict[type, str] = {
    PrePrepare: "pre_prepare",
    Prepare: "prepare",
    CommitVote: "commit",
    ViewChange: "view_change",
    NewView: "new_view",
    Status: "status",
}
SIGNED = (PrePrepare, Prepare, CommitVote, ViewChange, NewView)


@dataclass
class SimConfig:
    n: int = 4
    seed: int = 0
    base_timeout: int = 1000
    max_timeout: int = 8000
    delay: tuple[int, int] = (5, 50)
    tx_interval: int = 150
    tx_until: int | None = None
    block_txs: int = 8
    extra_nodes: int = 0
    validator_changes: dict[int, tuple[int, ...]] = field(default_factory=dict)
    max_buffered: int = 4096
    max_buffered_bytes: int = 64 * 1024 * 1024
    flood_per_send: int = 40


class Violation(AssertionError):
    pass


@dataclass
class Stats:
    delivered: int = 0
    dropped: int = 0
    rejected: int = 0
    steps: int = 0
    flooded: int = 0


class Host:
    """One simulated node: a replica plus the node's WAL, chain and mempool."""

    def __init__(self, sim: Simulation, idx: int, key: bytes, suite: Any) -> None:
        self.sim = sim
        self.idx = idx
        self.key = key
        self.sign = suite.signer(self.key)
        self.byz = {b.behaviour: b.arg for b in sim.plan.byzantine if b.node == idx}
        self.alive = True
        self.epoch = 0
        self.wal: list[WalRecord] = []
        self.reserved: tuple[int, int] | None = None  # the durable signing mark (Reserve)
        self.torn_at = 0  # height at which the WAL lost its tail (the node's TORN marker)
        self.torn_records: list[WalRecord] = []
        self.persisted: set[bytes] = set()
        self.chain: list[tuple[Proposal, CommitCertificate]] = []
        self.commit_times: list[int] = []
        self.committed_txs: set[int] = set()
        self.mempool: set[int] = set()
        self.pending_request: act.RequestProposal | None = None
        self.timer_tokens: dict[TimerKind, int] = {}
        self.evidence: list[act.Evidence] = []
        self.faults: list[act.Fault] = []
        self.persist_counts: dict[str, int] = {}
        self.max_hv = (0, 0)
        self.oldest_sent: bytes | None = None
        self.max_buffered_seen = 0
        self.max_buffered_bytes_seen = 0
        self.needs_pending = False
        self.view_log: list[tuple[int, int, int]] = []  # (time, height, view) on each change
        self.replica = self._new_replica()

    @property
    def honest(self) -> bool:
        return not self.byz

    def _new_replica(self) -> Replica:
        cfg = self.sim.config
        base = self.sim.plan.timeouts.get(self.idx, cfg.base_timeout)
        rc = ReplicaConfig(
            CHAIN_ID,
            base_timeout=base,
            max_timeout=max(base, cfg.max_timeout * base // cfg.base_timeout),
            max_buffered=cfg.max_buffered,
            max_buffered_bytes=cfg.max_buffered_bytes,
            sync_delay=max(1, base // 10),
        )
        return Replica(
            rc, self.key, self.sign, self.sim.suite.verify, make_validator(self._committed)
        )

    def _committed(self) -> set[int]:
        return self.committed_txs

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        height = len(self.chain) + 1
        parent = self.chain[-1][0].digest if self.chain else GENESIS_HASH
        vals = self.sim.validator_keys_at(height)
        torn = self.torn_at == height
        view = self.chain[-1][1].view if self.chain else 0  # the head's decision view carries
        self.step(
            Start(
                height,
                parent,
                vals,
                tuple(self.wal),
                torn=torn,
                reserved=self.reserved,
                view=view,
            )
        )
        self.oldest_sent = None
        self.update_pending()

    def crash(self, tear: int = 0) -> None:
        """Stop; with ``tear`` the WAL also loses its last ``tear`` records (a torn tail:
        the node's WAL cuts it and says so at the next start)."""
        if tear and self.wal:
            self.torn_records += self.wal[-tear:]
            del self.wal[-tear:]
            self.torn_at = len(self.chain) + 1
        self.alive = False
        self.epoch += 1
        self.pending_request = None
        self.timer_tokens.clear()

    def restart(self) -> None:
        self.alive = True
        self.epoch += 1
        self.replica = self._new_replica()
        self.mempool = {t for t in self.sim.submitted if t not in self.committed_txs}
        self.start()

    # ---------------------------------------------------------------- stepping

    def step(self, event: Event) -> None:
        if not self.alive:
            return
        self.sim.stats.steps += 1
        out = self.replica.step(event)
        post: list[Event] = []
        self.apply(out, post)
        self.sim.check_host(self)
        for ev in post:
            self.step(ev)
        if self.needs_pending and self.alive:
            self.needs_pending = False
            self.update_pending()

    def apply(self, out: list[act.Action], post: list[Event]) -> None:
        sim = self.sim
        for a in out:
            if not self.alive:
                return
            if isinstance(a, act.Reserve):
                self.reserved = (a.height, a.view)
            elif isinstance(a, act.Persist):
                self.wal.append(a.record)
                self.persisted.add(encode_message(a.record.message))
                name = TYPE_NAMES[type(a.record.message)]
                self.persist_counts[name] = self.persist_counts.get(name, 0) + 1
                if sim.crash_on_persist(self, name):
                    return
            elif isinstance(a, act.Send | act.Broadcast):
                msg = a.message
                if isinstance(msg, SIGNED) and msg.sender == self.key:
                    sim.check_own_message(self, msg)
                targets = [a.to] if isinstance(a, act.Send) else sim.others(self)
                self.send(msg, targets)
            elif isinstance(a, act.SetTimer):
                sim.set_timer(self, a)
            elif isinstance(a, act.Commit):
                self.on_commit(a, post)
            elif isinstance(a, act.RequestProposal):
                self.pending_request = a
                self.try_propose(post)
            elif isinstance(a, act.RequestBlocks):
                sim.fetch(self, a)
            elif isinstance(a, act.Evidence):
                self.evidence.append(a)
            elif isinstance(a, act.Fault):
                self.faults.append(a)

    def on_commit(self, a: act.Commit, post: list[Event]) -> None:
        height = len(self.chain) + 1
        self.sim.check_commit(self, a, height)
        self.chain.append((a.proposal, a.certificate))
        self.commit_times.append(self.sim.now)
        txs = payload_txs(a.proposal.payload) or []
        self.committed_txs.update(txs)
        self.mempool.difference_update(txs)
        if self.sim.crash_on_commit(self, height):  # stored and applied, Executed not yet fed
            return
        new_set = self.sim.config.validator_changes.get(height + 1)
        vals = None if new_set is None else self.sim.validator_keys_at(height + 1)
        post.append(Executed(height, vals))
        self.pending_request = None
        self.needs_pending = True

    def update_pending(self) -> None:
        live = self.mempool - self.committed_txs
        oldest = None if not live else min(live).to_bytes(8, "big")
        if oldest != self.oldest_sent:
            self.oldest_sent = oldest
            self.step(PendingWork(oldest))

    def try_propose(self, post: list[Event]) -> None:
        req = self.pending_request
        if req is None or "silent" in self.byz:
            return
        pool = sorted(self.mempool - self.committed_txs)
        if "censor" in self.byz:
            pool = [t for t in pool if t != int(self.byz["censor"])]
        if not pool:
            return
        self.pending_request = None
        size = min(self.sim.config.block_txs, MAX_BLOCK_TXS)  # never an invalid block
        proposal = make_proposal(req.height, req.parent, pool[:size])
        post.append(ProposalReady(proposal, req.view))

    def add_tx(self, tx: int) -> None:
        if not self.alive or tx in self.committed_txs:
            return
        self.mempool.add(tx)
        post: list[Event] = []
        self.try_propose(post)
        for ev in post:
            self.step(ev)
        self.update_pending()

    # ---------------------------------------------------------------- sending (+ Byzantine)

    def send(self, msg: Message, targets: list[bytes]) -> None:
        sim = self.sim
        if not self.byz or not isinstance(msg, SIGNED):
            data = encode_message(msg)
            if isinstance(msg, NewView):
                sim.new_views.append(msg)
            for t in targets:
                sim.transmit(
                    self, t, data, TYPE_NAMES[type(msg)], msg.height, getattr(msg, "view", -1)
                )
            return
        for to, data, name in self.byzantine_variants(msg, targets):
            sim.transmit(self, to, data, name, msg.height, msg.view)

    def _resign(self, msg: Any) -> Any:
        return dataclasses.replace(msg, signature=self.sign(msg.signing_bytes(CHAIN_ID)))

    def byzantine_variants(
        self, msg: SignedMessage, targets: list[bytes]
    ) -> list[tuple[bytes, bytes, str]]:
        name = TYPE_NAMES[type(msg)]
        byz = self.byz
        ordered = sorted(targets)
        half = len(ordered) // 2
        if "silent" in byz and isinstance(msg, PrePrepare | NewView):
            return []
        if "selective" in byz and isinstance(msg, PrePrepare):
            f = self.sim.vset_f()
            return [(t, encode_message(msg), name) for t in ordered[:f]]
        if "equivocate" in byz and isinstance(msg, PrePrepare) and len(targets) > 1:
            p = msg.proposal
            txs = (payload_txs(p.payload) or []) + [10**9 + p.height * 100 + msg.view]
            alt = self._resign(
                dataclasses.replace(msg, proposal=make_proposal(p.height, p.parent, txs))
            )
            return [
                (t, encode_message(msg if i < half else alt), name) for i, t in enumerate(ordered)
            ]
        if "double_vote" in byz and isinstance(msg, Prepare | CommitVote):
            alt = self._resign(dataclasses.replace(msg, digest=hashlib.sha256(msg.digest).digest()))
            res = [
                (t, encode_message(msg if i < half else alt), name) for i, t in enumerate(ordered)
            ]
            if ordered:  # one receiver sees both: it must log the equivocation as evidence
                res.append((ordered[0], encode_message(alt), name))
            return res
        if "invalid" in byz and isinstance(msg, PrePrepare) and msg.sender == self.key:
            bad = self._malformed(msg, byz["invalid"])
            return [(t, bad, name) for t in ordered]
        if "forge" in byz:
            sig = bytes([msg.signature[0] ^ 1]) + msg.signature[1:]
            data = encode_message(dataclasses.replace(msg, signature=sig))
            return [(t, data, name) for t in ordered]
        if "nosig" in byz:
            raw = msg.to_list()
            raw[-1] = b""
            return [(t, pack(raw), name) for t in ordered]
        if "tamper_view_change" in byz and isinstance(msg, ViewChange | NewView):
            if isinstance(msg, ViewChange):
                tampered: Any = dataclasses.replace(msg, view=msg.view + 1)
            else:
                tampered = (
                    dataclasses.replace(msg, pre_prepare=None)
                    if msg.pre_prepare
                    else (
                        dataclasses.replace(msg, view_changes=msg.view_changes[:-1])
                        if len(msg.view_changes) > 1
                        else msg
                    )
                )
            return [(t, encode_message(tampered), name) for t in ordered]
        res = [(t, encode_message(msg), name) for t in ordered]
        if "flood" in byz:
            res += self._flood(msg, ordered)
        if "flood_forged" in byz:
            res += self._flood_forged(msg, ordered)
        return res

    def _malformed(self, msg: PrePrepare, what: str) -> bytes:
        p = msg.proposal
        if what == "digest":
            bad = Proposal(p.height, p.parent, hashlib.sha256(p.digest).digest(), p.payload)
        elif what == "parent":
            bad = make_proposal(
                p.height, hashlib.sha256(p.parent).digest(), payload_txs(p.payload) or []
            )
        elif what == "height":
            bad = make_proposal(p.height + 2, p.parent, payload_txs(p.payload) or [])
        elif what == "view":
            return encode_message(self._resign(dataclasses.replace(msg, view=msg.view + 1)))
        else:
            raise ValueError(f"unknown invalid field {what!r}")
        return encode_message(self._resign(dataclasses.replace(msg, proposal=bad)))

    def _flood_forged(
        self, msg: SignedMessage, targets: list[bytes]
    ) -> list[tuple[bytes, bytes, str]]:
        """Junk for the next few heights naming honest validators (half) or random keys as
        senders, with made-up signatures; a quarter are PRE-PREPAREs with 4 KiB payloads."""
        rng = self.sim.rng
        honest = [h.key for h in self.sim.hosts if h.honest]
        out = []
        for i in range(self.sim.config.flood_per_send):
            sender = rng.choice(honest) if i % 2 else b"\x04" + rng.randbytes(64)
            h = msg.height + rng.randint(1, 8)
            v = rng.randint(0, 3)
            fake: Any
            if i % 4 == 0:
                body = rng.randbytes(4096)
                prop = Proposal(h, rng.randbytes(32), rng.randbytes(32), body)
                fake = PrePrepare(v, prop, sender, rng.randbytes(64))
            else:
                fake = Prepare(h, v, rng.randbytes(32), sender, rng.randbytes(64))
            self.sim.stats.flooded += len(targets)
            data = encode_message(fake)
            out += [(t, data, TYPE_NAMES[type(fake)]) for t in targets]
        return out

    def _flood(self, msg: SignedMessage, targets: list[bytes]) -> list[tuple[bytes, bytes, str]]:
        rng = self.sim.rng
        out = []
        for i in range(self.sim.config.flood_per_send):
            # near heights fill the bounded buffer; far heights and huge views must be dropped
            h = msg.height + (rng.randint(1, 8) if i % 2 else rng.randint(1, 10_000))
            v = rng.randint(0, 3) if i % 3 else rng.randint(0, 2**20)
            fake: Any = Prepare(h, v, rng.randbytes(32), self.key, b"\x00")
            if i % 5 == 0:
                fake = ViewChange(msg.height, v + 1, None, self.key, b"\x00")
            self.sim.stats.flooded += len(targets)
            data = encode_message(self._resign(fake))
            out += [(t, data, TYPE_NAMES[type(fake)]) for t in targets]
        return out


class Simulation:
    def __init__(self, config: SimConfig, plan: FaultPlan | None = None, suite: Any = None) -> None:
        """``suite``: keys, signer and verifier (default: the fast ``FakeSuite`` double; any
        object with its ``keypair(label)``, ``signer(public)`` and ``verify`` will do)."""
        self.config = config
        self.plan = plan or FaultPlan()
        self.rng = random.Random(config.seed)
        self.suite = suite if suite is not None else FakeSuite()
        self.now = 0
        self._seq = 0
        self._queue: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.stats = Stats()
        self.submitted: list[int] = []
        self.submit_times: dict[int, int] = {}
        self.decided: dict[int, bytes] = {}
        self.tx_height: dict[int, int] = {}
        self.honest_msgs: dict[tuple[bytes, int, int, int], bytes] = {}
        self._persist_crash_done: set[int] = set()
        self._decoded: dict[bytes, Message] = {}
        # Node i holds the i-th smallest key, so the primary of (height, view) at the genesis
        # set is node (height + view) % n: scripts can name primaries by arithmetic.
        keys = sorted(self.suite.keypair(f"node-{i}")[0] for i in range(config.n))
        keys += sorted(self.suite.keypair(f"extra-{i}")[0] for i in range(config.extra_nodes))
        self.hosts = [Host(self, i, k, self.suite) for i, k in enumerate(keys)]
        self.new_views: list[NewView] = []
        self.by_key = {h.key: h for h in self.hosts}
        for c in self.plan.crashes:
            if c.on_persist is None and c.on_commit < 0:
                self.at(c.at, self._crash, c.node, c.restart, c.tear)
        for h in self.hosts:
            h.start()
        self._next_tx = 0
        self.at(0, self._submit_tick)

    # ---------------------------------------------------------------- scheduling

    def at(self, when: int, fn: Callable[..., None], *args: Any) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, fn, args))

    def run(self, until: int) -> None:
        q = self._queue
        while q and q[0][0] <= until:
            when, _, fn, args = heapq.heappop(q)
            self.now = when
            fn(*args)
        self.now = until

    # ---------------------------------------------------------------- validators

    def validator_keys_at(self, height: int) -> tuple[bytes, ...]:
        members: tuple[int, ...] = tuple(range(self.config.n))
        for activation in sorted(self.config.validator_changes):
            if activation <= height:
                members = self.config.validator_changes[activation]
        return tuple(self.hosts[i].key for i in members)

    def vset_f(self) -> int:
        return (self.config.n - 1) // 3

    def others(self, host: Host) -> list[bytes]:
        return [h.key for h in self.hosts if h is not host]

    # ---------------------------------------------------------------- transactions

    def submit(self, tx: int) -> None:
        self.submitted.append(tx)
        self.submit_times[tx] = self.now
        for h in self.hosts:
            self.at(self.now + self.rng.randint(*self.config.delay), h.add_tx, tx)

    def _submit_tick(self) -> None:
        cfg = self.config
        if cfg.tx_until is not None and self.now >= cfg.tx_until:
            return
        self.submit(self._next_tx)
        self._next_tx += 1
        self.at(self.now + cfg.tx_interval, self._submit_tick)

    # ---------------------------------------------------------------- faults

    def _crash(self, node: int, restart: int | None, tear: int = 0) -> None:
        host = self.hosts[node]
        if host.alive:
            host.crash(tear)
        if restart is not None:
            self.at(max(restart, self.now), self._restart, node)

    def _restart(self, node: int) -> None:
        host = self.hosts[node]
        if not host.alive:
            host.restart()

    def crash_on_persist(self, host: Host, name: str) -> bool:
        for i, c in enumerate(self.plan.crashes):
            if (
                c.on_persist == name
                and c.node == host.idx
                and i not in self._persist_crash_done
                and host.persist_counts.get(name, 0) >= c.nth
                and self.now >= c.at
            ):
                self._persist_crash_done.add(i)
                host.crash(c.tear)
                if c.restart is not None:
                    self.at(max(c.restart, self.now + 1), self._restart, host.idx)
                return True
        return False

    def crash_on_commit(self, host: Host, height: int) -> bool:
        for c in self.plan.crashes:
            if c.on_commit == height and c.node == host.idx and host.alive:
                host.crash(c.tear)
                if c.restart is not None:
                    self.at(max(c.restart, self.now + 1), self._restart, host.idx)
                return True
        return False

    def _blocked(self, src: int, dst: int, mtype: str, height: int = -1, view: int = -1) -> bool:
        if any(p.splits(src, dst, self.now) for p in self.plan.partitions):
            return True
        for r in self.plan.rules:
            hit = r.kind == "drop" and r.matches(src, dst, mtype, self.now, height, view)
            if hit and self.rng.randrange(100) < r.pct:
                return True
        return False

    def _latency(self, src: int, dst: int, mtype: str) -> int:
        delay = self.rng.randint(*self.config.delay)
        for r in self.plan.rules:
            hit = r.kind in ("delay", "reorder") and r.matches(src, dst, mtype, self.now)
            if hit and self.rng.randrange(100) < r.pct:
                delay += self.rng.randint(r.lo, r.hi)
        return delay

    def transmit(
        self, src: Host, to: bytes, data: bytes, mtype: str, height: int = -1, view: int = -1
    ) -> None:
        dst = self.by_key.get(to)
        if dst is None or dst is src:
            return
        if self._blocked(src.idx, dst.idx, mtype, height, view):
            self.stats.dropped += 1
            return
        copies = 1
        for r in self.plan.rules:
            hit = r.kind == "duplicate" and r.matches(src.idx, dst.idx, mtype, self.now)
            if hit and self.rng.randrange(100) < r.pct:
                copies += 1
        for _ in range(copies):
            when = self.now + self._latency(src.idx, dst.idx, mtype)
            self.at(when, self._deliver, src.key, dst, dst.epoch, data)

    def _deliver(self, sender: bytes, dst: Host, epoch: int, data: bytes) -> None:
        if not dst.alive or dst.epoch != epoch:
            return
        msg = self._decoded.get(data)
        if msg is None:
            try:
                msg = decode_message(data)
            except ConsensusError:
                self.stats.rejected += 1
                return
            if len(self._decoded) > 4096:
                self._decoded.clear()
            self._decoded[data] = msg  # broadcasts: decode once, deliver n-1 times
        self.stats.delivered += 1
        dst.step(MessageReceived(sender, msg))

    def set_timer(self, host: Host, a: act.SetTimer) -> None:
        token = host.timer_tokens.get(a.kind, 0) + 1
        host.timer_tokens[a.kind] = token
        self.at(self.now + a.delay, self._fire, host, host.epoch, a, token)

    def _fire(self, host: Host, epoch: int, a: act.SetTimer, token: int) -> None:
        if host.alive and host.epoch == epoch and host.timer_tokens.get(a.kind) == token:
            host.step(Timeout(a.kind, a.height, a.view))

    def fetch(self, host: Host, a: act.RequestBlocks) -> None:
        peer = self.by_key.get(a.peer)
        if peer is None or not peer.alive or self._blocked(peer.idx, host.idx, "blocks"):
            return
        blocks = tuple(peer.chain[a.from_height - 1 : a.to_height])
        if "forge" in peer.byz and blocks:
            p, c = blocks[0]
            bad = Proposal(p.height, p.parent, p.digest, p.payload + b"\x00")
            blocks = ((bad, c),) + blocks[1:]
        when = self.now + self._latency(peer.idx, host.idx, "blocks")
        self.at(when, self._fetched, host, host.epoch, BlocksFetched(peer.key, blocks))

    def _fetched(self, host: Host, epoch: int, ev: BlocksFetched) -> None:
        if host.alive and host.epoch == epoch:
            host.step(ev)

    # ---------------------------------------------------------------- invariants

    def fail(self, text: str) -> None:
        raise Violation(f"seed {self.config.seed} t={self.now}: {text}")

    def check_own_message(self, host: Host, msg: SignedMessage) -> None:
        if not host.honest:
            return
        data = encode_message(msg)
        if data not in host.persisted:
            self.fail(f"node {host.idx} sent {type(msg).__name__} before persisting it")
        key = (host.key, msg.TAG, msg.height, msg.view)
        prev = self.honest_msgs.setdefault(key, data)
        if prev != data:
            self.fail(f"node {host.idx} signed two different {type(msg).__name__} at {key[2:]}")

    def check_commit(self, host: Host, a: act.Commit, height: int) -> None:
        p, cert = a.proposal, a.certificate
        if not host.honest:
            return
        if p.height != height:
            self.fail(f"node {host.idx} committed height {p.height}, expected {height}")
        prev = self.decided.setdefault(height, p.digest)
        if prev != p.digest:
            self.fail(f"agreement broken at height {height} on node {host.idx}")
        if not verify_commit_certificate(
            self.validator_keys_at(height), height, p.digest, cert, CHAIN_ID, self.suite.verify
        ):
            self.fail(f"node {host.idx} committed height {height} without a valid certificate")
        for tx in payload_txs(p.payload) or []:
            seen = self.tx_height.setdefault(tx, height)
            if seen != height:
                self.fail(f"tx {tx} in blocks {seen} and {height}")

    def check_host(self, host: Host) -> None:
        if not host.honest or not host.alive:
            return
        r = host.replica
        hv = (r.height, r.view)
        if hv < host.max_hv:
            self.fail(f"node {host.idx} went back from {host.max_hv} to {hv}")
        if hv != host.max_hv or not host.view_log:
            host.view_log.append((self.now, hv[0], hv[1]))
        host.max_hv = hv
        buffered = r.buffered
        host.max_buffered_seen = max(host.max_buffered_seen, buffered)
        if buffered > self.config.max_buffered + 64:
            self.fail(f"node {host.idx} buffers {buffered} messages")
        held = r.buffered_bytes
        host.max_buffered_bytes_seen = max(host.max_buffered_bytes_seen, held)
        if held > self.config.max_buffered_bytes:
            self.fail(f"node {host.idx} buffers {held} bytes")
        if len(r._future) > len(self.hosts):
            self.fail(f"node {host.idx} keeps {len(r._future)} future queues")

    def honest_hosts(self) -> list[Host]:
        return [h for h in self.hosts if h.honest]

    def liveness_gap(self, heal: int, min_blocks: int) -> str:
        """What L still misses: every honest live replica must have gained ``min_blocks``
        since ``heal`` and committed every tx submitted up to ``heal``. "" when met."""
        for h in self.honest_hosts():
            if not h.alive:
                continue
            gained = sum(1 for t in h.commit_times if t >= heal)
            if gained < min_blocks:
                return f"node {h.idx} gained {gained} blocks since the heal at {heal}"
            late = [
                t
                for t in self.submitted
                if self.submit_times[t] <= heal and t not in h.committed_txs
            ]
            if late:
                return f"node {h.idx} has not committed txs {late[:5]}"
        return ""

    def run_until_live(self, heal: int, window: int, min_blocks: int, step: int) -> int:
        """Run past the heal until L holds; raises Violation if it does not within ``window``.
        Returns the virtual time L took after the heal."""
        self.run(heal)
        t = heal
        while True:
            gap = self.liveness_gap(heal, min_blocks)
            if not gap:
                return t - heal
            if t >= heal + window:
                self.fail(f"liveness: {gap} within {window}")
            t += step
            self.run(t)

    def agreement_height(self) -> int:
        return min(len(h.chain) for h in self.honest_hosts() if h.alive)
