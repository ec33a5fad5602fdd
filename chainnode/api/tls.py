"""TLS for the HTTP API: the server's context and the client-certificate rule.

Standard TLS 1.2+ with ECDSA P-256 certificates, which every HTTP client speaks; SM2 signatures
still authorise transactions, so the transport only keeps requests private and, with
``api_client_ca``, admits only clients holding a certificate of the organisation's CA: for every
route (``api_client_auth = "all"``, checked in the handshake) or for writes only (``"writes"``:
the handshake asks for a certificate, and a write without one is answered 403
CLIENT_CERT_REQUIRED).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from chainnode.api.errors import error_response
from chainnode.model.codes import Code

#: Requests that read: everything else (POST /v1/transactions) is a write.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_POSTS = frozenset({"/v1/call"})


def server_context(
    cert: Path, key: Path, client_ca: Path | None, require_all: bool
) -> ssl.SSLContext:
    """The API's TLS context; OSError / ssl.SSLError when a file is missing or unusable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.load_verify_locations(cafile=client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_all else ssl.CERT_OPTIONAL
    return ctx


def is_write(request: web.Request) -> bool:
    return request.method not in READ_METHODS and request.path not in READ_POSTS


def client_cert_middleware() -> Middleware:
    """A write over a connection without a verified client certificate is refused (403)."""

    @web.middleware
    async def require_client_cert(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_write(request):
            transport = request.transport
            peercert = transport.get_extra_info("peercert") if transport is not None else None
            if not peercert:
                return error_response(
                    403,
                    Code.CLIENT_CERT_REQUIRED,
                    "writes need a client certificate of this organisation's CA "
                    "(--cert and --client-key)",
                )
        return await handler(request)

    return require_client_cert
