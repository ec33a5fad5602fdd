"""Failing seeds pinned as scripts: each must now keep every invariant, liveness included."""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus.sim.schedules import run_script

DIR = Path(__file__).resolve().parent.parent / "testdata" / "consensus" / "regressions"


@pytest.mark.parametrize("path", sorted(DIR.glob("*.txt")), ids=lambda p: p.stem)
def test_pinned_schedule(path: Path) -> None:
    out = run_script(path.read_text(encoding="utf-8"))
    assert out.ok, out.error
