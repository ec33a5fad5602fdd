"""The soak command: summary, JSON and single-script replay."""

from __future__ import annotations

import json
from pathlib import Path

from consensus import soak
from tests.consensus.test_regressions import DIR


def test_soak_summary_and_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "soak.json"
    assert soak.main(["--seeds", "3", "--start", "7", "--quiet", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["passed"] == 3 and doc["failed"] == 0 and doc["first_seed"] == 7
    assert "consensus soak" in capsys.readouterr().out


def test_soak_replays_one_script(tmp_path: Path) -> None:
    pinned = sorted(DIR.glob("*.txt"))[0]
    assert soak.main(["--script", str(pinned)]) == 0
    broken = tmp_path / "never_live.txt"
    broken.write_text("n 4\nseed 1\ncrash 0,1 at=0\n")  # two of four dead: no quorum, ever
    assert soak.main(["--script", str(broken)]) == 1
