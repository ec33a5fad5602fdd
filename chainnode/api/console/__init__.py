"""The web console every node serves at ``/``: static files of this package, no build step.

``/`` is ``index.html`` (a hash-routed single page: overview, blocks and transactions,
contracts, verify a record); ``/console/<file>`` are its scripts and styles; ``/verify.html``
is the offline proof verifier as one self-contained file (its script and style inlined here,
at serving time), so a browser's "save page" keeps a verifier that works from disk with a
bundle and a genesis file and no node at all.

Every URL the pages use is relative, so the console works behind a TLS proxy or a path prefix.
A strict Content-Security-Policy allows only this node's own scripts (the inlined ones by
hash) and connections to this node.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from aiohttp import web

HERE = Path(__file__).parent
ASSETS = {
    "app.js": "text/javascript",
    "verify.js": "text/javascript",
    "style.css": "text/css",
    "index.html": "text/html",
}
_INLINE = re.compile(r'<link rel="stylesheet" href="style.css">|<script src="verify.js"></script>')


def csp(scripts: list[str], styles: list[str]) -> str:
    """The policy of a page of this node: its own files, the given inline scripts and styles
    (by hash), connections to this node only."""

    def hashes(items: list[str]) -> str:
        return "".join(
            f" 'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'"
            for s in items
        )

    return (
        "default-src 'none'; "
        f"script-src 'self'{hashes(scripts)}; "
        f"style-src 'self'{hashes(styles)}; "
        "connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@cache
def _asset(name: str) -> bytes:
    return (HERE / name).read_bytes()


@cache
def standalone_verifier() -> tuple[str, str]:
    """verify.html with its script and style inlined, and the CSP that admits exactly those."""
    page = (HERE / "verify.html").read_text(encoding="utf-8")
    script = (HERE / "verify.js").read_text(encoding="utf-8")
    style = (HERE / "style.css").read_text(encoding="utf-8")
    if "</script" in script.lower() or "</style" in style.lower():
        raise RuntimeError("an asset would end its inline element early")

    def inline(m: re.Match[str]) -> str:
        return (
            f"<style>{style}</style>"
            if m.group(0).startswith("<link")
            else (f"<script>{script}</script>")
        )

    html = _INLINE.sub(inline, page)
    return html, csp([script], [style])


def _headers(content_type: str, csp: str) -> dict[str, str]:
    return {
        "Content-Type": f"{content_type}; charset=utf-8",
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": csp,
    }


async def index(request: web.Request) -> web.Response:
    return web.Response(body=_asset("index.html"), headers=_headers("text/html", csp([], [])))


async def asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = ASSETS.get(name)
    if kind is None or name == "index.html":
        from chainnode.api.errors import ApiError
        from chainnode.model.codes import Code

        raise ApiError(404, Code.NOT_FOUND, f"no console file {name!r}", "name")
    return web.Response(body=_asset(name), headers=_headers(kind, csp([], [])))


async def verifier(request: web.Request) -> web.Response:
    html, csp = standalone_verifier()
    return web.Response(body=html.encode(), headers=_headers("text/html", csp))


def install(app: web.Application) -> None:
    """Add the console's routes (GET only; nothing here reads or changes node state)."""
    r = app.router
    r.add_get("/", index)
    r.add_get("/console/{name}", asset)
    r.add_get("/verify.html", verifier)
