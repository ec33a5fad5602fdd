"""The sans-IO pieces on their own: framing, sealing, handshake, gossip cache, scores, queues."""

from __future__ import annotations

import asyncio
import os

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.sm2 import PrivateKey
from p2p import FrameTooLarge, HandshakeError, P2PConfig, P2PError, ProtocolViolation
from p2p.backoff import Backoff
from p2p.channels import Priority
from p2p.connection import PeerConnection
from p2p.framing import RecordReader, encode_frame, iter_frames
from p2p.gossip import SeenCache, decode_tx_batch, encode_tx_batch, split_batches
from p2p.handshake import (
    MIN_PROTOCOL_VERSION,
    PROTOCOL,
    PROTOCOL_VERSION,
    initiate,
    protocol_bytes,
    protocol_versions,
    respond,
)
from p2p.rpc import decode_request, decode_response, encode_request, encode_response
from p2p.scores import PeerScores
from p2p.session import SecureSession
from tests.p2p.helpers import CHAIN, keys, pub

# ---- framing -------------------------------------------------------------------------


@given(
    frames=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), min_size=1),
    cuts=st.lists(st.integers(1, 50), max_size=20),
)
def test_records_and_frames_round_trip_across_arbitrary_chunking(
    frames: list[tuple[int, bytes]], cuts: list[int]
) -> None:
    plaintext = b"".join(encode_frame(c, p) for c, p in frames)
    stream = len(plaintext).to_bytes(4, "big") + plaintext
    reader = RecordReader()
    got = None
    pos = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[pos : pos + cut])
        pos += cut
        rec = reader.next_record(1 << 20)
        if rec is not None:
            got = rec
            break
    assert got is not None and got[1] == plaintext
    assert list(iter_frames(got[1], 1 << 20)) == frames


@given(
    bodies=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(1, 50), max_size=20),
)
def test_record_views_round_trip_and_pin_the_buffer_until_released(
    bodies: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(len(b).to_bytes(4, "big") + b for b in bodies)
    reader = RecordReader()
    got: list[bytes] = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[pos : pos + cut])
        pos += cut
        while (rec := reader.next_record_view(1 << 20)) is not None:
            header, view = rec
            assert header == len(view).to_bytes(4, "big")
            with pytest.raises(BufferError):  # the view pins the buffer: no resize under it
                reader.feed(b"x")
            got.append(bytes(view))
            view.release()
    assert got == bodies


def test_oversized_record_is_refused_from_its_header_alone() -> None:
    reader = RecordReader()
    reader.feed(b"\x7f\xff\xff\xff")  # 2 GiB announced, no body sent
    with pytest.raises(FrameTooLarge):
        reader.next_record(1 << 20)
    assert reader.buffered() == 4  # nothing was allocated for the body


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"\x01\x00\x00", b"\x01\x00\x00\x00\x05abc", encode_frame(1, b"x") + b"\x02"],
)
def test_malformed_records_raise_protocol_violation(plaintext: bytes) -> None:
    with pytest.raises(ProtocolViolation):
        list(iter_frames(plaintext, 1024))


def test_frame_above_the_bound_is_refused() -> None:
    with pytest.raises(FrameTooLarge):
        list(iter_frames(encode_frame(1, bytes(2000)), 1024))


# ---- sealing -------------------------------------------------------------------------


def _pair() -> tuple[SecureSession, SecureSession]:
    k1, k2 = os.urandom(16), os.urandom(16)
    return SecureSession(k1, k2), SecureSession(k2, k1)


def _split(record: bytes) -> tuple[bytes, bytes]:
    return record[:4], record[4:]


def test_sealed_records_open_in_order_and_hide_the_plaintext() -> None:
    alice, bob = _pair()
    records = [alice.seal_record(f"msg {i}".encode() * 3) for i in range(5)]
    assert all(b"msg" not in r for r in records)
    assert [bob.open_record(*_split(r)) for r in records] == [
        f"msg {i}".encode() * 3 for i in range(5)
    ]
    # same plaintext twice -> different ciphertext (the counter nonce advanced)
    assert alice.seal_record(b"same") != alice.seal_record(b"same")


@pytest.mark.parametrize("attack", ["flip", "replay", "reorder", "drop", "header", "reflect"])
def test_tampered_replayed_reordered_records_fail(attack: str) -> None:
    alice, bob = _pair()
    r0, r1 = alice.seal_record(b"zero"), alice.seal_record(b"one")
    if attack == "flip":
        bad = [r0[:-1] + bytes([r0[-1] ^ 0x80])]
    elif attack == "replay":
        assert bob.open_record(*_split(r0)) == b"zero"
        bad = [r0]
    elif attack in {"reorder", "drop"}:
        bad = [r1]
    elif attack == "header":
        bad = [(len(r0) - 3).to_bytes(4, "big") + r0[4:]]
    else:  # a record sent back to its sender: the other direction's key
        with pytest.raises(ProtocolViolation):
            alice.open_record(*_split(r0))
        return
    with pytest.raises(ProtocolViolation):
        bob.open_record(*_split(bad[0]))


@pytest.mark.parametrize("secure", [True, False])
def test_seal_parts_is_seal_record_of_the_joined_parts(secure: bool) -> None:
    from p2p.session import PlainSession

    k1, k2 = os.urandom(16), os.urandom(16)
    s1, s2 = (SecureSession(k1, k2), SecureSession(k1, k2)) if secure else (PlainSession(),) * 2
    rx = SecureSession(k2, k1) if secure else PlainSession()
    for parts in ([b"one"], [b"a", b"", b"bc" * 600], [encode_frame(1, bytes(1024))] * 63):
        record = s1.seal_parts(parts, sum(map(len, parts)))
        assert record == s2.seal_record(b"".join(parts))
        with memoryview(record) as view:
            assert rx.open_record(record[:4], view[4:]) == b"".join(parts)


def test_session_refuses_equal_direction_keys() -> None:
    k = os.urandom(16)
    with pytest.raises(ValueError):
        SecureSession(k, k)


# ---- handshake (in memory) -----------------------------------------------------------


class Pipe:
    """Two in-memory RecordIO ends; `tap` may rewrite what flows a->b / b->a."""

    def __init__(self) -> None:
        self.qa: asyncio.Queue[bytes] = asyncio.Queue()
        self.qb: asyncio.Queue[bytes] = asyncio.Queue()

    class End:
        def __init__(self, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes]) -> None:
            self.inbox, self.outbox = inbox, outbox

        async def recv_record(self, max_size: int) -> bytes:
            rec = await self.inbox.get()
            if len(rec) > max_size:
                raise HandshakeError("oversized")
            return rec

        def send_record(self, body: bytes) -> None:
            self.outbox.put_nowait(body)

    def ends(self) -> tuple[Pipe.End, Pipe.End]:
        return Pipe.End(self.qa, self.qb), Pipe.End(self.qb, self.qa)


def _allow(*ids: bytes) -> object:
    return lambda p: None if p in ids else "not on the allow-list"


async def test_handshake_agrees_on_distinct_direction_keys() -> None:
    ka, kb = keys(2)
    ea, eb = Pipe().ends()
    ra, rb = await asyncio.gather(
        initiate(ea, CHAIN, ka, pub(kb), _allow(pub(kb))),  # type: ignore[arg-type]
        respond(eb, CHAIN, kb, _allow(pub(ka))),  # type: ignore[arg-type]
    )
    assert ra.peer_id == pub(kb) and rb.peer_id == pub(ka)
    assert ra.send_key == rb.recv_key and ra.recv_key == rb.send_key
    assert ra.send_key != ra.recv_key
    sa, sb = ra.session(), rb.session()
    assert sb.open_record(*_split(sa.seal_record(b"hi"))) == b"hi"


async def test_fresh_ephemerals_give_fresh_keys_each_session() -> None:
    ka, kb = keys(2)
    results = []
    for _ in range(2):
        ea, eb = Pipe().ends()
        ra, _ = await asyncio.gather(
            initiate(ea, CHAIN, ka, pub(kb), _allow(pub(kb))),  # type: ignore[arg-type]
            respond(eb, CHAIN, kb, _allow(pub(ka))),  # type: ignore[arg-type]
        )
        results.append(ra.send_key)
    assert results[0] != results[1]


async def test_handshake_refuses_unexpected_responder_key() -> None:
    ka, kb = keys(2)
    ea, eb = Pipe().ends()
    with pytest.raises(HandshakeError, match="expected"):
        await asyncio.gather(
            initiate(ea, CHAIN, ka, pub(keys(3)[2]), _allow(pub(kb))),  # type: ignore[arg-type]
            respond(eb, CHAIN, kb, _allow(pub(ka))),  # type: ignore[arg-type]
        )


async def test_handshake_refuses_an_impostor_without_the_private_key() -> None:
    """Mallory claims Bob's static key but signs with her own: Alice refuses."""
    ka, kb = keys(2)
    mallory = PrivateKey.generate()
    ea, eb = Pipe().ends()

    class Impostor:
        def __init__(self) -> None:
            self._real = mallory

        def public_key(self) -> object:
            return kb.public_key()

        def sign(self, msg: bytes) -> bytes:
            return self._real.sign(msg)

        def exchange(self, peer: object) -> bytes:
            return self._real.exchange(peer)  # type: ignore[arg-type]

    with pytest.raises(HandshakeError, match="man in the middle"):
        await asyncio.gather(
            initiate(ea, CHAIN, ka, pub(kb), _allow(pub(kb))),  # type: ignore[arg-type]
            respond(eb, CHAIN, Impostor(), _allow(pub(ka))),  # type: ignore[arg-type]
        )


async def test_handshake_refuses_malformed_hello() -> None:
    (kb,) = keys(1)
    ea, eb = Pipe().ends()
    ea.send_record(b"\x93\x01\x02\x03")
    with pytest.raises(HandshakeError, match="malformed"):
        await respond(eb, CHAIN, kb, lambda p: None)


@pytest.mark.parametrize(
    ("initiator", "responder"),
    [((2, 3), (2, 3)), ((3, 4), (2, 3)), ((1, 2), (2, 3)), ((2, 2), (2, 2)), ((2, 3), (2, 2))],
    ids=["same", "newer-initiator", "older-initiator", "this-release", "next-to-this"],
)
async def test_adjacent_protocol_versions_interoperate(
    initiator: tuple[int, int], responder: tuple[int, int]
) -> None:
    """A release speaking N-1..N talks to the release before and the one after it, in both
    directions: the initiator sends its range, the responder admits one that meets its own."""
    ka, kb = keys(2)
    ea, eb = Pipe().ends()
    ra, rb = await asyncio.gather(
        initiate(ea, CHAIN, ka, pub(kb), _allow(pub(kb)), initiator),  # type: ignore[arg-type]
        respond(eb, CHAIN, kb, _allow(pub(ka)), responder),  # type: ignore[arg-type]
    )
    assert ra.send_key == rb.recv_key and ra.recv_key == rb.send_key


@pytest.mark.parametrize(
    ("initiator", "responder", "names"),
    [
        ((4, 5), (2, 3), ("version 4..5 of the peer, 2..3 here", "upgrade this node")),
        ((1, 1), (2, 3), ("version 1 of the peer, 2..3 here", "upgrade it")),
        ((3, 4), (2, 2), ("version 3..4 of the peer, 2 here", "upgrade this node")),
    ],
)
async def test_versions_further_apart_are_refused_naming_both(
    initiator: tuple[int, int], responder: tuple[int, int], names: tuple[str, str]
) -> None:
    ka, kb = keys(2)
    ea, eb = Pipe().ends()
    got = await asyncio.gather(
        initiate(ea, CHAIN, ka, pub(kb), _allow(pub(kb)), initiator),  # type: ignore[arg-type]
        respond(eb, CHAIN, kb, _allow(pub(ka)), responder),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    for err in got:  # both sides say why, with both versions
        assert isinstance(err, HandshakeError), got
        assert names[0] in str(err) and names[1] in str(err)
    assert str(got[0]).startswith("the responder refused: ")


def test_this_release_speaks_its_versions() -> None:
    # one version: the short form, which releases before version ranges accept too
    assert (
        PROTOCOL == b"chainnode-p2p/2" == protocol_bytes((MIN_PROTOCOL_VERSION, PROTOCOL_VERSION))
    )
    assert protocol_versions(PROTOCOL) == (2, 2)
    assert protocol_versions(b"chainnode-p2p/2..3") == (2, 3)
    for bad in (b"chainnode-p2p/x", b"other/2", b"chainnode-p2p/3..2", b"chainnode-p2p/2..", b""):
        assert protocol_versions(bad) is None, bad


# ---- gossip, rpc, scores, config -----------------------------------------------------


def test_seen_cache_is_bounded_and_forgets_oldest() -> None:
    c = SeenCache(3)
    assert [c.add(k) for k in (b"a", b"b", b"a", b"c", b"d")] == [True, True, False, True, True]
    assert len(c) == 3 and b"a" not in c and b"d" in c
    p, q = frozenset([b"p"]), frozenset([b"q"])
    assert not c.add(b"d", p) and c.holders(b"d") == frozenset()
    c.add_holders(b"d", p)
    c.add_holders(b"d", q)
    assert c.holders(b"d") == p | q
    c.add_holders(b"a", p)  # forgotten: stays forgotten
    assert b"a" not in c and c.holders(b"a") == frozenset()


def test_tx_batches_round_trip_and_bad_batches_are_violations() -> None:
    txs = [os.urandom(n) for n in (1, 50, 300)]
    peer = b"\x04" + bytes(64)
    assert decode_tx_batch(encode_tx_batch(txs), 10) == ([], txs)
    assert decode_tx_batch(encode_tx_batch(txs, [peer]), 10) == ([peer], txs)
    bad_batches = (
        b"\xc1",
        encode_tx_batch([]),
        b"\x92\x01\x02",
        encode_tx_batch(txs),  # more txs than allowed
        msgpack.packb(txs),  # version 1 framing: a bare array
        encode_tx_batch(txs[:1], [b"short id"]),
        encode_tx_batch(txs[:1], [peer] * 257),
    )
    for bad in bad_batches:
        with pytest.raises(ProtocolViolation):
            decode_tx_batch(bad, 2)
    batches = split_batches([b"x" * 100] * 10, max_txs=4, max_bytes=250)
    assert [len(b) for b in batches] == [2, 2, 2, 2, 2]


def test_rpc_codec_round_trip_and_validation() -> None:
    assert decode_request(encode_request(7, "blocks", b"\x01")) == (7, "blocks", b"\x01")
    assert decode_response(encode_response(7, 1, b"err")) == (7, 1, b"err")
    for bad in (b"", encode_request(-1, "x", b""), encode_request(1, "", b""), b"\x90"):
        with pytest.raises(ProtocolViolation):
            decode_request(bad)
    with pytest.raises(ProtocolViolation):
        decode_response(encode_response(1, 9, b""))


def test_scores_ban_after_violations_and_recover_with_time() -> None:
    s = PeerScores(threshold=100, ban_seconds=60, recovery_per_second=1.0)
    p = b"peer"
    assert not s.penalize(p, 40, now=0.0)
    assert not s.penalize(p, 40, now=1.0)
    assert s.score(p, now=1.0) == -79.0
    assert s.score(p, now=50.0) == -30.0  # recovered with time
    assert not s.penalize(p, 40, now=50.0)
    assert s.penalize(p, 40, now=50.0)  # -110: banned
    assert s.banned_for(p, now=60.0) == 50.0
    assert s.banned_for(p, now=200.0) == 0.0


def test_config_validates_and_admits_configured_peers() -> None:
    ka, kb = keys(2)
    cfg = P2PConfig(CHAIN, ka, peers=[(pub(kb), "h", 1)])
    assert pub(kb) in cfg.allowed
    for bad in (
        {"chain_id": b""},
        {"peers": [(b"short", "h", 1)]},
        {"max_frame_size": 10},
        {"keepalive_interval": 5.0, "keepalive_timeout": 1.0},
    ):
        opts = {"chain_id": CHAIN, "node_key": ka, **bad}
        with pytest.raises(P2PError):
            P2PConfig(**opts)  # type: ignore[arg-type]


# ---- send queue priorities -----------------------------------------------------------


class _Owner:
    def connection_opened(self, conn: PeerConnection) -> None: ...

    def frame_received(self, conn: PeerConnection, channel: int, payload: bytes) -> None: ...

    def violation(self, conn: PeerConnection, reason: str) -> None: ...

    def connection_closed(self, conn: PeerConnection) -> None: ...


async def test_full_queue_drops_gossip_before_consensus() -> None:
    conn = PeerConnection(
        _Owner(), initiator=True, max_frame=1 << 20, queue_bytes=10_000, gossip_bytes=5_000
    )  # never established: nothing is flushed, the queues only fill
    gossip = bytes(1000)
    assert sum(conn.enqueue(gossip, Priority.LOW) for _ in range(10)) == 5  # gossip budget
    assert sum(conn.enqueue(bytes(1000), Priority.NORMAL) for _ in range(5)) == 5
    # consensus still fits: it evicts queued gossip first, then normal traffic
    assert all(conn.enqueue(bytes(1000), Priority.HIGH) for _ in range(8))
    low, normal, high = (
        len(conn._queues[p]) for p in (Priority.LOW, Priority.NORMAL, Priority.HIGH)
    )
    assert (high, low) == (8, 0) and normal == 2
    assert conn.queued_bytes == 10_000
    assert not conn.enqueue(gossip, Priority.LOW)
    assert conn.dropped == 5 + 5 + 3 + 1


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    import random

    b = Backoff(0.1, 1.0, random.Random(7))
    delays = [b.next_delay() for _ in range(8)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    assert all(0.5 * base <= d < 1.5 * base for d, base in zip(delays, bases, strict=True))
    assert len({round(d / base, 6) for d, base in zip(delays, bases, strict=True)}) > 1
    b.reset()
    assert 0.05 <= b.next_delay() < 0.15
    with pytest.raises(ValueError):
        Backoff(0, 1)
