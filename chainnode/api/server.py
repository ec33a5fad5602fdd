"""The HTTP server around the API app: what one client may hold, not what one request may do.

- **Connections**: at most ``max_connections`` open, ``max_connections_per_ip`` from one client
  address. A connection over the per-address cap is reset at once; at the total cap the oldest
  *idle* connection (no request in progress: a keep-alive client between requests, or a
  client that never finished its request headers) is reset to make room, and only when none is
  idle is the new one refused. So a flood of half-open connections from a few addresses cannot
  pin the node's file descriptors, and other clients still get in.
- **Header and idle timeout**: aiohttp's ``keepalive_timeout`` closes a connection that has not
  sent a complete request that long after it opened or after its last response (slowloris).
  The body timeout is the handlers' (``bodies.read_body``).
- **Requests per connection**: after ``max_requests_per_connection`` the response says
  ``Connection: close``.
- **Logs**: a malformed request is one INFO line without a traceback, rate limited (aiohttp
  logs each at ERROR with a traceback: anyone could flood the node's log).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware

from chainnode.api.ratelimit import LogLimiter

log = logging.getLogger("chainnode.api")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_connections: int = 1024
    max_connections_per_ip: int = 256
    max_requests_per_connection: int = 10_000
    header_timeout: float = 10.0


class _Conn:
    __slots__ = ("ip", "requests", "busy")

    def __init__(self, ip: str) -> None:
        self.ip = ip
        self.requests = 0
        self.busy = 0


class ConnectionGuard:
    """Counts open connections by client address and sheds over the caps (see the module)."""

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self._open: dict[asyncio.BaseTransport, _Conn] = {}
        self._idle: OrderedDict[asyncio.BaseTransport, None] = OrderedDict()  # oldest first
        self._per_ip: dict[str, int] = {}
        self.shed = 0  # refused at a cap
        self.evicted = 0  # idle connections reset to make room
        self._log = LogLimiter(interval=10.0, burst=1)
        self.middleware: Middleware = self._make_middleware()

    @property
    def open(self) -> int:
        return len(self._open)

    def protocol_factory(self, inner: Any) -> Any:
        """Wraps aiohttp's protocol factory (``runner.server``)."""

        def factory() -> asyncio.Protocol:
            return _GuardedProtocol(self, inner())

        return factory

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        lim = self.limits
        if self._per_ip.get(ip, 0) >= lim.max_connections_per_ip:
            return self._refuse(ip)
        if len(self._open) >= lim.max_connections:
            if not self._idle:
                return self._refuse(ip)
            oldest, _ = self._idle.popitem(last=False)
            self.release(oldest)
            _reset(oldest)
            self.evicted += 1
            self._note()
        self._open[transport] = _Conn(ip)
        self._idle[transport] = None
        self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        conn = self._open.pop(transport, None)
        if conn is None:
            return
        self._idle.pop(transport, None)
        left = self._per_ip[conn.ip] - 1
        if left:
            self._per_ip[conn.ip] = left
        else:
            del self._per_ip[conn.ip]

    def _refuse(self, ip: str) -> bool:
        self.shed += 1
        self._note()
        return False

    def _note(self) -> None:
        dropped = self._log.allow()
        if dropped is not None:
            lim = self.limits
            log.info(
                "HTTP connection caps (%d open, %d per client address): %d connections refused"
                " and %d idle ones reset so far",
                lim.max_connections,
                lim.max_connections_per_ip,
                self.shed,
                self.evicted,
            )

    def _make_middleware(self) -> Middleware:
        @web.middleware
        async def connection_accounting(
            request: web.Request, handler: Handler
        ) -> web.StreamResponse:
            transport = request.transport
            conn = self._open.get(transport) if transport is not None else None
            if conn is None:
                return await handler(request)
            assert transport is not None
            conn.requests += 1
            conn.busy += 1
            self._idle.pop(transport, None)
            try:
                resp = await handler(request)
                if conn.requests >= self.limits.max_requests_per_connection:
                    resp.force_close()
                return resp
            finally:
                conn.busy -= 1
                if not conn.busy and transport in self._open:
                    self._idle[transport] = None

        return connection_accounting


def _reset(transport: asyncio.BaseTransport) -> None:
    """Close at once, without lingering (an RST): a shed connection costs nothing more."""
    abort = getattr(transport, "abort", None)
    (abort if callable(abort) else transport.close)()


class _GuardedProtocol(asyncio.Protocol):
    """Forwards everything to aiohttp's protocol, once the guard admitted the connection."""

    __slots__ = ("_guard", "_inner", "_transport")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = inner
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._inner is None or not self._guard.admit(transport):
            self._inner = None
            _reset(transport)
            return
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.release(self._transport)
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class _GuardedSite(web.BaseSite):
    """A TCP site whose connections pass the guard first."""

    __slots__ = ("_host", "_port", "_guard", "port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, backlog=1024, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._guard = guard
        self.port = port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{self._host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(self._runner.server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
            ssl=self._ssl_context,
        )
        if self._server.sockets:
            self.port = self._server.sockets[0].getsockname()[1]


class ProtocolLog(logging.Logger):
    """aiohttp's protocol logger for this server. "Error handling request" for a request that
    does not parse (aiohttp: ERROR plus traceback, every time) becomes one rate-limited INFO
    line; any other message goes to ``target`` unchanged."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__(target.name)
        self._target = target
        self._limit = LogLimiter(interval=10.0, burst=3)
        self.malformed = 0

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._target.debug(msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        malformed = isinstance(exc, HttpProcessingError)
        if malformed and isinstance(msg, str) and msg.startswith("Error handling request"):
            self.malformed += 1
            dropped = self._limit.allow()
            if dropped is not None:
                more = f" ({dropped} more since the last such line)" if dropped else ""
                remote = args[0] if args else "?"
                self._target.info(
                    "malformed HTTP request from %s: %s%s",
                    remote,
                    str(exc).splitlines()[0][:200],
                    more,
                )
            return
        self._target.exception(msg, *args, **kwargs)


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (within the hard limit); the limit
    now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    return soft


#: How long the unread rest of a body is read and dropped after an early response (a 408, a
#: 413) before the connection closes (aiohttp's default is 10 s of an attacker's choosing).
LINGERING_SECONDS = 2.0

#: File descriptors kept for everything but HTTP clients (LevelDB, p2p peers, the WAL, ...).
FD_RESERVE = 512


async def serve(
    app: web.Application,
    host: str,
    port: int,
    guard: ConnectionGuard,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, int]:
    """Start serving ``app`` (over TLS with ``ssl_context``); (the runner to clean up, the port
    bound). OSError if the address is taken."""
    lim = guard.limits
    fds = raise_fd_limit(lim.max_connections + FD_RESERVE)
    if fds != resource.RLIM_INFINITY and fds < lim.max_connections + FD_RESERVE:
        log.warning(
            "open-files limit %d is low for max %d HTTP connections; raise `ulimit -n`",
            fds,
            lim.max_connections,
        )
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        keepalive_timeout=lim.header_timeout,
        lingering_time=LINGERING_SECONDS,
        logger=ProtocolLog(logging.getLogger("aiohttp.server")),
    )
    await runner.setup()
    site = _GuardedSite(runner, host, port, guard, ssl_context)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site.port
