"""The consortium ceremony with the CLI only (issue 20): four organisations each make their keys
in their own directory, a fifth party assembles genesis from the four public cards alone, each
organisation configures and starts its node (one with password-sealed keys), and the chain
commits. No directory ever holds another organisation's private key."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account, Client
from chainnode.model.keys import is_sealed, load_private_key
from crypto.suite import get_suite
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env

ORGS = ["acme", "globex", "initech", "umbrella"]
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
def test_four_organisations_ceremony_then_commit(
    tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    base = free_port_range(2 * len(ORGS))
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

    # the nodes start from their own directories and commit
    for name in ORGS:
        log = (dirs[name] / "node.out").open("wb")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "chainnode",
                    "start",
                    "--config",
                    dirs[name] / "config.toml",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=subprocess_env(),
            )
        )
        log.close()
    clients = [Client(f"http://127.0.0.1:{base + i}", timeout=30) for i in range(len(ORGS))]
    try:

        def all_up() -> bool:
            for p, name in zip(procs, ORGS, strict=True):
                if p.poll() is not None:
                    raise AssertionError((dirs[name] / "node.out").read_text()[-3000:])
            return all(c.status()["height"] >= 1 for c in clients)

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
    finally:
        for c in clients:
            c.close()
