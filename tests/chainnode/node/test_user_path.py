"""A new user's path with the CLI only: network init, start, send an evidence record and a
traceability event, read them back; and CLI errors that say what to do, with exit codes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainnode.client.sdk import Client
from tests.chainnode.node.cluster import free_port_range, wait_for
from tests.conftest import subprocess_env


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "chainnode", *args],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=60,
    )
    if check:
        assert out.returncode == 0, f"chainnode {' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args).stdout)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("user")
    base = free_port_range(2)
    cli("network", "init", "--validators", "1", "--out", str(root / "net"),
        "--api-port-base", str(base), "--p2p-port-base", str(base + 1))  # fmt: skip
    url = f"http://127.0.0.1:{base}"
    log = (root / "node.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chainnode", "start", "--config",
         str(root / "net" / "node0" / "config.toml")],
        stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(),
    )  # fmt: skip
    try:
        with Client(url) as c:
            wait_for(lambda: c.status()["height"] >= 1, 60, "block 1")
        yield root / "net", url
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, "SIGTERM must stop the node cleanly"
        log.close()


def test_evidence_and_traceability_round_trip(node: tuple[Path, str]) -> None:
    net, url = node
    key = str(net / "admin.pem")
    doc = hashlib.sha256(b"the signed supply agreement").hexdigest()
    sent = cli_json("tx", "send", "--node", url, "--key", key, "--contract", "evidence",
                    "--method", "register", "--args", json.dumps([doc, "contract", "Supply"]),
                    "--wait")  # fmt: skip
    assert sent["receipt"]["status"] == "ok", sent
    assert sent["receipt"]["events"][0]["name"] == "Registered"
    got = cli_json("contract", "query", "--node", url, "--contract", "evidence",
                   "--method", "get", "--args", json.dumps([doc]))  # fmt: skip
    assert got["ok"] and got["result"]["hash"] == doc and got["result"]["title"] == "Supply"
    tx = cli_json("tx", "get", "--node", url, sent["hash"])
    assert tx["transaction"]["hash"] == sent["hash"] and tx["receipt"]["status"] == "ok"
    block = cli_json("block", "get", "--node", url, str(tx["height"]))
    assert sent["hash"] in block["block"]["tx_hashes"]

    batch = cli_json("tx", "send", "--node", url, "--key", key, "--contract", "traceability",
                     "--method", "create_batch", "--args", '["apples-7", "apples", "Farm A"]',
                     "--wait")  # fmt: skip
    assert batch["receipt"]["status"] == "ok", batch
    ev = cli_json("contract", "call", "--node", url, "--key", key, "--contract",
                  "traceability", "--method", "add_event", "--args",
                  json.dumps(["apples-7", "harvest", "Orchard 3", "", "picked"]))  # fmt: skip
    assert ev["receipt"]["status"] == "ok", ev
    hist = cli_json("contract", "query", "--node", url, "--contract", "traceability",
                    "--method", "history", "--args", '["apples-7"]')  # fmt: skip
    assert [e["stage"] for e in hist["result"]] == ["harvest"]
    st = cli_json("status", "--node", url)
    assert st["height"] >= 3 and st["chain_id"] == "chainnode-dev"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["tx", "send", "--key", "KEY", "--contract", "evidence", "--method", "register",
          "--args", "not json"], "--args is not JSON"),
        (["tx", "send", "--key", "/nonexistent.pem", "--contract", "evidence", "--method",
          "register"], "chainnode keygen"),
        (["tx", "send", "--key", "KEY", "--contract", "evidence", "--method", "register",
          "--args", '["short", "x", "y"]', "--wait"], "failed"),
        (["tx", "send", "--key", "KEY", "--contract", "nosuch", "--method", "x"],
         "UNKNOWN_CONTRACT"),
        (["tx", "get", "00" * 32], "NOT_FOUND"),
        (["block", "get", "999999"], "NOT_FOUND"),
        (["network", "init", "--out", "NET"], "already exists"),
    ],
)  # fmt: skip
def test_cli_errors_say_what_to_do(node: tuple[Path, str], args: list[str], needle: str) -> None:
    net, url = node
    args = [a.replace("KEY", str(net / "admin.pem")).replace("NET", str(net)) for a in args]
    if args[0] != "network":
        args.insert(2, "--node")
        args.insert(3, url)
    out = cli(*args, check=False)
    assert out.returncode != 0
    assert needle in out.stderr, out.stderr


def test_unreachable_node_and_help() -> None:
    out = cli("status", "--node", "http://127.0.0.1:1", check=False)
    assert out.returncode == 1 and "is it running?" in out.stderr
    for cmd in ([], ["network", "up"], ["tx", "send"], ["contract", "deploy"]):
        assert "Usage:" in cli(*cmd, "--help").stdout


def test_keygen(tmp_path: Path) -> None:
    out = cli_json("keygen", "--out", str(tmp_path / "me.pem"))
    assert len(out["public_key"]) == 130 and re.fullmatch("0x[0-9a-f]{40}", out["address"])
    again = cli("keygen", "--out", str(tmp_path / "me.pem"), check=False)
    assert again.returncode != 0 and "--force" in again.stderr
