"""Proof bundles from a real 4-validator network (processes, sockets, LevelDB), across a
validator-set change made by governance, checked offline by `chainnode verify-proof`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams
from crypto import sm2
from tests.chainnode.ops.helpers import OpsCluster, http_get
from tests.conftest import subprocess_env


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("proofnet")
    params = ConsensusParams(view_change_timeout_ms=1500, request_timeout_ms=3000)
    c = OpsCluster(root, 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        cl = c.clients[0]
        user = Account.generate()
        admin = Account.load(root / "admin.pem")
        doc_a = Account.generate().public_key[1:33].hex()
        (a,) = cl.submit(
            [cl.build(user, "evidence", "register", [doc_a, "deed", "before"])], 30
        ).hashes
        new = sm2.PrivateKey.generate().public_key().to_bytes()
        change = cl.build(
            admin, "governance", "add_validator", [new, "node4", "127.0.0.1:1", "x:2"]
        )
        res = cl.submit([change], wait=30)
        assert res.receipts and res.receipts[0]["status"] == "ok", res
        doc_b = Account.generate().public_key[1:33].hex()
        batch = [cl.build(user, "evidence", "register", [doc_b, "contract", "after"])]
        batch += [cl.build(user, "records", "put", [f"filler-{i}", i]) for i in range(5)]
        res = cl.submit(batch, wait=60)
        assert res.committed, res
        c.wait_height(c.height(0), timeout=30)  # every node has the last block
        yield {"cluster": c, "root": root, "a": a, "b": res.hashes[0], "doc_b": doc_b}
    finally:
        c.close()


def test_bundle_verifies_offline_through_the_validator_change(net: dict[str, Any]) -> None:
    c, root = net["cluster"], net["root"]
    status, body = http_get(f"{c.url(3)}/v1/proofs/{net['b']}")  # any node serves it
    assert status == 200, body
    bundle = json.loads(body)
    assert len(bundle["governance"]) == 1 and len(bundle["validators"]) == 5
    path = root / "b.json"
    path.write_bytes(body)
    r = _cli("verify-proof", str(path), "--genesis", str(root / "genesis.json"))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("VALID") and net["b"] in out and net["doc_b"] in out
    assert "evidence.register" in out and "Registered" in out
    assert "add_validator node4" in out and "of 5 validators" in out
    # Before the change: fetched with the CLI, proven by the genesis set alone.
    path_a = root / "a.json"
    r = _cli("proof", net["a"], "--node", c.url(1), "--out", str(path_a))
    assert r.returncode == 0, r.stderr
    r = _cli("verify-proof", str(path_a), "--genesis", str(root / "genesis.json"))
    assert r.returncode == 0, r.stderr
    assert "of 4 validators" in r.stdout and "the genesis set" in r.stdout
    r = _cli("verify-proof", str(path), "--genesis", str(root / "genesis.json"), "--json")
    assert r.returncode == 0, r.stderr
    proven = json.loads(r.stdout)
    rec = proven["record"]
    assert proven["valid"] and rec["tx_hash"] == net["b"] and rec["method"] == "register"
    assert rec["args"][0] == net["doc_b"] and rec["events"][0]["name"] == "Registered"
    assert rec["validators"] == 5 and len(rec["signers"]) >= 4
    (change,) = proven["validator_changes"]
    assert change["method"] == "add_validator" and change["args"][1] == "node4"
    assert change["height"] < rec["height"]


def test_api_errors(net: dict[str, Any]) -> None:
    c = net["cluster"]
    status, body = http_get(f"{c.url(0)}/v1/proofs/{'ab' * 32}")
    assert status == 404 and json.loads(body)["error"]["code"] == "NOT_FOUND"
    status, body = http_get(f"{c.url(0)}/v1/proofs/xyz")
    assert status == 400 and json.loads(body)["error"]["field"] == "hash"


def _flip(h: str, pos: int) -> str:
    b = bytearray(bytes.fromhex(h))
    b[pos % len(b)] ^= 0x40
    return b.hex()


def test_altered_bundles_fail_with_the_reason(net: dict[str, Any], tmp_path: Path) -> None:
    c, root = net["cluster"], net["root"]
    _, body = http_get(f"{c.url(2)}/v1/proofs/{net['b']}")
    base = json.loads(body)
    rec = base["record"]
    assert rec["tx_path"]["siblings"], "the record's block should hold several txs"
    cases = [
        ("tx", lambda o: o["record"].__setitem__("tx", _flip(rec["tx"], 40))),
        ("receipt", lambda o: o["record"].__setitem__("receipt", _flip(rec["receipt"], 50))),
        ("tx path", lambda o: o["record"]["tx_path"]["siblings"].__setitem__(
            0, _flip(rec["tx_path"]["siblings"][0], 3))),
        ("receipt path", lambda o: o["record"]["receipt_path"]["siblings"].__setitem__(
            0, _flip(rec["receipt_path"]["siblings"][0], 3))),
        ("header", lambda o: o["record"].__setitem__("header", _flip(rec["header"], 60))),
        ("certificate", lambda o: o["record"].__setitem__(
            "certificate", _flip(rec["certificate"], 120))),
        ("validator set", lambda o: o["validators"].__setitem__(
            1, _flip(base["validators"][1], 20))),
        ("governance proof #0: tx", lambda o: o["governance"][0].__setitem__(
            "tx", _flip(base["governance"][0]["tx"], 90))),
    ]  # fmt: skip
    for part, mutate in cases:
        obj = json.loads(body)
        mutate(obj)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(obj))
        r = _cli("verify-proof", str(path), "--genesis", str(root / "genesis.json"))
        assert r.returncode == 1, (part, r.stdout)
        assert r.stderr.startswith("INVALID: ") and part in r.stderr, (part, r.stderr)
    r = _cli("verify-proof", str(path), "--genesis", str(root / "genesis.json"), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["valid"] is False
    raw = bytearray(body)
    raw[len(raw) // 3] ^= 0x01
    path = tmp_path / "bad.json"
    path.write_bytes(bytes(raw))
    r = _cli("verify-proof", str(path), "--genesis", str(root / "genesis.json"))
    assert r.returncode == 1 and "INVALID" in r.stderr
