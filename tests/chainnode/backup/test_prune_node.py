"""A real validator with prune_keep_blocks: old bodies answer 410 PRUNED naming the archives,
recent ones and new transactions work as before."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from chainnode.client.sdk import Account, ClientError
from tests.chainnode.node.cluster import wait_for
from tests.chainnode.node.single import SingleNode
from tests.conftest import subprocess_env

ARCHIVES = "https://archives.example/chain-7"


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chainnode", *map(str, args)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
        check=False,
    )


# long: one node's life: records, an archive, pruning, then every answer checked
def test_a_pruned_node_answers_410_and_keeps_working(tmp_path: Path) -> None:
    node = SingleNode(tmp_path, prune_keep_blocks=16, archives=ARCHIVES)
    try:
        c = node.client
        acct = Account.generate()
        chain_id = c.status()["chain_id"]

        def send(i: int) -> tuple[str, int]:
            h = c.status()["height"]
            tx = acct.sign(chain_id, "records", "put", [f"r{i}", i], block_limit=h + 100)
            res = c.submit([tx], wait=20)
            assert res.receipts and res.receipts[0] is not None
            return res.hashes[0], int(c.transaction(res.hashes[0])["height"])

        first, first_height = send(0)
        first_block = c.block(first_height)["block"]["hash"]
        for i in range(1, 4):
            send(i)
        # archive the first blocks while the node still has them
        config = tmp_path / "net" / "node0" / "config.toml"
        genesis = tmp_path / "net" / "genesis.json"
        archive = tmp_path / "first.archive"
        r = cli("archive", "export", "--config", config, "--from", 1, "--to", first_height + 2,
                "--out", archive)  # fmt: skip
        assert r.returncode == 0, r.stderr
        i = 4
        while c.status()["height"] < first_height + 40:
            send(i)
            i += 1
        wait_for(lambda: get(f"{node.url}/v1/blocks/{first_height}")[0] == 410, 30, "pruning")

        for path in (
            f"/v1/blocks/{first_height}",
            f"/v1/blocks/{first_block}",
            f"/v1/transactions/{first}",
            f"/v1/receipts/{first}",
            f"/v1/proofs/{first}",
            "/v1/events?from_height=1",
        ):
            status, body = get(node.url + path)
            assert status == 410, path
            err = body["error"]
            assert isinstance(err, dict) and err["code"] == "PRUNED", path
            if "events" not in path:
                assert ARCHIVES in str(err["message"]) and str(first_height) in str(err["message"])
        with pytest.raises(ClientError) as e:
            c.block(first_height)
        assert e.value.status == 410 and e.value.code == "PRUNED"

        # the recent past and the present work as before
        head = c.status()["height"]
        assert c.block(head - 3)["block"]["header"]["height"] == head - 3
        last, _ = send(i)
        assert c.receipt(last) is not None
        assert get(f"{node.url}/v1/blocks/99999")[0] == 404  # unknown is still 404
        assert "pruned" in node.log()

        # the pruned records, from the archive: verified offline, and provable
        r = cli("archive", "verify", archive, "--genesis", genesis)
        assert r.returncode == 0 and r.stdout.startswith("VALID"), r.stderr
        bundle = tmp_path / "first.proof.json"
        r = cli("archive", "proof", archive, first, "--genesis", genesis, "--out", bundle)
        assert r.returncode == 0, r.stderr
        r = cli("verify-proof", bundle, "--genesis", genesis)
        assert r.returncode == 0 and r.stdout.startswith("VALID"), r.stdout + r.stderr
        assert first in r.stdout or first[:4] in r.stdout
        r = cli("archive", "export", "--config", config, "--from", 1, "--to", 3,
                "--out", tmp_path / "late.archive")  # fmt: skip
        assert r.returncode == 1 and "not on this node (pruned?)" in r.stderr
        assert not (tmp_path / "late.archive").exists()
    finally:
        node.close()
