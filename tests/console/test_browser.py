"""The web console in a real browser (Debian's chromium, driven by Playwright) against a real
4-validator network: the live overview, a submitted transaction from the block stream to its
receipt, the contracts page, and the in-browser proof verifier, whose JavaScript SM3/SM2/Merkle
/msgpack checks must give the very report of the Python verifier on the same bundles, tampered
ones included, also when the page is a single file opened from disk with no node.

One network and one browser for the module; each test gets a fresh page that must log no
console error. Screenshots of every page go to test-artifacts/console/ (ignored by git).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from chainnode.client.sdk import Account
from chainnode.model.genesis import ConsensusParams, Genesis
from chainnode.proofs.bundle import ProofError, describe, verify_bundle
from contracts import compile_source
from crypto import sm2, sm3
from crypto.suite import get_suite
from tests.chainnode.node.cluster import Cluster, wait_for
from tests.conftest import REPO_ROOT

ARTIFACTS = REPO_ROOT / "test-artifacts" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCUMENT = b"Lease agreement, flat 3B, signed 2026-12-01.\n" * 40


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read(), dict(resp.headers)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A network with history worth showing: evidence records before and after a validator
    was added by governance (so bundles carry a proven validator-set change)."""
    root = tmp_path_factory.mktemp("consolenet")
    params = ConsensusParams(view_change_timeout_ms=1500, request_timeout_ms=3000)
    c = Cluster(root, 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        cl = c.clients[0]
        user = Account.generate()
        admin = Account.load(root / "admin.pem")
        before = cl.submit(
            [cl.build(user, "evidence", "register", ["ab" * 32, "deed", "before"])], 30
        )
        new = sm2.PrivateKey.generate().public_key().to_bytes()
        change = cl.build(
            admin, "governance", "add_validator", [new, "node4", "127.0.0.1:1", "x:2"]
        )
        res = cl.submit([change], wait=30)
        assert res.receipts and res.receipts[0]["status"] == "ok", res
        doc = sm3.digest(DOCUMENT).hex()
        batch = [cl.build(user, "evidence", "register", [doc, "lease", "flat 3B"])]
        batch += [cl.build(user, "records", "put", [f"filler-{i}", i]) for i in range(6)]
        after = cl.submit(batch, wait=60)
        assert after.committed, after
        c.wait_height(c.height(0), timeout=30)
        yield {
            "cluster": c,
            "url": c.url(0),
            "genesis_path": root / "genesis.json",
            "genesis": Genesis.load(root / "genesis.json"),
            "user": user,
            "doc": doc,
            "txs": [before.hashes[0], res.hashes[0], after.hashes[0], after.hashes[3]],
        }
    finally:
        c.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make tools` installs it (as root)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page (desktop size); every console error or uncaught exception fails the test."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on(
        "console",
        lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None,
    )
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    yield pg
    ctx.close()
    assert not errors, errors


def shot(pg: Page, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def bundle_text(net: dict[str, Any], tx: str) -> str:
    status, body, _ = _get(f"{net['url']}/v1/proofs/{tx}")
    assert status == 200
    return body.decode()


def tx_height(net: dict[str, Any], tx: str) -> int:
    _, body, _ = _get(f"{net['url']}/v1/transactions/{tx}")
    return int(json.loads(body)["height"])


VALID = re.compile(r"^VALID")
INVALID = re.compile(r"^INVALID")


def python_report(text: str, genesis: Genesis) -> tuple[bool, str]:
    """What `chainnode verify-proof` prints for this bundle (its VALID text or INVALID line)."""
    try:
        return True, describe(verify_bundle(text, genesis), genesis.suite)
    except ProofError as e:
        return False, f"INVALID: {e}"


# ------------------------------------------------------------------------------ the console


def test_served_with_a_strict_policy_and_relative_urls(net: dict[str, Any]) -> None:
    status, body, headers = _get(net["url"] + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    html = body.decode()
    # relative URLs only: the console works behind a TLS proxy or under a path prefix
    assert 'src="console/app.js"' in html and 'src="/' not in html and "http" not in html
    status, body, headers = _get(net["url"] + "/verify.html")
    page = body.decode()
    assert "<script src=" not in page and "ChainnodeVerify" in page, "verify.html is one file"
    assert "'sha256-" in headers["Content-Security-Policy"]
    for bad in ("/console/../pyproject.toml", "/console/nope.js", "/console/__init__.py"):
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(net["url"] + bad)
        assert e.value.code == 404, bad


def test_overview_shows_the_live_height(net: dict[str, Any], page: Page) -> None:
    c = net["cluster"]
    page.goto(net["url"] + "/#/")
    expect(page.locator("#chain-id")).to_have_text(net["genesis"].chain_id)
    expect(page.locator("#peers")).to_have_text("3")
    expect(page.locator("#role")).to_contain_text("validator")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(5)  # node0..3 and node4, added by governance (never started)
    expect(page.locator("tbody")).to_contain_text("not connected")
    cl = c.clients[0]
    res = cl.submit([cl.build(net["user"], "records", "put", ["live", 1])], wait=30)
    assert res.committed
    height = tx_height(net, res.hashes[0])
    # the page learns the new height from the event stream, without a reload
    wait_for(lambda: int(page.locator("#height").inner_text()) >= height, 20, "live height")
    expect(page.locator("#live")).to_contain_text("live")
    shot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the phone layout scrolls sideways ({width}px)"
    shot(page, "overview-phone")


def test_a_submitted_transaction_streams_in_and_shows_its_receipt(
    net: dict[str, Any], page: Page
) -> None:
    c = net["cluster"]
    page.goto(net["url"] + "/#/blocks")
    expect(page.locator("#blocks-body tr").first).to_be_visible()
    cl = c.clients[1]
    tx = cl.build(net["user"], "records", "put", ["console", 42])
    res = cl.submit([tx], wait=30)
    assert res.committed and res.receipts
    height = tx_height(net, res.hashes[0])
    row = page.locator(f'#blocks-body a[href="#/block/{height}"]')
    expect(row).to_be_visible(timeout=20000)
    shot(page, "blocks")
    row.click()
    expect(page.locator("h1")).to_have_text(f"Block {height}")
    expect(page.locator("#certificate")).to_contain_text("The certificate names this block")
    assert page.locator("#certificate .badge.down").count() == 0
    assert page.locator("#certificate .badge.up").count() >= 3
    shot(page, "block")
    page.locator(f'a[href="#/tx/{res.hashes[0]}"]').click()
    expect(page.locator("#tx-status")).to_have_text("ok")
    expect(page.locator("#tx-args")).to_contain_text('"console"')
    expect(page.locator("#tx-hash-value")).to_have_text(res.hashes[0])
    shot(page, "transaction")
    # search by hash, by height, by address
    page.goto(net["url"] + "/#/")
    page.fill("#search-q", "0x" + net["txs"][0])
    page.press("#search-q", "Enter")
    expect(page.locator("#tx-events")).to_contain_text("Registered")
    page.fill("#search-q", str(height))
    page.press("#search-q", "Enter")
    expect(page.locator("h1")).to_have_text(f"Block {height}")
    address = get_suite("sm").address(net["user"].public_key).hex()
    page.fill("#search-q", address)  # bare hex is searched; the page shows the one form
    page.press("#search-q", "Enter")
    expect(page.locator("#address-value")).to_have_text("0x" + address)
    expect(page.locator("main")).to_contain_text("Evidence records owned (2)")
    shot(page, "address")


def test_owners_are_shown_in_the_one_address_form(net: dict[str, Any], page: Page) -> None:
    """evidence.register's record and Registered event carry the owner as 0x + hex (issue 15),
    and the console shows them, and the sender, so."""
    owner = "0x" + get_suite("sm").address(net["user"].public_key).hex()
    page.goto(net["url"] + f"/#/tx/{net['txs'][2]}")
    expect(page.locator("#tx-status")).to_have_text("ok")
    expect(page.locator("#tx-sender")).to_have_text(owner)
    expect(page.locator("#tx-return")).to_contain_text(f'"owner": "{owner}"')
    expect(page.locator("#tx-events")).to_contain_text(f'"owner": "{owner}"')


def test_keyboard_reaches_the_pages(net: dict[str, Any], page: Page) -> None:
    page.goto(net["url"] + "/#/")
    expect(page.locator("#height")).to_be_visible()
    seen = []
    for _ in range(8):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.textContent.trim()"))
    assert {"Skip to content", "Overview", "Blocks", "Contracts", "Verify a record"} <= set(seen)
    for _ in range(8):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Verify a record":
            break
    page.keyboard.press("Enter")
    expect(page.locator("#genesis-file")).to_be_attached()
    expect(page.locator("#main")).to_be_focused()  # the router's last step: the page is drawn
    for _ in range(6):  # Tab from the page's start to the genesis drop zone
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.htmlFor") == "genesis-file":
            break
    assert page.evaluate("document.activeElement.htmlFor") == "genesis-file"
    with page.expect_file_chooser() as chooser:
        page.evaluate("0")  # a round trip: the chooser is intercepted before the key goes down
        page.keyboard.press("Enter")
    chooser.value.set_files(str(net["genesis_path"]))
    expect(page.locator("#genesis-info")).to_contain_text("Trusted genesis")


def test_contracts_page_calls_a_view_and_shows_governance(net: dict[str, Any], page: Page) -> None:
    # a second admin, then one admin's vote: 1 of 2 is short of 2/3, the proposal stays open
    cl = net["cluster"].clients[0]
    admin = Account.load(net["genesis_path"].parent / "admin.pem")
    second = Account.generate()
    res = cl.submit([cl.build(admin, "governance", "add_admin", [second.public_key])], wait=30)
    assert res.receipts and res.receipts[0]["status"] == "ok", res
    key = sm2.PrivateKey.generate().public_key().to_bytes()
    vote = cl.build(admin, "governance", "add_validator", [key, "node5", "127.0.0.1:9", "x:9"])
    res = cl.submit([vote], wait=30)
    assert res.receipts and res.receipts[0]["status"] == "ok", res
    # GET /v1/contracts is paged (the built-in contracts, then deployed ones, `limit` a page):
    # with three deployed and every answer cut to one a page, the list is whole only if the
    # console follows `next` (after=...) to the end: three pages
    code = compile_source("@view\ndef one() -> int:\n    return 1\n")
    deploys = [cl.build(admin, "deployment", "deploy", [code, f"paged-{i}"]) for i in range(3)]
    res = cl.submit(deploys, wait=30)
    assert res.receipts and all(r["status"] == "ok" for r in res.receipts), res
    later: list[str] = []
    page.on("request", lambda r: later.append(r.url) if "/v1/contracts?after=" in r.url else None)
    page.route(
        lambda url: urlsplit(url).path.endswith("/v1/contracts"),
        lambda route: route.fulfill(
            response=route.fetch(
                url=route.request.url + ("&" if "?" in route.request.url else "?") + "limit=1"
            )
        ),
    )
    page.goto(net["url"] + "/#/contracts")
    expect(page.locator("#contracts")).to_contain_text(
        "exists(doc_hash: str)"
    )  # GET /v1/contracts/{name}
    names = ["evidence", "traceability", "records", "governance", "permissions", "deployment"]
    names += [f"paged-{i}" for i in range(3)]
    expect(page.locator("#contracts > li > strong")).to_have_count(len(names))
    assert sorted(page.locator("#contracts > li > strong").all_inner_texts()) == sorted(names)
    assert len(later) == 2 and all("limit" not in u for u in later), later
    expect(page.locator("#contracts")).to_contain_text("add_validator(public_key: bytes")
    expect(page.locator("#admins li")).to_have_count(2)
    expect(page.locator("#admins")).to_contain_text("admin")
    expect(page.locator("#proposals")).to_contain_text("add_validator — 1 of 2 admins voted")
    expect(page.locator("#proposals")).to_contain_text(
        get_suite("sm").address(admin.public_key).hex()[:12]
    )
    page.fill("#call-contract", "evidence")
    page.fill("#call-method", "exists")
    page.fill("#call-args", json.dumps([net["doc"]]))
    page.click("#call-submit")
    expect(page.locator("#call-result")).to_contain_text("true")
    page.fill("#call-args", "not json")
    page.click("#call-submit")
    expect(page.locator("#call-result")).to_contain_text("JSON list")
    shot(page, "contracts")


def test_every_failure_says_what_to_do(net: dict[str, Any], browser: Browser) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    pg.goto(net["url"] + "/#/block/999999999")
    expect(pg.locator("main .error")).to_contain_text("no block 999999999")
    expect(pg.locator("main .error")).to_contain_text("Check what you asked for")
    pg.fill("#search-q", "not a hash")
    pg.press("#search-q", "Enter")
    expect(pg.locator("main [role=alert]").first).to_contain_text("Search for a block height")
    shot(pg, "error-not-found")
    # the node goes away: the API cannot be reached
    pg.route("**/v1/**", lambda route: route.abort())
    pg.goto(net["url"] + "/?again#/")  # a new document, not just a new fragment
    expect(pg.locator("#live")).to_have_text("node unreachable")
    expect(pg.locator("main .error")).to_contain_text("Cannot reach the node")
    expect(pg.locator("main .error")).to_contain_text("Check that the node is running")
    pg.goto(net["url"] + "/#/verify/" + "ab" * 32)
    expect(pg.locator("#fetch-info")).to_contain_text("cannot reach the node")
    shot(pg, "error-unreachable")
    pg.unroute_all(behavior="ignoreErrors")
    ctx.close()
    # what the browser logs is the failed loads themselves (a 404, refused connections)
    assert errors and all("Failed to load resource" in e for e in errors), errors


def test_works_behind_a_tls_proxy_under_a_path_prefix(
    net: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    """Relative URLs only: pages, scripts, the API and the event stream all go through
    https://proxy/chain/..., and nothing asks the node, or the proxy's root, directly."""
    from tests.console.proxy import TlsPrefixProxy

    proxy = TlsPrefixProxy(net["url"], "chain", tmp_path).start()
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    try:
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        urls: list[str] = []
        pg.on("request", lambda r: urls.append(r.url))
        pg.goto(proxy.url + "#/")
        expect(pg.locator("#chain-id")).to_have_text(net["genesis"].chain_id)
        cl = net["cluster"].clients[2]
        res = cl.submit([cl.build(net["user"], "records", "put", ["tls", 1])], wait=30)
        height = tx_height(net, res.hashes[0])
        wait_for(lambda: int(pg.locator("#height").inner_text()) >= height, 20, "live height")
        pg.goto(proxy.url + f"#/verify/{net['txs'][2]}")
        pg.set_input_files("#genesis-file", str(net["genesis_path"]))
        expect(pg.locator("#verdict")).to_have_text(VALID)
        shot(pg, "behind-tls-proxy")
        assert not errors, errors
        assert urls and all(u.startswith(proxy.url) or u.startswith("data:") for u in urls), urls
        assert any(p.startswith("/chain/v1/events") for p in proxy.seen), proxy.seen
    finally:
        ctx.close()
        proxy.stop()


# ---------------------------------------------------------------------------- the verifier


def _flip(h: str, pos: int) -> str:
    b = bytearray(bytes.fromhex(h))
    b[pos % len(b)] ^= 0x40
    return b.hex()


def tampered(text: str, seed: int) -> list[tuple[str, str]]:
    """(what was changed, bundle text): every part, and random bytes of random parts."""
    base = json.loads(text)
    rec = base["record"]
    out: list[tuple[str, str]] = []

    def case(what: str, f: Any) -> None:
        o = json.loads(text)
        f(o)
        out.append((what, json.dumps(o)))

    case("tx", lambda o: o["record"].__setitem__("tx", _flip(rec["tx"], 40)))
    case("receipt", lambda o: o["record"].__setitem__("receipt", _flip(rec["receipt"], 50)))
    case("header", lambda o: o["record"].__setitem__("header", _flip(rec["header"], 60)))
    case(
        "signature",
        lambda o: o["record"].__setitem__("certificate", _flip(rec["certificate"], 120)),
    )
    case(
        "cert height",
        lambda o: o["record"].__setitem__("certificate", _flip(rec["certificate"], 0)),
    )
    if rec["tx_path"]["siblings"]:
        case("tx sibling", lambda o: o["record"]["tx_path"]["siblings"].__setitem__(
            0, _flip(rec["tx_path"]["siblings"][0], 3)))  # fmt: skip
        case("receipt sibling", lambda o: o["record"]["receipt_path"]["siblings"].__setitem__(
            -1, _flip(rec["receipt_path"]["siblings"][-1], 9)))  # fmt: skip
    case(
        "index", lambda o: o["record"]["tx_path"].__setitem__("index", rec["tx_path"]["index"] ^ 1)
    )
    case("validators", lambda o: o["validators"].__setitem__(1, _flip(base["validators"][1], 20)))
    case("validator gone", lambda o: o["validators"].pop())
    case("chain", lambda o: o.__setitem__("chain_id", "other-chain"))
    case("genesis hash", lambda o: o.__setitem__("genesis_hash", _flip(base["genesis_hash"], 5)))
    case("format", lambda o: o.__setitem__("format", "chainnode-proof/2"))
    case("uppercase", lambda o: o["record"].__setitem__("header", rec["header"].upper()))
    case("extra field", lambda o: o["record"].__setitem__("note", "x"))
    if base["governance"]:
        gov = base["governance"][0]
        case("governance tx", lambda o: o["governance"][0].__setitem__("tx", _flip(gov["tx"], 90)))
        case("governance cert", lambda o: o["governance"][0].__setitem__(
            "certificate", _flip(gov["certificate"], 200)))  # fmt: skip
        case("governance left out", lambda o: o.__setitem__("governance", []))
        case("governance twice", lambda o: o["governance"].append(gov))
    rng = random.Random(seed)
    fields = ["tx", "receipt", "header", "certificate"]
    for _ in range(12):
        f = rng.choice(fields)
        pos = rng.randrange(len(rec[f]) // 2)
        bit = 1 << rng.randrange(8)

        def flip(o: dict[str, Any], f: str = f, pos: int = pos, bit: int = bit) -> None:
            b = bytearray(bytes.fromhex(o["record"][f]))
            b[pos] ^= bit
            o["record"][f] = b.hex()

        case(f"random {f}[{pos}]^{bit}", flip)
    return out


def same_report(js: str, py: str) -> bool:
    """Equal, except inside "malformed (...)", where each decoder words its own detail."""
    if "malformed (" in py:
        return js.split("malformed (")[0] == py.split("malformed (")[0]
    return js == py


def test_js_verifier_agrees_with_python_on_real_and_tampered_bundles(
    net: dict[str, Any], page: Page
) -> None:
    genesis = net["genesis"]
    gtext = net["genesis_path"].read_text()
    cases: list[tuple[str, str]] = []
    for i, tx in enumerate(net["txs"]):
        text = bundle_text(net, tx)
        cases.append((f"bundle {i}", text))
        cases += [(f"bundle {i}: {w}", t) for w, t in tampered(text, i)]
    page.goto(net["url"] + "/verify.html")
    results = page.evaluate(
        """([cases, g]) => cases.map(([, b]) => {
            const r = ChainnodeVerify.check(b, g); return [r.valid, r.report]; })""",
        [cases, gtext],
    )
    valid = 0
    for (what, text), (js_valid, js_report) in zip(cases, results, strict=True):
        py_valid, py_report = python_report(text, genesis)
        assert js_valid == py_valid, (what, js_report, py_report)
        assert same_report(js_report, py_report), (what, js_report, py_report)
        valid += py_valid
    assert valid == len(net["txs"]) and len(cases) > 100
    assert any("governance proof #0" in r for _, r in results)


def test_js_crypto_matches_the_python_primitives(net: dict[str, Any], page: Page) -> None:
    """SM3, SHA-256, SM2 (default ID) and P-256 verification against the Python suite."""
    import hashlib

    rng = random.Random(7)
    msgs = [rng.randbytes(n) for n in (0, 1, 55, 56, 63, 64, 65, 127, 128, 1000, 70000)]
    sm, p256 = get_suite("sm"), get_suite("ecdsa-p256")
    sigs = []
    for i in range(12):
        suite = sm if i % 2 == 0 else p256
        priv = suite.generate_private_key()
        pub, msg = suite.public_key(priv), rng.randbytes(rng.randrange(1, 200))
        sig = suite.sign(priv, msg)
        variants = [(pub, msg, sig), (pub, msg + b"!", sig), (pub, msg, _flip(sig.hex(), i + 1))]
        for p, m, s in variants:
            s_b = bytes.fromhex(s) if isinstance(s, str) else s
            sigs.append((suite.name, p.hex(), m.hex(), s_b.hex(), suite.verify(p, m, s_b)))
    page.goto(net["url"] + "/verify.html")
    got = page.evaluate(
        """([msgs, sigs]) => {
            const V = ChainnodeVerify;
            return {
              sm3: msgs.map((m) => V.hex(V.sm3(V.unhex(m)))),
              sha: msgs.map((m) => V.hex(V.sha256(V.unhex(m)))),
              sigs: sigs.map(([s, p, m, g]) => V.SUITES[s].verify(V.unhex(p), V.unhex(m), V.unhex(g))),
            }; }""",
        [[m.hex() for m in msgs], [s[:4] for s in sigs]],
    )
    assert got["sm3"] == [sm3.digest(m).hex() for m in msgs]
    assert got["sha"] == [hashlib.sha256(m).hexdigest() for m in msgs]
    assert got["sigs"] == [s[4] for s in sigs]
    assert sum(got["sigs"]) == 12  # each genuine signature verifies, each altered one fails


def test_verify_page_fetches_and_reports_valid_then_invalid(
    net: dict[str, Any], page: Page
) -> None:
    tx = net["txs"][2]
    page.goto(f"{net['url']}/#/verify/{tx}")
    page.set_input_files("#genesis-file", str(net["genesis_path"]))
    verdict = page.locator("#verdict")
    expect(verdict).to_have_text(VALID)
    report = page.locator("#report").inner_text()
    expected = python_report(bundle_text(net, tx), net["genesis"])
    assert expected[0] and report == expected[1]
    assert "add_validator node4" in report
    shot(page, "verify-valid")
    good = bundle_text(net, tx)
    for what, text in tampered(good, 0)[:4]:
        page.set_input_files(
            "#bundle-file",
            files=[{"name": "b.json", "mimeType": "application/json", "buffer": text.encode()}],
        )
        expect(verdict).to_have_text(INVALID)
        want = python_report(text, net["genesis"])[1]
        expect(page.locator("#report")).to_have_text(want)
        assert what.split()[0] in want or what == "signature", (what, want)
    shot(page, "verify-invalid")
    # a document: hashed in the page, its record looked up, its bundle fetched and verified
    page.set_input_files(
        "#doc-file", files=[{"name": "lease.txt", "mimeType": "text/plain", "buffer": DOCUMENT}]
    )
    expect(page.locator("#doc-info")).to_contain_text(net["doc"])
    expect(page.locator("#report")).to_contain_text("is the one this record registers")
    expect(verdict).to_have_text(VALID)
    shot(page, "verify-document")


def test_standalone_verifier_works_from_disk_without_a_node(
    net: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    _, html, _ = _get(net["url"] + "/verify.html")
    path = tmp_path / "verify.html"
    path.write_bytes(html)
    good = bundle_text(net, net["txs"][2])
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, offline=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(path.as_uri())
    expect(pg.locator("main")).to_contain_text("No node here")
    pg.set_input_files("#genesis-file", str(net["genesis_path"]))
    pg.set_input_files(
        "#bundle-file",
        files=[{"name": "b.json", "mimeType": "application/json", "buffer": good.encode()}],
    )
    expect(pg.locator("#verdict")).to_have_text(VALID)
    pg.set_input_files(
        "#doc-file", files=[{"name": "lease.txt", "mimeType": "text/plain", "buffer": DOCUMENT}]
    )
    expect(pg.locator("#report")).to_contain_text("is the one this record registers")
    pg.set_input_files(
        "#doc-file", files=[{"name": "other.txt", "mimeType": "text/plain", "buffer": b"forged"}]
    )
    expect(pg.locator("#verdict")).to_contain_text("not of this document")
    shot(pg, "verify-standalone-phone")
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    bad = json.loads(good)
    bad["record"]["header"] = _flip(bad["record"]["header"], 60)
    pg.set_input_files(
        "#bundle-file",
        files=[
            {"name": "b.json", "mimeType": "application/json", "buffer": json.dumps(bad).encode()}
        ],
    )
    expect(pg.locator("#verdict")).to_have_text(INVALID)
    expect(pg.locator("#report")).to_contain_text("record: header")
    ctx.close()
    assert not errors, errors
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
