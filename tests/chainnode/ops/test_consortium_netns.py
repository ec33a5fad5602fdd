"""The consortium of issue 20 with each organisation on its own "host": a network namespace
with its own address (10.78.0.0/24, joined by a bridge in a further namespace that also holds
the coordinator and the admins' commands; nothing appears on this machine's network). Every
step is the CLI, run in the namespace of whoever does it: four organisations make their keys,
genesis comes from their cards, the nodes commit, a fifth organisation is added by three
admins' votes (one is not enough): its node starts before the vote as an observer (each
organisation admits it with `org admit` and SIGHUP) and signs from the activation height without
a restart; one organisation is removed and its node follows on as an observer; every node
agrees and proofs verify from genesis alone.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chainnode.ops.helpers import REPO, can_unshare
from tests.conftest import subprocess_env

SUBNET = "10.78.0"
ORGS = ["acme", "globex", "initech", "umbrella", "wayne"]  # wayne joins later
API, P2P = 8700, 8800


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"ip {' '.join(args)}: {r.stderr.decode().strip()}")


class Hosts:
    """One namespace per organisation plus the switch namespace ``sw`` (bridge, admins)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.sw = f"{tag}sw"
        self.ns = {org: f"{tag}{i}" for i, org in enumerate(ORGS)}
        self.addr = {org: f"{SUBNET}.{10 + i}" for i, org in enumerate(ORGS)}
        self.created: list[str] = []

    def up(self) -> None:
        r = subprocess.run(["ip", "netns", "add", self.sw], capture_output=True, timeout=30)
        if r.returncode != 0:
            err = r.stderr.decode().strip()
            if "permitted" in err or "denied" in err:
                pytest.skip(f"this machine forbids `ip netns add`: {err}")
            raise AssertionError(f"ip netns add {self.sw}: {err}")
        self.created.append(self.sw)
        _ip("-n", self.sw, "link", "set", "lo", "up")
        _ip("-n", self.sw, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.sw, "addr", "add", f"{SUBNET}.1/24", "dev", "br0")
        _ip("-n", self.sw, "link", "set", "br0", "up")
        for i, org in enumerate(ORGS):
            ns = self.ns[org]
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
                "netns", self.sw)  # fmt: skip
            _ip("-n", ns, "addr", "add", f"{self.addr[org]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", self.sw, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", self.sw, "link", "set", f"p{i}", "up")

    def down(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)

    def cli(self, where: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        ns = self.sw if where == "sw" else self.ns[where]
        return subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "chainnode", *map(str, args)],
            capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=120,
        )  # fmt: skip

    def ok(self, where: str, *args: str | Path) -> str:
        r = self.cli(where, *args)
        assert r.returncode == 0, f"[{where}] chainnode {' '.join(map(str, args))}:\n{r.stderr}"
        return r.stdout

    def js(self, *args: str | Path) -> Any:
        return json.loads(self.ok("sw", *args, "--json"))

    def url(self, org: str) -> str:
        return f"http://{self.addr[org]}:{API}"

    def start(self, org: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.ns[org], sys.executable, "-m", "chainnode",
                 "start", "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, env=subprocess_env(), cwd=REPO,
            )  # fmt: skip


def wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        time.sleep(0.2)


# long: the whole consortium life, step by step, as the README tells it
def test_consortium_across_network_namespaces(tmp_path: Path) -> None:
    why = can_unshare()
    if why:
        pytest.skip(f"network namespaces unavailable: {why}")
    net = Hosts(f"cz{os.getpid() % 100000}")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    dirs = {org: tmp_path / org for org in ORGS}
    coord = tmp_path / "coordinator"
    coord.mkdir()
    try:
        net.up()
        for org in ORGS:  # each organisation on its own host (wayne prepares early)
            net.ok(org, "org", "init", "--name", org, "--out", dirs[org], "--host",
                   net.addr[org], "--api-port", str(API), "--p2p-port", str(P2P))  # fmt: skip
        founders = ORGS[:4]
        for org in founders:  # the cards travel to the coordinator, nothing else
            (coord / f"{org}.json").write_bytes((dirs[org] / "member.json").read_bytes())
        members = [a for org in founders for a in ("--member", coord / f"{org}.json")]
        out = net.ok("sw", "genesis", "assemble", "--chain-id", "netns-consortium", *members,
                     "--out", coord / "genesis.json")  # fmt: skip
        genesis_hash = re.search(r"genesis hash \(SM3\): ([0-9a-f]{64})", out)
        assert genesis_hash
        for org in founders:
            (dirs[org] / "received.json").write_bytes((coord / "genesis.json").read_bytes())
            out = net.ok(org, "org", "configure", "--dir", dirs[org], "--genesis",
                         dirs[org] / "received.json")  # fmt: skip
            assert genesis_hash.group(1) in out  # what each compares out of band
            procs[org] = net.start(org, dirs[org] / "config.toml", tmp_path / f"{org}.log")

        def height(org: str) -> int:
            r = net.cli("sw", "status", "--node", net.url(org), "--json")
            return int(json.loads(r.stdout)["height"]) if r.returncode == 0 else -1

        def alive() -> None:
            for org, p in procs.items():
                assert p.poll() is None, (tmp_path / f"{org}.log").read_text()[-3000:]

        wait(lambda: alive() is None and all(height(o) >= 1 for o in founders), 90, "block 1")
        user = tmp_path / "user.pem"
        net.ok("sw", "keygen", "--out", user)

        def send(org: str, tag: str) -> dict[str, Any]:
            res = net.js("tx", "send", "--node", net.url(org), "--key", user, "--contract",
                         "records", "--method", "put", "--args", json.dumps([tag, 1]), "--wait")  # fmt: skip
            assert res["receipt"]["status"] == "ok", res
            return res  # type: ignore[no-any-return]

        before = send("globex", "founded")

        def vote(org: str, *what: str | Path) -> str:
            return net.ok("sw", *what, "--key", dirs[org] / "admin.pem", "--node", net.url(org))

        def role(org: str) -> str:
            return str(net.js("status", "--node", net.url(org))["role"])

        def admit(card: Path, orgs: list[str]) -> None:
            for org in orgs:  # each on its own host, then its running node reloads
                assert "as an observer" in net.ok(org, "org", "admit", "--dir", dirs[org],
                                                  "--member", card)  # fmt: skip
                procs[org].send_signal(signal.SIGHUP)

        card = dirs["wayne"] / "member.json"  # the joining organisation sends its card
        (dirs["wayne"] / "received.json").write_bytes((coord / "genesis.json").read_bytes())
        net.ok("wayne", "org", "configure", "--dir", dirs["wayne"], "--genesis",
               dirs["wayne"] / "received.json", "--observer")  # fmt: skip
        admit(card, founders)
        procs["wayne"] = net.start("wayne", dirs["wayne"] / "config.toml", tmp_path / "wayne.log")
        head = height("acme")
        wait(lambda: alive() is None and height("wayne") >= head, 60, "wayne following")
        assert role("wayne") == "observer"
        wayne_pid = procs["wayne"].pid
        assert "votes       1 of 3 needed" in vote("acme", "validator", "add", "--member", card)
        assert "add_validator wayne" in net.ok(
            "sw", "governance", "pending", "--node", net.url("initech")
        )
        assert "votes       2 of 3 needed" in vote("globex", "validator", "add", "--member", card)
        passed = vote("initech", "validator", "add", "--member", card)
        m = re.search(r"PASSED: in force from height (\d+)", passed)
        assert m, passed
        wait(lambda: alive() is None and height("wayne") + 1 >= int(m.group(1)), 60, "activation")
        assert role("wayne") == "validator" and procs["wayne"].pid == wayne_pid

        # umbrella stops: a quorum of the five now needs wayne's signature
        procs["umbrella"].terminate()
        assert procs.pop("umbrella").wait(20) == 0
        joined = send("wayne", "joined")
        h = net.js("tx", "get", joined["hash"], "--node", net.url("acme"))["height"]
        cert = net.js("block", "get", str(h), "--node", net.url("acme"))["certificate"]
        wayne_key = json.loads((dirs["wayne"] / "member.json").read_text())["node_public_key"]
        assert wayne_key in cert, "wayne did not sign"
        procs["umbrella"] = net.start("umbrella", dirs["umbrella"] / "config.toml",
                                      tmp_path / "umbrella-2.log")  # fmt: skip
        wait(lambda: alive() is None and height("umbrella") >= h, 60, "umbrella back")

        # umbrella is removed by three votes; the rest go on and agree, umbrella follows
        admit(dirs["umbrella"] / "member.json", ["acme", "globex", "initech", "wayne"])
        assert "PASSED" not in vote("globex", "validator", "remove", "--name", "umbrella")
        assert "PASSED" not in vote("acme", "validator", "remove", "--name", "umbrella")
        assert "PASSED" in vote("initech", "validator", "remove", "--name", "umbrella")
        after = send("acme", "after-removal")
        live = ["acme", "globex", "initech", "wayne", "umbrella"]
        top = net.js("tx", "get", after["hash"], "--node", net.url("acme"))["height"]
        wait(lambda: alive() is None and all(height(o) >= top for o in live), 60, "all at top")
        assert role("umbrella") == "observer"
        umbrella_key = json.loads((dirs["umbrella"] / "member.json").read_text())["node_public_key"]
        cert = net.js("block", "get", str(top), "--node", net.url("acme"))["certificate"]
        assert umbrella_key not in cert
        for hh in range(1, top + 1):
            hashes = {net.js("block", "get", str(hh), "--node", net.url(o))["block"]["hash"]
                      for o in live}  # fmt: skip
            assert len(hashes) == 1, hh
        vals = net.js("contract", "query", "--contract", "governance", "--method",
                      "validators", "--node", net.url("wayne"))["result"]  # fmt: skip
        assert len(vals) == 4

        # proofs from before and after both changes verify against genesis alone
        for res in (before, after):
            bundle = tmp_path / f"{res['hash'][:8]}.proof.json"
            net.ok("sw", "proof", res["hash"], "--node", net.url("wayne"), "--out", bundle)
            checked = subprocess.run(
                [sys.executable, "-m", "chainnode", "verify-proof", str(bundle), "--genesis",
                 str(coord / "genesis.json")],
                capture_output=True, text=True, env=subprocess_env(), timeout=60,
            )  # fmt: skip
            assert checked.returncode == 0, checked.stdout + checked.stderr

        # no organisation's directory holds another's private key
        for org in ORGS:
            mine = {p.name for p in dirs[org].rglob("*.pem")}
            assert mine <= {"node.pem", "admin.pem"}, mine
            for other in ORGS:
                if other != org:
                    for key in ("node.pem", "admin.pem"):
                        secret = (dirs[other] / key).read_bytes()
                        assert not any(
                            secret in p.read_bytes() for p in dirs[org].rglob("*") if p.is_file()
                        )
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        net.down()
    assert (
        net.tag
        not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    )
