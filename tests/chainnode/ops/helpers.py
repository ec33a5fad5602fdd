"""Shared pieces of the ops tests: clusters with extra env, an SSE reader, promtool."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.chainnode.node.cluster import Cluster
from tests.conftest import subprocess_env


class OpsCluster(Cluster):
    """A Cluster whose nodes get extra environment variables (config overrides)."""

    def __init__(self, root: Path, validators: int, env: dict[str, str] | None = None, **kw: Any):
        super().__init__(root, validators, **kw)
        self.extra_env = env or {}

    def start(self, i: int) -> None:
        env = subprocess_env()
        env.update(self.extra_env)
        log = (self.entries[i].config_path.parent / "node.log").open("ab")
        self.procs[i] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chainnode",
                "start",
                "--config",
                str(self.entries[i].config_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class SSEReader:
    """A raw-socket SSE client: parses messages, each read bounded by a deadline."""

    def __init__(self, url: str, path: str, headers: dict[str, str] | None = None) -> None:
        host_port = url.removeprefix("http://")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {host_port}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        self.sock.sendall(req.encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n", 10)
        self.status = int(head.split(b" ", 2)[1])
        self.chunked = b"transfer-encoding: chunked" in head.lower()
        self.raw = b""  # de-chunked body bytes not yet parsed

    def _until(self, sep: bytes, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while sep not in self.buf:
            self._recv(deadline)
        out, _, self.buf = self.buf.partition(sep)
        return out

    def _recv(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no SSE data before the deadline")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the stream")
        self.buf += data

    def _body(self, deadline: float) -> None:
        """Move at least one more body chunk from buf into raw."""
        if not self.chunked:
            if not self.buf:
                self._recv(deadline)
            self.raw += self.buf
            self.buf = b""
            return
        while b"\r\n" not in self.buf:
            self._recv(deadline)
        size_line, _, rest = self.buf.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            self._recv(deadline)
            size_line, _, rest = self.buf.partition(b"\r\n")
        if size == 0:
            raise ConnectionError("the server ended the stream")
        self.raw += rest[:size]
        self.buf = rest[size + 2 :]

    def next(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next message with data or id: {"event", "id", "data"}; comments skipped."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" not in self.raw:
                self._body(deadline)
            block, _, self.raw = self.raw.partition(b"\n\n")
            msg: dict[str, Any] = {"event": "message", "id": None, "data": None}
            for line in block.decode().split("\n"):
                if line.startswith(":") or not line:
                    continue
                key, _, value = line.partition(": ")
                msg[key] = value
            if msg["data"] is not None:
                msg["data"] = json.loads(msg["data"])
            if msg["data"] is not None or msg["id"] is not None:
                return msg

    def next_block(self, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            m = self.next(max(0.01, deadline - time.monotonic()))
            if m["event"] == "block":
                return m

    def close(self) -> None:
        self.sock.close()


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        raise AssertionError(
            "promtool is not installed: `make tools` installs it (Debian package prometheus); "
            "the /metrics lint test cannot run without it"
        )
    return path
