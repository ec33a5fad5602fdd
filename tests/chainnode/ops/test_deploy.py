"""Dockerfile and docker-compose.yml: parsed and checked against the generated network, and
each service's exact command line run as its container would run it (own network and mount
namespaces, the compose mounts and environment): the node starts and its HEALTHCHECK passes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from chainnode.deploy.compose import write_compose
from chainnode.deploy.devnet import init_network
from chainnode.model.genesis import Genesis
from chainnode.node.config import load_config
from tests.chainnode.node.cluster import free_port_range
from tests.chainnode.ops.helpers import (
    REPO,
    can_unshare,
    dockerfile,
    dockerfile_env,
    ensure_mountpoints,
    exec_form,
    service_spec,
)
from tests.conftest import subprocess_env

UP = re.compile(r"node node\d+ up\b")  # the runtime's start-up log line


def test_dockerfile_is_slim_nonroot_with_volume_and_healthcheck() -> None:
    instrs = dockerfile(REPO / "Dockerfile")
    names = [i for i, _ in instrs]
    base = [a for i, a in instrs if i == "FROM"]
    assert len(base) == 1 and base[0].startswith("python:3.1") and base[0].endswith("-slim")
    users = [a for i, a in instrs if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert names.index("USER") > max(i for i, n in enumerate(names) if n == "RUN")
    volumes = [json.loads(a) for i, a in instrs if i == "VOLUME"]
    assert ["/var/lib/chainnode"] in volumes
    env = dockerfile_env(instrs)
    assert env["CHAINNODE_CONFIG"] == "/etc/chainnode/config.toml"
    assert env["CHAINNODE_DATA_DIR"] == "/var/lib/chainnode"
    (hc,) = [a for i, a in instrs if i == "HEALTHCHECK"]
    assert hc.split("CMD", 1)[1].strip() == '["chainnode", "healthcheck"]'
    assert exec_form(instrs, "ENTRYPOINT") == ["chainnode"]
    assert exec_form(instrs, "CMD") == ["start", "--config", "/etc/chainnode/config.toml"]
    expose = " ".join(a for i, a in instrs if i == "EXPOSE").split()
    assert {"8700", "8800"} <= set(expose)
    # Every package the project installs is copied (pyproject's package list), and nothing
    # else: no benchmark code in the image (bench/ is neither copied nor in the build context).
    copies = [a.split() for i, a in instrs if i == "COPY"]
    copied = {src for words in copies for src in words[:-1]}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {p.rstrip("*") for p in include}
    assert installed == {"chainnode", "consensus", "p2p", "storage", "contracts", "crypto"}
    for pkg in installed:
        assert (REPO / pkg).is_dir()
    assert copied == installed | {"pyproject.toml", "setup.py", "README.md"}
    # The runtime only: `pip install .` with no extras (no [bench], no [dev]).
    runs = " ".join(a for i, a in instrs if i == "RUN")
    assert re.findall(r"pip install (\S+)", runs) == ["."]
    ignore = (REPO / ".dockerignore").read_text().split()
    for pattern in (".venv", ".git", "**/*.pem", "**/data", "devnet", "bench"):
        assert pattern in ignore


def _network(tmp: Path, n: int = 4) -> tuple[Path, Genesis]:
    base = free_port_range(2 * n)
    init_network(tmp, n, api_port_base=base, p2p_port_base=base + n)
    return tmp, Genesis.load(tmp / "genesis.json")


def _check_service(
    name: str, svc: dict[str, Any], compose_dir: Path, genesis: Genesis, hosts: list[str] | None
) -> None:
    i = int(name.removeprefix("node"))
    node_dir = compose_dir if hosts is not None else compose_dir / name
    host_cfg = load_config(node_dir / "config.toml", env={})
    mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
    assert set(mounts) == {
        "/etc/chainnode/config.toml",
        "/etc/chainnode/node.pem",
        "/etc/chainnode/genesis.json",
        "/var/lib/chainnode",
    }
    assert (compose_dir / mounts["/etc/chainnode/node.pem"]).resolve() == (
        node_dir / "node.pem"
    ).resolve()
    assert (compose_dir / mounts["/etc/chainnode/genesis.json"]).resolve() == (
        node_dir.parent / "genesis.json" if hosts is not None else compose_dir / "genesis.json"
    ).resolve()
    assert mounts["/var/lib/chainnode"] == f"{name}-data"
    ccfg = load_config(compose_dir / mounts["/etc/chainnode/config.toml"], env={})
    assert ccfg.node_id == host_cfg.node_id == name
    assert str(ccfg.data_dir) == "/var/lib/chainnode"
    assert str(ccfg.genesis) == "/etc/chainnode/genesis.json"
    assert (ccfg.api_port, ccfg.p2p_port) == (host_cfg.api_port, host_cfg.p2p_port)
    assert ccfg.api_host == ccfg.p2p_host == "0.0.0.0"
    assert sorted(svc["ports"]) == sorted(  # the plain-HTTP API on the host's loopback only
        [
            f"127.0.0.1:{host_cfg.api_port}:{host_cfg.api_port}",
            f"{host_cfg.p2p_port}:{host_cfg.p2p_port}",
        ]
    )
    assert svc["command"] == ["start", "--config", "/etc/chainnode/config.toml"]
    peers = json.loads(svc["environment"]["CHAINNODE_PEERS"])
    expected = []
    for j, v in enumerate(genesis.validators):
        if j == i:
            assert v.node_id == name
            continue
        port = int(v.p2p_addr.rsplit(":", 1)[1])
        host = v.node_id if hosts is None else hosts[j]
        expected.append({"public_key": v.public_key.hex(), "host": host, "port": port})
    assert sorted(peers, key=str) == sorted(expected, key=str)


def test_compose_matches_the_generated_network(tmp_path: Path) -> None:
    out, genesis = _network(tmp_path / "net")
    doc = yaml.safe_load((out / "docker-compose.yml").read_text())  # written by network init
    names = [v.node_id for v in genesis.validators]
    assert list(doc["services"]) == names
    assert set(doc["volumes"]) == {f"{n}-data" for n in names}
    for name, svc in doc["services"].items():
        _check_service(name, svc, out, genesis, None)
    # Across hosts: one compose file per node, peers at the other hosts' addresses.
    hosts = ["10.1.0.1", "10.1.0.2", "h3.example", "10.1.0.4"]
    paths = write_compose(out, hosts=hosts)
    assert paths == [out / f"node{i}" / "docker-compose.yml" for i in range(4)]
    for i, p in enumerate(paths):
        d = yaml.safe_load(p.read_text())
        assert list(d["services"]) == [f"node{i}"] and list(d["volumes"]) == [f"node{i}-data"]
        _check_service(f"node{i}", d["services"][f"node{i}"], p.parent, genesis, hosts)


def test_cli_compose_rejects_wrong_host_count(tmp_path: Path) -> None:
    out, _ = _network(tmp_path / "net", 2)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainnode",
            "network",
            "compose",
            "--dir",
            str(out),
            "--hosts",
            "a",
        ],
        capture_output=True,
        env=subprocess_env(),
        timeout=60,
    )
    assert r.returncode == 1 and b"2 addresses needed" in r.stderr


def _healthy(pid: int, spec: dict[str, Any]) -> bool:
    """Run the image's HEALTHCHECK command in the container's namespaces."""
    r = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "-m", "--", sys.executable, "-m", "chainnode",
         "healthcheck"],
        env=spec["env"],
        capture_output=True,
        timeout=30,
    )  # fmt: skip
    return r.returncode == 0 and b"healthy" in r.stdout


def test_each_service_command_starts_a_node_that_passes_healthcheck(tmp_path: Path) -> None:
    why = can_unshare()
    if why:
        pytest.skip(f"container emulation skipped: {why}")
    out, _ = _network(tmp_path / "net")
    doc = yaml.safe_load((out / "docker-compose.yml").read_text())
    procs: list[tuple[subprocess.Popen[bytes], dict[str, Any], Path]] = []
    try:
        for name, svc in doc["services"].items():
            spec = service_spec(out, svc, tmp_path / "volumes" / name, lo_up=True)
            ensure_mountpoints(spec)
            spec_path = tmp_path / f"{name}.json"
            spec_path.write_text(json.dumps(spec))
            log = (tmp_path / f"{name}.log").open("wb")
            p = subprocess.Popen(
                ["unshare", "--net", "--mount", "--propagation", "private", "--",
                 sys.executable, "-m", "tests.chainnode.ops.container_sim", str(spec_path)],
                stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=REPO,
            )  # fmt: skip
            log.close()
            procs.append((p, spec, tmp_path / f"{name}.log"))
        deadline = time.monotonic() + 60
        pending = list(procs)
        while pending:
            for item in list(pending):
                p, spec, log_path = item
                assert p.poll() is None, f"exited:\n{log_path.read_text()[-3000:]}"
                # Once it logged that it is up, the image's HEALTHCHECK must pass.
                if UP.search(log_path.read_text()) and _healthy(p.pid, spec):
                    pending.remove(item)
            assert time.monotonic() < deadline, "not healthy in 60s:\n" + "\n".join(
                f"--- {lp.name}\n{lp.read_text()[-2000:]}" for _, _, lp in pending
            )
            time.sleep(0.2)
        for p, _, log_path in procs:
            p.send_signal(signal.SIGTERM)
            assert p.wait(30) == 0, log_path.read_text()[-3000:]
            lines = [json.loads(ln) for ln in log_path.read_text().splitlines() if ln.strip()]
            assert any(UP.search(r["msg"]) for r in lines)  # JSON logs, from the env
        for name in doc["services"]:  # the named volume holds the chain
            assert (tmp_path / "volumes" / name / f"{name}-data" / "ledger").is_dir()
    finally:
        for p, _, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
