"""Table, JSON and PNG outputs of the bench harness."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.harness import report
from bench.harness.progress import Progress


def test_table_aligns_and_formats() -> None:
    out = report.table(
        [
            {"config": "4 val", "tps": 1234.5, "p99": 0.4567, "rejected": 0},
            {"config": "1 val", "tps": math.nan, "p99": 2.5, "rejected": 12},
        ]
    )
    lines = out.splitlines()
    assert lines[0].split() == ["config", "tps", "p99", "rejected"]
    assert "1,234" in lines[2] or "1,235" in lines[2]
    assert "0.457" in lines[2]
    assert lines[3].split()[2] == "-"  # NaN shown as a dash
    assert len({len(line) for line in lines[:3]}) == 1


def test_json_has_no_nan(tmp_path: Path) -> None:
    p = tmp_path / "out" / "r.json"
    report.write_json(p, {"tps": math.nan, "nested": {"x": [1.0, math.inf]}, "ok": 1})
    doc = json.loads(p.read_text())
    assert doc == {"tps": None, "nested": {"x": [1.0, None]}, "ok": 1}


def test_png_is_written(tmp_path: Path) -> None:
    p = tmp_path / "r.png"
    submits = [i * 0.01 for i in range(500)]
    commits = [t + 0.3 + (i % 7) * 0.05 for i, t in enumerate(submits)]
    lat = [c - s for c, s in zip(commits, submits, strict=True)]
    sweep = [
        {"offered_tps": 100.0, "tps": 99.0, "latency_p99_s": 0.5},
        {"offered_tps": 200.0, "tps": 180.0, "latency_p99_s": 3.5},
    ]
    report.write_png(p, "test", submits, commits, lat, 0.0, sweep=sweep, bound=150.0)
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000


def test_progress_counts_to_total() -> None:
    import io

    buf = io.StringIO()
    bar = Progress("x", 10, stream=buf)
    for _ in range(4):
        bar.advance(3)
    bar.close()
    assert bar.done == 10
    assert "10/10" in buf.getvalue()


def test_profile_summary_of_collapsed_stacks(tmp_path: Path) -> None:
    from bench.harness.profile import summarise

    p = tmp_path / "n.collapsed"
    p.write_text(
        'process 1:"python -c import x; main(1)";thread (1): MainThread;'
        "run (a/runtime.py:10);execute (c/vm.py:5) 30\n"
        'process 1:"python -c import x; main(1)";thread (1): MainThread;'
        "run (a/runtime.py:12);verify_digest (crypto/_openssl.py:213) 70\n"
        "garbage line\n"
    )
    s = summarise(p)
    assert s["samples"] == 100
    assert s["self"][0] == ("verify_digest (_openssl.py)", 0.7)
    assert ("run (runtime.py)", 1.0) in s["inclusive"]
    assert all("process" not in f and "thread" not in f for f, _ in s["inclusive"])
