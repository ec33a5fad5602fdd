"""Workload calls follow the stdlib contracts and their setup needs."""

from __future__ import annotations

import pytest

from bench.harness import workloads
from bench.harness.workloads import EVENTS_PER_BATCH as EPB


def test_calls_are_distinct_and_deterministic() -> None:
    for name, w in workloads.WORKLOADS.items():
        calls = [w.call(i, 0) for i in range(300)]
        assert calls == [w.call(i, 0) for i in range(300)], name
        assert len(set(calls)) == 300, name
        assert {c.contract for c in calls} <= {"records", "evidence", "traceability"}
    ev = workloads.evidence_call(3, 0)
    assert ev.method == "register" and len(ev.args[0]) == 64 and ev.args[1]
    tr = workloads.traceability_call(EPB + 1, 5)
    assert tr.method == "add_event" and tr.args[0] == workloads.batch_id(1, 5)
    assert tr.args[1] in ["planting", "harvest", "inspection", "processing", "transport", "sale"]


def test_setup_ranges_cover_the_batches_used() -> None:
    t = workloads.get("traceability")
    assert t.setup_needed(0, 1) == range(0, 1)
    assert t.setup_needed(0, EPB) == range(0, 1)
    assert t.setup_needed(0, EPB + 1) == range(0, 2)
    assert t.setup_needed(3 * EPB, 10) == range(3, 4)
    assert t.setup_needed(0, 0) == range(0)
    m = workloads.get("mix")
    n = 3 * EPB + 3
    used = {m.call(i, 0).args[0] for i in range(n) if m.call(i, 0).contract == "traceability"}
    assert used == {workloads.batch_id(b, 0) for b in m.setup_needed(0, n)}
    assert workloads.get("evidence").setup_needed(0, 1000) == range(0)
    with pytest.raises(ValueError):
        workloads.get("nope")


def test_traceability_events_are_signed_by_the_batch_owner() -> None:
    for name in ("traceability", "mix"):
        w = workloads.get(name)
        for i in range(0, 5 * EPB * 3, 7):
            c = w.call(i, 0)
            if c.contract == "traceability":
                b = int(c.args[0].rsplit("-", 1)[1])
                assert w.sender(i, 16) == b % 16, (name, i)
    assert workloads.get("evidence").sender(21, 16) == 5
