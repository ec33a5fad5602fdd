"""One real validator process on loopback with config overrides (CHAINNODE_* variables), and
what the attack tests measure of it: resident memory, its peak, open file descriptors."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from chainnode.client.sdk import Client
from chainnode.deploy.devnet import init_network
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env


class SingleNode:
    def __init__(self, root: Path, **overrides: Any) -> None:
        base = free_port_range(2)
        self.root = root
        (entry,) = init_network(root / "net", 1, api_port_base=base, p2p_port_base=base + 1)
        self.url = entry.api_url
        self.port = base
        env = subprocess_env()
        for k, v in overrides.items():
            env[f"CHAINNODE_{k.upper()}"] = str(v)
        self.log_path = root / "node.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chainnode", "start", "--config", str(entry.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.client = Client(self.url, timeout=30)
        wait_for(lambda: self._alive() and self.client.status()["height"] >= 1, 60, "block 1")

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"node exited:\n{self.log()[-3000:]}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")

    def rss(self) -> int:
        return self._status("VmRSS")

    def reset_peak(self) -> int:
        """Start a new peak-RSS window (Linux clear_refs 5); the RSS now."""
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        return self.rss()

    def peak(self) -> int:
        return self._status("VmHWM")

    def fds(self) -> int:
        return len(list(Path(f"/proc/{self.proc.pid}/fd").iterdir()))

    def healthz_seconds(self, timeout: float = 5.0) -> float:
        """Seconds for a fresh connection's GET /healthz (from 127.0.0.1)."""
        t0 = time.monotonic()
        with urllib.request.urlopen(self.url + "/healthz", timeout=timeout) as r:
            assert r.status == 200
            r.read()
        return time.monotonic() - t0

    def close(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
