"""A local network of real validator processes, made and started through the CLI.

``chainnode network init`` writes the genesis, keys and per-node configs into a temporary
directory on free loopback ports; each validator then runs as ``python -m chainnode start
--config ...`` with its output in ``node<i>/node.log``. Extra environment (the SM2 backend,
config overrides ``CHAINNODE_<FIELD>``) goes to the node processes only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAIN_ID = "chainnode-bench"


class ClusterError(Exception):
    """The local network could not be made or started; the message says why."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_base(count: int, rng: random.Random | None = None) -> int:
    """A base port with ``count`` consecutive free ports on loopback."""
    r = rng or random.Random()
    for _ in range(200):
        base = r.randrange(20_000, 60_000 - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise ClusterError(f"no {count} consecutive free ports found")


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a node process: imports this checkout, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # our own node
        return json.loads(resp.read())


class LocalNetwork:
    """``validators`` nodes in ``workdir`` (a fresh temp dir unless given)."""

    def __init__(
        self,
        validators: int,
        workdir: Path | None = None,
        node_env: dict[str, str] | None = None,
        chain_id: str = CHAIN_ID,
        keep: bool = False,
    ) -> None:
        self.validators = validators
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="chainnode-bench-"))
        self.node_env = dict(node_env or {})
        self.chain_id = chain_id
        self.keep = keep
        self.procs: list[subprocess.Popen[bytes]] = []
        self.killed: set[int] = set()  # killed on purpose (bench.run --kill): not a failure
        self.urls: list[str] = []
        self._logs: list[Any] = []

    def init(self) -> None:
        api = free_port_base(self.validators)
        p2p = free_port_base(self.validators)
        while abs(p2p - api) < self.validators:
            p2p = free_port_base(self.validators)
        cmd = [
            sys.executable, "-m", "chainnode", "network", "init",
            "--validators", str(self.validators),
            "--out", str(self.workdir),
            "--chain-id", self.chain_id,
            "--api-port-base", str(api),
            "--p2p-port-base", str(p2p),
            "--force",
        ]  # fmt: skip
        out = subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise ClusterError(f"network init failed:\n{out.stdout}\n{out.stderr}")
        self.urls = [f"http://127.0.0.1:{api + i}" for i in range(self.validators)]

    def genesis(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.workdir / "genesis.json").read_text())
        return doc

    def set_consensus(self, params: dict[str, int]) -> None:
        """Change consensus parameters of the fresh genesis (before any node starts)."""
        if self.procs:
            raise ClusterError("consensus parameters are fixed once the nodes run")
        g = self.genesis()
        g.setdefault("consensus", {}).update(params)
        (self.workdir / "genesis.json").write_text(json.dumps(g, indent=2) + "\n")

    def block_limit_window(self) -> int:
        g = self.genesis()
        consensus = g.get("consensus") or {}
        return int(consensus.get("block_limit_window", 1000))

    def config_path(self, i: int) -> Path:
        return self.workdir / f"node{i}" / "config.toml"

    def start(self) -> None:
        env = child_env(self.node_env)
        for i in range(self.validators):
            log = (self.workdir / f"node{i}" / "node.log").open("ab")
            self._logs.append(log)
            cmd = [sys.executable, "-m", "chainnode", "start", "--config", str(self.config_path(i))]
            self.procs.append(
                subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def log_tail(self, i: int, lines: int = 20) -> str:
        try:
            text = (self.workdir / f"node{i}" / "node.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        for i, p in enumerate(self.procs):
            if p.poll() is not None and i not in self.killed:
                raise ClusterError(
                    f"node{i} exited with {p.returncode}; its log ends:\n{self.log_tail(i)}"
                )

    def wait_ready(self, timeout: float = 120.0, min_height: int = 1) -> None:
        """Until every node answers and has committed ``min_height``."""
        deadline = time.monotonic() + timeout
        pending = set(range(self.validators))
        while pending:
            self.check_alive()
            for i in sorted(pending):
                try:
                    st = _get_json(self.urls[i] + "/v1/status", timeout=1.0)
                except (OSError, ValueError, urllib.error.URLError):
                    continue
                if isinstance(st, dict) and int(st.get("height", 0)) >= min_height:
                    pending.discard(i)
            if time.monotonic() > deadline:
                names = ", ".join(f"node{i}" for i in sorted(pending))
                raise ClusterError(
                    f"{names} not at height {min_height} within {timeout:.0f}s; logs in "
                    f"{self.workdir}:\n{self.log_tail(min(pending))}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def cleanup(self) -> None:
        self.stop()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
