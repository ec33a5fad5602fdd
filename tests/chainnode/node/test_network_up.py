"""`chainnode network up`, the embedded default: initialises, starts the validators, reports
the chain live, and stops every child cleanly on Ctrl-C; a second run continues the chain."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from chainnode.client.sdk import Client, ClientError
from chainnode.deploy.devnet import init_network
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
        assert any(f"{url}/docs" in line for line in lines), lines  # the browsable API docs
        assert (tmp_path / "devnet" / "genesis.json").is_file()
        log = tmp_path / "devnet" / "node0" / "node.log"
        wait_for(lambda: "committed height 1 " in log.read_text(), 10, "the commit log line")
        with Client(url) as c:
            height = c.status()["height"]
            assert height >= 1
        out = down(proc, url)
        assert "stopped." in out
        again = up(tmp_path / "devnet", base)
        try:
            text = "".join(wait_live(again))
            assert "initialised" not in text  # the same chain, not a new one
            # This run's log starts afresh; the last run's is node.log.1.
            assert "committed height 1 " in (log.parent / "node.log.1").read_text()
            assert "committed height 1 " not in log.read_text()
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


def _up_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", "network", "up", "--dir", str(root), *args],
        capture_output=True, text=True, env=subprocess_env(), timeout=120,
    )  # fmt: skip


def test_existing_network_refuses_other_ports_with_the_reason_and_the_fix(tmp_path: Path) -> None:
    base = free_port_range(4)
    root = tmp_path / "net"
    init_network(root, 2, api_port_base=base, p2p_port_base=base + 2)
    before = (root / "node0" / "config.toml").read_bytes()
    out = _up_cli(root, "--api-port-base", str(base + 100))
    assert out.returncode == 1
    err = out.stderr
    assert f"use ports {base}..{base + 1}" in err and f"--api-port-base {base + 100}" in err
    assert "genesis.json" in err  # the reason
    assert f"network up --dir {root}`" in err  # the fix
    assert (root / "node0" / "config.toml").read_bytes() == before  # nothing rewritten
    assert not (root / "node0" / "data").exists()  # nothing started
    out = _up_cli(root, "--p2p-port-base", str(base + 200))
    assert out.returncode == 1 and "--p2p-port-base" in out.stderr


def test_port_clash_names_the_setting_and_the_file(tmp_path: Path) -> None:
    base = free_port_range(4)
    root = tmp_path / "net"
    init_network(root, 2, api_port_base=base, p2p_port_base=base + 2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base + 3))  # node1's p2p port
        busy.listen()
        out = _up_cli(root)
        assert out.returncode == 1
        assert f"port {base + 3}" in out.stderr
        assert f"p2p_port in {root / 'node1' / 'config.toml'}" in out.stderr, out.stderr
        assert not (root / "node0" / "data").exists()
        # A new directory: nothing is created on a busy port; the flag to change is named.
        fresh = tmp_path / "fresh"
        out = _up_cli(fresh, "--validators", "1", "--api-port-base", str(base + 3),
                      "--p2p-port-base", str(base + 2))  # fmt: skip
        assert out.returncode == 1
        assert f"port {base + 3} is in use" in out.stderr and "--api-port-base" in out.stderr
        assert "API_PORT_BASE=" in out.stderr  # and the make variable
        assert not fresh.exists()


def test_failure_shows_this_runs_log_and_older_runs_rotate(tmp_path: Path) -> None:
    base = free_port_range(2)
    root = tmp_path / "net"
    init_network(root, 1, api_port_base=base, p2p_port_base=base + 1)
    node = root / "node0"
    (node / "node.log").write_text("OLD RUN LOG LINE\n")
    (node / "node.out").write_text("OLD RUN OUTPUT\n")
    (node / "node.pem").write_text("not a key\n")  # this run fails at start-up
    out = _up_cli(root)
    assert out.returncode == 1
    assert "node0 exited during start-up" in out.stderr
    assert "not a PEM private key" in out.stderr, out.stderr  # this run's error ...
    assert "OLD RUN" not in out.stderr  # ... and nothing of the last run
    assert "OLD RUN OUTPUT" not in (node / "node.out").read_text()


def test_start_on_a_busy_port_names_the_file_and_the_variable(tmp_path: Path) -> None:
    base = free_port_range(2)
    init_network(tmp_path, 1, api_port_base=base, p2p_port_base=base + 1)
    config = tmp_path / "node0" / "config.toml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base))
        busy.listen()
        out = subprocess.run(
            [sys.executable, "-m", "chainnode", "start", "--config", str(config)],
            capture_output=True, text=True, env=subprocess_env(), timeout=60,
        )  # fmt: skip
    assert out.returncode == 1
    assert f"error: {config}: cannot serve HTTP on 127.0.0.1:{base}" in out.stderr, out.stderr
    assert "change api_port in the config file, or set CHAINNODE_API_PORT" in out.stderr
