"""The README as a new user reads it: its "Your own contract" walkthrough runs as written
against a real network, and its commands are the ones that run (`.venv/bin/chainnode`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chainnode.node.cluster import free_port_range
from tests.conftest import REPO_ROOT, subprocess_env

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
VENV = Path(sys.executable).parent.parent  # the venv running the tests: `.venv` of a checkout


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


def test_readme_commands_are_the_ones_that_run() -> None:
    for block in shell_blocks(README):
        for line in block.splitlines():
            assert not re.match(r"\s*chainnode\s", line), f"not on PATH after make run: {line}"
    assert "`chainnode compose`" not in README and "`compose`," not in README
    assert "prints the address" not in README
    routes = re.findall(r"^\| `((?:GET|POST) [^`]+)`", section("HTTP API"), re.M)
    assert len(routes) == len(set(routes)), f"a route listed twice: {routes}"


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`make run` in a scratch directory: `.venv` there is this venv, the network 1 validator
    on free ports (the walkthrough's commands take the node from CHAINNODE_NODE)."""
    os.symlink(VENV, tmp_path / ".venv")
    base = free_port_range(2)
    proc = subprocess.Popen(
        [".venv/bin/chainnode", "network", "up", "--dir", "devnet", "--validators", "1",
         "--api-port-base", str(base), "--p2p-port-base", str(base + 1)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=subprocess_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # ends if the launcher exits: no hang on failure
        lines.append(line)
        if "Ctrl-C stops the network" in line:
            break
    else:
        raise AssertionError("network up failed:\n" + "".join(lines))
    try:
        yield tmp_path, f"http://127.0.0.1:{base}"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


@pytest.mark.skipif(not (VENV / "bin" / "chainnode").is_file(), reason="not run from a venv")
def test_your_own_contract_walkthrough_runs_as_written(network: tuple[Path, str]) -> None:
    cwd, url = network
    blocks = shell_blocks(section("Your own contract"))
    assert len(blocks) >= 4
    env = subprocess_env()
    env["CHAINNODE_NODE"] = url
    outputs = []
    for block in blocks:
        # Only the ports differ from `make run`'s: the README's 870x are this network's node.
        script = re.sub(r"127\.0\.0\.1:870\d", url.removeprefix("http://"), block)
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert out.returncode == 0, f"{block}\n--- stdout:\n{out.stdout}\n--- stderr:\n{out.stderr}"
        outputs.append(out.stdout)
    text = "\n".join(outputs)
    assert (cwd / "mycontracts" / "counter.cnvm").stat().st_size > 0
    assert '"bump"' in text and '"value"' in text  # the abi
    addresses = re.findall(r"^address\s+(0x[0-9a-f]{40})$", text, re.M)
    assert len(set(addresses)) == 1, text  # deploy and show print the named one (not --json's)
    assert re.search(r'^events\s+Bumped \{"name": "visits", "value": 2\}$', text, re.M), text
    assert re.search(rf"^counter\s+deployed\s+{addresses[0]}$", text, re.M), text  # list
    assert re.search(r"^  bump\(name: str, by: int\)$", text, re.M), text  # show
    assert re.search(r"^  @view value\(name: str\)$", text, re.M), text
    results = re.findall(r"^result\s+(\d+)$", text, re.M)
    assert results == ["2", "2", "5", "5"], text  # call, query by name; call, query by address
