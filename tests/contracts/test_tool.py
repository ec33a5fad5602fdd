"""``python -m contracts``: compile, abi and disasm for contract authors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from contracts import stdlib
from contracts.__main__ import main
from tests.conftest import subprocess_env


def test_compile_abi_disasm(tmp_path: Path) -> None:
    src = tmp_path / "evidence.py"
    src.write_text(stdlib.source("evidence"), encoding="utf-8")
    out = tmp_path / "evidence.cnvm"
    assert main(["compile", str(src), "-o", str(out)]) == 0
    assert out.read_bytes() == stdlib.compiled("evidence")
    assert main(["abi", str(out)]) == 0
    assert main(["disasm", str(src)]) == 0


def test_errors_name_file_line_col(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("@public\ndef f():\n    return 1.5\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "contracts", "compile", str(bad)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{bad}:3:12: float literals are not allowed"
    ok = subprocess.run([sys.executable, "-m", "contracts", "abi", str(bad.with_name("x.py"))],
                        env=subprocess_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ok.returncode == 1 and "x.py" in ok.stderr


def test_abi_json(tmp_path: Path) -> None:
    src = tmp_path / "c.py"
    src.write_text("@view\ndef get(k: str, n: int):\n    return k\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "contracts", "abi", str(src)],
                          env=subprocess_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"get": {"view": True, "params": {"k": "str", "n": "int"}}}
