"""Four validators on four "hosts": network namespaces joined by veth pairs to a bridge that
itself lives in a fifth namespace, addresses in 10.77.0.0/24 that exist only there. Each node
runs its own per-host compose service as the container would (entrypoint + command, mounts,
environment; peers at the other hosts' addresses); a client in the bridge's namespace sends
500 transactions and checks all four validators committed them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chainnode.deploy.compose import write_compose
from chainnode.deploy.devnet import init_network
from tests.chainnode.ops.helpers import REPO, can_unshare, ensure_mountpoints, service_spec
from tests.conftest import subprocess_env

N = 4
SUBNET = "10.77.0"
TXS = 500


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {r.stderr.decode().strip()}")


def test_four_validators_in_four_network_namespaces(tmp_path: Path) -> None:
    why = can_unshare()
    if why:
        pytest.skip(f"multi-host test skipped: {why}")
    tag = f"cn{os.getpid() % 100000}"
    sw = f"{tag}sw"
    spaces = [f"{tag}h{i}" for i in range(N)]
    hosts = [f"{SUBNET}.{10 + i}" for i in range(N)]
    procs: list[subprocess.Popen[bytes]] = []
    created: list[str] = []
    try:
        r = subprocess.run(["ip", "netns", "add", sw], capture_output=True, timeout=30)
        if r.returncode != 0:
            err = r.stderr.decode().strip()
            if "permitted" in err or "denied" in err:
                pytest.skip(f"multi-host test skipped: this machine forbids `ip netns add`: {err}")
            raise AssertionError(f"ip netns add {sw}: {err}")
        created.append(sw)
        _ip("-n", sw, "link", "set", "lo", "up")
        _ip("-n", sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", sw, "addr", "add", f"{SUBNET}.1/24", "dev", "br0")
        _ip("-n", sw, "link", "set", "br0", "up")
        for i, ns in enumerate(spaces):
            _ip("netns", "add", ns)
            created.append(ns)
            # Both ends are created inside the namespaces: nothing appears on the host.
            _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
                "netns", sw)  # fmt: skip
            _ip("-n", ns, "addr", "add", f"{hosts[i]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", sw, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", sw, "link", "set", f"p{i}", "up")

        out = tmp_path / "net"
        init_network(out, N, host="0.0.0.0", api_port_base=8700, p2p_port_base=8800)
        for i, path in enumerate(write_compose(out, hosts=hosts)):
            doc = yaml.safe_load(path.read_text())
            (svc,) = doc["services"].values()
            spec = service_spec(path.parent, svc, tmp_path / "volumes" / f"h{i}", lo_up=False)
            ensure_mountpoints(spec)
            spec_path = tmp_path / f"node{i}.json"
            spec_path.write_text(json.dumps(spec))
            log = (tmp_path / f"node{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        spaces[i],
                        "unshare",
                        "--mount",
                        "--propagation",
                        "private",
                        "--",
                        sys.executable,
                        "-m",
                        "tests.chainnode.ops.container_sim",
                        str(spec_path),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=subprocess_env(),
                    cwd=REPO,
                )  # fmt: skip
            )
            log.close()
        urls = ",".join(f"http://{h}:{8700 + i}" for i, h in enumerate(hosts))
        client = subprocess.run(
            ["ip", "netns", "exec", sw, sys.executable, "-m",
             "tests.chainnode.ops.multihost_client", "--nodes", urls, "--txs", str(TXS),
             "--timeout", "90"],
            capture_output=True, env=subprocess_env(), cwd=REPO, timeout=200,
        )  # fmt: skip
        logs = "\n".join(
            f"--- node{i}\n" + (tmp_path / f"node{i}.log").read_text()[-1500:] for i in range(N)
        )
        assert client.returncode == 0, client.stderr.decode()[-3000:] + logs
        res = json.loads(client.stdout)
        print("multi-host:", res)
        assert res["committed_on_all"] == TXS
        assert res["same_chain"] and res["height"] >= 1
        assert res["peers"] == [N - 1] * N, res
        for i, p in enumerate(procs):
            assert p.poll() is None, f"node{i} exited:\n{logs}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for ns in reversed(created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    leftover = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert tag not in leftover
