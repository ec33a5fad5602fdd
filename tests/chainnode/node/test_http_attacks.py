"""The HTTP attacks of issue 16, measured on a real node process.

- a 16 MB msgpack body of empty arrays (it cost 1.2 GB and held the loop 3.3 s): a 4xx with
  under 200 MB of peak RSS growth;
- JSON: a body that would build millions of values is refused before parsing, and a batch one
  element over the limit ends the parse there;
- ~20,000 half-open requests (they pinned the node at its file-descriptor limit for 70 s):
  /healthz answers within 1 s throughout, connections are shed at the caps, the held ones are
  closed by the header timeout;
- malformed requests from anyone: a few INFO lines, no ERROR with a traceback per request.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest

from tests.chainnode.node.cluster import wait_for
from tests.chainnode.node.single import SingleNode

MAX_BATCH = 100
PER_IP = 64
TOTAL = 128
HEADER_TIMEOUT = 3.0
BODY_TIMEOUT = 2.0
REQUESTS_PER_CONNECTION = 5
MB = 1 << 20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SingleNode]:
    n = SingleNode(
        tmp_path_factory.mktemp("http-attacks"),
        max_batch_txs=MAX_BATCH,
        http_max_connections=TOTAL,
        http_max_connections_per_ip=PER_IP,
        http_header_timeout=HEADER_TIMEOUT,
        http_body_timeout=BODY_TIMEOUT,
        http_max_requests_per_connection=REQUESTS_PER_CONNECTION,
    )
    try:
        yield n
    finally:
        n.close()


def post(node: SingleNode, path: str, body: bytes, ctype: str) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": ctype})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _code(out: dict[str, object]) -> object:
    err = out["error"]
    assert isinstance(err, dict)
    return err["code"]


def _empty_arrays(size: int) -> bytes:
    """One msgpack array (array32 header) of ``size - 5`` empty arrays: ``size`` bytes."""
    n = size - 5
    return b"\xdd" + n.to_bytes(4, "big") + b"\x90" * n


def _nested_empty_arrays(size: int) -> bytes:
    """A batch-sized array of arrays of empty arrays (each array under any length cap)."""
    inner_n = 60_000
    inner = b"\xdd" + inner_n.to_bytes(4, "big") + b"\x90" * inner_n
    outer_n = (size - 5) // len(inner)
    return b"\xdd" + outer_n.to_bytes(4, "big") + inner * outer_n


@pytest.mark.parametrize(
    "body", [_empty_arrays(16 * MB), _nested_empty_arrays(16 * MB)], ids=["flat", "nested"]
)
def test_16mb_msgpack_of_empty_arrays_is_a_4xx_without_memory_growth(
    node: SingleNode, body: bytes
) -> None:
    assert len(body) <= 16 * MB
    before = node.reset_peak()
    status, out = post(node, "/v1/transactions", body, "application/msgpack")
    growth = node.peak() - before
    assert 400 <= status < 500, out
    assert _code(out) in ("BATCH_TOO_LARGE", "INVALID_BODY", "MALFORMED_MSGPACK"), out
    assert growth < 200 * MB, f"peak RSS grew {growth / MB:.0f} MB"
    assert node.healthz_seconds() < 1.0


def test_json_body_of_millions_of_values_is_refused_before_parsing(node: SingleNode) -> None:
    body = b"[" + b",".join([b"{}"] * (16 * MB // 3 - 1)) + b"]"
    before = node.reset_peak()
    status, out = post(node, "/v1/transactions", body, "application/json")
    growth = node.peak() - before
    assert status == 413 and _code(out) == "TOO_MANY_VALUES", out
    assert growth < 200 * MB, f"peak RSS grew {growth / MB:.0f} MB"


def test_json_batch_over_the_limit_ends_the_parse_at_the_limit(node: SingleNode) -> None:
    item = b'{"chain_id":"x"}'
    body = b"[" + b",".join([item] * 50_000) + b"]"
    status, out = post(node, "/v1/transactions", body, "application/json")
    assert status == 413 and _code(out) == "BATCH_TOO_LARGE", out
    err = out["error"]
    assert isinstance(err, dict)
    # the parse stopped at element MAX_BATCH + 1: the node never learnt there were 50,000
    assert f"more than {MAX_BATCH}" in str(err["message"]) and "50000" not in str(err["message"])
    deep = b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"
    status, out = post(node, "/v1/call", deep, "application/json")
    assert status == 400 and _code(out) in ("MALFORMED_JSON", "TOO_DEEP"), out


def _dead(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _half_open(src: str, port: int) -> socket.socket | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\nContent-")  # never finished
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return s


def _prune(socks: list[socket.socket]) -> list[socket.socket]:
    alive = []
    for s in socks:
        if _dead(s):
            s.close()
        else:
            alive.append(s)
    return alive


def test_20000_half_open_requests_do_not_pin_the_node(node: SingleNode) -> None:
    fds_before = node.fds()
    sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # the probe below comes from 127.0.0.1
    socks: list[socket.socket] = []
    worst = 0.0
    opened = 0
    try:
        for i in range(20_000):
            s = _half_open(sources[i % len(sources)], node.port)
            if s is not None:
                socks.append(s)
                opened += 1
            if i % 500 == 499:
                worst = max(worst, node.healthz_seconds())
                socks = _prune(socks)
                assert node.fds() <= fds_before + TOTAL + 16, "HTTP connections past the cap"
        assert worst < 1.0, f"/healthz took {worst:.2f} s under the flood"
        socks = _prune(socks)
        # shed at the caps: at most TOTAL held, PER_IP from one address
        assert 0 < len(socks) <= TOTAL
        for src in sources:
            assert sum(s.getsockname()[0] == src for s in socks) <= PER_IP
        # and the held ones are closed by the header timeout
        wait_for(lambda: not _prune(socks), HEADER_TIMEOUT + 10, "half-open requests closed")
    finally:
        for s in socks:
            s.close()
    assert node.healthz_seconds() < 1.0
    assert opened >= 1000  # the flood reached the node


def test_malformed_requests_are_a_few_info_lines(node: SingleNode) -> None:
    bad = [
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
    ]
    for i in range(300):
        with socket.create_connection(("127.0.0.1", node.port), timeout=5) as s:
            s.sendall(bad[i % len(bad)])
            s.settimeout(5)
            reply = s.recv(100)
            assert reply.split(b"\r\n")[0].split()[1:2] == [b"400"], reply
    wait_for(lambda: "malformed HTTP request" in node.log(), 10, "the first malformed-request line")
    # (each line is written before its 400 is sent: all 300 are in the log by now)
    log = node.log()
    assert log.count("malformed HTTP request") <= 5, log[-3000:]
    assert "Error handling request" not in log and "Traceback" not in log, log[-3000:]


def test_a_body_that_does_not_arrive_is_a_408(node: SingleNode) -> None:
    with socket.create_connection(("127.0.0.1", node.port), timeout=BODY_TIMEOUT + 10) as s:
        s.sendall(
            b"POST /v1/transactions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        reply = s.recv(4096)
        assert reply.split(b"\r\n")[0].split()[1:2] == [b"408"], reply
        assert b"BODY_TIMEOUT" in reply
        while s.recv(4096):  # and the connection is closed after it
            pass


def test_keep_alive_ends_after_the_requests_per_connection(node: SingleNode) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
    try:
        closes = []
        for _ in range(REQUESTS_PER_CONNECTION):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            closes.append(resp.getheader("Connection", "").lower() == "close")
        assert closes == [False] * (REQUESTS_PER_CONNECTION - 1) + [True]
    finally:
        conn.close()
