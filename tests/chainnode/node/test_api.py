"""HTTP API against a real single-validator node: every bad input is a 4xx with the one error
shape, and changes nothing (same head, same state, empty mempool)."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

import contracts
from chainnode.client.sdk import Account, Client, ClientError
from chainnode.deploy.layout import ADMIN_KEY
from chainnode.model.types import Transaction
from crypto.suite import get_suite
from tests.chainnode.node.cluster import Cluster
from tests.conftest import REPO_ROOT


def raw_request(
    url: str, method: str, path: str, body: bytes | None = None, ctype: str | None = None
) -> tuple[int, Any]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"Content-Type": ctype} if ctype else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def snapshot(c: Client) -> tuple[int, str, int]:
    st = c.status()
    return st["height"], st["head_hash"], st["mempool"]


@pytest.fixture(scope="module")
def user() -> Account:
    return Account.generate("sm")


def signed(c: Client, acct: Account, **over: Any) -> Transaction:
    st = c.status()
    kw: dict[str, Any] = {
        "contract": "records",
        "method": "put",
        "args": ["k", "v"],
        "block_limit": st["height"] + 50,
    }
    kw.update(over)
    chain_id = kw.pop("chain_id", st["chain_id"])
    return acct.sign(chain_id, kw.pop("contract"), kw.pop("method"), kw.pop("args"), **kw)


def assert_error(status: int, body: Any, want_status: int, code: str | None = None) -> None:
    assert status == want_status, body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "field"}, err
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err


def tx_json(tx: Transaction) -> dict[str, Any]:
    return tx.to_json()


def mutate(tx: Transaction, **fields: Any) -> dict[str, Any]:
    d = tx.to_json()
    d.pop("hash")
    d.update(fields)
    return d


BadCase = Callable[[Client, Account], tuple[str, str, bytes | None, str | None, int, str | None]]


def _json_tx(d: Any) -> bytes:
    return json.dumps(d).encode()


CASES: dict[str, BadCase] = {
    "malformed json": lambda c, a: (
        "POST", "/v1/transactions", b"{not json", "application/json", 400, "MALFORMED_JSON"
    ),
    "malformed msgpack": lambda c, a: (
        "POST", "/v1/transactions", b"\xc1\xc1", "application/msgpack", 400, "MALFORMED_MSGPACK"
    ),
    "msgpack of a map": lambda c, a: (
        "POST", "/v1/transactions", msgpack.packb({"a": 1}), "application/msgpack", 400, None
    ),
    "msgpack garbage tx": lambda c, a: (
        "POST", "/v1/transactions", msgpack.packb([b"\x93\x01"]), "application/msgpack", 400,
        "MALFORMED",
    ),
    "wrong type": lambda c, a: (
        "POST", "/v1/transactions", _json_tx(mutate(signed(c, a), nonce="seven")),
        "application/json", 400, "INVALID_FIELD",
    ),
    "missing field": lambda c, a: (
        "POST", "/v1/transactions",
        _json_tx({k: v for k, v in mutate(signed(c, a)).items() if k != "signature"}),
        "application/json", 400, "INVALID_FIELD",
    ),
    "bad signature": lambda c, a: (
        "POST", "/v1/transactions",
        _json_tx(mutate(signed(c, a), signature="11" * 64)), "application/json", 400,
        "BAD_SIGNATURE",
    ),
    "signature of another payload": lambda c, a: (
        "POST", "/v1/transactions",
        _json_tx(mutate(signed(c, a), nonce=signed(c, a).nonce ^ 1)), "application/json", 400,
        "BAD_SIGNATURE",
    ),
    "key of another suite": lambda c, a: (
        "POST", "/v1/transactions", signed(c, Account.generate("ecdsa-p256")).encode(),
        "application/msgpack", 400, "WRONG_SUITE",
    ),
    "wrong chain id": lambda c, a: (
        "POST", "/v1/transactions", signed(c, a, chain_id="other-chain").encode(),
        "application/msgpack", 400, "WRONG_CHAIN",
    ),
    "expired block limit": lambda c, a: (
        "POST", "/v1/transactions", signed(c, a, block_limit=0).encode(),
        "application/msgpack", 400, "EXPIRED",
    ),
    "future block limit": lambda c, a: (
        "POST", "/v1/transactions", signed(c, a, block_limit=10**9).encode(),
        "application/msgpack", 400, "FUTURE_BLOCK_LIMIT",
    ),
    "unknown contract": lambda c, a: (
        "POST", "/v1/transactions", signed(c, a, contract="nosuch").encode(),
        "application/msgpack", 404, "UNKNOWN_CONTRACT",
    ),
    "unknown method": lambda c, a: (
        "POST", "/v1/transactions", signed(c, a, method="nosuch").encode(),
        "application/msgpack", 404, "UNKNOWN_METHOD",
    ),
    "no permission": lambda c, a: (
        "POST", "/v1/transactions",
        signed(c, a, contract="governance", method="add_admin", args=[a.public_key]).encode(),
        "application/msgpack", 403, "NO_PERMISSION",
    ),
    "one bad tx in a batch": lambda c, a: (
        "POST", "/v1/transactions",
        msgpack.packb([signed(c, a).encode(), signed(c, a, block_limit=0).encode()]),
        "application/msgpack", 400, "EXPIRED",
    ),
    "same tx twice in a batch": lambda c, a: (
        "POST", "/v1/transactions",
        msgpack.packb([signed(c, a, nonce=5).encode(), signed(c, a, nonce=5).encode()]),
        "application/msgpack", 409, "DUPLICATE",
    ),
    "empty batch": lambda c, a: (
        "POST", "/v1/transactions", b"[]", "application/json", 400, "EMPTY_BATCH"
    ),
    "empty body": lambda c, a: (
        "POST", "/v1/transactions", b"", "application/json", 400, "EMPTY_BODY"
    ),
    "unsupported content type": lambda c, a: (
        "POST", "/v1/transactions", b"hello", "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"
    ),
    "body too large": lambda c, a: (
        "POST", "/v1/transactions", b"[" + b" " * (17 << 20) + b"]", "application/json", 413,
        None,
    ),
    "bad wait": lambda c, a: (
        "POST", "/v1/transactions?wait=nan", signed(c, a).encode(), "application/msgpack", 400,
        "INVALID_FIELD",
    ),
    "bad tx hash": lambda c, a: ("GET", "/v1/transactions/xyz", None, None, 400, None),
    "unknown tx": lambda c, a: ("GET", "/v1/transactions/" + "00" * 32, None, None, 404, None),
    "unknown receipt": lambda c, a: ("GET", "/v1/receipts/" + "00" * 32, None, None, 404, None),
    "bad block id": lambda c, a: ("GET", "/v1/blocks/-1", None, None, 400, None),
    "unknown block": lambda c, a: ("GET", "/v1/blocks/99999999", None, None, 404, None),
    "bad contract name": lambda c, a: ("GET", "/v1/state/BAD!/k", None, None, 400, None),
    "state of no contract": lambda c, a: (
        "GET", "/v1/state/" + "00" * 20 + "/k", None, None, 404, "UNKNOWN_CONTRACT"
    ),
    "non-ascii height": lambda c, a: ("GET", "/v1/blocks/%D9%A1", None, None, 400, None),
    "bad state key": lambda c, a: ("GET", "/v1/state/records/0xzz", None, None, 400, None),
    "call not a view": lambda c, a: (
        "POST", "/v1/call",
        _json_tx({"contract": "records", "method": "put", "args": ["k", "v"]}),
        "application/json", 400, "NOT_VIEW",
    ),
    "call unknown contract": lambda c, a: (
        "POST", "/v1/call", _json_tx({"contract": "nosuch", "method": "get", "args": []}),
        "application/json", 404, "UNKNOWN_CONTRACT",
    ),
    "call wrong types": lambda c, a: (
        "POST", "/v1/call", _json_tx({"contract": 5, "method": "get"}), "application/json", 400,
        "INVALID_FIELD",
    ),
    "call float arg": lambda c, a: (
        "POST", "/v1/call", _json_tx({"contract": "records", "method": "get", "args": [1.5]}),
        "application/json", 400, None,
    ),
    "deeply nested json": lambda c, a: (
        "POST", "/v1/transactions", b"[" * 5000 + b"]" * 5000, "application/json", 400, None
    ),
    "deeply nested call args": lambda c, a: (
        "POST", "/v1/call",
        b'{"contract": "records", "method": "get", "args": ' + b"[" * 500 + b"]" * 500 + b"}",
        "application/json", 400, "TOO_DEEP",
    ),
    "deeply nested msgpack": lambda c, a: (
        "POST", "/v1/transactions", b"\x91" * 100_000 + b"\xc0", "application/msgpack", 400,
        None,
    ),
    "unknown route": lambda c, a: ("GET", "/v1/nope", None, None, 404, "NOT_FOUND"),
    "wrong method": lambda c, a: ("DELETE", "/v1/status", None, None, 405, None),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_a_4xx_that_changes_nothing(single: Cluster, user: Account, name: str) -> None:
    c = single.clients[0]
    before = snapshot(c)
    method, path, body, ctype, want, code = CASES[name](c, user)
    status, out = raw_request(single.url(0), method, path, body, ctype)
    assert_error(status, out, want, code)
    assert snapshot(c) == before


def test_submit_wait_query_and_duplicate(single: Cluster, user: Account) -> None:
    c = single.clients[0]
    tx = signed(c, user, args=["greeting", "hello"])
    res = c.submit([tx], wait=20)
    assert res.hashes == [tx.hash.hex()] and res.committed is True
    receipt = res.receipts[0] if res.receipts else None
    assert receipt is not None and receipt["status"] == "ok", receipt
    got = c.transaction(tx.hash)
    assert got["transaction"]["hash"] == tx.hash.hex() and got["height"] >= 1
    block = c.block(got["height"])
    assert tx.hash.hex() in block["block"]["tx_hashes"] and block["certificate"]
    assert c.block("latest")["block"]["header"]["height"] >= got["height"]
    by_hash = c.block(block["block"]["hash"])
    assert by_hash["block"]["hash"] == block["block"]["hash"]
    # JSON submission of the same tx: a duplicate, 409, nothing changes
    before = snapshot(c)
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions", json.dumps(tx.to_json()).encode(),
        "application/json",
    )  # fmt: skip
    assert_error(status, out, 409, "DUPLICATE")
    assert snapshot(c) == before
    st = c.state("records", "rec:greeting")
    assert st["value"] is not None and st["decoded"]["value"] == "hello", st
    got = c.call("records", "get", ["greeting"])
    assert got["ok"] and got["result"]["value"] == "hello", got
    vals = c.validators()
    assert len(vals["validators"]) == 1


def test_json_batch_and_status_fields(single: Cluster, user: Account) -> None:
    c = single.clients[0]
    txs = [signed(c, user, args=[f"k{i}", i]) for i in range(3)]
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions?wait=20",
        json.dumps([t.to_json() for t in txs]).encode(), "application/json",
    )  # fmt: skip
    assert status == 200, out
    assert out["hashes"] == [t.hash.hex() for t in txs] and out["committed"] is True
    st = c.status()
    for key in ("chain_id", "height", "view", "primary", "peers", "mempool", "node_id"):
        assert key in st
    assert st["primary"] is not None
    assert raw_request(single.url(0), "GET", "/healthz")[0] == 200
    assert raw_request(single.url(0), "GET", "/readyz")[0] == 200
    doc = raw_request(single.url(0), "GET", "/openapi.json")[1]
    assert "/v1/transactions" in doc["paths"] and "TransactionIn" in doc["components"]["schemas"]


def test_client_errors_carry_the_api_code(single: Cluster, user: Account) -> None:
    c = single.clients[0]
    with pytest.raises(ClientError) as e:
        c.submit([signed(c, user, block_limit=0)])
    assert e.value.status == 400 and e.value.code == "EXPIRED" and e.value.field == "[0]"
    assert "batch" not in e.value.message  # the SDK sends one tx as a batch of one
    with pytest.raises(ClientError) as e1:
        c.submit([signed(c, user), signed(c, user, block_limit=0)])
    assert e1.value.field == "[1]" and "none of the batch was accepted" in e1.value.message
    assert c.receipt("00" * 32) is None
    with pytest.raises(ClientError) as e2:
        Client("http://127.0.0.1:1").status()
    assert e2.value.code == "UNREACHABLE"


def test_admin_key_was_written(single: Cluster) -> None:
    acct = Account.load(single.root / ADMIN_KEY)
    assert acct.suite_name == "sm"


ADDRESS = re.compile(r"0x[0-9a-f]{40}")


def test_addresses_in_one_form(single: Cluster, user: Account) -> None:
    """Every address shown is 0x + 40 lower-case hex; every address taken may come with or
    without 0x, in any case."""
    c = single.clients[0]
    me = "0x" + get_suite("sm").address(user.public_key).hex()
    addr = c.state("records", "rec:any")["address"]
    assert ADDRESS.fullmatch(addr)
    bare_upper = addr[2:].upper()
    # a tx to the contract by its 0x address (upper case) is signed in the on-chain form
    tx = signed(c, user, contract="0X" + bare_upper, args=["by-address", "v"])
    assert tx.contract == addr[2:]
    res = c.submit([tx], wait=20)
    assert res.committed and res.receipts and res.receipts[0]["status"] == "ok"
    got = c.transaction(tx.hash)["transaction"]
    assert got["sender"] == me and got["sender_public_key"] == user.public_key.hex()
    assert got["contract"] == addr
    # what the API shows can be posted back (sender as the address, beside its key)
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions", json.dumps(got).encode(), "application/json"
    )
    assert_error(status, out, 409, "DUPLICATE")
    wrong = dict(got, sender="0x" + "11" * 20)
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions", json.dumps(wrong).encode(), "application/json"
    )
    assert_error(status, out, 400, "MALFORMED")
    assert "sender_public_key" in out["error"]["message"]
    block = c.block(c.transaction(tx.hash)["height"])["block"]
    assert [t["sender"] for t in block["txs"]] == [me]
    assert ADDRESS.fullmatch(block["header"]["proposer_address"])
    # receipts name the emitting contract by address
    ev_tx = signed(c, user, contract="evidence", method="register",
                   args=["ab" * 32, "contract", "t"])  # fmt: skip
    receipt = c.submit([ev_tx], wait=20).receipts[0]  # type: ignore[index]
    assert receipt is not None and ADDRESS.fullmatch(receipt["events"][0]["contract"]), receipt
    # status and validators: the primary by address, with its node id and index
    st = c.status()
    vals = c.validators()["validators"]
    assert ADDRESS.fullmatch(vals[0]["address"])
    assert st["primary"] == vals[0]["address"]
    assert st["primary_node_id"] == vals[0]["node_id"] and st["primary_index"] == 0
    # inputs: with and without 0x, any case
    for ref in (addr, addr[2:], "0x" + bare_upper, bare_upper):
        assert c.state(ref, "rec:by-address")["decoded"]["value"] == "v"
        assert c.call(ref, "get", ["by-address"])["result"]["value"] == "v"
        assert c.state(ref, "rec:by-address")["contract"] == addr
    assert c.state("records", "rec:by-address")["contract"] == "records"
    for who in (me, "0X" + me[2:].upper()):
        assert c.call("permissions", "roles", [{"hex": who}])["ok"]
    for caller in (me, me[2:], "0X" + me[2:].upper()):
        status, out = raw_request(
            single.url(0), "POST", "/v1/call",
            _json_tx({"contract": "records", "method": "get", "args": ["k"], "caller": caller}),
            "application/json",
        )  # fmt: skip
        assert status == 200 and out["ok"], out


def test_arguments_are_checked_at_admission_before_they_cost_gas(
    single: Cluster, user: Account
) -> None:
    c = single.clients[0]
    before = snapshot(c)
    short = signed(c, user, contract="evidence", method="register", args=["abc"])
    with pytest.raises(ClientError) as e:
        c.submit([short])  # the SDK sends a batch of one
    assert (e.value.status, e.value.code, e.value.field) == (400, "INVALID_ARGS", "[0].args[1]")
    assert "args[1] (doc_type: str) is missing" in e.value.message
    assert "register(doc_hash: str, doc_type: str, title: str)" in e.value.message
    # one tx as a JSON object: the field is the argument itself
    wrong = signed(c, user, contract="evidence", method="register", args=[7, "a", "b"])
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions", json.dumps(wrong.to_json()).encode(),
        "application/json",
    )  # fmt: skip
    assert_error(status, out, 400, "INVALID_ARGS")
    assert out["error"]["field"] == "args[0]" and "expected str, got int" in out["error"]["message"]
    nosuch = signed(c, user, contract="evidence", method="regster", args=[])
    status, out = raw_request(
        single.url(0), "POST", "/v1/transactions", nosuch.encode(), "application/msgpack"
    )
    assert_error(status, out, 404, "UNKNOWN_METHOD")
    assert out["error"]["field"] == "method" and "its methods: " in out["error"]["message"]
    assert "register" in out["error"]["message"] and "get" in out["error"]["message"]
    # nothing admitted, nothing charged: no receipt, the same chain and mempool
    assert snapshot(c) == before
    assert c.receipt(short.hash) is None and c.receipt(wrong.hash) is None
    # the same check for read-only calls
    status, out = raw_request(
        single.url(0), "POST", "/v1/call",
        _json_tx({"contract": "records", "method": "get", "args": [1]}), "application/json",
    )  # fmt: skip
    assert_error(status, out, 400, "INVALID_ARGS")
    assert out["error"]["field"] == "args[0]"
    status, out = raw_request(
        single.url(0), "POST", "/v1/call",
        _json_tx({"contract": "records", "method": "nope", "args": []}), "application/json",
    )  # fmt: skip
    assert_error(status, out, 404, "UNKNOWN_METHOD")
    assert "owner_of" in out["error"]["message"]
    # and the right arguments still go through
    ok = signed(c, user, contract="evidence", method="register",
                args=["cd" * 32, "contract", "ok"])  # fmt: skip
    assert c.submit([ok], wait=20).committed


COUNTER = """
@public
def inc(by: int) -> int:
    n = storage.get("n", 0) + by
    storage["n"] = n
    return n


@view
def value() -> int:
    return storage.get("n", 0)
"""


def test_contracts_listed_with_their_interfaces(single: Cluster, user: Account) -> None:
    c = single.clients[0]
    listed = {e["name"]: e for e in c.contracts()}
    assert {n: listed[n]["kind"] for n in ("governance", "permissions", "deployment")} == {
        "governance": "system", "permissions": "system", "deployment": "system",
    }  # fmt: skip
    assert listed["records"]["kind"] == listed["evidence"]["kind"] == "stdlib"
    assert all(ADDRESS.fullmatch(e["address"]) for e in listed.values())
    code = contracts.compile_source(COUNTER)
    dep = signed(c, user, contract="deployment", method="deploy", args=[code, "counter15"])
    receipt = c.submit([dep], wait=20).receipts[0]  # type: ignore[index]
    assert receipt is not None and receipt["status"] == "ok", receipt
    addr = receipt["return_value_json"]
    mine = [e for e in c.contracts() if e["name"] == "counter15"]
    assert mine == [{"name": "counter15", "address": addr, "kind": "deployed"}]
    # paged: one deployed contract per answer, `next` continues, the pages add up
    seen: list[dict[str, Any]] = []
    path = "/v1/contracts?limit=1"
    while True:
        status, page = raw_request(single.url(0), "GET", path)
        assert status == 200 and len([e for e in page["contracts"] if e["kind"] == "deployed"]) <= 1
        seen += page["contracts"]
        if page["next"] is None:
            break
        path = f"/v1/contracts?limit=1&after={page['next'][2:].upper()}"
    assert seen == c.contracts()
    for query, field in (("limit=0", "limit"), ("limit=101", "limit"), ("after=xyz", "after")):
        status, out = raw_request(single.url(0), "GET", "/v1/contracts?" + query)
        assert_error(status, out, 400, "INVALID_FIELD")
        assert out["error"]["field"] == field
    for ref in ("counter15", addr, addr[2:].upper()):
        got = c.contract(ref)
        assert got["address"] == addr and got["kind"] == "deployed" and got["doc"] is None
        methods = {m["name"]: m for m in got["methods"]}
        assert methods["inc"]["params"] == [{"name": "by", "type": "int"}]
        assert methods["inc"]["view"] is False and methods["value"]["view"] is True
        assert methods["inc"]["signature"] == "inc(by: int)" and methods["inc"]["required"] == 1
    records = c.contract("records")
    assert records["kind"] == "stdlib" and records["doc"].startswith("Records")
    put = next(m for m in records["methods"] if m["name"] == "put")
    assert put["params"] == [{"name": "key", "type": "str"}, {"name": "value", "type": "any"}]
    assert put["doc"].startswith("put(key: str, value)")
    deploy = next(m for m in c.contract("deployment")["methods"] if m["name"] == "deploy")
    assert deploy["required"] == 1 and deploy["doc"]
    for ref, status in (("nosuch", 404), ("0x" + "00" * 20, 404), ("Bad!", 400)):
        code_, out = raw_request(single.url(0), "GET", f"/v1/contracts/{ref}")
        assert_error(code_, out, status, "UNKNOWN_CONTRACT" if status == 404 else "INVALID_FIELD")


def _routes_in_source() -> set[str]:
    """Every route the node registers (its API app and the ops routes), read from the source."""
    found: set[str] = set()
    for rel in (
        "chainnode/api/app.py",
        "chainnode/node/ops.py",
        "chainnode/api/console/__init__.py",
    ):
        text = (REPO_ROOT / rel).read_text(encoding="utf-8")
        found |= set(re.findall(r'\.add_(?:get|post)\(\s*"([^"]+)"', text))
    return found


def test_openapi_describes_every_route_and_docs_are_served(single: Cluster) -> None:
    status, doc = raw_request(single.url(0), "GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    routes = _routes_in_source()
    assert {"/v1/events", "/v1/proofs/{hash}", "/metrics", "/docs", "/v1/contracts", "/"} <= routes
    assert routes <= set(doc["paths"]), routes - set(doc["paths"])
    for path, item in doc["paths"].items():
        for op in item.values():
            assert op["summary"] and op["responses"], path
    # the page is served by the node itself and loads nothing from elsewhere
    host, port = single.url(0).removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", "/docs")
        resp = conn.getresponse()
        page = resp.read().decode()
        headers = dict(resp.getheaders())
    finally:
        conn.close()
    assert resp.status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "'sha256-" in csp
    assert '"/openapi.json"' in page and "<script>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "an external asset"
    assert not re.search(r"https?://", page.split("<script>", 1)[1]), "a URL outside the node"
