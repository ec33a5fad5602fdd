"""Python SDK: keys, build and sign transactions, submit one or many, wait, query.

Two clients with the same methods: :class:`Client` (blocking, standard library HTTP with a
kept-alive connection; used by the CLI) and :class:`AsyncClient` (aiohttp; used by load
generators). Errors from the node arrive as :class:`ClientError` with the API's error code.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import msgpack

from chainnode.model.codes import Code
from chainnode.model.keys import load_private_key, save_private_key
from crypto.suite import Suite, get_suite

DEFAULT_GAS_LIMIT = 1_000_000
BLOCK_LIMIT_AHEAD = 100
"""A new tx stays valid for this many blocks past the node's current height."""
MSGPACK = "application/msgpack"
KEEPALIVE_S = 5.0
"""How long :class:`AsyncClient` keeps an idle connection for reuse: under the node's idle
timeout (``http_header_timeout``, 10 s by default), so it never sends a request on a connection
the node is closing (or closed while the client's loop was busy and had not noticed)."""


class ClientError(Exception):
    """The node refused a request, or could not be reached; ``code`` is one of
    :class:`chainnode.model.codes.Code` (UNREACHABLE and TIMEOUT come from the SDK itself)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = f" (field {field})" if field else ""
        super().__init__(f"{code}: {message}{where}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, from a 429/503's Retry-After


def _retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (the node sends seconds, never an HTTP date)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_from(status: int, body: bytes, retry_after: str | None = None) -> ClientError:
    try:
        err = json.loads(body)["error"]
        return ClientError(
            status,
            str(err["code"]),
            str(err["message"]),
            err.get("field"),
            _retry_after(retry_after),
        )
    except (ValueError, KeyError, TypeError):  # not our JSON error shape
        text = body[:200].decode("utf-8", "replace")
        return ClientError(status, Code.HTTP_ERROR, f"HTTP {status}: {text or 'no body'}")


@dataclass(frozen=True, slots=True)
class Account:
    """A client key pair on one crypto suite."""

    suite_name: str
    private_key: bytes
    public_key: bytes

    @property
    def suite(self) -> Suite:
        return get_suite(self.suite_name)

    @property
    def address(self) -> bytes:
        return self.suite.address(self.public_key)

    @classmethod
    def generate(cls, suite: str = "sm") -> Account:
        s = get_suite(suite)
        priv = s.generate_private_key()
        return cls(suite, priv, s.public_key(priv))

    @classmethod
    def from_private_key(cls, suite: str, private_key: bytes) -> Account:
        return cls(suite, private_key, get_suite(suite).public_key(private_key))

    @classmethod
    def load(cls, path: Path | str, password: bytes | None = None) -> Account:
        """A key file: PEM, or a keystore sealed with ``password``."""
        suite, priv = load_private_key(path, password)
        return cls.from_private_key(suite, priv)

    def save(
        self, path: Path | str, *, overwrite: bool = False, password: bytes | None = None
    ) -> None:
        """Write the key file (0600); an existing file is refused unless ``overwrite``; sealed
        in a keystore document when a ``password`` is given."""
        save_private_key(
            Path(path), self.suite_name, self.private_key, overwrite=overwrite, password=password
        )

    def sign(
        self,
        chain_id: str,
        contract: str,
        method: str,
        args: Sequence[Any] = (),
        *,
        block_limit: int,
        nonce: int | None = None,
        gas_limit: int = DEFAULT_GAS_LIMIT,
    ) -> Any:
        """A signed ``chainnode.model.types.Transaction``."""
        from chainnode.model.types import Transaction

        return Transaction.create(
            self.suite,
            self.private_key,
            chain_id,
            secrets.randbits(63) if nonce is None else nonce,
            block_limit,
            contract,
            method,
            list(args),
            gas_limit,
        )


@dataclass(frozen=True, slots=True)
class SubmitResult:
    hashes: list[str]
    receipts: list[dict[str, Any] | None] | None = None
    committed: bool | None = None


def _tx_path(h: bytes | str) -> str:
    return h.hex() if isinstance(h, bytes) else h


def encode_batch(txs: Iterable[Any]) -> bytes:
    """The msgpack body of ``POST /v1/transactions`` for already signed txs."""
    return msgpack.packb([tx.encode() for tx in txs], use_bin_type=True)  # type: ignore[no-any-return]


def _json_args(v: Any) -> Any:
    """VM values to the API's JSON: bytes travel as ``{"hex": ...}``."""
    if isinstance(v, bytes | bytearray):
        return {"hex": bytes(v).hex()}
    if isinstance(v, list | tuple):
        return [_json_args(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_args(x) for k, x in v.items()}
    return v


class _Paths:
    @staticmethod
    def submit(wait: float | None) -> str:
        return "/v1/transactions" + (f"?{urlencode({'wait': wait})}" if wait is not None else "")

    @staticmethod
    def contracts_after(address: str) -> str:
        return "/v1/contracts?" + urlencode({"after": address})

    @staticmethod
    def contract(contract: str) -> str:
        return f"/v1/contracts/{quote(contract, safe='')}"

    @staticmethod
    def state(contract: str, key: str | bytes) -> str:
        k = "0x" + key.hex() if isinstance(key, bytes) else key
        return f"/v1/state/{quote(contract, safe='')}/{quote(k, safe='')}"


def tls_context(
    ca: Path | str | None = None, cert: Path | str | None = None, key: Path | str | None = None
) -> ssl.SSLContext:
    """A client TLS context: the node's certificate checked against ``ca`` (else the system's
    roots), and this client's certificate and key when the node asks for one."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key) if key is not None else None)
    return ctx


class Client:
    """Blocking client over one kept-alive HTTP connection (not thread-safe). An ``https://``
    URL speaks TLS: ``ca`` names the CA that signed the node's certificate, ``cert`` and
    ``key`` this client's certificate (a node may require one, for writes or for all)."""

    def __init__(  # the URL, a timeout, and the three TLS files
        self,
        url: str,
        timeout: float = 30.0,
        *,
        ca: Path | str | None = None,
        cert: Path | str | None = None,
        key: Path | str | None = None,
    ) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a node URL: {url!r} (expected http://host:port)")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._https = parts.scheme == "https"
        self._tls = tls_context(ca, cert, key) if self._https else None
        self._host = parts.hostname
        self._port = parts.port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._chain_id: str | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._tls
                )
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is not None:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        headers = {"Content-Type": content_type} if body is not None else {}
        t = self.timeout if timeout is None else timeout
        for attempt in (0, 1):
            conn = self._connection(t)
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self.close()
                # A kept-alive connection the server closed: retry once on a fresh one.
                if attempt == 0 and isinstance(
                    e, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
                ):
                    continue
                raise ClientError(
                    0,
                    Code.UNREACHABLE,
                    f"cannot reach the node at {self.url}: {e} (is it running?)",
                ) from None
        if resp.status >= 400:
            raise _error_from(resp.status, data, resp.getheader("Retry-After"))
        return json.loads(data) if data else None

    # -- queries -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/v1/status")  # type: ignore[no-any-return]

    def validators(self) -> dict[str, Any]:
        return self.request("GET", "/v1/validators")  # type: ignore[no-any-return]

    def block(self, ident: int | str = "latest") -> dict[str, Any]:
        return self.request("GET", f"/v1/blocks/{quote(str(ident), safe='')}")  # type: ignore[no-any-return]

    def transaction(self, tx_hash: bytes | str) -> dict[str, Any]:
        return self.request("GET", f"/v1/transactions/{_tx_path(tx_hash)}")  # type: ignore[no-any-return]

    def receipt(self, tx_hash: bytes | str) -> dict[str, Any] | None:
        """The receipt, or ``None`` while the tx is not committed."""
        try:
            return self.request("GET", f"/v1/receipts/{_tx_path(tx_hash)}")["receipt"]  # type: ignore[no-any-return]
        except ClientError as e:
            if e.status == 404:
                return None
            raise

    def state(self, contract: str, key: str | bytes) -> dict[str, Any]:
        return self.request("GET", _Paths.state(contract, key))  # type: ignore[no-any-return]

    def contracts(self) -> list[dict[str, Any]]:
        """Every contract on chain: ``{"name", "address", "kind"}`` each (all pages)."""
        out: list[dict[str, Any]] = []
        path = "/v1/contracts"
        while True:
            page = self.request("GET", path)
            out += page["contracts"]
            if page.get("next") is None:
                return out
            path = _Paths.contracts_after(page["next"])

    def contract(self, contract: str) -> dict[str, Any]:
        """A contract's interface: methods with parameters and types, ``view``, docs."""
        return self.request("GET", _Paths.contract(contract))  # type: ignore[no-any-return]

    def call(self, contract: str, method: str, args: Sequence[Any] = ()) -> Any:
        """Run a @view method; returns ``{"ok", "result", "gas_used", "error"}``."""
        body = json.dumps({"contract": contract, "method": method, "args": _json_args(args)})
        return self.request("POST", "/v1/call", body.encode())

    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.status()["chain_id"])
        return self._chain_id

    # -- transactions --------------------------------------------------------------------

    def build(
        self, account: Account, contract: str, method: str, args: Sequence[Any] = (), **kw: Any
    ) -> Any:
        """Sign a tx for this node's chain, valid for the next ``BLOCK_LIMIT_AHEAD`` blocks."""
        st = self.status()
        self._chain_id = str(st["chain_id"])
        kw.setdefault("block_limit", st["height"] + BLOCK_LIMIT_AHEAD)
        return account.sign(self._chain_id, contract, method, args, **kw)

    def submit(self, txs: Sequence[Any], wait: float | None = None) -> SubmitResult:
        """Submit signed txs as one msgpack batch; with ``wait``, also return their receipts."""
        timeout = self.timeout + (wait or 0)
        out = self.request("POST", _Paths.submit(wait), encode_batch(txs), MSGPACK, timeout)
        return SubmitResult(out["hashes"], out.get("receipts"), out.get("committed"))

    def send(
        self,
        account: Account,
        contract: str,
        method: str,
        args: Sequence[Any] = (),
        *,
        wait: float | None = None,
        **kw: Any,
    ) -> SubmitResult:
        return self.submit([self.build(account, contract, method, args, **kw)], wait)

    def wait_receipts(
        self, hashes: Sequence[bytes | str], timeout: float = 30.0, poll: float = 0.05
    ) -> list[dict[str, Any]]:
        """Every receipt, polling until the deadline; raises ``ClientError`` on timeout."""
        deadline = time.monotonic() + timeout
        found: dict[int, dict[str, Any]] = {}
        while True:
            for i, h in enumerate(hashes):
                if i not in found and (r := self.receipt(h)) is not None:
                    found[i] = r
            if len(found) == len(hashes):
                return [found[i] for i in range(len(hashes))]
            if time.monotonic() > deadline:
                raise ClientError(
                    0, Code.TIMEOUT, f"{len(hashes) - len(found)} txs not committed in {timeout}s"
                )
            time.sleep(poll)


class AsyncClient:
    """The same API on aiohttp, for many concurrent requests from one process."""

    def __init__(  # as Client's, and the connection count
        self,
        url: str,
        timeout: float = 30.0,
        connections: int = 16,
        *,
        ca: Path | str | None = None,
        cert: Path | str | None = None,
        key: Path | str | None = None,
    ) -> None:
        import aiohttp

        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a node URL: {url!r} (expected http://host:port)")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._tls = tls_context(ca, cert, key) if parts.scheme == "https" else None
        self.timeout = timeout
        self._aiohttp = aiohttp
        self._session: aiohttp.ClientSession | None = None
        self._connections = connections
        self._chain_id: str | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _sess(self) -> Any:
        if self._session is None:
            connector = self._aiohttp.TCPConnector(
                limit=self._connections,
                ssl=self._tls if self._tls is not None else True,
                keepalive_timeout=KEEPALIVE_S,
            )
            self._session = self._aiohttp.ClientSession(connector=connector)
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        headers = {"Content-Type": content_type} if body is not None else {}
        t = self._aiohttp.ClientTimeout(total=self.timeout if timeout is None else timeout)
        for attempt in (0, 1):
            try:
                async with self._sess().request(
                    method, self.url + path, data=body, headers=headers, timeout=t
                ) as resp:
                    data = await resp.read()
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                break
            except self._aiohttp.ServerDisconnectedError as e:
                # A kept-alive connection the server closed before answering: a node closes
                # idle ones unread, so send once more on a fresh one, as Client does (a batch
                # the node did take would come back DUPLICATE, never admitted twice).
                if attempt == 0:
                    continue
                raise self._unreachable(e) from None
            except (TimeoutError, self._aiohttp.ClientError, OSError) as e:
                raise self._unreachable(e) from None
        if status >= 400:
            raise _error_from(status, data, retry_after)
        return json.loads(data) if data else None

    def _unreachable(self, e: BaseException) -> ClientError:
        return ClientError(
            0, Code.UNREACHABLE, f"cannot reach the node at {self.url}: {e!r} (is it running?)"
        )

    async def status(self) -> dict[str, Any]:
        return await self.request("GET", "/v1/status")  # type: ignore[no-any-return]

    async def validators(self) -> dict[str, Any]:
        return await self.request("GET", "/v1/validators")  # type: ignore[no-any-return]

    async def block(self, ident: int | str = "latest") -> dict[str, Any]:
        return await self.request("GET", f"/v1/blocks/{quote(str(ident), safe='')}")  # type: ignore[no-any-return]

    async def transaction(self, tx_hash: bytes | str) -> dict[str, Any]:
        return await self.request("GET", f"/v1/transactions/{_tx_path(tx_hash)}")  # type: ignore[no-any-return]

    async def receipt(self, tx_hash: bytes | str) -> dict[str, Any] | None:
        try:
            out = await self.request("GET", f"/v1/receipts/{_tx_path(tx_hash)}")
        except ClientError as e:
            if e.status == 404:
                return None
            raise
        return out["receipt"]  # type: ignore[no-any-return]

    async def state(self, contract: str, key: str | bytes) -> dict[str, Any]:
        return await self.request("GET", _Paths.state(contract, key))  # type: ignore[no-any-return]

    async def contracts(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        path = "/v1/contracts"
        while True:
            page = await self.request("GET", path)
            out += page["contracts"]
            if page.get("next") is None:
                return out
            path = _Paths.contracts_after(page["next"])

    async def contract(self, contract: str) -> dict[str, Any]:
        return await self.request("GET", _Paths.contract(contract))  # type: ignore[no-any-return]

    async def call(self, contract: str, method: str, args: Sequence[Any] = ()) -> Any:
        body = json.dumps({"contract": contract, "method": method, "args": _json_args(args)})
        return await self.request("POST", "/v1/call", body.encode())

    async def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str((await self.status())["chain_id"])
        return self._chain_id

    async def build(
        self, account: Account, contract: str, method: str, args: Sequence[Any] = (), **kw: Any
    ) -> Any:
        st = await self.status()
        self._chain_id = str(st["chain_id"])
        kw.setdefault("block_limit", st["height"] + BLOCK_LIMIT_AHEAD)
        return account.sign(self._chain_id, contract, method, args, **kw)

    async def submit(self, txs: Sequence[Any], wait: float | None = None) -> SubmitResult:
        timeout = self.timeout + (wait or 0)
        out = await self.request("POST", _Paths.submit(wait), encode_batch(txs), MSGPACK, timeout)
        return SubmitResult(out["hashes"], out.get("receipts"), out.get("committed"))

    async def send(
        self,
        account: Account,
        contract: str,
        method: str,
        args: Sequence[Any] = (),
        *,
        wait: float | None = None,
        **kw: Any,
    ) -> SubmitResult:
        return await self.submit([await self.build(account, contract, method, args, **kw)], wait)

    async def wait_receipts(
        self, hashes: Sequence[bytes | str], timeout: float = 30.0, poll: float = 0.05
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        found: dict[int, dict[str, Any]] = {}
        while True:
            missing = [i for i in range(len(hashes)) if i not in found]
            got = await asyncio.gather(*(self.receipt(hashes[i]) for i in missing))
            for i, r in zip(missing, got, strict=True):
                if r is not None:
                    found[i] = r
            if len(found) == len(hashes):
                return [found[i] for i in range(len(hashes))]
            if time.monotonic() > deadline:
                raise ClientError(
                    0, Code.TIMEOUT, f"{len(hashes) - len(found)} txs not committed in {timeout}s"
                )
            await asyncio.sleep(poll)
