"""`chainnode network up`, the embedded default: initialises, starts the validators, reports
the chain live, and stops every child cleanly on Ctrl-C; a second run continues the chain."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from chainnode.client.sdk import Client, ClientError
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env


def up(root: Path, base: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chainnode", "network", "up", "--validators", "1", "--dir",
         str(root), "--api-port-base", str(base), "--p2p-port-base", str(base + 1)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env(),
    )  # fmt: skip


def wait_live(proc: subprocess.Popen[str]) -> list[str]:
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # ends when the launcher exits: no hang on failure
        lines.append(line)
        if "Ctrl-C stops the network" in line:
            return lines
    raise AssertionError("network up ended before the chain was live:\n" + "".join(lines))


def wait_gone(url: str, timeout: float, what: str) -> None:
    """Until the node's API stops answering."""
    with Client(url, timeout=2) as c:

        def gone() -> bool:
            try:
                c.status()
            except ClientError:
                return True
            return False

        wait_for(gone, timeout, what)


def down(proc: subprocess.Popen[str], url: str) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    wait_gone(url, 10, "the validator to stop with the launcher")
    return out


def test_network_up_starts_reports_and_stops_cleanly(tmp_path: Path) -> None:
    base = free_port_range(2)
    url = f"http://127.0.0.1:{base}"
    proc = up(tmp_path / "devnet", base)
    try:
        lines = wait_live(proc)
        assert any(url in line for line in lines), lines
        assert (tmp_path / "devnet" / "genesis.json").is_file()
        with Client(url) as c:
            height = c.status()["height"]
            assert height >= 1
        out = down(proc, url)
        assert "stopped." in out
        again = up(tmp_path / "devnet", base)
        try:
            text = "".join(wait_live(again))
            assert "initialised" not in text  # the same chain, not a new one
            with Client(url) as c:
                assert c.status()["height"] >= height
            down(again, url)
        finally:
            if again.poll() is None:
                again.kill()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_validators_stop_when_the_launcher_is_killed(tmp_path: Path) -> None:
    """kill -9 of `network up` (no chance to stop its children): they stop by themselves."""
    base = free_port_range(2)
    url = f"http://127.0.0.1:{base}"
    proc = up(tmp_path / "devnet", base)
    try:
        wait_live(proc)
        proc.kill()
        proc.wait(timeout=10)
        wait_gone(url, 20, "the orphaned validator to stop")
    finally:
        if proc.poll() is None:
            proc.kill()
