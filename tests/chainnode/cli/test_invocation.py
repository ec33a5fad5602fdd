"""Hints print the command as it will run: `.venv/bin/chainnode …` is not `chainnode …`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainnode.invocation import program
from tests.conftest import subprocess_env

SCRIPT = Path(sys.executable).parent / "chainnode"  # the console script of this venv


def test_program_names_the_path_when_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    exe = bindir / "chainnode"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert program("venv/bin/chainnode") == "venv/bin/chainnode"
    assert program(str(exe)) == "venv/bin/chainnode"  # below the working directory: relative
    monkeypatch.chdir(bindir)
    assert program("./chainnode") == "./chainnode"  # a bare name would search PATH
    monkeypatch.chdir("/")
    assert program(str(exe)) == str(exe)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin")
    assert program("chainnode") == "chainnode"
    assert program(str(exe)) == "chainnode"  # the same file that `chainnode` finds


def test_program_run_as_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    py = tmp_path / "v" / "bin" / "python"
    py.parent.mkdir(parents=True)
    os.symlink(sys.executable, py)  # the venv's python is a symlink: its own name counts
    main = "/somewhere/chainnode/__main__.py"
    assert program(main, str(py)) == "v/bin/python -m chainnode"
    assert program(main, "/opt/my python/bin/python") == "'/opt/my python/bin/python' -m chainnode"


@pytest.mark.skipif(not SCRIPT.is_file(), reason="no console script (not an installed venv)")
def test_cli_hints_use_the_program_as_started(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "genesis.json").write_text("{}")
    env = subprocess_env()
    env["PATH"] = "/usr/bin:/bin"  # the venv is not on PATH, as after `make run`
    rel = os.path.relpath(SCRIPT, SCRIPT.parent.parent)
    out = subprocess.run(
        [rel, "network", "init", "--out", str(tmp_path / "net")],
        cwd=SCRIPT.parent.parent, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"`{rel} network up --dir {tmp_path / 'net'}`" in out.stderr, out.stderr
    helped = subprocess.run(
        [rel, "--help"], cwd=SCRIPT.parent.parent, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert f"{rel} network up" in helped.stdout and "{prog}" not in helped.stdout
    assert " chainnode tx send" not in helped.stdout
