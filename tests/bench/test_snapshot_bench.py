"""bench.snapshot on a small state: the checkpoint it times is the one the files hold."""

from __future__ import annotations

from bench.snapshot import run
from chainnode.model.snapshot import CHUNK_MAX_ENTRIES


def test_a_small_run_reports_every_step() -> None:
    n = CHUNK_MAX_ENTRIES + 100
    result = run(n, value_bytes=16, repeat=1, solo_s=0.1)
    assert result["entries"] == n and result["chunks"] == 2
    steps = ["iterate", "chunk+hash plain", "chunk+hash", "checkpoint"]
    assert [r["step"] for r in result["rows"]] == steps
    assert all(r["entries/s"] > 0 for r in result["rows"])
    gil = {r["path"]: r["GIL held us/entry"] for r in result["gil_held"]}
    assert set(gil) == {"python chunker", "C chunker"} and all(v > 0 for v in gil.values())
    modes = ["no checkpoint", "python chunker", "C chunker", "C, paced"]
    assert [r["mode"] for r in result["event_loop"]] == modes
    assert all(r["checkpoint s"] > 0 and r["its CPU s"] > 0 for r in result["event_loop"][1:])
    assert all(r["70% loop: checkpoint s"] > 0 for r in result["event_loop"][1:])
    assert result["file_bytes_per_entry"] > 16
