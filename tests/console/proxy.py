"""A TLS-terminating reverse proxy under a path prefix, as an operator would put in front of a
node: https://127.0.0.1:PORT/PREFIX/... -> http://node/... (requests and streamed responses,
Server-Sent Events included). Runs on its own event loop in a thread; loopback only."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PASS_REQUEST = ("Content-Type", "Accept", "Last-Event-ID")
DROP_RESPONSE = {"transfer-encoding", "content-length", "connection", "content-encoding"}


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (the browser is told to accept it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "proxy.crt", directory / "proxy.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsPrefixProxy:
    def __init__(self, upstream: str, prefix: str, directory: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.prefix = "/" + prefix.strip("/")
        self.cert, self.key = self_signed(directory)
        self.port = 0
        self.seen: list[str] = []  # every path the browser asked for
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}{self.prefix}/"

    def start(self) -> TlsPrefixProxy:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the TLS proxy did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.run_until_complete(self._session.close())
        pending = asyncio.all_tasks(self._loop)  # event streams still being forwarded
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _serve(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application()
        app.router.add_route("*", self.prefix + "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)  # cancels open event streams
        await self._runner.setup()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.cert, self.key)
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path_qs)
        tail = request.match_info["tail"]
        url = f"{self.upstream}/{tail}" + (
            f"?{request.query_string}" if request.query_string else ""
        )
        headers = {h: request.headers[h] for h in PASS_REQUEST if h in request.headers}
        body = await request.read()
        async with self._session.request(
            request.method, url, data=body or None, headers=headers
        ) as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in DROP_RESPONSE:
                    resp.headers[k] = v
            await resp.prepare(request)
            try:
                async for chunk in up.content.iter_any():
                    await resp.write(chunk)
            except (ConnectionError, aiohttp.ClientError):
                pass  # the browser or the node hung up (an event stream ends this way)
            return resp
