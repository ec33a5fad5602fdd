"""Reading the nodes' per-stage CPU counters and splitting them per committed tx."""

from __future__ import annotations

import pytest

from bench.harness import stagecpu


def _metrics(stages: dict[str, float], process: float, spans: float, ticks: float = 0.0) -> str:
    lines = ["# HELP chainnode_stage_cpu_seconds_total CPU seconds by stage."]
    lines += [f'chainnode_stage_cpu_seconds_total{{stage="{k}"}} {v}' for k, v in stages.items()]
    lines += [
        f"process_cpu_seconds_total {ticks}",
        f"chainnode_process_cpu_seconds_total {process}",
        f"chainnode_stage_spans_total {spans}",
    ]
    return "\n".join(lines) + "\n"


def test_parse_reads_stages_process_and_spans() -> None:
    s = stagecpu.parse(_metrics({"verify": 1.5, "execute": 2.0}, 4.25, 100.0, ticks=4.2))
    assert s == stagecpu.Sample({"verify": 1.5, "execute": 2.0}, 4.25, 100.0)
    assert stagecpu.parse("process_cpu_seconds_total 3.0\n") is None  # an older node


def test_parse_falls_back_to_clock_ticks_for_older_nodes() -> None:
    text = 'chainnode_stage_cpu_seconds_total{stage="verify"} 1.0\nprocess_cpu_seconds_total 2.5\n'
    s = stagecpu.parse(text)
    assert s is not None and s.process_cpu_s == 2.5 and s.spans == 0.0


def test_split_per_committed_tx_per_node_with_the_rest_as_other() -> None:
    b = stagecpu.Sample({"verify": 1.0, "execute": 1.0}, 3.0, 0.0)
    a1 = stagecpu.Sample({"verify": 1.2, "execute": 1.5}, 3.8, 500.0)  # +0.2 +0.5 of 0.8
    a2 = stagecpu.Sample({"verify": 1.4, "execute": 1.3}, 4.0, 300.0)  # +0.4 +0.3 of 1.0
    sc = stagecpu.split([b, b, None], [a1, a2, a1], committed=1000, span_cost_s=1e-6)
    assert sc is not None and sc["nodes"] == 2  # the node not sampled before is left out
    us = sc["us_per_tx"]
    assert us["verify"] == pytest.approx(300.0)  # (0.2 + 0.4) / 2 nodes / 1000 txs
    assert us["execute"] == pytest.approx(400.0)
    assert us["other"] == pytest.approx(200.0)  # (0.1 + 0.3) / 2 / 1000
    assert sc["process_us_per_tx"] == pytest.approx(900.0)
    assert list(us) == ["verify", "execute", "other"]  # the figures' stacking order
    assert sc["spans_per_tx"] == pytest.approx(0.4)
    assert sc["accounting_us_per_tx"] == pytest.approx(0.4)
    assert stagecpu.split([b], [a1], committed=0) is None


def test_the_background_threads_are_split_out_of_other_in_their_stacking_place() -> None:
    b = stagecpu.Sample(
        {"execute": 1.0, "checkpoint": 0.1, "compaction": 0.5, "event_loop": 0.1}, 2.0, 0.0
    )
    a = stagecpu.Sample(
        {"execute": 1.3, "checkpoint": 0.15, "compaction": 0.7, "event_loop": 0.2}, 2.75, 0.0
    )
    sc = stagecpu.split([b], [a], committed=1000)
    assert sc is not None
    us = sc["us_per_tx"]
    assert us["compaction"] == pytest.approx(200.0)  # 0.2 s / 1000 txs
    assert us["checkpoint"] == pytest.approx(50.0)
    assert us["other"] == pytest.approx(100.0)  # 0.75 - 0.3 - 0.2 - 0.05 - 0.1
    assert list(us) == ["execute", "compaction", "checkpoint", "event_loop", "other"]


def test_a_node_from_before_the_split_still_reports_its_background() -> None:
    b = stagecpu.Sample({"execute": 1.0, "background": 0.5}, 2.0, 0.0)
    a = stagecpu.Sample({"execute": 1.3, "background": 0.7}, 2.6, 0.0)
    sc = stagecpu.split([b], [a], committed=1000)
    assert sc is not None
    assert sc["us_per_tx"]["background"] == pytest.approx(200.0)
    assert list(sc["us_per_tx"]) == ["execute", "background", "other"]
