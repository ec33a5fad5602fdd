"""One real validator process: /metrics (linted by promtool), JSON logs, the event stream
(filters, resume from a height, a slow consumer dropped)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.api.metrics import NodeMetrics
from chainnode.client.sdk import Account, ClientError
from chainnode.ledger.stages import CHECKPOINT, COMPACTION, EVENT_LOOP, STAGES
from storage import Store
from tests.chainnode.node.cluster import wait_for
from tests.chainnode.ops.helpers import OpsCluster, SSEReader, http_get, promtool
from tests.storage.test_levels import block, settled

QUEUE_BLOCKS = 3


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsCluster]:
    env = {"CHAINNODE_LOG_JSON": "true", "CHAINNODE_EVENT_QUEUE_BLOCKS": str(QUEUE_BLOCKS)}
    c = OpsCluster(tmp_path_factory.mktemp("opsnode"), 1, env=env)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def _send(c: OpsCluster, acct: Account, calls: list[tuple[str, str, list[object]]]) -> list[str]:
    cl = c.clients[0]
    txs = [cl.build(acct, contract, method, args) for contract, method, args in calls]
    res = cl.submit(txs, wait=30)
    assert res.committed, res
    return res.hashes


def _doc() -> str:
    return Account.generate().public_key[1:33].hex()


def test_event_stream_filters_by_contract_and_event(node: OpsCluster) -> None:
    acct = Account.generate()
    evidence = node.clients[0].state("evidence", "k")["address"]  # 0x + 40 lower-case hex
    # an address filter may come without 0x and in upper case
    sse = SSEReader(node.url(0), f"/v1/events?contract={evidence[2:].upper()}&event=Registered")
    try:
        assert sse.status == 200
        doc = _doc()
        hashes = _send(
            node,
            acct,
            [("records", "put", ["k-filter", 1]), ("evidence", "register", [doc, "contract", "t"])],
        )
        seen: list[dict[str, object]] = []
        while True:
            m = sse.next()
            seen.append(m)
            if m["event"] == "block" and hashes[1] in m["data"]["tx_hashes"]:
                break
        events = [m for m in seen if m["event"] == "contract_event"]
        assert len(events) == 1, seen
        ev = events[0]["data"]
        assert ev["name"] == "Registered" and ev["tx_hash"] == hashes[1]
        assert ev["fields_value"]["hash"] == doc and ev["contract"] == evidence
        block = seen[-1]
        assert block["id"] == str(block["data"]["height"])
        assert re.fullmatch("0x[0-9a-f]{40}", block["data"]["proposer_address"]), block
        # A block with only a records event: its block message comes, no contract event.
        (h2,) = _send(node, acct, [("records", "put", ["k-filter", 2])])
        m = sse.next()
        assert m["event"] == "block" and h2 in m["data"]["tx_hashes"], m
    finally:
        sse.close()
    status, body = http_get(node.url(0) + "/v1/events?contract=nosuchthing")
    assert status == 400 and b"contract" in body
    for query, field in (
        ("from_height=-1", "from_height"),
        ("from_height=-3", "from_height"),
        ("from_height=1.5", "from_height"),
        ("from_height=" + "9" * 20, "from_height"),
        ("blocks=maybe", "blocks"),
        ("event=", "event"),
        ("contract=Bad!", "contract"),
    ):
        status, body = http_get(node.url(0) + "/v1/events?" + query)
        err = json.loads(body)["error"]
        assert (status, err["code"], err["field"]) == (400, "INVALID_FIELD", field), (query, err)


def test_event_stream_resumes_from_a_height(node: OpsCluster) -> None:
    acct = Account.generate()
    _send(node, acct, [("records", "put", ["k-resume", 1])])
    top = node.height(0)
    assert top >= 2
    sse = SSEReader(node.url(0), "/v1/events?from_height=1")
    try:
        heights = [int(sse.next_block()["data"]["height"]) for _ in range(top)]
        assert heights == list(range(1, top + 1))  # replayed from the ledger, in order
        (h,) = _send(node, acct, [("records", "put", ["k-resume", 2])])
        m = sse.next_block()  # then live, no gap and no repeat
        assert m["data"]["height"] == top + 1 and h in m["data"]["tx_hashes"]
    finally:
        sse.close()
    # Last-Event-ID: resume after the last id the client saw.
    sse = SSEReader(node.url(0), "/v1/events", headers={"Last-Event-ID": str(top - 1)})
    try:
        assert [int(sse.next_block()["id"]) for _ in range(2)] == [top, top + 1]
    finally:
        sse.close()


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return float(m.group(1))


def test_storage_levels_are_the_stores_own(tmp_path: Path) -> None:
    """The level families carry what a real store's LevelDB reports, level by level."""
    store = Store.open(tmp_path / "db", b"chain", write_buffer_size=256 * 1024)
    try:
        for height in range(8):
            store.commit(block(height, 500))
        levels = settled(store, tmp_path / "db")
        metrics = NodeMetrics("n0", "chain")
        metrics.storage_from(store.level_stats)
        body = metrics.render()
    finally:
        store.close()
    text = body.decode()
    assert levels and sum(lv.written_bytes for lv in levels) > 0
    for lv in levels:
        at = f'{{level="{lv.level}"}}'
        assert _metric(text, f"chainnode_storage_level_files{at}") == lv.files
        assert _metric(text, f"chainnode_storage_level_bytes{at}") == lv.size_bytes
        assert _metric(text, f"chainnode_storage_compaction_written_bytes_total{at}") == (
            lv.written_bytes
        )
        assert _metric(text, f"chainnode_storage_compaction_read_bytes_total{at}") == (
            lv.read_bytes
        )
        assert _metric(text, f"chainnode_storage_compaction_seconds_total{at}") == (
            lv.compaction_seconds
        )
    proc = subprocess.run(
        [promtool(), "check", "metrics"], input=body, capture_output=True, timeout=30
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_slow_consumer_is_dropped_and_others_keep_up(node: OpsCluster) -> None:
    start = node.height(0) + 1
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = node.url(0).removeprefix("http://").split(":")
    slow.connect((host, int(port)))
    slow.sendall(f"GET /v1/events HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())  # never read
    fast = SSEReader(node.url(0), "/v1/events")
    acct = Account.generate()
    cl = node.clients[0]

    def dropped() -> bool:
        _, body = http_get(node.url(0) + "/metrics")
        return _metric(body.decode(), "chainnode_event_subscribers_dropped_total") >= 1

    try:
        wait_for(
            lambda: (
                _metric(
                    http_get(node.url(0) + "/metrics")[1].decode(), "chainnode_event_subscribers"
                )
                == 2
            ),
            10,
            "2 subscribers",
        )
        n = 0
        deadline = time.monotonic() + 60
        while not dropped():
            assert time.monotonic() < deadline, "the slow consumer was never dropped"
            txs = [
                cl.build(acct, "records", "put", [f"slow-{n}-{i}", "x" * 200]) for i in range(60)
            ]
            n += 1
            cl.submit(txs, wait=30)
        last = node.height(0)
        heights = []
        while not heights or heights[-1] < last:
            m = fast.next()
            if m["event"] == "block":
                heights.append(int(m["data"]["height"]))
        assert heights == list(range(start, last + 1))  # the fast consumer missed nothing
        # The slow one's connection was aborted: reading it ends (EOF or reset) quickly.
        slow.settimeout(10)
        with pytest.raises((ConnectionError, OSError)):
            while slow.recv(1 << 20):
                pass
            raise ConnectionError("closed")
        wait_for(
            lambda: (
                _metric(
                    http_get(node.url(0) + "/metrics")[1].decode(), "chainnode_event_subscribers"
                )
                == 1
            ),
            10,
            "1 subscriber",
        )
    finally:
        slow.close()
        fast.close()


def test_metrics_pass_promtool_and_count(node: OpsCluster, tmp_path: Path) -> None:
    tool = promtool()
    cl = node.clients[0]
    acct = Account.generate()
    tx = cl.build(acct, "records", "put", ["k-metrics", 1])
    cl.submit([tx], wait=30)
    with pytest.raises(ClientError):
        cl.submit([tx])  # DUPLICATE: a rejection by reason
    cl.status()
    status, body = http_get(node.url(0) + "/metrics")
    assert status == 200
    text = body.decode()
    proc = subprocess.run([tool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    height = node.height(0)
    assert _metric(text, "chainnode_height") >= height - 1
    assert _metric(text, "chainnode_txs_committed_total") >= 4
    assert _metric(text, 'chainnode_mempool_rejections_total{reason="DUPLICATE"}') >= 1
    assert _metric(text, "chainnode_signatures_verified_total") >= 4
    assert _metric(text, "chainnode_block_commit_latency_seconds_count") >= 3
    blocks = _metric(text, "chainnode_blocks_committed_total")
    # each committed block was written first (one may be written and not yet counted)
    assert blocks <= _metric(text, "chainnode_block_write_duration_seconds_count") <= blocks + 1
    assert _metric(text, "chainnode_block_write_duration_seconds_sum") > 0
    assert _metric(text, "chainnode_consensus_round_duration_seconds_count") >= 2
    assert "chainnode_consensus_view_changes_total" in text
    # LevelDB's levels (a fresh store has flushed no table yet: the families, no samples)
    assert "# TYPE chainnode_storage_level_files gauge" in text
    assert "# HELP chainnode_storage_compaction_written_bytes" in text
    # the standard process and Python collectors, and the release as a label
    assert _metric(text, "process_cpu_seconds_total") > 0
    assert _metric(text, "process_resident_memory_bytes") > 1 << 20
    assert _metric(text, "process_start_time_seconds") > 1.6e9
    assert _metric(text, 'python_gc_collections_total{generation="0"}') >= 0
    assert re.search(r'^python_info\{.*version="3\.', text, re.M), "no python_info"
    want = importlib.metadata.version("chainnode")
    assert _metric(text, f'chainnode_build_info{{version="{want}"}}') == 1
    for name in (
        "chainnode_mempool_transactions",
        "chainnode_peers",
        "chainnode_consensus_view",
        "chainnode_p2p_received_bytes_total",
        "chainnode_p2p_sent_bytes_total",
    ):
        _metric(text, name)
    assert re.search(
        r'^chainnode_http_request_duration_seconds_count\{method="GET",route="/v1/status"\} [1-9]',
        text,
        re.M,
    ), "no latency for /v1/status"
    assert 'route="/v1/transactions"' in text
    assert _metric(text, 'chainnode_role{role="validator"}') == 1
    assert _metric(text, 'chainnode_role{role="observer"}') == 0
    # never saturated here: the budget is its floor, two full blocks of the genesis' 2000
    assert _metric(text, "chainnode_admission_backlog_limit") == 4000
    assert _metric(text, "chainnode_admission_busy_refusals_total") == 0


def _stage_cpu(text: str) -> dict[str, float]:
    found = re.findall(r'^chainnode_stage_cpu_seconds_total\{stage="(\w+)"\} (\S+)$', text, re.M)
    return {stage: float(v) for stage, v in found}


def test_stage_cpu_counters_grow_when_txs_commit(node: OpsCluster) -> None:
    """Per-stage CPU of a real node: every stage is exposed, each that a committed batch
    passes through grows, and together they stay within the process's CPU."""
    cl = node.clients[0]
    first = http_get(node.url(0) + "/metrics")[1].decode()
    before = _stage_cpu(first)
    assert set(before) == {*STAGES, EVENT_LOOP, COMPACTION, CHECKPOINT}
    acct = Account.generate()
    txs = [cl.build(acct, "records", "put", [f"k-stage-{i}", i]) for i in range(200)]
    assert cl.submit(txs, wait=60).committed
    text = http_get(node.url(0) + "/metrics")[1].decode()
    after = _stage_cpu(text)
    grew = {s for s in after if after[s] > before[s]}
    # 200 txs > crypto's inline batch: verification ran (in part) on other threads, counted
    assert {"http", "admission", "verify", "execute", "commit", "consensus", EVENT_LOOP} <= grew
    # LevelDB's thread, started by the node at nice 19, has flushed at least once (its start)
    assert after[COMPACTION] >= before[COMPACTION] > 0
    assert after[CHECKPOINT] >= before[CHECKPOINT] >= 0  # none is due in 200 txs' blocks
    spans = _metric(text, "chainnode_stage_spans_total")
    assert spans > _metric(first, "chainnode_stage_spans_total")
    # no CPU counted twice: within the process's (process_cpu_seconds_total counts 10 ms ticks)
    assert sum(after.values()) <= _metric(text, "chainnode_process_cpu_seconds_total")
    assert sum(after.values()) <= _metric(text, "process_cpu_seconds_total") + 0.05


def test_logs_are_json_with_node_height_and_view(node: OpsCluster) -> None:
    lines = [ln for ln in node.log(0).splitlines() if ln.strip()]
    assert lines
    recs = [json.loads(ln) for ln in lines]  # every line is one JSON object
    for r in recs:
        assert {"ts", "level", "node", "height", "view", "logger", "msg"} <= set(r)
        assert r["node"] == "node0"
    assert max(r["height"] for r in recs) >= 1


def test_sigterm_with_open_streams_stops_promptly(node: OpsCluster) -> None:
    """Runs last in this module: open streams (live and replaying) do not hold up a stop."""
    live = SSEReader(node.url(0), "/v1/events")
    replay = SSEReader(node.url(0), "/v1/events?from_height=1")
    try:
        replay.next_block()
        t0 = time.monotonic()
        assert node.stop(0, timeout=15) == 0
        assert time.monotonic() - t0 < 8
    finally:
        live.close()
        replay.close()
