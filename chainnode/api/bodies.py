"""Request bodies read and parsed with their cost bounded before it is paid.

A body arrives within ``body_timeout`` (or the client gets 408: slow uploads cannot hold a
connection forever). msgpack bodies of transactions are walked one array header at a time with
the Unpacker's length limits, so a 16 MB body of empty arrays is refused by its first bytes,
not after building millions of lists. A JSON body is refused when a count of its structural
bytes (a C-speed upper bound on the values ``json`` would build) exceeds ``max_values``, and a
JSON batch is parsed one element at a time, so one element past the batch limit ends it.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import msgpack
from aiohttp import web

from chainnode.api.errors import ApiError
from chainnode.model.codes import Code

MAX_JSON_DEPTH = 32
#: Fields of a transaction's canonical msgpack encoding (an array; its third field, the nonce,
#: is an int, which is how it differs from a batch, an array of bin).
TX_FIELDS = 9
_BIN = frozenset((0xC4, 0xC5, 0xC6))
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return pos if m is None else m.end()


async def read_body(request: web.Request, timeout: float) -> bytes:
    """The whole body (at most ``client_max_size``: aiohttp answers 413 past it), within
    ``timeout`` seconds; 408 and the connection closed otherwise."""
    try:
        async with asyncio.timeout(timeout):
            body = await request.read()
    except TimeoutError:
        if request.protocol is not None:
            request.protocol.close()  # the 408 goes out, then the connection closes
        raise ApiError(
            408, Code.BODY_TIMEOUT, f"the request body did not arrive within {timeout:g} s"
        ) from None
    if not body:
        raise ApiError(400, Code.EMPTY_BODY, "the request body is empty", None)
    return body


def check_batch(n: int, max_batch: int) -> None:
    if n == 0:
        raise ApiError(400, Code.EMPTY_BATCH, "the batch holds no transactions")
    if n > max_batch:
        raise ApiError(
            413,
            Code.BATCH_TOO_LARGE,
            f"{n} transactions in one batch; the node accepts {max_batch}",
        )


# -- msgpack -------------------------------------------------------------------------------


def msgpack_txs(body: bytes, max_batch: int) -> tuple[list[bytes], bool]:
    """Encoded transactions of a msgpack body and whether it was a single tx: one tx's
    canonical encoding, one tx as bin, or an array of bin (a batch). Nothing but the array
    header is decoded before the batch size is checked, and every item must be a bin."""
    size = len(body)
    if body[0] not in _BIN and body[0] & 0xF0 != 0x90 and body[0] not in (0xDC, 0xDD):
        _check_msgpack(body)  # valid msgpack (MALFORMED_MSGPACK if not) but not transactions
        raise _not_txs()
    u = msgpack.Unpacker(
        max_buffer_size=size,
        max_bin_len=size,
        max_str_len=0,
        max_array_len=0,
        max_map_len=0,
        max_ext_len=0,
    )
    u.feed(body)
    try:
        if body[0] in _BIN:
            raw = u.unpack()
            _at_end(u, size)
            return [raw], True
        n = u.read_array_header()
        if n > max_batch and n != TX_FIELDS:
            check_batch(n, max_batch)
        raws: list[bytes] = []
        for _ in range(n):
            pos = u.tell()
            if pos >= size:
                raise msgpack.OutOfData("truncated")
            if body[pos] not in _BIN:
                if n == TX_FIELDS:
                    return [body], True  # a transaction's own encoding (decoded by its type)
                raise _not_txs()
            raws.append(u.unpack())
        _at_end(u, size)
    except ApiError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as e:  # what msgpack raises on garbage
        raise ApiError(
            400, Code.MALFORMED_MSGPACK, f"the body is not valid msgpack: {type(e).__name__}: {e}"
        ) from None
    check_batch(n, max_batch)
    return raws, False


def _check_msgpack(body: bytes) -> None:
    """MALFORMED_MSGPACK unless ``body`` is exactly one msgpack value (skipped over, not
    built)."""
    u = msgpack.Unpacker(max_buffer_size=len(body))
    u.feed(body)
    try:
        u.skip()
        _at_end(u, len(body))
    except (ValueError, TypeError, msgpack.UnpackException) as e:  # what msgpack raises on garbage
        raise ApiError(
            400, Code.MALFORMED_MSGPACK, f"the body is not valid msgpack: {type(e).__name__}: {e}"
        ) from None


def _at_end(u: msgpack.Unpacker, size: int) -> None:
    if u.tell() != size:
        raise msgpack.ExtraData(None, b"")


def _not_txs() -> ApiError:
    return ApiError(
        400,
        Code.INVALID_BODY,
        "a msgpack body is one encoded transaction, or an array of them (bin each)",
    )


# -- JSON ----------------------------------------------------------------------------------


def json_values_bound(body: bytes) -> int:
    """At least the number of values ``json.loads(body)`` builds: each value but the first
    in a container follows a comma, a member's value follows a colon, and each container
    opens with a bracket (brackets and commas inside strings only raise the bound)."""
    return 1 + body.count(b",") + body.count(b":") + body.count(b"[") + body.count(b"{")


def check_json_size(body: bytes, max_values: int) -> None:
    n = json_values_bound(body)
    if n > max_values:
        raise ApiError(
            413,
            Code.TOO_MANY_VALUES,
            f"the JSON body holds up to {n} values; the node parses at most {max_values}"
            " (send transactions as msgpack)",
        )


def too_deep(value: Any, limit: int) -> bool:
    """Nesting deeper than ``limit`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in v)
    return False


def _malformed(e: Exception) -> ApiError:
    if isinstance(e, RecursionError):
        return ApiError(400, Code.MALFORMED_JSON, "the body is nested too deeply")
    return ApiError(400, Code.MALFORMED_JSON, f"the body is not valid JSON: {e}")


def _depth_checked(value: Any) -> Any:
    if too_deep(value, MAX_JSON_DEPTH):
        raise ApiError(400, Code.TOO_DEEP, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def parse_json(body: bytes, max_values: int) -> Any:
    """One JSON value, its size checked before it is parsed and its depth after."""
    check_json_size(body, max_values)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise _malformed(e) from None
    return _depth_checked(data)


def json_txs(body: bytes, max_batch: int, max_values: int) -> tuple[list[Any], bool]:
    """The JSON objects of a transaction body and whether it was a single one. An array is
    parsed element by element: element ``max_batch + 1`` ends the parse with 413."""
    check_json_size(body, max_values)
    try:
        text = body.decode("utf-8")
        pos = _skip_ws(text, 0)
        if not text.startswith("[", pos):
            data = _depth_checked(json.loads(text))
            if not isinstance(data, dict):
                raise ApiError(
                    400,
                    Code.INVALID_BODY,
                    "a JSON body is one transaction object or an array of them",
                )
            return [data], True
        items: list[Any] = []
        pos = _skip_ws(text, pos + 1)
        if text.startswith("]", pos):
            pos += 1
        else:
            while True:
                if not text.startswith("{", pos):
                    field = f"[{len(items)}]"
                    raise ApiError(
                        400, Code.INVALID_BODY, "each transaction is a JSON object", field
                    )
                if len(items) == max_batch:
                    raise ApiError(
                        413,
                        Code.BATCH_TOO_LARGE,
                        f"more than {max_batch} transactions in one batch;"
                        f" the node accepts {max_batch}",
                    )
                item, pos = _DECODER.raw_decode(text, pos)
                items.append(_depth_checked(item))
                pos = _skip_ws(text, pos)
                if text.startswith(",", pos):
                    pos = _skip_ws(text, pos + 1)
                elif text.startswith("]", pos):
                    pos += 1
                    break
                else:
                    raise json.JSONDecodeError("expected ',' or ']'", text, pos)
        if _WS.match(text, pos).end() != len(text):  # type: ignore[union-attr]
            raise json.JSONDecodeError("extra data", text, pos)
    except ApiError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise _malformed(e) from None
    check_batch(len(items), max_batch)
    return items, False
