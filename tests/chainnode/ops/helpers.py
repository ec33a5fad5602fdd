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
        with urllib.request.urlopen(url, timeout=timeout) as resp:
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


# -- Dockerfile / compose: what a container runtime would do ------------------------------------

REPO = Path(__file__).resolve().parents[3]


def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        instr, _, args = buf.partition(" ")
        out.append((instr.upper(), args.strip()))
        buf = ""
    return out


def dockerfile_env(instrs: list[tuple[str, str]]) -> dict[str, str]:
    import shlex

    env: dict[str, str] = {}
    for instr, args in instrs:
        if instr == "ENV":
            for item in shlex.split(args):
                k, _, v = item.partition("=")
                env[k] = v
    return env


def exec_form(instrs: list[tuple[str, str]], name: str) -> list[str]:
    found = [json.loads(a) for i, a in instrs if i == name]
    assert found, f"no {name} in the Dockerfile"
    value = found[-1]
    assert isinstance(value, list), f"{name} must be in exec form (a JSON array)"
    return [str(x) for x in value]


def service_spec(
    compose_dir: Path,
    service: dict[str, Any],
    volumes_root: Path,
    *,
    lo_up: bool,
) -> dict[str, Any]:
    """The container_sim spec of one compose service built from this repo's Dockerfile."""
    instrs = dockerfile(REPO / "Dockerfile")
    entry = exec_form(instrs, "ENTRYPOINT")
    assert entry == ["chainnode"], entry
    command = service.get("command") or exec_form(instrs, "CMD")
    env = subprocess_env()
    env.update(dockerfile_env(instrs))
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    mounts = []
    for vol in service["volumes"]:
        parts = vol.split(":")
        src, dst = parts[0], parts[1]
        ro = len(parts) > 2 and parts[2] == "ro"
        if src.startswith((".", "/")):
            source = (compose_dir / src).resolve()
            assert source.exists(), f"{vol}: {source} does not exist"
        else:  # a named volume
            source = volumes_root / src
            source.mkdir(parents=True, exist_ok=True)
        mounts.append({"source": str(source), "target": dst, "read_only": ro})
    workdir = [a for i, a in instrs if i == "WORKDIR"][-1]
    tmpfs = sorted(
        {str(Path(m["target"]).parent) for m in mounts if not Path(m["source"]).is_dir()}
    )
    tmpfs = [d for d in tmpfs if d != "/"]
    return {
        "argv": [sys.executable, "-m", "chainnode", *command],
        "env": env,
        "mounts": mounts,
        "tmpfs": tmpfs,
        "workdir": workdir,
        "lo_up": lo_up,
    }


def ensure_mountpoints(spec: dict[str, Any]) -> None:
    """Container directories must exist as (empty) mount points on the host.

    They are left in place: other test runs on the same machine may have mounts on them in
    their own private namespaces, and removing a mount point detaches those mounts.
    """
    for d in [*spec["tmpfs"], *(m["target"] for m in spec["mounts"] if Path(m["source"]).is_dir())]:
        Path(d).mkdir(parents=True, exist_ok=True)


def can_unshare() -> str | None:
    """None when namespaces can be made here, else why not (for a clear skip)."""
    import os

    if os.geteuid() != 0:
        return "needs root to create network and mount namespaces"
    if any(shutil.which(t) is None for t in ("unshare", "nsenter", "ip")):
        return "needs unshare, nsenter (util-linux) and ip (iproute2)"
    r = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    if r.returncode != 0:
        return f"this machine forbids namespaces: {r.stderr.decode().strip()}"
    return None
