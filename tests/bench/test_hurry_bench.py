"""bench.hurry on a small state: both modes, with and without busy processes, each timed."""

from __future__ import annotations

from bench.hurry import run


def test_a_small_run_times_both_modes_busy_and_idle() -> None:
    result = run(3000, value_bytes=32, busy=1, repeat=1)
    got = [(r["mode"], r["busy processes"]) for r in result["rows"]]
    modes = ["node", "lowest priority throughout"]
    assert got == [(m, 1) for m in modes] + [(m, 0) for m in modes]
    assert all(0 < r["min s"] <= r["hurry to result s"] <= r["max s"] for r in result["rows"])
    assert result["speedup_busy"] > 0
