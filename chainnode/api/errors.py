"""One error shape for every failure: ``{"error": {"code", "message", "field"}}``.

Handlers raise :class:`ApiError`; the middleware turns it (and aiohttp's own HTTP errors, such
as 404, 405 or 413) into that shape, so a client parses exactly one kind of error body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from chainnode.api.backend import Unavailable
from chainnode.model.codes import Code

log = logging.getLogger("chainnode.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A client-side problem (4xx) or a temporary node condition (503); ``code`` is one of
    :class:`chainnode.model.codes.Code` (the one home of error codes)."""

    def __init__(
        self,
        status: int,
        code: Code,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_body(code: Code, message: str, field: str | None = None) -> dict[str, object]:
    return {"error": {"code": str(code), "message": message, "field": field}}


def error_response(status: int, code: Code, message: str, field: str | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(error_body(code, message, field)),
        content_type="application/json",
    )


_HTTP_CODES = {
    400: Code.BAD_REQUEST,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    413: Code.BODY_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        resp = error_response(e.status, e.code, e.message, e.field)
        resp.headers.update(e.headers)
        return resp
    except Unavailable as e:
        return error_response(503, Code.UNAVAILABLE, str(e))
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code = _HTTP_CODES.get(e.status, Code.HTTP_ERROR)
        message = e.reason if e.status != 404 else f"no route for {request.path}"
        if e.status == 413:
            message = "request body is larger than the node accepts (max_body_bytes)"
        resp = error_response(e.status, code, message)
        if e.status == 405:
            allow = e.headers.get("Allow")
            if allow:
                resp.headers["Allow"] = allow
        return resp
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(500, Code.INTERNAL, "internal error; see the node's log")
