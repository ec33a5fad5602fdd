"""Table, JSON and PNG outputs of the bench harness."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from bench.harness import figures, report
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


TESTDATA = Path(__file__).resolve().parents[1] / "testdata" / "bench"


def _png(path: Path) -> tuple[int, int, Any]:
    """Width, height and pixels (rows x columns x RGBA floats) of a PNG, read back."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
    return width, height, matplotlib.image.imread(path)


def _has_colour(pixels: Any, hex_rgb: str, at_least: int = 200) -> bool:
    want = [int(hex_rgb[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    close = (abs(pixels[:, :, :3] - want) < 0.02).all(axis=2)
    return int(close.sum()) >= at_least


def test_run_png_from_a_recorded_result(tmp_path: Path) -> None:
    """A recorded 4-validator run drawn again from its JSON alone: three panels at the size
    asked for, and the stage bars in their colours (verify red, execute green)."""
    doc = json.loads((TESTDATA / "run-4v-small.json").read_text())
    p = tmp_path / "run.png"
    figures.write_run_png(p, doc, "recorded run")
    width, height, pixels = _png(p)
    assert (width, height) == (18 * 80, int(5.2 * 80))
    assert p.stat().st_size < 200_000
    assert _has_colour(pixels, figures.COLOURS_HEX["verify"])
    assert _has_colour(pixels, figures.COLOURS_HEX["execute"])
    # not blank: the panels hold far more than a background and a few lines
    assert (pixels[:, :, :3] < 0.9).any(axis=2).mean() > 0.03


def test_run_png_of_a_sweep_has_a_fourth_panel(tmp_path: Path) -> None:
    doc = json.loads((TESTDATA / "run-4v-small.json").read_text())
    doc["sweep"] = [
        {"offered_tps": 400.0, "tps": 399.0, "latency_p99_s": 0.2},
        {"offered_tps": 800.0, "tps": 790.0, "latency_p99_s": 0.5},
        {"offered_tps": 1600.0, "tps": 1100.0, "latency_p99_s": 4.0},
    ]
    p = tmp_path / "sweep.png"
    figures.write_run_png(p, doc, "sweep")
    width, _, _ = _png(p)
    assert width == 24 * 80


def test_run_png_without_stage_counters_says_so(tmp_path: Path) -> None:
    doc = json.loads((TESTDATA / "run-4v-small.json").read_text())
    doc["stage_cpu"] = None  # a result from nodes that do not count by stage
    p = tmp_path / "old.png"
    figures.write_run_png(p, doc, "old nodes")
    _, _, pixels = _png(p)
    assert not _has_colour(pixels, figures.COLOURS_HEX["verify"])


def test_light_load_png_has_the_cdf_and_the_stages(tmp_path: Path) -> None:
    """The light-load mode (one tx at a time) has no throughput series: that panel says so,
    the latency CDF and the stage bars are drawn."""
    doc = json.loads((TESTDATA / "light-4v-small.json").read_text())
    assert "committed_per_s" not in doc["series"]
    p = tmp_path / "light.png"
    figures.write_run_png(p, doc, "light")
    width, _, pixels = _png(p)
    assert width == 18 * 80
    assert _has_colour(pixels, figures.COLOURS_HEX["consensus"])


def test_crypto_png_from_a_recorded_result(tmp_path: Path) -> None:
    doc = json.loads((TESTDATA / "crypto-small.json").read_text())
    p = tmp_path / "crypto.png"
    figures.write_crypto_png(p, doc)
    width, height, pixels = _png(p)
    assert (width, height) == (13 * 80, int(4.8 * 80))
    labels = [k for k, _ in figures.crypto_bars(doc)]
    assert "verify native" in labels and "verify openssl speed" in labels
    assert _has_colour(pixels, figures.COLOURS_HEX["native"])


def test_run_series_is_compact_and_keeps_the_tail() -> None:
    submits = [i * 0.001 for i in range(5000)]
    lat = [0.1] * 4990 + [2.0] * 10
    s = figures.run_series(submits, [t + 0.1 for t in submits], lat, 0.0)
    assert s["submitted_per_s"] == [1000.0] * 5
    quant = dict((q, v) for q, v in s["latency_quantiles"])
    assert quant[50.0] == 0.1 and quant[100.0] == 2.0
    assert quant[99.9] == 2.0  # the slowest 0.2% is not averaged away
    assert len(json.dumps(s)) < 10_000


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
