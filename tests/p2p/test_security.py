"""The secure channel under attack, over real sockets: MITM, unknown keys, tampering,
oversized prefixes, garbage, bans, and a peer that stops reading."""

from __future__ import annotations

import asyncio
import logging
import os

import msgpack
import pytest

from crypto.sm2 import PrivateKey
from p2p import Channel, HandshakeError, Network
from p2p.handshake import initiate
from tests.p2p.helpers import (
    CHAIN,
    StreamIO,
    fast_config,
    keys,
    pub,
    raw_peer,
    stop_all,
    wait_until,
)
from tests.p2p.relay import Relay


async def _pair_through_relay(
    mutate: object, only_first: bool = True, **kw: object
) -> tuple[Network, Network, Relay]:
    ka, kb = keys(2)
    b = Network(fast_config(kb, allowed={pub(ka)}, **kw))  # type: ignore[arg-type]
    await b.start()
    relay = Relay(b.port, mutate, only_first)  # type: ignore[arg-type]
    await relay.start()
    a = Network(
        fast_config(ka, peers=[(pub(kb), "127.0.0.1", relay.port)], **kw)  # type: ignore[arg-type]
    )
    await a.start()
    return a, b, relay


async def test_relay_swapping_ephemeral_keys_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """A man in the middle substitutes its own ephemerals to read the traffic: refused."""
    m1, m2 = PrivateKey.generate(), PrivateKey.generate()

    def swap(direction: str, index: int, record: bytes) -> list[bytes]:
        msg = msgpack.unpackb(record[4:])
        if direction == "a2b" and index == 0:  # hello: [proto, chain, I_static, I_eph]
            msg[3] = m1.public_key().to_bytes()
        elif direction == "b2a" and index == 0:  # reply: [R_static, R_eph, sig]
            msg[1] = m2.public_key().to_bytes()
        body = msgpack.packb(msg)
        return [len(body).to_bytes(4, "big") + body]

    caplog.set_level(logging.WARNING, logger="p2p")
    a, b, relay = await _pair_through_relay(swap, only_first=False)
    try:
        await wait_until(lambda: a.stats().handshakes_failed >= 2, 10, "repeated refusals")
        assert not a.connected_peers() and not b.connected_peers()
        assert relay.connections >= 2  # a kept trying (with back-off) and kept refusing
        assert any("man in the middle" in r.getMessage() for r in caplog.records)
    finally:
        await stop_all([a, b])
        await relay.stop()


def _flip(direction: str, index: int, record: bytes) -> list[bytes]:
    if direction == "a2b" and index == 2:  # first sealed record after hello and finish
        i = len(record) - 20  # a bit of the ciphertext
        return [record[:i] + bytes([record[i] ^ 0x01]) + record[i + 1 :]]
    return [record]


def _make_replay() -> object:
    def replay(direction: str, index: int, record: bytes) -> list[bytes]:
        if direction == "a2b" and index == 2:
            return [record, record]
        return [record]

    return replay


def _make_reorder() -> object:
    held: list[bytes] = []

    def reorder(direction: str, index: int, record: bytes) -> list[bytes]:
        if direction == "a2b" and index == 2:
            held.append(record)
            return []
        if direction == "a2b" and index == 3:
            return [record, *held]
        return [record]

    return reorder


@pytest.mark.parametrize("mode", ["flip", "replay", "reorder"])
async def test_tampered_replayed_or_reordered_record_closes_connection(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    mutate = {"flip": _flip, "replay": _make_replay(), "reorder": _make_reorder()}[mode]
    caplog.set_level(logging.WARNING, logger="p2p")
    a, b, relay = await _pair_through_relay(mutate, keepalive_interval=60, keepalive_timeout=120)
    got: list[bytes] = []
    b.on_message(Channel.CONSENSUS, lambda _p, m: got.append(m))
    try:
        await a.wait_for_peers([b.peer_id], 10)
        await b.wait_for_peers([a.peer_id], 10)
        assert a.send(b.peer_id, Channel.CONSENSUS, b"one")
        await wait_until(lambda: relay.records["a2b"] >= 3, 5, "first sealed record relayed")
        a.send(b.peer_id, Channel.CONSENSUS, b"two")  # already closed for "flip"
        await wait_until(lambda: b.stats().violations == 1, 5, "violation detected")
        assert any("failed authentication" in r.getMessage() for r in caplog.records)
        # nothing tampered was delivered, and nothing twice
        assert got == ([b"one"] if mode == "replay" else [])
        # the relay passes later connections untouched: the pair recovers
        await wait_until(lambda: relay.connections >= 2 and b.is_connected(a.peer_id), 10)
        assert b.banned_for(a.peer_id) == 0
    finally:
        await stop_all([a, b])
        await relay.stop()


async def test_oversized_length_prefix_before_handshake_is_refused_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (ka,) = keys(1)
    a = Network(fast_config(ka, handshake_timeout=30.0))
    await a.start()
    caplog.set_level(logging.WARNING, logger="p2p")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        writer.write(b"\xff\xff\xff\xff")  # announces 4 GiB, sends nothing more
        async with asyncio.timeout(5):  # far below the handshake timeout: refused on sight
            assert await reader.read() == b""
        writer.close()
        assert any("oversized handshake record" in r.getMessage() for r in caplog.records)
    finally:
        await a.stop()


async def test_oversized_length_prefix_after_handshake_is_refused_at_once() -> None:
    ka, kb = keys(2)
    a = Network(fast_config(ka, allowed={pub(kb)}, max_frame_size=64 * 1024))
    await a.start()
    try:
        io, _ = await raw_peer(a.port, kb, pub(ka))
        await a.wait_for_peers([pub(kb)], 5)
        io.writer.write((64 * 1024 + 1000).to_bytes(4, "big"))  # just over the record bound
        async with asyncio.timeout(5):
            await io.reader.read()  # the confirming keepalive, then EOF
        assert a.stats().violations == 1
        assert not a.is_connected(pub(kb))
    finally:
        await a.stop()


async def test_repeated_violations_ban_the_peer(caplog: pytest.LogCaptureFixture) -> None:
    ka, kb = keys(2)
    a = Network(fast_config(ka, allowed={pub(kb)}, ban_threshold=70, ban_seconds=30))
    await a.start()
    caplog.set_level(logging.WARNING, logger="p2p")
    try:
        for _ in range(2):
            io, _ = await raw_peer(a.port, kb, pub(ka))
            io.writer.write((100).to_bytes(4, "big") + os.urandom(100))  # not sealed by us
            async with asyncio.timeout(5):
                await io.reader.read()  # the confirming keepalive, then EOF
        assert a.banned_for(pub(kb)) > 20
        with pytest.raises((HandshakeError, asyncio.IncompleteReadError, ConnectionError)):
            await raw_peer(a.port, kb, pub(ka))
        await wait_until(
            lambda: any("is banned" in r.getMessage() for r in caplog.records), 5, "ban log"
        )
    finally:
        await a.stop()


async def test_peer_that_stops_reading_stalls_nobody() -> None:
    """c completes the handshake and then neither reads nor writes: a keeps serving b, drops
    traffic for c under pressure, and closes c on keepalive timeout."""
    ka, kb, kc = keys(3)
    cfg = {"send_queue_bytes": 1 << 20, "gossip_queue_bytes": 256 << 10}
    a = Network(
        fast_config(ka, allowed={pub(kb), pub(kc)}, keepalive_timeout=2.0, **cfg)  # type: ignore[arg-type]
    )
    b = Network(fast_config(kb, allowed={pub(ka)}))
    await a.start()
    await b.start()
    got: list[bytes] = []
    b.on_message(Channel.CONSENSUS, lambda _p, m: got.append(m))
    try:
        b.add_peer(pub(ka), "127.0.0.1", a.port)
        io, _ = await raw_peer(a.port, kc, pub(ka))  # c: never reads again
        await a.wait_for_peers([pub(kb), pub(kc)], 5)
        payload = os.urandom(4096)
        n = 3000  # 12 MiB: far more than c's socket buffers and queue can hold
        for i in range(n):
            a.broadcast(Channel.CONSENSUS, payload)
            if i % 64 == 63:
                await asyncio.wait_for(a.drain(pub(kb)), 5)  # paced by b only
        await wait_until(lambda: len(got) == n, 10, "b to receive everything")
        assert a.stats().dropped_frames > 0  # c's share was dropped, not queued forever
        await wait_until(lambda: not a.is_connected(pub(kc)), 6, "c closed by keepalive")
        assert a.is_connected(pub(kb))
        io.writer.close()
    finally:
        await stop_all([a, b])


async def test_silent_or_slow_handshake_times_out(caplog: pytest.LogCaptureFixture) -> None:
    (ka,) = keys(1)
    a = Network(fast_config(ka, handshake_timeout=0.3))
    await a.start()
    caplog.set_level(logging.WARNING, logger="p2p")
    try:
        silent = await asyncio.open_connection("127.0.0.1", a.port)
        slow = await asyncio.open_connection("127.0.0.1", a.port)
        slow[1].write(b"\x00\x00\x00\x40" + b"\x94")  # a hello that never finishes
        for reader, writer in (silent, slow):
            async with asyncio.timeout(5):
                assert await reader.read() == b""
            writer.close()
        assert sum("handshake timed out" in r.getMessage() for r in caplog.records) == 2
    finally:
        await a.stop()


async def test_pending_handshakes_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    (ka,) = keys(1)
    a = Network(fast_config(ka, max_pending_handshakes=3, handshake_timeout=30))
    await a.start()
    caplog.set_level(logging.WARNING, logger="p2p")
    conns = []
    try:
        for _ in range(3):
            conns.append(await asyncio.open_connection("127.0.0.1", a.port))
        await wait_until(lambda: a._handshaking == 3, 5, "three pending handshakes")
        reader, writer = await asyncio.open_connection("127.0.0.1", a.port)
        async with asyncio.timeout(5):  # the fourth is refused at once, not after 30 s
            assert await reader.read() == b""
        writer.close()
        assert any("too many pending handshakes" in r.getMessage() for r in caplog.records)
    finally:
        for _, w in conns:
            w.close()
        await a.stop()


async def test_replayed_handshake_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """Recorded hello and finish of a real session, replayed on a new connection: the
    responder's fresh ephemeral makes the old finish signature worthless."""
    ka, kb = keys(2)
    b = Network(fast_config(kb, allowed={pub(ka)}))
    await b.start()
    caplog.set_level(logging.WARNING, logger="p2p")
    try:
        sent: list[bytes] = []
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)

        class Recording(StreamIO):
            def send_record(self, body: bytes) -> None:
                sent.append(body)
                super().send_record(body)

        io = Recording(reader, writer)
        await initiate(io, CHAIN, ka, pub(kb), lambda _p: None)
        await b.wait_for_peers([pub(ka)], 5)
        writer.close()
        await wait_until(lambda: not b.is_connected(pub(ka)), 5, "first session closed")

        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        replay = StreamIO(reader, writer)
        replay.send_record(sent[0])  # the old hello
        await replay.recv_record(1024)  # a fresh reply
        replay.send_record(sent[1])  # the old finish
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        writer.close()
        assert not b.is_connected(pub(ka))
        assert any(
            "initiator's transcript signature is invalid" in r.getMessage() for r in caplog.records
        )
    finally:
        await b.stop()
