"""When a primary proposes: as soon as a transaction waits, or under load after a short fill.

Every block costs each validator a fixed amount besides its transactions: the round's
messages (signed, sent, verified), the proposal's roots, a WAL append and two synced LevelDB
batches, the thread hand-offs; about 8 ms of CPU per block per node on 4 validators sharing 2
cores. A primary that proposes as soon as a transaction waits makes many small blocks under
a moderate load (~150 txs at 2,000 tx/s there), and that overhead is a quarter of each
transaction's CPU. With a fill (``proposal_batch_wait_ms`` > 0), the primary batches once the
chain is loaded:

- after a full block (``max_block_txs``): up to the genesis ``block_interval_ms`` from that
  commit, for a full block (the chain is saturated; also without a fill, as ever);
- when, at the rate the chain has been committing, a wait of ``wait_s`` would bring at least
  a quarter of ``target`` more txs (loaded): up to ``wait_s`` from the last commit, for
  ``target`` waiting txs;
- otherwise (light load, a lone transaction, a new chain): at once.

Load is judged by the commit rate, not by the last block's size: a block grows when its
primary waits, so a size threshold would keep a chain that once waited waiting at a load it
would not have started to (two steady states at one rate, seen at ~900 tx/s); the rate is
what clients send, whichever way it is batched.

Why off by default: measured on 4 validators sharing 2 cores (``python -m bench.run
--validators 4 --rate 2000``, four runs each, paired), a 512-tx, 80 ms fill cut the node CPU
per tx from 199 to 175 us (medians) and raised latency from p50 0.06 / p99 0.31 s to p50
0.23 / p99 0.47 s: bigger blocks also take longer to run through a round, which runs one
block at a time. Over the whole load sweep it did not raise the sustained peak (one pair:
2,648 against 3,056 tx/s). So a chain whose validators have cores to spare keeps the lower
latency; one whose validators are short of CPU can trade latency for it.

Only the timing of a proposal is the node's own choice: what a block may hold and how it is
checked are the chain's rules, so this is node configuration, not genesis.
"""

from __future__ import annotations

from chainnode.model.genesis import ConsensusParams
from chainnode.node.commit_rate import DecayedRate

DECAY = 0.8
"""Weight of the past in the commit rate, per commit: about the last five blocks count."""


class Batching:
    """The primary's batching rule (see the module docstring): fed each commit, asked before
    each proposal. Times are monotonic seconds, passed in (a pure rule, tested without a
    clock)."""

    __slots__ = ("interval_s", "full", "target", "wait_s", "_rate", "_last", "_full")

    def __init__(self, interval_s: float, full: int, target: int, wait_s: float) -> None:
        """`interval_s`, `full`: the genesis ``block_interval_ms`` (in seconds) and
        ``max_block_txs``; `target`, `wait_s`: under load, the waiting txs a proposal goes out
        for at once and the longest wait after a commit for them (either 0: never wait but
        after a full block)."""
        self.interval_s = interval_s
        self.full = full
        self.target = target
        self.wait_s = wait_s
        self._rate = DecayedRate(DECAY)  # over the intervals between commits
        self._last: float | None = None  # the last commit
        self._full = False  # the last block was full

    @classmethod
    def of(cls, params: ConsensusParams, target: int = 0, wait_ms: int = 0) -> Batching:
        """The rule of a chain with consensus `params`, and a fill of `target`, `wait_ms`."""
        return cls(params.block_interval_ms / 1000, params.max_block_txs, target, wait_ms / 1000)

    def committed(self, txs: int, now: float) -> None:
        """A block of `txs` committed at `now`."""
        if self._last is not None:
            self._rate.add(txs, now - self._last)
        self._last = now
        self._full = txs >= self.full

    @property
    def rate(self) -> float:
        """Transactions a second the chain has been committing (0 before two commits)."""
        return self._rate.rate or 0.0

    @property
    def loaded(self) -> bool:
        """A wait would bring at least a quarter of the target at the commit rate."""
        return self.target > 0 and self.wait_s > 0 and 4 * self.rate * self.wait_s >= self.target

    def wait(self) -> tuple[float, int] | None:
        """(until when, for how many waiting txs) the primary waits before it proposes; None:
        at once."""
        if self._last is None:
            return None
        if self._full:
            return self._last + self.interval_s, self.full
        if self.loaded:
            return self._last + self.wait_s, min(self.target, self.full)
        return None
