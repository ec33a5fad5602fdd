"""Node CPU per committed transaction, split by stage, from the nodes' own counters.

Each node counts its CPU by stage (``chainnode_stage_cpu_seconds_total{stage}``, see
``chainnode/ledger/stages.py``) beside the process's total from the process CPU clock
(``chainnode_process_cpu_seconds_total``). The bench reads both from every node's ``/metrics``
before and after the measured phase; the split per committed tx per node is the difference
over the committed count, and ``other`` is what the stages leave of the process's CPU. The
accounting's own cost is the spans it timed (``chainnode_stage_spans_total``) times what one
span costs on this machine.
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STAGE = re.compile(r'^chainnode_stage_cpu_seconds_total\{stage="(\w+)"\} (\S+)$', re.M)
SCALAR = r"^{name} (\S+)$"
#: Stages in the order the figures stack them (the background threads', event_loop and other
#: last; ``background``: both background threads together, as a node before their split says).
ORDER = (
    "http",
    "admission",
    "verify",
    "execute",
    "commit",
    "consensus",
    "compaction",
    "checkpoint",
    "background",
    "event_loop",
    "other",
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One node's counters at one moment."""

    stages: dict[str, float]
    process_cpu_s: float
    spans: float


def parse(text: str) -> Sample | None:
    """The counters in a ``/metrics`` body; None when the node does not count by stage."""
    stages = {name: float(v) for name, v in STAGE.findall(text)}
    proc = re.search(SCALAR.format(name="chainnode_process_cpu_seconds_total"), text, re.M)
    if proc is None:  # a node from before it: the clock-tick figure (10 ms steps)
        proc = re.search(SCALAR.format(name="process_cpu_seconds_total"), text, re.M)
    spans = re.search(SCALAR.format(name="chainnode_stage_spans_total"), text, re.M)
    if not stages or proc is None:
        return None
    return Sample(stages, float(proc.group(1)), float(spans.group(1)) if spans else 0.0)


def scrape(urls: Sequence[str], timeout: float = 5.0) -> list[Sample | None]:
    """Every node's counters now (None for a node that does not answer)."""
    out: list[Sample | None] = []
    for url in urls:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=timeout) as r:
                out.append(parse(r.read().decode()))
        except OSError:
            out.append(None)
    return out


def split(
    before: Sequence[Sample | None],
    after: Sequence[Sample | None],
    committed: int,
    span_cost_s: float | None = None,
) -> dict[str, Any] | None:
    """CPU per committed tx per node by stage (us), over the nodes sampled both times.

    ``per_node`` keeps each node's seconds by stage; ``us_per_tx`` is their mean over nodes
    divided by ``committed``; ``other`` is the process CPU the stages do not cover."""
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if b is not None and a is not None]
    if not pairs or committed <= 0:
        return None
    per_node: list[dict[str, float]] = []
    spans = 0.0
    for b, a in pairs:
        d = {k: a.stages[k] - b.stages.get(k, 0.0) for k in a.stages}
        d["other"] = max(0.0, (a.process_cpu_s - b.process_cpu_s) - sum(d.values()))
        d["process"] = a.process_cpu_s - b.process_cpu_s
        per_node.append(d)
        spans += a.spans - b.spans
    n = len(per_node)
    keys = [k for k in ORDER if any(k in d for d in per_node)]
    keys += sorted({k for d in per_node for k in d} - set(keys) - {"process"})
    us = {k: 1e6 * sum(d.get(k, 0.0) for d in per_node) / n / committed for k in keys}
    total = 1e6 * sum(d["process"] for d in per_node) / n / committed
    spans_per_tx = spans / n / committed
    return {
        "nodes": n,
        "committed": committed,
        "per_node": per_node,
        "us_per_tx": us,
        "process_us_per_tx": total,
        "other_share": us.get("other", 0.0) / total if total > 0 else None,
        "spans_per_tx": spans_per_tx,
        "accounting_us_per_tx": spans_per_tx * 1e6 * span_cost_s if span_cost_s else None,
    }


def span_cost_s(n: int = 50_000) -> float:
    """What one stage span (enter and exit: two reads of the thread's CPU clock) costs here."""
    from chainnode.ledger.stages import StageClock

    span = StageClock().span("execute")
    t0 = time.perf_counter()
    for _ in range(n):
        with span:
            pass
    return (time.perf_counter() - t0) / n
