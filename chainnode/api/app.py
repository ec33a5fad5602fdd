"""The node's HTTP API (aiohttp): routes, input validation, one error shape.

Every handler validates its input completely before it touches the node, so a bad request is
a 4xx that changes nothing. Bodies are bounded by ``client_max_size``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from chainnode.api import bodies, console, convert
from chainnode.api.backend import Backend
from chainnode.api.errors import ApiError, error_middleware
from chainnode.api.models import CONTRACTS_PAGE, CallRequest, TransactionIn
from chainnode.api.openapi import openapi_document
from chainnode.api.views import ViewRunner
from chainnode.ledger.stages import StageClock
from chainnode.model.addresses import address_hex, contract_display, parse_address
from chainnode.model.codes import Code


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost: batch size, ?wait=, body read time, JSON values parsed."""

    max_batch_txs: int
    max_wait_seconds: float
    body_timeout: float = 30.0
    #: JSON values one body may build: 32 per transaction object (it has 11 fields) plus room
    #: for one transaction's decoded ``args_value`` (ignored on input but accepted).
    max_json_values: int = 0

    #: ``POST /v1/call``: gas per view, view threads, views waiting, per-client rate and burst
    call_gas_limit: int = 2_000_000
    call_workers: int = 1
    call_queue: int = 8
    call_rate: float = 20.0
    call_burst: float = 40.0

    def __post_init__(self) -> None:
        if self.max_json_values <= 0:
            object.__setattr__(self, "max_json_values", 32 * self.max_batch_txs + (1 << 18))


BACKEND: web.AppKey[Backend] = web.AppKey("backend", Backend)
LIMITS: web.AppKey[Limits] = web.AppKey("limits", Limits)
VIEWS: web.AppKey[ViewRunner] = web.AppKey("views", ViewRunner)
ARCHIVES: web.AppKey[str] = web.AppKey("archives", str)
STAGES: web.AppKey[StageClock] = web.AppKey("stages", StageClock)


def pruned(request: web.Request, what: str, height: int, field: str) -> ApiError:
    """410 PRUNED: the node dropped this body; where the archives are (the node's config)."""
    where = request.app[ARCHIVES] or "ask the node's operator (`chainnode archive export`)"
    return ApiError(
        410,
        Code.PRUNED,
        f"{what} is in block {height}, whose body this node has pruned (its header and "
        f"certificate are kept); archives: {where}",
        field,
    )


#: A call's arguments are at most 256 VM values whose encoding is at most ~255 KB, so at most
#: about that many values in all.
MAX_CALL_JSON_VALUES = 1 << 18
JSON_TYPES = ("application/json", "")
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, separators=(",", ":")),
        content_type="application/json",
    )


def _pydantic_error(e: ValidationError, prefix: str = "") -> ApiError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or None)
    return ApiError(400, Code.INVALID_FIELD, f"{field or 'body'}: {err['msg']}", field)


def _parse_txs(request: web.Request, body: bytes, limits: Limits) -> tuple[list[Any], bool]:
    """Decoded transactions and whether the body was a single tx (not a batch)."""
    suite = request.app[BACKEND].ledger.suite
    ctype = request.content_type.lower()
    if ctype in MSGPACK_TYPES:
        raws, single = bodies.msgpack_txs(body, limits.max_batch_txs)
        return convert.decode_txs(raws, single, suite), single
    if ctype in JSON_TYPES or ctype.endswith("+json"):
        items, single = bodies.json_txs(body, limits.max_batch_txs, limits.max_json_values)
        txs = []
        for i, item in enumerate(items):
            prefix = "" if single else f"[{i}]."
            try:
                model = TransactionIn.model_validate(item)
            except ValidationError as e:
                raise _pydantic_error(e, prefix) from None
            txs.append(convert.tx_from_model(model, prefix, suite))
        return txs, single
    raise ApiError(
        415,
        Code.UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type {ctype!r}: send application/json or application/msgpack",
        "Content-Type",
    )


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    values = request.query.getall(name, [])
    if not values:
        return default
    if len(values) == 1 and values[0].lower() in ("true", "1", "false", "0"):
        return values[0].lower() in ("true", "1")
    raise ApiError(400, Code.INVALID_FIELD, f"{name}: true or false", name)


def _wait_param(request: web.Request, limit: float) -> float | None:
    values = request.query.getall("wait", [])
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, Code.INVALID_FIELD, "wait: give it once", "wait")
    raw = values[0]
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or value > limit:
        raise ApiError(400, Code.INVALID_FIELD, f"wait: seconds between 0 and {limit:g}", "wait")
    return value


async def submit_transactions(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    limits = request.app[LIMITS]
    wait = _wait_param(request, limits.max_wait_seconds)
    retry = backend.busy()
    if retry is not None:
        # Refused before the body is read, decoded or verified: an overloaded node spends
        # nothing more on what it could not commit within its budget.
        raise ApiError(
            503,
            Code.BUSY,
            "more transactions wait than this node commits within its admission budget;"
            f" retry in {retry} s or send to another node",
            headers={"Retry-After": str(retry)},
        )
    body = await bodies.read_body(request, limits.body_timeout)
    with request.app[STAGES].span("http"):  # the body's framing and the txs' decoding
        txs, single = _parse_txs(request, body, limits)
        hashes = [tx.hash for tx in txs]
        _check_unique(hashes, single)
    admissions = await backend.submit(txs)
    rejected = [(i, a) for i, a in enumerate(admissions) if not a.accepted]
    if rejected:
        # A batch is all or nothing: the backend took none of it (it rolls back the rest).
        i, adm = rejected[0]
        field = adm.field if single else f"[{i}]" + (f".{adm.field}" if adm.field else "")
        status = convert.status_for_rejection(adm.code)
        extra = "" if len(rejected) == 1 else f" ({len(rejected)} of {len(txs)} rejected)"
        if len(txs) > 1:  # a batch of one (the SDK's way to send one tx) is no batch to the user
            extra += "; none of the batch was accepted"
        raise ApiError(status, adm.code, f"{adm.message}{extra}", field)
    with request.app[STAGES].span("http"):
        out: dict[str, Any] = {"hashes": [h.hex() for h in hashes]}
    if wait is not None:
        receipts = await backend.wait_receipts(hashes, wait)
        out["receipts"] = [None if r is None else convert.receipt_json(r) for r in receipts]
        out["committed"] = all(r is not None for r in receipts)
    return _json(out)


def _check_unique(hashes: Sequence[bytes], single: bool) -> None:
    if single:
        return
    seen: set[bytes] = set()
    for i, h in enumerate(hashes):
        if h in seen:
            raise ApiError(409, Code.DUPLICATE, "the same transaction twice in one batch", f"[{i}]")
        seen.add(h)


def _hash_param(request: web.Request, name: str = "hash") -> bytes:
    raw = request.match_info[name]
    return convert.parse_hash(raw, name)


async def get_transaction(request: web.Request) -> web.Response:
    h = _hash_param(request)
    found = request.app[BACKEND].ledger.tx(h)
    if found is None:
        at = request.app[BACKEND].ledger.tx_pruned_at(h)
        if at is not None:
            raise pruned(request, f"transaction {h.hex()}", at, "hash")
        raise ApiError(404, Code.NOT_FOUND, f"no committed transaction {h.hex()}", "hash")
    tx, height, index = found
    address_of = request.app[BACKEND].ledger.address
    return _json({"transaction": convert.tx_json(tx, address_of), "height": height, "index": index})


async def get_receipt(request: web.Request) -> web.Response:
    h = _hash_param(request)
    receipt = request.app[BACKEND].ledger.receipt(h)
    if receipt is None:
        at = request.app[BACKEND].ledger.tx_pruned_at(h)
        if at is not None:
            raise pruned(request, f"the receipt of {h.hex()}", at, "hash")
        raise ApiError(
            404, Code.NOT_FOUND, f"no receipt for {h.hex()} (not committed yet?)", "hash"
        )
    return _json({"receipt": convert.receipt_json(receipt)})


async def get_block(request: web.Request) -> web.Response:
    ledger = request.app[BACKEND].ledger
    ident = request.match_info["id"]
    if ident == "latest":
        block = ledger.block(ledger.height)
    elif ident.isascii() and ident.isdigit() and len(ident) <= 20:
        block = ledger.block(int(ident))
        if block is None and ledger.is_pruned(int(ident)):
            raise pruned(request, f"block {ident}", int(ident), "id")
    else:
        try:
            h = convert.parse_hash(ident, "id")
        except ApiError:
            raise ApiError(
                400, Code.INVALID_FIELD, "id: a height, a 64-hex-digit block hash or 'latest'", "id"
            ) from None
        block = ledger.block_by_hash(h)
        height = ledger.height_of(h) if block is None else None
        if height is not None and ledger.is_pruned(height):
            raise pruned(request, f"block {ident}", height, "id")
    if block is None:
        raise ApiError(404, Code.NOT_FOUND, f"no block {ident}", "id")
    with_txs = _bool_param(request, "txs", True)
    cert = ledger.certificate(convert.block_height(block))
    return _json(
        {
            "block": convert.block_json(block, ledger.address, with_txs),
            "certificate": cert.hex() if cert else None,
        }
    )


async def get_status(request: web.Request) -> web.Response:
    return _json(request.app[BACKEND].status())


async def get_validators(request: web.Request) -> web.Response:
    ledger = request.app[BACKEND].ledger
    height = ledger.height
    vals = [convert.validator_json(v, ledger.address) for v in ledger.validators_at(height + 1)]
    return _json({"height": height, "validators": vals})


async def get_state(request: web.Request) -> web.Response:
    contract = convert.parse_name(request.match_info["contract"], "contract")
    key_text = request.match_info["key"]
    key = convert.parse_key(key_text)
    ledger = request.app[BACKEND].ledger
    addr = ledger.contract_address(contract)
    if addr is None:
        raise ApiError(404, Code.UNKNOWN_CONTRACT, f"no contract {contract!r}", "contract")
    value = ledger.state_get(contract, key)
    return _json(
        {
            "contract": contract_display(contract),
            "address": address_hex(addr),
            "key": key_text,
            "value": None if value is None else value.hex(),
            "decoded": None if value is None else convert.decode_value(value),
        }
    )


async def list_contracts(request: web.Request) -> web.Response:
    after = None
    if "after" in request.query:
        after = parse_address(request.query["after"])
        if after is None:
            raise ApiError(400, Code.INVALID_FIELD, "after: an address (0x optional)", "after")
    limit = _int_param(request, "limit", 1, CONTRACTS_PAGE, CONTRACTS_PAGE)
    entries, more = request.app[BACKEND].ledger.contract_list(after, limit)
    return _json(
        {
            "contracts": [convert.contract_entry_json(e) for e in entries],
            "next": None if more is None else address_hex(more),
        }
    )


def _int_param(request: web.Request, name: str, lo: int, hi: int, default: int) -> int:
    values = request.query.getall(name, [])
    if not values:
        return default
    raw = values[0]
    if len(values) > 1 or not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
        raise ApiError(400, Code.INVALID_FIELD, f"{name}: an integer from {lo} to {hi}", name)
    return int(raw)


async def get_contract(request: web.Request) -> web.Response:
    ref = convert.parse_name(request.match_info["contract"], "contract")
    found = request.app[BACKEND].ledger.contract_interface(ref)
    if found is None:
        raise ApiError(404, Code.UNKNOWN_CONTRACT, f"no contract {ref!r}", "contract")
    return _json(convert.contract_json(found))


async def post_call(request: web.Request) -> web.Response:
    """A view runs on a view thread with the node's call gas budget (``views``)."""
    limits = request.app[LIMITS]
    views = request.app[VIEWS]
    views.admit(request.remote or "?")
    body = await bodies.read_body(request, limits.body_timeout)
    data = bodies.parse_json(body, MAX_CALL_JSON_VALUES)
    if not isinstance(data, dict):
        raise ApiError(400, Code.INVALID_BODY, "the body is a JSON object")
    try:
        req = CallRequest.model_validate(data)
    except ValidationError as e:
        raise _pydantic_error(e) from None
    ledger = request.app[BACKEND].ledger
    return _json(await views.run(lambda: convert.call_view(ledger, req, views.gas_limit)))


async def healthz(request: web.Request) -> web.Response:
    return _json({"ok": True, "reason": None})


async def readyz(request: web.Request) -> web.Response:
    ok, reason = request.app[BACKEND].readiness()
    return _json({"ok": ok, "reason": reason}, status=200 if ok else 503)


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


@functools.cache
def _docs_page() -> tuple[str, str]:
    """The /docs page (package data) and its Content-Security-Policy: it loads nothing from
    elsewhere, its one inline script and style are admitted by hash, and it may connect only
    to this node (/openapi.json and, for its "Try it" buttons, the GET routes)."""
    page = resources.files("chainnode.api").joinpath("static/docs.html").read_text("utf-8")
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    return page, console.csp([script], [style])


async def docs(request: web.Request) -> web.Response:
    page, csp = _docs_page()
    return web.Response(
        text=page,
        content_type="text/html",
        headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff"},
    )


def make_app(
    backend: Backend,
    *,
    max_body_bytes: int,
    limits: Limits,
    middlewares: Sequence[Middleware] = (),
    archives: str = "",
    stages: StageClock | None = None,
) -> web.Application:
    """The routes; ``middlewares`` run outside the error middleware (connection accounting);
    ``archives`` says where archives of pruned blocks are (in 410 PRUNED answers); ``stages``
    counts the handlers' CPU (the node's metrics show it)."""
    app = web.Application(
        client_max_size=max_body_bytes, middlewares=[*middlewares, error_middleware]
    )
    app[BACKEND] = backend
    app[LIMITS] = limits
    app[ARCHIVES] = archives
    app[STAGES] = stages or StageClock()
    views = ViewRunner(
        workers=limits.call_workers,
        queue=limits.call_queue,
        rate=limits.call_rate,
        burst=limits.call_burst,
        gas_limit=limits.call_gas_limit,
    )
    app[VIEWS] = views

    async def close_views(_: web.Application) -> None:
        views.close()

    app.on_cleanup.append(close_views)
    r = app.router
    r.add_post("/v1/transactions", submit_transactions)
    r.add_get("/v1/transactions/{hash}", get_transaction)
    r.add_get("/v1/receipts/{hash}", get_receipt)
    r.add_get("/v1/blocks/{id}", get_block)
    r.add_get("/v1/status", get_status)
    r.add_get("/v1/validators", get_validators)
    r.add_get("/v1/state/{contract}/{key}", get_state)
    r.add_post("/v1/call", post_call)
    r.add_get("/v1/contracts", list_contracts)
    r.add_get("/v1/contracts/{contract}", get_contract)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
    r.add_get("/openapi.json", openapi)
    r.add_get("/docs", docs)
    console.install(app)
    return app
