"""A consortium with the CLI only (issue 20).

The ceremony: four organisations each make their keys in their own directory, a fifth party
assembles genesis from the four public cards alone, each organisation configures and starts its
node (one with password-sealed keys), and the chain commits. No directory ever holds another
organisation's private key.

Membership by vote: a fifth organisation is added by the votes of three admins (one vote alone
is not enough; `governance pending` shows the open proposal). Its node starts before the vote
as an observer (`org configure --observer`; each organisation admits it with `org admit` and
SIGHUP, no restart), follows the chain, and signs from the activation height in the same
process. One organisation is removed; its node, admitted as an observer likewise, runs on
and follows. Every node agrees and proofs from before and after verify from genesis alone."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account, Client
from chainnode.model.keys import is_sealed, load_private_key
from consensus.certificate import decode_certificate
from crypto.suite import get_suite
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env

ORGS = ["acme", "globex", "initech", "umbrella"]
NEW = "wayne"
PASSWORD = b"acme's long passphrase"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )


def ok(*args: str | Path) -> str:
    r = cli(*args)
    assert r.returncode == 0, f"chainnode {' '.join(map(str, args))}:\n{r.stdout}{r.stderr}"
    return r.stdout


def private_keys_in(directory: Path, password: bytes | None) -> dict[Path, bytes]:
    """Every file under ``directory`` that holds a private key (PEM or sealed), opened."""
    found = {}
    for f in sorted(p for p in directory.rglob("*") if p.is_file()):
        head = f.read_bytes()[:4096]
        if b"PRIVATE KEY" in head or (is_sealed(head) and b"chainnode-keystore" in head):
            found[f] = load_private_key(f, password)[1]
        else:
            assert b"BEGIN" not in head, f"{f}: a PEM we do not recognise"
    return found


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


# long: the ceremony end to end, step by step as the README tells it
def test_four_organisations_ceremony_votes_and_proofs(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    base = free_port_range(2 * len(ORGS) + 2)
    secret = tmp_path / "acme-secrets" / "password"  # kept outside the org's directory
    secret.parent.mkdir()
    secret.write_bytes(PASSWORD + b"\n")
    dirs = {name: tmp_path / name for name in ORGS}

    # 1. each organisation, on its own: keys and a public card
    for i, name in enumerate(ORGS):
        sealed = ["--password-file", secret] if name == "acme" else []
        out = ok("org", "init", "--name", name, "--out", dirs[name],
                 "--api-port", str(base + i), "--p2p-port", str(base + len(ORGS) + i), *sealed)  # fmt: skip
        assert "member.json" in out

    # 2. a coordinator holding the four cards (and nothing else) assembles genesis
    coord = tmp_path / "coordinator"
    coord.mkdir()
    for name in ORGS:
        (coord / f"{name}.json").write_bytes((dirs[name] / "member.json").read_bytes())
    members = [a for name in ORGS for a in ("--member", coord / f"{name}.json")]
    out = ok("genesis", "assemble", "--chain-id", "consortium-test", *members,
             "--timestamp", "1700000000000", "--out", coord / "genesis.json")  # fmt: skip
    printed = re.search(r"genesis hash \(SM3\): ([0-9a-f]{64})", out)
    assert printed, out
    # another organisation assembles it from the same cards and gets the same hash
    again = ok("genesis", "assemble", "--chain-id", "consortium-test", *members,
               "--timestamp", "1700000000000", "--out", tmp_path / "globex-check.json")  # fmt: skip
    assert printed.group(1) in again
    assert (coord / "genesis.json").read_bytes() == (tmp_path / "globex-check.json").read_bytes()

    # 3. each organisation configures its node on the genesis it received
    for name in ORGS:
        sealed = ["--password-file", secret] if name == "acme" else []
        out = ok("org", "configure", "--dir", dirs[name], "--genesis", coord / "genesis.json",
                 *sealed)  # fmt: skip
        assert printed.group(1) in out

    # no directory holds another organisation's private key; the coordinator holds none
    assert private_keys_in(coord, None) == {}
    own: dict[str, set[bytes]] = {}
    for name in ORGS:
        keys = private_keys_in(dirs[name], PASSWORD if name == "acme" else None)
        assert {p.name for p in keys} == {"node.pem", "admin.pem"}, keys
        own[name] = set(keys.values())
    for name in ORGS:
        files = [p.read_bytes() for p in dirs[name].rglob("*") if p.is_file()]
        for other in ORGS:
            if other == name:
                continue
            for scalar in own[other]:
                for form in (scalar, scalar.hex().encode(), scalar.hex().upper().encode()):
                    assert not any(form in data for data in files), (name, other)
    for f in ("node.pem", "admin.pem"):  # sealed: no scalar in clear
        raw = (dirs["acme"] / f).read_bytes()
        assert not any(s.hex().encode() in raw or s in raw for s in own["acme"])

    logs: list[Path] = []

    def start(name: str, d: Path) -> subprocess.Popen[bytes]:
        logs.append(d / f"node-{len(logs)}.out")
        with logs[-1].open("wb") as log:
            cmd = [sys.executable, "-m", "chainnode", "start", "--config", d / "config.toml"]
            p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env())
        procs.append(p)
        return p

    def alive() -> bool:
        """No node died (one stopped on purpose exits 0)."""
        for p, out in zip(procs, logs, strict=True):
            if p.poll() not in (None, 0):
                raise AssertionError(f"{out}:\n" + out.read_text()[-3000:])
        return True

    # the nodes start from their own directories and commit
    for name in ORGS:
        start(name, dirs[name])
    clients = [Client(f"http://127.0.0.1:{base + i}", timeout=30) for i in range(len(ORGS))]
    try:

        def all_up() -> bool:
            return alive() and all(c.status()["height"] >= 1 for c in clients)

        wait_for(all_up, 90, "block 1 on the four organisations' nodes")
        admin = Account.load(dirs["globex"] / "admin.pem")
        res = clients[1].send(admin, "records", "put", ["ceremony", 1], wait=30)
        assert res.committed and res.receipts and res.receipts[0]["status"] == "ok", res
        height = clients[1].transaction(res.hashes[0])["height"]
        wait_for(
            lambda: all(c.status()["height"] >= height for c in clients), 60, "the tx everywhere"
        )
        hashes = {c.block(height)["block"]["hash"] for c in clients}
        assert len(hashes) == 1, hashes
        st = clients[0].status()
        assert st["chain_id"] == "consortium-test" and st["validator"] is True
        vals = clients[2].validators()["validators"]
        assert [v["node_id"] for v in vals] == ORGS
        # the sealed admin key signs too, once opened with its password
        sealed_admin = Account.load(dirs["acme"] / "admin.pem", PASSWORD)
        assert get_suite("sm").public_key(sealed_admin.private_key) == sealed_admin.public_key
        res = clients[0].send(sealed_admin, "records", "put", ["acme", 2], wait=30)
        assert res.committed, res
        before_tx = res.hashes[0]

        # -- membership by vote: a fifth organisation joins by three admins' votes ----------
        wayne = tmp_path / NEW
        ok("org", "init", "--name", NEW, "--out", wayne,
           "--api-port", str(base + 8), "--p2p-port", str(base + 9))  # fmt: skip
        urls = [f"http://127.0.0.1:{base + i}" for i in range(len(ORGS))]
        # its node: refused without --observer on the genesis that does not name it, set up
        # with it; each organisation admits it by its public card, applied without a restart
        refused = cli("org", "configure", "--dir", wayne, "--genesis", coord / "genesis.json")
        assert refused.returncode == 1 and "--observer" in refused.stderr
        ok("org", "configure", "--dir", wayne, "--genesis", coord / "genesis.json", "--observer")

        def admit(card: Path, orgs: dict[str, Path]) -> None:
            for name, d in orgs.items():
                out = ok("org", "admit", "--dir", d, "--member", card)
                assert "as an observer" in out, out
                running[name].send_signal(signal.SIGHUP)

        running = dict(zip(ORGS, procs, strict=True))
        # a config that no longer loads: SIGHUP changes nothing and the node runs on
        good = (dirs["globex"] / "config.toml").read_bytes()
        (dirs["globex"] / "config.toml").write_text('observers = ["04zz"]\n')
        running["globex"].send_signal(signal.SIGHUP)
        wait_for(lambda: alive() and "config not reloaded" in logs[1].read_text(), 30,
                 "globex refusing the broken config")  # fmt: skip
        (dirs["globex"] / "config.toml").write_bytes(good)
        admit(wayne / "member.json", dirs)
        running[NEW] = start(NEW, wayne)
        new_client = Client(f"http://127.0.0.1:{base + 8}", timeout=30)
        clients.append(new_client)
        head = clients[0].status()["height"]
        wait_for(lambda: alive() and new_client.status()["height"] >= head, 60,
                 f"{NEW} following as an observer to {head}")  # fmt: skip
        st = new_client.status()
        assert st["role"] == "observer" and st["validator"] is False, st

        def vote(org: str, *what: str | Path) -> str:
            sealed = ["--password-file", secret] if org == "acme" else []
            return ok(*what, "--key", dirs[org] / "admin.pem", *sealed,
                      "--node", urls[ORGS.index(org)])  # fmt: skip

        first = vote("acme", "validator", "add", "--member", wayne / "member.json")
        assert "votes       1 of 3 needed (4 admins)" in first and "open until height" in first
        pending = ok("governance", "pending", "--node", urls[2])
        assert f"add_validator {NEW}" in pending and "votes 1 of 3 needed" in pending
        assert len(clients[1].validators()["validators"]) == 4  # one vote is not enough
        second = vote("globex", "validator", "add", "--member", wayne / "member.json")
        assert "votes       2 of 3 needed" in second and "PASSED" not in second
        third = vote("initech", "validator", "add", "--member", wayne / "member.json")
        m = re.search(r"PASSED: in force from height (\d+)", third)
        assert m and "votes       3 of 3 needed" in third, third
        active = int(m.group(1))
        assert "no open proposal" in ok("governance", "pending", "--node", urls[3])
        vals = clients[0].validators()["validators"]
        assert [v["node_id"] for v in vals] == [*ORGS, NEW]
        # the same process becomes a validator at the activation height (blocks come with
        # transactions: its role is the one for the next height)
        wait_for(lambda: alive() and new_client.status()["height"] + 1 >= active, 60, "activation")
        st = new_client.status()
        assert st["role"] == "validator" and st["validator"] is True, st
        assert running[NEW].poll() is None  # never restarted
        # umbrella stops: a quorum of the five (4) now needs the newcomer's signature
        umbrella = running["umbrella"]
        umbrella.terminate()
        assert umbrella.wait(20) == 0
        user = Account.generate()
        res = new_client.send(user, "records", "put", ["after-join", 3], wait=30)
        assert res.committed, res
        h = new_client.transaction(res.hashes[0])["height"]
        assert h >= active
        cert = decode_certificate(bytes.fromhex(clients[0].block(h)["certificate"]))
        wayne_key = bytes.fromhex(vals[-1]["public_key"])
        assert wayne_key in [k for k, _ in cert.signatures]
        running["umbrella"] = start("umbrella", dirs["umbrella"])  # back, still a validator
        umbrella_client = clients[3]
        wait_for(lambda: alive() and umbrella_client.status()["height"] >= h, 60, "umbrella back")

        # -- and umbrella is removed by three votes; the others admit it as an observer ----
        admit(dirs["umbrella"] / "member.json",
              {n: d for n, d in [*dirs.items(), (NEW, wayne)] if n != "umbrella"})  # fmt: skip
        for org in ("globex", "initech"):
            assert "PASSED" not in vote(org, "validator", "remove", "--name", "umbrella")
        out = vote("acme", "validator", "remove", "--name", "umbrella")
        removed_from = int(re.search(r"in force from height (\d+)", out).group(1))  # type: ignore[union-attr]
        live = [clients[0], clients[1], clients[2], new_client]
        hashes = []
        for i in range(3):
            res = live[i].send(user, "records", "put", [f"after-removal-{i}", i], wait=30)
            assert res.committed, res
            hashes += res.hashes
        top = max(c.transaction(hashes[-1])["height"] for c in live[:1])
        assert top >= removed_from
        # umbrella's node runs on, following as an observer
        everyone = [*live, umbrella_client]
        wait_for(lambda: alive() and all(c.status()["height"] >= top for c in everyone), 60,
                 "all at the top")  # fmt: skip
        st = umbrella_client.status()
        assert st["role"] == "observer" and st["validator"] is False, st
        assert running["umbrella"].poll() is None
        umbrella_key = bytes.fromhex(vals[3]["public_key"])
        for height in range(removed_from, top + 1):
            cert = decode_certificate(bytes.fromhex(clients[0].block(height)["certificate"]))
            assert umbrella_key not in [k for k, _ in cert.signatures], height
        for height in range(1, top + 1):  # every node agrees on every block
            assert len({c.block(height)["block"]["hash"] for c in everyone}) == 1, height
        assert [v["node_id"] for v in new_client.validators()["validators"]] == [
            "acme",
            "globex",
            "initech",
            NEW,
        ]

        # proofs from before the changes and after both verify from genesis alone
        for tx_hash, node in ((before_tx, urls[1]), (hashes[-1], f"http://127.0.0.1:{base + 8}")):
            bundle = tmp_path / f"proof-{tx_hash[:8]}.json"
            ok("proof", tx_hash, "--node", node, "--out", bundle)
            checked = cli("verify-proof", bundle, "--genesis", coord / "genesis.json")
            assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        for c in clients:
            c.close()
