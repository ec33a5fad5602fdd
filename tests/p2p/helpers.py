"""Shared helpers for the p2p tests: keys, fast configs, meshes, raw peers, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from crypto.sm2 import PrivateKey
from p2p import Network, P2PConfig
from p2p.handshake import HandshakeResult, initiate

CHAIN = b"test-chain"
_KEYS: list[PrivateKey] = []


def keys(n: int) -> list[PrivateKey]:
    """`n` node keys (cached across tests: key generation is not what we test)."""
    while len(_KEYS) < n:
        _KEYS.append(PrivateKey.generate())
    return _KEYS[:n]


def pub(key: PrivateKey) -> bytes:
    return key.public_key().to_bytes()


def fast_config(key: PrivateKey, **kw: Any) -> P2PConfig:
    opts: dict[str, Any] = {
        "keepalive_interval": 0.5,
        "keepalive_timeout": 5.0,
        "reconnect_min": 0.05,
        "reconnect_max": 0.5,
        "handshake_timeout": 10.0,  # a loaded 2-core box runs 7 nodes' handshakes at once
    }
    opts.update(kw)
    return P2PConfig(CHAIN, key, "127.0.0.1", **opts)


async def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll `cond` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.005)


async def start_mesh(n: int, **kw: Any) -> list[Network]:
    """`n` nodes on loopback, every pair configured to dial each other, all connected."""
    ks = keys(n)
    allowed = {pub(k) for k in ks}
    nets = [Network(fast_config(k, allowed=allowed, **kw)) for k in ks]
    for net in nets:
        await net.start()
    for a in nets:
        for b in nets:
            if a is not b:
                a.add_peer(b.peer_id, "127.0.0.1", b.port)
    await wait_until(lambda: all(len(x.connected_peers()) == n - 1 for x in nets), 15, "full mesh")
    await wait_stable(nets)
    return nets


async def wait_stable(nets: list[Network]) -> None:
    """Both ends of every link hold the same TCP connection (both finished the handshake,
    duplicates resolved): the initiator completes one message before the responder."""

    def agreed() -> bool:
        by_id = {x.peer_id: x for x in nets}
        for x in nets:
            for st in x.peer_stats():
                other = by_id.get(st.peer_id)
                if other is None:
                    continue
                back = [s for s in other.peer_stats() if s.peer_id == x.peer_id]
                if not back or (back[0].address, back[0].local_address) != (
                    st.local_address,
                    st.address,
                ):
                    return False
        return True

    await wait_until(agreed, 10, "duplicate connections resolved")


async def wait_quiet(nets: list[Network], timeout: float = 10.0) -> None:
    """Barrier: every queue is empty and every frame sent on every link has been processed
    by its receiver (per-link counters agree), so nothing is still in flight."""

    def quiet() -> bool:
        by_id = {x.peer_id: x for x in nets}
        for x in nets:
            for st in x.peer_stats():
                other = by_id.get(st.peer_id)
                if other is None:
                    continue
                back = [s for s in other.peer_stats() if s.peer_id == x.peer_id]
                if st.queued_bytes or not back or back[0].frames_in != st.frames_out:
                    return False
        return True

    await wait_until(quiet, timeout, "links to go quiet")


async def stop_all(nets: list[Network]) -> None:
    await asyncio.gather(*(n.stop() for n in nets))


class StreamIO:
    """RecordIO over asyncio streams, for test-side peers that speak the raw protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def recv_record(self, max_size: int) -> bytes:
        n = int.from_bytes(await self.reader.readexactly(4), "big")
        assert n <= max_size
        return await self.reader.readexactly(n)

    def send_record(self, body: bytes) -> None:
        self.writer.write(len(body).to_bytes(4, "big") + body)


async def raw_peer(port: int, key: PrivateKey, expected: bytes) -> tuple[StreamIO, HandshakeResult]:
    """Dial a node and complete the handshake by hand; returns the stream and the keys."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    io = StreamIO(reader, writer)
    result = await initiate(io, CHAIN, key, expected, lambda _p: None)
    return io, result
