"""The HTTP API over real TLS on loopback (issue 20): `org init --tls` makes the organisation's
CA and certificates, `org configure` serves the API over TLS with writes only from clients of
that CA; `api_client_auth = "all"` refuses a client without a certificate in the handshake. The
SDK and the CLI take --ca, --cert, --client-key."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account, Client, ClientError
from chainnode.deploy.org import MemberCard, assemble_genesis, configure_org, init_org
from chainnode.deploy.tls import TlsPaths
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env


class Node:
    def __init__(self, org: Path) -> None:
        self.org = org
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        log = (self.org / "node.out").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chainnode", "start", "--config", str(self.org / "config.toml")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**subprocess_env(), **env},
        )
        log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def alive(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError((self.org / "node.out").read_text()[-3000:])
        return True


@pytest.fixture
def org(tmp_path: Path) -> Iterator[tuple[Node, str, TlsPaths, TlsPaths]]:
    base = free_port_range(2)
    init_org(tmp_path / "acme", "acme", api_port=base, p2p_port=base + 1, tls=True)
    other = tmp_path / "globex"
    init_org(other, "globex", api_port=base, p2p_port=base + 1, tls=True)  # another CA
    card = MemberCard.load(tmp_path / "acme" / "member.json")
    assemble_genesis([card], "tls-test").save(tmp_path / "genesis.json")
    cfg = configure_org(tmp_path / "acme", tmp_path / "genesis.json")
    assert cfg.api_tls_cert is not None and cfg.api_client_auth == "writes"
    node = Node(tmp_path / "acme")
    try:
        yield node, f"https://127.0.0.1:{base}", TlsPaths.of(tmp_path / "acme"), TlsPaths.of(other)
    finally:
        node.stop()


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


def test_tls_api_reads_for_the_ca_writes_for_client_certs(
    org: tuple[Node, str, TlsPaths, TlsPaths],
) -> None:
    node, url, tls, foreign = org
    for f in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        assert (tls.ca.parent / f).stat().st_mode & 0o777 == 0o600
    node.start()
    reader = Client(url, ca=tls.ca)
    wait_for(lambda: node.alive() and reader.status()["height"] >= 1, 60, "block 1 over TLS")
    # plain HTTP on the TLS port gets no answer it can use
    with pytest.raises(ClientError):
        Client(url.replace("https", "http"), timeout=5).status()
    # the node's certificate does not verify without this org's CA
    with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
        Client(url, timeout=5).status()
    # writes: refused without a client certificate, accepted with this org's
    user = Account.generate()
    with pytest.raises(ClientError) as refused:
        reader.send(user, "records", "put", ["k", 1], wait=10)
    assert refused.value.status == 403 and refused.value.code == "CLIENT_CERT_REQUIRED"
    writer = Client(url, ca=tls.ca, cert=tls.client_cert, key=tls.client_key)
    res = writer.send(user, "records", "put", ["k", 1], wait=20)
    assert res.committed, res
    # a client certificate of another organisation's CA does not get in
    with pytest.raises(ClientError):
        Client(url, ca=tls.ca, cert=foreign.client_cert, key=foreign.client_key).send(
            user, "records", "put", ["k2", 2], wait=10
        )
    # the CLI: --ca for reads, --cert/--client-key for writes, proof over TLS
    out = cli("--ca", tls.ca, "status", "--node", url, "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["chain_id"] == "tls-test", out.stderr
    key = node.org / "user.pem"
    user.save(key)
    sent = cli("--ca", tls.ca, "--cert", tls.client_cert, "--client-key", tls.client_key,
               "tx", "send", "--node", url, "--key", key, "--contract", "records",
               "--method", "put", "--args", '["cli", 3]', "--wait")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    no_cert = cli("--ca", tls.ca, "tx", "send", "--node", url, "--key", key,
                  "--contract", "records", "--method", "put", "--args", '["cli2", 4]')  # fmt: skip
    assert no_cert.returncode == 1 and "CLIENT_CERT_REQUIRED" in no_cert.stderr
    proof = cli("--ca", tls.ca, "proof", res.hashes[0], "--node", url)
    assert proof.returncode == 0 and json.loads(proof.stdout)["format"], proof.stderr
    reader.close()
    writer.close()


def test_client_auth_all_refuses_a_client_without_a_certificate(
    org: tuple[Node, str, TlsPaths, TlsPaths],
) -> None:
    node, url, tls, _ = org
    node.start(CHAINNODE_API_CLIENT_AUTH="all")
    member = Client(url, ca=tls.ca, cert=tls.client_cert, key=tls.client_key)
    wait_for(lambda: node.alive() and member.status()["height"] >= 1, 60, "block 1 over mTLS")
    with pytest.raises(ClientError):
        Client(url, ca=tls.ca, timeout=5).status()
    # the same with urllib (any client): the handshake itself fails
    ctx = ssl.create_default_context(cafile=str(tls.ca))
    with pytest.raises((ssl.SSLError, OSError)):
        urllib.request.urlopen(url + "/v1/status", timeout=5, context=ctx).read()
    ctx.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    with urllib.request.urlopen(url + "/healthz", timeout=5, context=ctx) as resp:
        assert resp.status == 200
    member.close()
