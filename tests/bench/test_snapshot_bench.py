"""bench.snapshot on a small state: the checkpoint it times is the one the files hold."""

from __future__ import annotations

from bench.snapshot import run
from chainnode.model.snapshot import CHUNK_MAX_ENTRIES


def test_a_small_run_reports_every_step() -> None:
    n = CHUNK_MAX_ENTRIES + 100
    result = run(n, value_bytes=16)
    assert result["entries"] == n and result["chunks"] == 2
    assert [r["step"] for r in result["rows"]] == ["iterate", "chunk+hash", "checkpoint"]
    assert all(r["entries/s"] > 0 for r in result["rows"])
    assert result["file_bytes_per_entry"] > 16
