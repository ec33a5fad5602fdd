"""A local network whose nodes the nemesis can kill, pause, cut apart and corrupt."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.harness.cluster import LocalNetwork, child_env
from crypto.suite import get_suite

DISK_MB = 64


class ChaosNetwork(LocalNetwork):
    """``LocalNetwork`` with per-node process control; each node runs ``bench.chaos.node``
    (a validator with fault-injection routes) instead of ``chainnode start``."""

    def __init__(self, validators: int, workdir: Path | None = None) -> None:
        super().__init__(validators, workdir, chain_id="chainnode-chaos")
        self.paused: set[int] = set()
        self.mounts: list[Path] = []
        self.restarts = [0] * validators
        self.exits: list[tuple[int, int]] = []  # (node, exit code) of unplanned exits

    # -- identity --------------------------------------------------------------------------

    def public_keys(self) -> list[str]:
        return [v["public_key"] for v in self.genesis()["validators"]]

    def data_dir(self, i: int) -> Path:
        return self.workdir / f"node{i}" / "data"

    def wal_path(self, i: int) -> Path:
        return self.data_dir(i) / "consensus.wal"

    # -- processes ---------------------------------------------------------------------------

    def start(self) -> None:
        self.procs = [None] * self.validators  # type: ignore[list-item]
        for i in range(self.validators):
            self.start_node(i)

    def start_node(self, i: int) -> None:
        log = (self.workdir / f"node{i}" / "node.log").open("ab")
        self._logs.append(log)
        cmd = [sys.executable, "-m", "bench.chaos.node", "--config", str(self.config_path(i))]
        self.procs[i] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env(self.node_env),
            start_new_session=True,
        )  # fmt: skip

    def alive(self, i: int) -> bool:
        return self.procs[i] is not None and self.procs[i].poll() is None

    def kill(self, i: int) -> None:
        p = self.procs[i]
        if p is not None and p.poll() is None:
            if i in self.paused:
                self.resume(i)
            p.kill()
            p.wait()

    def restart(self, i: int) -> None:
        self.kill(i)
        self.restarts[i] += 1
        self.start_node(i)

    def pause(self, i: int) -> None:
        os.kill(self.procs[i].pid, signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i: int) -> None:
        if i in self.paused:
            os.kill(self.procs[i].pid, signal.SIGCONT)
            self.paused.discard(i)

    def rss_mib(self, i: int) -> float | None:
        try:
            for line in Path(f"/proc/{self.procs[i].pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except (OSError, AttributeError):
            return None
        return None

    # -- HTTP --------------------------------------------------------------------------------

    def get(self, i: int, path: str, timeout: float = 2.0) -> Any:
        with urllib.request.urlopen(self.urls[i] + path, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post(self, i: int, path: str, body: Any, timeout: float = 5.0) -> Any:
        req = urllib.request.Request(
            self.urls[i] + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def status(self, i: int) -> dict[str, Any] | None:
        if i in self.paused or not self.alive(i):
            return None
        try:
            st = self.get(i, "/v1/status", timeout=1.5)
        except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):
            return None
        return st if isinstance(st, dict) else None

    def heights(self) -> dict[int, int]:
        return {i: int(st["height"]) for i in range(self.validators) if (st := self.status(i))}

    def addresses(self) -> list[str]:
        """The validators' addresses as the API shows them (0x + 40 hex), genesis order."""
        suite = get_suite(self.genesis().get("suite", "sm"))
        return ["0x" + suite.address(bytes.fromhex(k)).hex() for k in self.public_keys()]

    def primary(self) -> int | None:
        addrs = self.addresses()
        for i in range(self.validators):
            st = self.status(i)
            if st and st.get("primary") in addrs:
                return addrs.index(st["primary"])
        return None

    def cut(self, i: int, peers: list[int]) -> None:
        keys = self.public_keys()
        self.post(i, "/v1/_test/partition", {"cut": [keys[p] for p in peers]})

    def byzantine(self, i: int, modes: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = self.post(i, "/v1/_test/byzantine", {"modes": modes})
        return out

    # -- the disk ------------------------------------------------------------------------------

    def mount_small_disk(self, i: int) -> str | None:
        """Put node i's data dir on a small tmpfs (before it first starts); None when done,
        else the reason it cannot be done on this machine."""
        path = self.data_dir(i)
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return "not root: cannot mount a small filesystem for the data directory"
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(path)],
            capture_output=True, text=True,
        )  # fmt: skip
        if res.returncode != 0:
            return f"mount failed: {res.stderr.strip()}"
        self.mounts.append(path)
        return None

    def fill_disk(self, i: int) -> Path:
        """Fill node i's small data filesystem to the last byte; returns the filler file."""
        filler = self.data_dir(i) / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for size in (1 << 20, 4096, 1):
                chunk = b"\0" * size
                try:
                    while True:
                        os.write(fd, chunk)
                except OSError:
                    continue  # full at this granularity: try a smaller one
        finally:
            os.close(fd)
        return filler

    def cleanup(self) -> None:
        for i in list(self.paused):
            self.resume(i)
        self.stop()
        for path in self.mounts:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)
        self.mounts.clear()
        if self._own_dir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


def wait_until(predicate: Any, timeout: float, interval: float = 0.2) -> float | None:
    """Seconds until ``predicate()`` held, or None if it did not within ``timeout``."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)
