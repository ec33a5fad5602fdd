"""A new user's path with the CLI only: network init, start, send an evidence record and a
traceability event, read them back; and CLI errors that say what to do, with exit codes."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
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
    """A command's --json output (keygen prints JSON anyway)."""
    return json.loads(cli(*args, *(["--json"] if args[0] != "keygen" else [])).stdout)


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


ISO = re.compile(r"\b20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\b")
COUNTER = '''"""A counter per name."""


@public
def bump(name: str, by: int) -> int:
    """Add by to the counter name; returns the new value."""
    require(by > 0, "by must be positive")
    n = storage.get("n:" + name, 0) + by
    storage["n:" + name] = n
    emit("Bumped", name=name, value=n)
    return n


@view
def value(name: str) -> int:
    return storage.get("n:" + name, 0)
'''


def test_readable_output_by_default(node: tuple[Path, str]) -> None:
    """status, block get, tx get and tx send --wait: aligned key/value lines, ISO 8601 UTC
    times, the certificate as its signers, receipts decoded (no msgpack hex)."""
    net, url = node
    key = str(net / "admin.pem")
    doc = hashlib.sha256(b"readable output").hexdigest()
    sent = cli("tx", "send", "--node", url, "--key", key, "--contract", "evidence",
               "--method", "register", "--args", json.dumps([doc, "report", "Q3"]),
               "--wait").stdout  # fmt: skip
    tx_hash = re.search(r"^transaction\s+([0-9a-f]{64})$", sent, re.M)
    assert tx_hash, sent
    assert re.search(r"^status\s+ok$", sent, re.M), sent
    assert re.search(rf"^\s+hash\s+{doc}$", sent, re.M), sent  # the result, field by field
    assert re.search(r"^events\s+Registered \{", sent, re.M), sent
    raw = cli_json("tx", "get", "--node", url, tx_hash.group(1))
    assert raw["receipt"]["return_value"] not in sent  # the msgpack hex is not shown
    assert raw["receipt"]["events"][0]["fields"] not in sent

    got = cli("tx", "get", "--node", url, tx_hash.group(1)).stdout
    assert re.search(rf"^block\s+{raw['height']}, position {raw['index']}$", got, re.M), got
    assert f'evidence.register("{doc}", "report", "Q3")' in got
    assert raw["receipt"]["return_value"] not in got

    blk = cli("block", "get", "--node", url, str(raw["height"])).stdout
    header = cli_json("block", "get", "--node", url, str(raw["height"]))["block"]["header"]
    want = datetime.fromtimestamp(header["timestamp"] / 1000, tz=UTC)
    assert re.search(rf"^time\s+{want:%Y-%m-%dT%H:%M:%S}\.{header['timestamp'] % 1000:03d}Z$",
                     blk, re.M), blk  # fmt: skip
    assert re.search(r"^certificate\s+1 of 1 validators signed \(view \d+\):$", blk, re.M), blk
    assert re.search(r"^\s+node0 \(#0\b", blk, re.M), blk  # the signer by name and index
    assert tx_hash.group(1) in blk

    stored = cli("contract", "state", "--node", url, "-c", "evidence", f"doc:{doc}").stdout
    assert re.search(rf"^  hash\s+{doc}$", stored, re.M) and "report" in stored, stored
    assert re.search(r"^stored\s+\d+ bytes$", stored, re.M), stored
    absent = cli("contract", "state", "--node", url, "-c", "evidence", "doc:nothing").stdout
    assert re.search(r"^value\s+absent", absent, re.M), absent
    raw_state = cli_json("contract", "state", "--node", url, "-c", "evidence", f"doc:{doc}")
    assert raw_state["value"] not in stored  # decoded, not the stored bytes' hex

    st = cli("status", "--node", url).stdout
    assert re.search(r"^chain\s+chainnode-dev$", st, re.M), st
    assert re.search(r"^primary\s+node0 \(#0\b", st, re.M), st
    assert ISO.search(blk) and not re.search(r"\b1[78]\d{11}\b(?! \()", blk)  # no bare epoch ms


def test_deploy_your_own_contract(node: tuple[Path, str], tmp_path: Path) -> None:
    """Write, deploy, call and query a contract with the CLI; the printed address is the one
    form, accepted by --contract with and without 0x, in any case."""
    net, url = node
    key = str(net / "admin.pem")
    src = tmp_path / "counter.py"
    src.write_text(COUNTER)
    out = cli("contract", "deploy", "--node", url, "--key", key, "--source", str(src),
              "--name", "counter").stdout  # fmt: skip
    m = re.search(r"^address\s+(0x[0-9a-f]{40})$", out, re.M)
    assert m, out
    address = m.group(1)
    deployed = json.loads(
        cli(
            "tx",
            "get",
            "--node",
            url,
            re.search(r"^transaction\s+(\w+)$", out, re.M)[1],  # type: ignore[index]
            "--json",
        ).stdout  # fmt: skip
    )
    assert deployed["receipt"]["status"] == "ok"
    called = cli("contract", "call", "--node", url, "--key", key, "--contract", "counter",
                 "--method", "bump", "--args", '["visits", 2]').stdout  # fmt: skip
    assert re.search(r"^result\s+2$", called, re.M), called
    assert re.search(r'^events\s+Bumped \{"name": "visits", "value": 2\}$', called, re.M)
    for ref in (address, address[2:], address.upper().replace("0X", "0x"), "counter"):
        q = cli_json("contract", "query", "--node", url, "--contract", ref, "--method",
                     "value", "--args", '["visits"]')  # fmt: skip
        assert q["ok"] and q["result"] == 2, (ref, q)
    sent = cli_json("tx", "send", "--node", url, "--key", key, "--contract", address,
                    "--method", "bump", "--args", '["visits", 3]', "--wait")  # fmt: skip
    assert sent["receipt"]["status"] == "ok" and sent["receipt"]["return_value_json"] == 5
    plain = cli("contract", "query", "--node", url, "--contract", address, "--method", "value",
                "--args", '["visits"]').stdout  # fmt: skip
    assert re.search(r"^result\s+5$", plain, re.M), plain
    as_json = cli_json("contract", "deploy", "--node", url, "--key", key, "--source", str(src))
    assert re.fullmatch(r"0x[0-9a-f]{40}", as_json["address"]) and as_json["address"] != address


def test_contract_list_and_show(node: tuple[Path, str], tmp_path: Path) -> None:
    net, url = node
    src = tmp_path / "counter.py"
    src.write_text(COUNTER)
    deployed = cli_json("contract", "deploy", "--node", url, "--key", str(net / "admin.pem"),
                        "--source", str(src), "--name", "counter_shown")  # fmt: skip
    listed = cli("contract", "list", "--node", url).stdout
    rows = {ln.split()[0]: ln.split()[1:] for ln in listed.splitlines()}
    assert rows["counter_shown"] == ["deployed", deployed["address"]], listed
    assert {"evidence", "traceability", "records"} <= set(rows), listed
    assert rows["evidence"][0] == "stdlib"
    as_json = cli_json("contract", "list", "--node", url)
    assert {"name": "counter_shown", "address": deployed["address"], "kind": "deployed"} in as_json
    for ref in ("counter_shown", deployed["address"], deployed["address"][2:]):
        shown = cli("contract", "show", "--node", url, ref).stdout
        assert re.search(rf"^address\s+{deployed['address']}$", shown, re.M), shown
        assert re.search(r"^  bump\(name: str, by: int\)", shown, re.M), shown
        assert re.search(r"^  @view value\(name: str\)", shown, re.M), shown
    # A standard contract's source is known: its docs show under each method.
    evidence = cli("contract", "show", "--node", url, "evidence").stdout
    assert re.search(r"^kind\s+stdlib$", evidence, re.M), evidence
    assert re.search(r"^  @view get\(", evidence, re.M) and re.search(r"^      \S", evidence, re.M)
    detail = cli_json("contract", "show", "--node", url, "evidence")
    assert {m["name"] for m in detail["methods"]} >= {"register", "get"}
    missing = cli("contract", "show", "--node", url, "nosuch", check=False)
    assert missing.returncode == 1 and "contract list" in missing.stderr, missing.stderr
