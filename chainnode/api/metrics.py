"""Prometheus metrics of one node, in a registry of its own (never the process-global one).

Hot paths pay almost nothing: commit-time figures come from one ledger ``on_commit`` listener
per block, admission rejections and signature verifications are counted once per batch, and
everything that is already kept elsewhere (mempool size, peers, p2p byte totals, view) is read
only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from chainnode.ledger.stages import StageClock
from storage import LevelStats

__all__ = ["CONTENT_TYPE_LATEST", "NodeMetrics"]

ROUND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def package_version() -> str:
    """The installed chainnode distribution's version ("unknown" from a bare checkout)."""
    try:
        return version("chainnode")
    except PackageNotFoundError:
        return "unknown"


class _Scraped(Collector):
    """Values the node keeps anyway, read at scrape time."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        v = self._read()
        yield GaugeMetricFamily(
            "chainnode_mempool_transactions", "Transactions waiting in the mempool.", v["mempool"]
        )
        yield GaugeMetricFamily(
            "chainnode_mempool_bytes", "Encoded size of the mempool's transactions.", v["mempool_b"]
        )
        yield GaugeMetricFamily("chainnode_peers", "Connected p2p peers.", v["peers"])
        role = GaugeMetricFamily(
            "chainnode_role",
            "1 for this node's role: validator (votes) or observer (follows, never votes).",
            labels=["role"],
        )
        role.add_metric(["validator"], v.get("validator", 0.0))
        role.add_metric(["observer"], 1.0 - v.get("validator", 0.0))
        yield role
        yield GaugeMetricFamily(
            "chainnode_consensus_view", "Current consensus view at the current height.", v["view"]
        )
        yield GaugeMetricFamily(
            "chainnode_admission_backlog_limit",
            "Waiting transactions at which clients' submissions are refused (503 BUSY): what"
            " the chain commits in admission_backlog_s at its measured rate.",
            v.get("backlog_limit", 0.0),
        )
        yield CounterMetricFamily(
            "chainnode_admission_busy_refusals",
            "Client submissions refused with 503 BUSY (more waiting than the budget).",
            v.get("busy_refusals", 0.0),
        )
        yield CounterMetricFamily(
            "chainnode_p2p_received_bytes", "Bytes received from peers.", v["bytes_in"]
        )
        yield CounterMetricFamily(
            "chainnode_p2p_sent_bytes", "Bytes sent to peers.", v["bytes_out"]
        )

    def describe(self) -> Iterable[Metric]:
        return []


class _StageCPU(Collector):
    """``chainnode_stage_cpu_seconds_total{stage}``: the node's CPU by stage of its work
    (:class:`~chainnode.ledger.stages.StageClock`), read at scrape time. What the stages and
    ``event_loop`` leave of ``process_cpu_seconds_total`` is the unattributed rest."""

    def __init__(self, stages: StageClock) -> None:
        self._stages = stages

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily(
            "chainnode_stage_cpu_seconds",
            "CPU seconds by stage: http (a submission's body and its txs' decoding, the "
            "answer), admission (the mempool's checks; gossiped txs' decoding), verify "
            "(signatures, crypto's threads included), execute (block build and validation), "
            "commit (storage, commit listeners), consensus (messages, steps), event_loop (the "
            "loop thread outside those: asyncio, the HTTP server, p2p I/O), compaction "
            "(LevelDB's flushes and compactions), checkpoint (state checkpoint computations).",
            labels=["stage"],
        )
        for stage, seconds in self._stages.totals().items():
            fam.add_metric([stage], seconds)
        yield fam
        yield CounterMetricFamily(
            "chainnode_process_cpu_seconds",
            "CPU seconds of the whole process, every thread (CLOCK_PROCESS_CPUTIME_ID: finer "
            "than process_cpu_seconds_total's clock ticks): what the stages are a split of.",
            time.process_time(),
        )
        yield CounterMetricFamily(
            "chainnode_stage_spans",
            "Stage spans timed (each reads the thread's CPU clock twice: the accounting's cost).",
            self._stages.spans(),
        )

    def describe(self) -> Iterable[Metric]:
        return []


class _StorageLevels(Collector):
    """The store's LevelDB levels (:mod:`storage.levels`), read at scrape time: files and bytes
    per level, and the flush and compaction work that wrote into each since the node started.
    A block's synced write waits behind that work on the disk
    (``chainnode_block_write_duration_seconds``)."""

    #: (family, metric name, help, LevelStats field), one row per metric
    FAMILIES = (
        (
            GaugeMetricFamily,
            "chainnode_storage_level_files",
            "LevelDB table files per level (level 0 past 8: LevelDB delays every write until "
            "compaction catches up; past 12 it stops them).",
            "files",
        ),
        (
            GaugeMetricFamily,
            "chainnode_storage_level_bytes",
            "LevelDB bytes per level (whole MiB).",
            "size_bytes",
        ),
        (
            CounterMetricFamily,
            "chainnode_storage_compaction_seconds",
            "Time of the memtable flushes (level 0) and compactions that wrote into the level "
            "since the node started (whole seconds).",
            "compaction_seconds",
        ),
        (
            CounterMetricFamily,
            "chainnode_storage_compaction_read_bytes",
            "Bytes those compactions read (whole MiB).",
            "read_bytes",
        ),
        (
            CounterMetricFamily,
            "chainnode_storage_compaction_written_bytes",
            "Bytes memtable flushes (level 0) and compactions wrote into the level (whole MiB).",
            "written_bytes",
        ),
    )

    def __init__(self, read: Callable[[], Sequence[LevelStats]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        rows = self._read()
        for family, name, help_text, field in self.FAMILIES:
            fam = family(name, help_text, labels=["level"])
            for row in rows:
                fam.add_metric([str(row.level)], getattr(row, field))
            yield fam

    def describe(self) -> Iterable[Metric]:
        return []


class NodeMetrics:
    """The metrics of the issue; ``render()`` is the ``/metrics`` body."""

    # long: the metric declarations, one statement each (a table)
    def __init__(self, node_id: str, chain_id: str) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # the standard process_* (CPU, memory, fds, start time) and python_* (version, gc)
        # families, in this registry as in the global one
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        Info("chainnode_node", "Identity of this node.", registry=r).info(
            {"node_id": node_id, "chain_id": chain_id}
        )
        Info("chainnode_build", "The chainnode release this node runs.", registry=r).info(
            {"version": package_version()}
        )
        self.height = Gauge("chainnode_height", "Height of the last committed block.", registry=r)
        self.blocks = Counter(
            "chainnode_blocks_committed", "Blocks committed by this node.", registry=r
        )
        self.txs = Counter(
            "chainnode_txs_committed", "Transactions committed by this node.", registry=r
        )
        self.tx_failed = Counter(
            "chainnode_txs_failed",
            "Committed transactions whose execution failed (receipt status failed).",
            registry=r,
        )
        self.rejections = Counter(
            "chainnode_mempool_rejections",
            "Transactions refused at admission, by reason code.",
            ["reason"],
            registry=r,
        )
        self.view_changes = Counter(
            "chainnode_consensus_view_changes", "View changes this node went through.", registry=r
        )
        self.round = Histogram(
            "chainnode_consensus_round_duration_seconds",
            "Time from one commit to the next on this node (one consensus round per height).",
            buckets=ROUND_BUCKETS,
            registry=r,
        )
        self.commit_latency = Histogram(
            "chainnode_block_commit_latency_seconds",
            "From the block's proposal timestamp to its commit on this node.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.block_write = Histogram(
            "chainnode_block_write_duration_seconds",
            "Each committed block's synced storage write (LevelDB write and fsync): the chain "
            "waits for it, so a disk busy with other writes shows here first.",
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.verified = Counter(
            "chainnode_signatures_verified",
            "Transaction signatures verified (rate() of it is the verify rate).",
            registry=r,
        )
        self.verify_seconds = Counter(
            "chainnode_signature_verify_seconds",
            "Wall time spent verifying transaction signatures.",
            registry=r,
        )
        self.http = Histogram(
            "chainnode_http_request_duration_seconds",
            "HTTP API latency by route (streams excluded).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.http_responses = Counter(
            "chainnode_http_responses",
            "HTTP responses by route and status.",
            ["route", "code"],
            registry=r,
        )
        self.event_subscribers = Gauge(
            "chainnode_event_subscribers", "Open /v1/events streams.", registry=r
        )
        self.event_drops = Counter(
            "chainnode_event_subscribers_dropped",
            "Event streams closed because the consumer fell too far behind.",
            registry=r,
        )
        self.stages = StageClock()
        r.register(_StageCPU(self.stages))
        self._last_commit: float | None = None
        self._height = -1
        self._view = 0

    def scrape_from(self, read: Callable[[], dict[str, float]]) -> None:
        self.registry.register(_Scraped(read))

    def storage_from(self, read: Callable[[], Sequence[LevelStats]]) -> None:
        """Report the store's LevelDB levels (``Ledger.storage_levels``) at each scrape."""
        self.registry.register(_StorageLevels(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- listeners / batch counters ---------------------------------------------------------

    def committed(self, block: Any, receipts: Sequence[Any]) -> None:
        """Ledger on_commit listener: one call per block."""
        now = time.monotonic()
        self.height.set(block.height)
        self.blocks.inc()
        if receipts:
            self.txs.inc(len(receipts))
            failed = sum(1 for r in receipts if not r.ok)
            if failed:
                self.tx_failed.inc(failed)
        if self._last_commit is not None:
            self.round.observe(now - self._last_commit)
        self._last_commit = now
        self.commit_latency.observe(max(0.0, time.time() - block.header.timestamp / 1000))

    def admitted(self, admissions: Sequence[Any]) -> None:
        """Count the rejected ones of one admission batch by reason."""
        bad = Tally(str(a.code) for a in admissions if not a.accepted)
        for reason, n in bad.items():
            self.rejections.labels(reason).inc(n)

    def block_written(self, seconds: float) -> None:
        self.block_write.observe(seconds)

    def verified_batch(self, n: int, seconds: float) -> None:
        if n:
            self.verified.inc(n)
            self.verify_seconds.inc(seconds)

    def consensus_at(self, height: int, view: int) -> None:
        """Called after consensus steps: a higher view at the same height is a view change."""
        if height == self._height and view > self._view:
            self.view_changes.inc(view - self._view)
        self._height, self._view = height, view
