"""Random bytes at the port, before and after the handshake, never crash the server.

The server runs on its own event loop in a thread for the whole module, so hypothesis can
drive plain blocking sockets at it; loop-level exceptions are collected and must stay empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from p2p import Channel, Network
from p2p.handshake import PROTOCOL
from tests.p2p.helpers import CHAIN, fast_config, keys, pub, raw_peer


@dataclass
class Server:
    net: Network
    loop: asyncio.AbstractEventLoop
    errors: list[dict[str, Any]]

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    ka, kb = keys(2)
    loop = asyncio.new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make() -> Network:
        # the fuzzing peer's key is admitted and never banned: every example gets in
        net = Network(fast_config(ka, allowed={pub(kb)}, ban_threshold=10**9))
        await net.start()
        return net

    srv = Server(asyncio.run_coroutine_threadsafe(make(), loop).result(10), loop, errors)
    yield srv
    srv.run(srv.net.stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _send_and_wait_close(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with contextlib.suppress(OSError):
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            while s.recv(65536):
                pass  # the server may answer a plausible hello; it must then close


def _framed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def _hello_like(items: list[object]) -> bytes:
    return _framed(msgpack.packb(items))


# plausible hellos: the right protocol and chain, an admitted or random static key, and
# random or malformed ephemerals, then arbitrary bytes where the finish should be
_fields = st.one_of(
    st.binary(max_size=80), st.integers(-(2**63), 2**64 - 1), st.none(), st.text(max_size=8)
)
hellos = st.tuples(
    st.sampled_from([PROTOCOL, b"other"]),
    st.sampled_from([CHAIN, b"x" * 65]),
    st.one_of(st.just(pub(keys(2)[1])), st.binary(min_size=65, max_size=65)),
    st.one_of(st.binary(min_size=65, max_size=65).map(lambda b: b"\x04" + b[1:]), _fields),
    st.binary(max_size=200),
).map(lambda t: _hello_like(list(t[:4])) + t[4])

garbage = st.one_of(
    st.binary(max_size=4096),
    st.binary(max_size=2048).map(_framed),  # framed garbage
    st.lists(_fields, max_size=6).map(_hello_like),  # framed msgpack of the wrong shape
    hellos,
)


@given(data=garbage)
def test_fuzz_random_bytes_before_handshake(server: Server, data: bytes) -> None:
    _send_and_wait_close(server.net.port, data)
    assert server.errors == []


@given(records=st.lists(st.binary(min_size=0, max_size=512), min_size=1, max_size=3))
def test_fuzz_random_records_after_handshake(server: Server, records: list[bytes]) -> None:
    ka, kb = keys(2)

    async def attack() -> None:
        io, _ = await raw_peer(server.net.port, kb, pub(ka))
        for r in records:
            io.writer.write(len(r).to_bytes(4, "big") + r)
        io.writer.write_eof()
        async with asyncio.timeout(5):
            await io.reader.read()  # the server closes the connection
        io.writer.close()

    before = server.net.stats().violations
    server.run(attack())
    assert server.net.stats().violations == before + 1
    assert server.errors == []


def test_server_still_serves_a_real_peer_after_the_fuzzing(server: Server) -> None:
    ka, kb = keys(2)

    async def talk() -> bytes:
        got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        server.net.on_message(Channel.CONSENSUS, lambda _p, m: got.set_result(m))
        peer = Network(fast_config(kb, peers=[(pub(ka), "127.0.0.1", server.net.port)]))
        await peer.start()
        try:
            await peer.wait_for_peers([pub(ka)], 5)
            assert peer.send(pub(ka), Channel.CONSENSUS, b"still alive")
            return await asyncio.wait_for(got, 5)
        finally:
            await peer.stop()

    assert server.run(talk()) == b"still alive"
    assert server.errors == []
