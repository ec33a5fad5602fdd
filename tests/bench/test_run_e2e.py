"""A short real run of ``bench.run`` against 4 validator processes: the harness's accounting.

Every submitted tx must end committed exactly once or rejected with its reason. The test checks
the harness's own report against the nodes themselves: it reads every block of every node over
HTTP and every receipt, independently of the harness.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.harness.cluster import LocalNetwork
from tests.conftest import subprocess_env

TXS = 300
BAD_EVERY = 40


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def network(tmp_path: Path) -> Any:
    net = LocalNetwork(4, tmp_path / "net")
    try:
        net.init()
        net.start()
        net.wait_ready(timeout=60)
        yield net
    finally:
        net.cleanup()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("track", ["events", "poll"])
def test_every_tx_committed_once_or_rejected_with_reason(
    network: LocalNetwork, tmp_path: Path, track: str
) -> None:
    out_json, dump = tmp_path / "run.json", tmp_path / "txs.jsonl"
    cmd = [
        sys.executable, "-m", "bench.run",
        "--nodes", ",".join(network.urls),
        "--workload", "evidence",
        "--txs", str(TXS), "--rate", "200", "--batch-size", "20",
        "--bad-every", str(BAD_EVERY),
        "--json", str(out_json), "--dump-txs", str(dump), "--check",
        "--cache-dir", str(tmp_path / "cache"), "--verify-seconds", "0.2",
        "--drain-timeout", "30", "--track", track,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out_json.read_text())
    for key in ("tps", "bound", "latency_p50_s", "latency_p95_s", "latency_p99_s", "rejected"):
        assert key in doc
    assert doc["submitted"] == TXS
    assert doc["committed"] + doc["rejected"] == TXS
    assert doc["lost"] == 0 and doc["problems"] == []
    assert doc["rejected"] >= TXS // BAD_EVERY
    assert "BAD_SIGNATURE" in doc["rejected_reasons"]
    assert doc["cross_check"]["problems"] == []
    # the nodes' CPU per committed tx by stage, read from their /metrics (4 of 4 answered),
    # and the run's PNG beside its JSON
    sc = doc["stage_cpu"]
    assert sc["nodes"] == 4 and sc["committed"] == doc["committed"]
    assert sc["us_per_tx"]["verify"] > 0 and sc["us_per_tx"]["execute"] > 0
    stages = sum(v for k, v in sc["us_per_tx"].items() if k != "other")
    assert stages <= sc["process_us_per_tx"] * 1.001  # no CPU counted twice
    assert out_json.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"

    fates = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(fates) == TXS
    assert all(f["status"] in ("committed", "rejected") for f in fates)
    assert all(f["reason"] for f in fates if f["status"] == "rejected")
    bad = {f["hash"] for f in fates if f["index"] % BAD_EVERY == BAD_EVERY - 1}
    assert all(f["status"] == "rejected" for f in fates if f["hash"] in bad)

    # Independently of the harness: every node's chain, block by block.
    ours = {f["hash"]: f for f in fates}
    for url in network.urls:
        height = get(url + "/v1/status")["height"]
        seen: Counter[str] = Counter()
        where: dict[str, int] = {}
        for h in range(1, height + 1):
            block = get(f"{url}/v1/blocks/{h}")["block"]
            for tx_hash in block["tx_hashes"]:
                if tx_hash in ours:
                    seen[tx_hash] += 1
                    where[tx_hash] = h
        for tx_hash, f in ours.items():
            if f["status"] == "committed":
                assert seen[tx_hash] == 1, (url, f)
                assert where[tx_hash] == f["height"]
            else:
                assert seen[tx_hash] == 0, (url, f)
    # The workload's calls are valid: every committed tx executed successfully.
    for tx_hash, f in ours.items():
        if f["status"] == "committed":
            receipt = get(f"{network.urls[0]}/v1/receipts/{tx_hash}")["receipt"]
            assert receipt["status"] == "ok", receipt
