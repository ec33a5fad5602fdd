"""The /docs page ships inside the Python package (package data), so an installed node serves
it with no checkout beside it and no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT, subprocess_env


def test_the_docs_page_is_package_data(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, env=subprocess_env(), timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    built = tmp_path / "chainnode" / "api" / "static" / "docs.html"
    source = REPO_ROOT / "chainnode" / "api" / "static" / "docs.html"
    assert built.read_bytes() == source.read_bytes()
