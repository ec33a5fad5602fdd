"""/docs in a real browser (Debian's chromium via Playwright) against a real node: the page
renders every operation of /openapi.json, its strict CSP lets its own inline script and style
run (a violation would be a console error), and "Try it" fetches a route of the node."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.chainnode.node.cluster import Cluster

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("docsnode"), 1)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


@pytest.fixture
def page() -> Iterator[tuple[Page, list[str]]]:
    assert Path(CHROMIUM).exists(), "chromium is missing: `make tools` installs it (as root)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        yield pg, errors
        browser.close()


def test_docs_page_renders_every_operation_and_tries_one(
    node: Cluster, page: tuple[Page, list[str]]
) -> None:
    pg, errors = page
    url = node.url(0)
    with urllib.request.urlopen(url + "/openapi.json", timeout=30) as resp:
        doc = json.load(resp)
    ops = [(verb, path) for path, item in doc["paths"].items() for verb in item]
    pg.goto(url + "/docs")
    expect(pg.locator("#toc a")).to_have_count(len(ops))
    toc = pg.locator("#toc a").all_inner_texts()
    assert toc == [f"{verb.upper()} {path}" for verb, path in ops]
    expect(pg.locator("#title")).to_contain_text(doc["info"]["title"])
    status = pg.locator("section.op", has=pg.locator(".path", has_text="/v1/status"))
    expect(status).to_contain_text("primary_node_id")  # the response schema is rendered
    status.get_by_role("button", name="Send GET").click()
    expect(status.locator("pre.out")).to_contain_text("→ 200")
    expect(status.locator("pre.out")).to_contain_text('"chain_id"')
    assert not errors, errors
