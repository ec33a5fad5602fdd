"""Every submitted transaction ends committed exactly once or rejected with its reason.

The driver reports what it sent (and when), what each node answered at admission, and every
block it sees (from any node, first sighting wins for the commit time). ``verdict()`` sorts each
tx into committed / rejected / lost and flags anything that breaks "exactly once": a tx in two
blocks, a rejected tx that committed anyway, nodes that disagree on a block, a block tx nobody
sent (fine: other clients) is counted but not an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class TxRecord:
    index: int
    submitted_at: float | None = None
    node: int | None = None
    accepted: bool | None = None
    reason: str | None = None
    committed_at: float | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    submitted: int
    committed: int
    rejected: int
    lost: int
    rejected_reasons: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.lost == 0


class Accounting:
    """Book-keeping of one run, keyed by tx hash."""

    def __init__(self) -> None:
        self.txs: dict[bytes, TxRecord] = {}
        self.blocks: dict[int, bytes] = {}  # height -> block hash (first seen)
        self.block_seen: dict[int, float] = {}  # height -> time first seen
        self.block_txs: dict[int, int] = {}  # height -> tx count
        self.foreign_txs = 0
        self.problems: list[str] = []
        self._inclusions: Counter[bytes] = Counter()

    def expect(self, hashes: Sequence[bytes], first_index: int = 0) -> None:
        """Register txs the driver may send (their order defines ``TxRecord.index``)."""
        for i, h in enumerate(hashes):
            if h in self.txs:
                raise ValueError(f"duplicate tx hash in the workload: {h.hex()}")
            self.txs[h] = TxRecord(first_index + i)

    def submitted(self, hashes: Iterable[bytes], at: float, node: int) -> None:
        for h in hashes:
            rec = self.txs[h]
            if rec.submitted_at is not None:
                self.problems.append(f"tx {h.hex()} submitted twice")
            rec.submitted_at = at
            rec.node = node

    def admitted(self, tx_hash: bytes, accepted: bool, reason: str | None = None) -> None:
        rec = self.txs.get(tx_hash)
        if rec is None:
            self.problems.append(f"admission for a tx never sent: {tx_hash.hex()}")
            return
        rec.accepted = accepted
        rec.reason = None if accepted else (reason or "rejected")

    def unconfirmed(self, hashes: Iterable[bytes], reason: str) -> None:
        """No answer for these (a timeout, a dropped connection): they may or may not be in a
        mempool. Committed later, they count as committed; otherwise as rejected for
        ``reason``."""
        for h in hashes:
            rec = self.txs[h]
            if rec.accepted is None:
                rec.reason = reason

    def block(
        self, height: int, block_hash: bytes, tx_hashes: Sequence[bytes], seen_at: float
    ) -> int:
        """A block seen on some node: how many of our txs it newly commits (0 when this height
        was already booked)."""
        known = self.blocks.get(height)
        if known is not None:
            if known != block_hash:
                self.problems.append(
                    f"two blocks at height {height}: {known.hex()} and {block_hash.hex()}"
                )
            return 0
        self.blocks[height] = block_hash
        self.block_seen[height] = seen_at
        self.block_txs[height] = len(tx_hashes)
        fresh = 0
        for h in tx_hashes:
            self._inclusions[h] += 1
            rec = self.txs.get(h)
            if rec is None:
                self.foreign_txs += 1
                continue
            if rec.committed_at is None:
                rec.committed_at = seen_at
                rec.height = height
                fresh += 1
            else:
                self.problems.append(
                    f"tx {h.hex()} committed twice (heights {rec.height} and {height})"
                )
        return fresh

    def _records(self, only: range | None) -> Iterable[tuple[bytes, TxRecord]]:
        if only is None:
            return self.txs.items()
        return ((h, r) for h, r in self.txs.items() if r.index in only)

    def pending(self, only: range | None = None) -> int:
        """Sent, not known to be rejected, not yet seen in a block."""
        return sum(
            1
            for _, r in self._records(only)
            if r.submitted_at is not None
            and r.committed_at is None
            and r.accepted is not False
            and not (r.accepted is None and r.reason)
        )

    def unconfirmed_count(self, only: range | None = None) -> int:
        """Sent in a refused batch, fate unknown, not seen in a block (yet)."""
        return sum(
            1
            for _, r in self._records(only)
            if r.submitted_at is not None
            and r.committed_at is None
            and r.accepted is None
            and r.reason
        )

    def latencies(self, only: range | None = None) -> list[float]:
        return [
            r.committed_at - r.submitted_at
            for _, r in self._records(only)
            if r.committed_at is not None and r.submitted_at is not None
        ]

    def commit_blocks(self, only: range | None = None) -> list[tuple[float, int]]:
        """(time first seen, txs of ours) per block, for the steady-window TPS."""
        ours: Counter[int] = Counter()
        for _, r in self._records(only):
            if r.height is not None and r.submitted_at is not None:
                ours[r.height] += 1
        return [(self.block_seen[h], ours.get(h, 0)) for h in sorted(self.block_seen)]

    def verdict(self, only: range | None = None) -> Verdict:
        problems = list(self.problems)
        committed = rejected = lost = 0
        reasons: Counter[str] = Counter()
        for h, r in self._records(only):
            if r.submitted_at is None:
                if r.committed_at is not None:
                    problems.append(f"tx {h.hex()} committed but never submitted")
                continue
            if r.committed_at is not None:
                committed += 1
                if r.accepted is False:
                    problems.append(f"tx {h.hex()} rejected ({r.reason}) but committed")
            elif r.accepted is False or r.reason:
                rejected += 1
                reasons[r.reason or "rejected"] += 1
            else:
                lost += 1
        submitted = committed + rejected + lost
        return Verdict(submitted, committed, rejected, lost, dict(reasons), problems)


def cross_check(
    chains: Sequence[Sequence[tuple[int, bytes, Sequence[bytes]]]], ours: Iterable[bytes]
) -> list[str]:
    """Problems across nodes' full chains [(height, block hash, tx hashes)]: every node must hold
    the same block at every height both have, and each of ``ours`` at most once per chain."""
    problems: list[str] = []
    reference: dict[int, bytes] = {}
    mine = set(ours)
    for n, chain in enumerate(chains):
        seen: Counter[bytes] = Counter()
        for height, block_hash, txs in chain:
            ref = reference.setdefault(height, block_hash)
            if ref != block_hash:
                problems.append(f"node {n} has a different block at height {height}")
            seen.update(h for h in txs if h in mine)
        problems += [f"node {n} holds tx {h.hex()} {c} times" for h, c in seen.items() if c > 1]
    return problems


def dump(acc: Accounting) -> list[dict[str, object]]:
    """One line per tx: what became of it (for offline checks against the nodes), and when:
    its latency over time shows what a tail percentile alone hides (a stall, its height)."""
    out: list[dict[str, object]] = []
    for h, r in acc.txs.items():
        if r.submitted_at is None:
            status = "unsent"
        elif r.committed_at is not None:
            status = "committed"
        elif r.accepted is False or r.reason:
            status = "rejected"
        else:
            status = "lost"
        out.append(
            {
                "hash": h.hex(),
                "index": r.index,
                "status": status,
                "reason": r.reason if status == "rejected" else None,
                "height": r.height,
                "node": r.node,
                "submitted_at": r.submitted_at,  # the driver's monotonic clock, seconds
                "latency_s": (
                    r.committed_at - r.submitted_at
                    if r.committed_at is not None and r.submitted_at is not None
                    else None
                ),
            }
        )
    return out
