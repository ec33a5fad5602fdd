"""End-to-end behaviour of `Network` over real sockets on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter

import pytest

from crypto import sm3
from p2p import (
    Channel,
    ConnectionClosed,
    Network,
    P2PError,
    PeerNotConnected,
    RequestFailed,
    RequestTimeout,
)
from p2p.gossip import encode_tx_batch
from tests.p2p.helpers import (
    fast_config,
    keys,
    pub,
    start_mesh,
    stop_all,
    wait_quiet,
    wait_stable,
    wait_until,
)


@pytest.mark.parametrize("n", [4, 7])
async def test_mesh_gossip_reaches_every_node_exactly_once(n: int) -> None:
    nets = await start_mesh(n)
    try:
        received: list[Counter[bytes]] = [Counter() for _ in nets]
        for i, net in enumerate(nets):
            net.on_txs(lambda _peer, txs, i=i: received[i].update(txs))
        # every node originates its own transactions, several per call (batched frames)
        origin: dict[bytes, int] = {}
        for i, net in enumerate(nets):
            txs = [f"tx-{i}-{j}".encode() * 5 for j in range(30)]
            assert net.gossip_txs([(sm3.digest(t), t) for t in txs]) == len(txs)
            origin.update(dict.fromkeys(txs, i))

        def complete() -> bool:
            return all(len(received[i]) == len(origin) - 30 for i in range(n))

        await wait_until(complete, 15, "gossip to reach every node")
        await wait_quiet(nets)  # every relayed copy still in flight has now been processed
        for i in range(n):
            expected = {tx for tx, o in origin.items() if o != i}
            assert set(received[i]) == expected
            assert set(received[i].values()) == {1}, "a transaction was delivered twice"
        # in a full mesh every originator covers every peer: nobody relays, one copy per tx
        for net in nets:
            assert net.stats().txs_received == len(origin) - 30
        # and it went over the wire in batches, not one frame per tx
        st = nets[0].stats()
        assert st.frames_out < len(origin) * (n - 1)
    finally:
        await stop_all(nets)


async def test_gossip_is_relayed_along_a_line() -> None:
    # a - b - c - d: only neighbours are connected, so b and c must relay what a originates
    ks = keys(4)
    allowed = {pub(k) for k in ks}
    nets = [Network(fast_config(k, allowed=allowed)) for k in ks]
    try:
        for net in nets:
            await net.start()
        for a, b in zip(nets, nets[1:], strict=False):
            a.add_peer(b.peer_id, "127.0.0.1", b.port)
        await wait_until(
            lambda: [len(x.connected_peers()) for x in nets] == [1, 2, 2, 1], 15, "line"
        )
        got: list[set[bytes]] = [set() for _ in nets]
        for i, net in enumerate(nets):
            net.on_txs(lambda _peer, txs, i=i: got[i].update(txs))
        txs = [f"line-{j}".encode() * 4 for j in range(20)]
        nets[0].gossip_txs([(sm3.digest(t), t) for t in txs])
        await wait_until(lambda: all(g == set(txs) for g in got[1:]), 15, "relay to the end")
    finally:
        await stop_all(nets)


async def test_a_false_coverage_claim_cannot_stop_an_honest_copy() -> None:
    # a - b - c, and m - b. m sends b a tx claiming a and c already have it (a lie): b does
    # not relay that copy. When honest a's copy arrives, b relays it to c after all.
    ka, kb, kc, km = keys(4)
    allowed = {pub(k) for k in (ka, kb, kc, km)}
    a, b, c, m = (Network(fast_config(k, allowed=allowed)) for k in (ka, kb, kc, km))
    nets = [a, b, c, m]
    try:
        for net in nets:
            await net.start()
        for x in (a, c, m):
            x.add_peer(b.peer_id, "127.0.0.1", b.port)
        await wait_until(lambda: len(b.connected_peers()) == 3, 15, "star around b")
        await wait_stable(nets)
        got_b: list[bytes] = []
        got_c: list[bytes] = []
        b.on_txs(lambda _p, txs: got_b.extend(txs))
        c.on_txs(lambda _p, txs: got_c.extend(txs))
        tx = b"contested transaction" * 3
        lie = encode_tx_batch([tx], [a.peer_id, c.peer_id])
        assert m._enqueue(m._conns[b.peer_id], Channel.TXS, lie)
        await wait_until(lambda: got_b == [tx], 10, "b to take m's copy")
        await wait_quiet(nets)
        assert got_c == []  # m's claim did suppress that copy
        assert a.gossip_txs([(sm3.digest(tx), tx)]) == 1
        await wait_until(lambda: got_c == [tx], 10, "honest copy to reach c")
        assert got_b == [tx]  # b delivered it to its node once
    finally:
        await stop_all(nets)


async def test_broadcast_and_send_reach_validators_directly() -> None:
    nets = await start_mesh(4)
    try:
        got: list[list[tuple[bytes, bytes]]] = [[] for _ in nets]
        for i, net in enumerate(nets):
            net.on_message(Channel.CONSENSUS, lambda p, m, i=i: got[i].append((p, m)))
        assert nets[0].broadcast(Channel.CONSENSUS, b"prepare") == 3
        assert nets[1].send(nets[2].peer_id, Channel.CONSENSUS, b"vote")
        await wait_until(lambda: all(len(g) >= 1 for g in got[1:]) and len(got[2]) == 2)
        for g in got[1:]:
            assert (nets[0].peer_id, b"prepare") in g
        assert (nets[1].peer_id, b"vote") in got[2]
        assert got[0] == []
        with pytest.raises(P2PError):
            nets[0].send(nets[1].peer_id, Channel.TXS, b"internal channel")
        unknown = pub(keys(8)[7])
        assert nets[0].send(unknown, Channel.CONSENSUS, b"x") is False
    finally:
        await stop_all(nets)


async def test_request_response_round_trip_errors_and_timeout() -> None:
    a, b = await start_mesh(2)
    try:
        gate = asyncio.Event()

        async def blocks(peer: bytes, payload: bytes) -> bytes:
            assert peer == a.peer_id
            lo, hi = int(payload[:4].hex(), 16), int(payload[4:].hex(), 16)
            return b"".join(h.to_bytes(4, "big") for h in range(lo, hi + 1))

        async def slow(peer: bytes, payload: bytes) -> bytes:
            await gate.wait()
            return b"late"

        async def broken(peer: bytes, payload: bytes) -> bytes:
            raise ValueError("no such block")

        b.on_request("blocks", blocks)
        b.on_request("slow", slow)
        b.on_request("broken", broken)
        reply = await a.request(
            b.peer_id, "blocks", (5).to_bytes(4, "big") + (7).to_bytes(4, "big")
        )
        assert reply == b"\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00\x07"
        with pytest.raises(RequestTimeout):
            await a.request(b.peer_id, "slow", b"", timeout=0.2)
        gate.set()  # the late answer must be ignored, and the connection stays up
        with pytest.raises(RequestFailed, match="unknown request kind"):
            await a.request(b.peer_id, "nope", b"")
        with pytest.raises(RequestFailed, match="no such block"):
            await a.request(b.peer_id, "broken", b"")
        assert await a.request(b.peer_id, "blocks", bytes(8)) == bytes(4)
        assert a.is_connected(b.peer_id)
        with pytest.raises(PeerNotConnected):
            await a.request(pub(keys(8)[7]), "blocks", b"")
        assert a.stats().request_timeouts == 1
    finally:
        await stop_all([a, b])


async def test_reconnects_with_backoff_after_peer_restarts() -> None:
    ka, kb = keys(2)
    a = Network(fast_config(ka, allowed={pub(kb)}))
    b = Network(fast_config(kb, allowed={pub(ka)}))
    await b.start()
    port_b = b.port
    a.add_peer(pub(kb), "127.0.0.1", port_b)
    await a.start()
    try:
        await a.wait_for_peers([pub(kb)], 10)
        await b.stop()
        await wait_until(lambda: not a.is_connected(pub(kb)), 5, "a to notice b is gone")
        # b comes back on the same port without dialing anyone: a's dialer must find it
        b = Network(fast_config(kb, port=port_b, allowed={pub(ka)}))
        got: list[bytes] = []
        b.on_message(Channel.CONSENSUS, lambda _p, m: got.append(m))
        await b.start()
        await a.wait_for_peers([pub(kb)], 10)
        await wait_stable([a, b])
        assert a.send(pub(kb), Channel.CONSENSUS, b"after restart")
        await wait_until(lambda: got == [b"after restart"], 5)
    finally:
        await stop_all([a, b])


async def test_simultaneous_dial_keeps_one_connection() -> None:
    ka, kb = keys(2)
    a = Network(fast_config(ka, allowed={pub(kb)}))
    b = Network(fast_config(kb, allowed={pub(ka)}))
    await a.start()
    await b.start()
    try:
        a.add_peer(pub(kb), "127.0.0.1", b.port)
        b.add_peer(pub(ka), "127.0.0.1", a.port)
        await a.wait_for_peers([pub(kb)], 10)
        await b.wait_for_peers([pub(ka)], 10)
        await wait_stable([a, b])
        (sa,), (sb,) = a.peer_stats(), b.peer_stats()
        lower = min(pub(ka), pub(kb))
        # the surviving connection was dialed by the lower key, on both ends
        assert sa.initiator == (pub(ka) == lower)
        assert sb.initiator == (pub(kb) == lower)
    finally:
        await stop_all([a, b])


async def test_unknown_node_is_refused_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    ka, kb, kx = keys(3)
    a = Network(fast_config(ka, allowed={pub(kb)}))
    await a.start()
    intruder = Network(fast_config(kx, peers=[(pub(ka), "127.0.0.1", a.port)]))
    caplog.set_level(logging.WARNING, logger="p2p")
    await intruder.start()
    try:
        await wait_until(lambda: a.stats().handshakes_failed >= 1, 10, "refusal")
        assert not a.connected_peers()
        assert not intruder.connected_peers()
        assert any("not on the allow-list" in r.getMessage() for r in caplog.records)
    finally:
        await stop_all([a, intruder])


async def test_wrong_chain_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    ka, kb = keys(2)
    a = Network(fast_config(ka, allowed={pub(kb)}))
    await a.start()
    cfg = fast_config(kb, peers=[(pub(ka), "127.0.0.1", a.port)])
    other = Network(type(cfg)(b"other-chain", kb, "127.0.0.1", peers=cfg.peers))
    caplog.set_level(logging.WARNING, logger="p2p")
    await other.start()
    try:
        await wait_until(lambda: a.stats().handshakes_failed >= 1, 10, "refusal")
        assert not a.connected_peers()
        assert any("chain id mismatch" in r.getMessage() for r in caplog.records)
    finally:
        await stop_all([a, other])


async def test_allow_list_change_drops_and_readmits_a_peer() -> None:
    a, b = await start_mesh(2)
    try:
        a.set_allowed(set())  # b removed from the validator set
        await wait_until(lambda: not a.is_connected(b.peer_id), 5, "b dropped")
        await wait_until(lambda: a.stats().handshakes_failed >= 1, 5, "b's redial refused")
        assert not a.is_connected(b.peer_id)
        a.set_allowed({b.peer_id})  # and added back: a dials it again
        a.add_peer(b.peer_id, "127.0.0.1", b.port)
        await a.wait_for_peers([b.peer_id], 10)
    finally:
        await stop_all([a, b])


async def test_large_payloads_round_trip_and_oversized_ones_are_refused() -> None:
    a, b = await start_mesh(2, max_frame_size=4 << 20)
    try:
        big = os.urandom(3 << 20)

        async def mirror(_peer: bytes, payload: bytes) -> bytes:
            return payload + big

        b.on_request("mirror", mirror)
        got: list[bytes] = []
        b.on_message(Channel.BLOCKS, lambda _p, m: got.append(m))
        assert await a.request(b.peer_id, "mirror", b"head:", 10) == b"head:" + big
        assert a.send(b.peer_id, Channel.BLOCKS, big)
        await wait_until(lambda: got == [big], 10)
        with pytest.raises(P2PError):
            a.send(b.peer_id, Channel.BLOCKS, bytes((4 << 20) + 1))
        with pytest.raises(RequestFailed, match="too large"):
            await a.request(b.peer_id, "mirror", big, 10)  # the answer would exceed the bound
        assert a.is_connected(b.peer_id) and a.stats().violations == 0
    finally:
        await stop_all([a, b])


async def test_traffic_counters_match_on_both_ends() -> None:
    a, b = await start_mesh(2)
    try:
        got: list[bytes] = []
        b.on_message(Channel.CONSENSUS, lambda _p, m: got.append(m))
        for i in range(100):
            a.send(b.peer_id, Channel.CONSENSUS, bytes(i))
        await wait_until(lambda: len(got) == 100)

        def balanced() -> bool:
            (sa,), (sb,) = a.peer_stats(), b.peer_stats()
            return (sa.bytes_out, sa.frames_out, sa.records_out) == (
                sb.bytes_in,
                sb.frames_in,
                sb.records_in,
            ) and (sb.bytes_out, sb.frames_out) == (sa.bytes_in, sa.frames_in)

        await wait_until(balanced, 5, "counters to agree")
        sa = a.peer_stats()[0]
        assert sa.frames_out >= 100 and sa.bytes_out > sum(range(100))
        assert sa.records_out < sa.frames_out  # frames were coalesced into fewer records
        total = a.stats()
        assert total.frames_out >= sa.frames_out and total.bytes_out >= sa.bytes_out
        assert total.peers == 1 and total.handshakes_ok >= 1
    finally:
        await stop_all([a, b])


async def test_pending_request_fails_fast_when_the_peer_goes_away() -> None:
    a, b = await start_mesh(2)
    try:
        never = asyncio.Event()

        async def stuck(_peer: bytes, _payload: bytes) -> bytes:
            await never.wait()
            return b""

        b.on_request("stuck", stuck)
        pending = asyncio.ensure_future(a.request(b.peer_id, "stuck", b"", timeout=60))
        await wait_until(lambda: b.stats().requests_served == 0 and len(b._tasks) >= 1, 5)
        await b.stop()
        async with asyncio.timeout(5):  # not the 60 s timeout: the connection closed
            with pytest.raises(ConnectionClosed):
                await pending
    finally:
        await stop_all([a, b])


async def test_inbound_requests_per_peer_are_bounded() -> None:
    a, b = await start_mesh(2, max_inflight_requests=2)
    try:
        gate = asyncio.Event()

        async def slow(_peer: bytes, payload: bytes) -> bytes:
            await gate.wait()
            return payload

        b.on_request("slow", slow)
        first = [
            asyncio.ensure_future(a.request(b.peer_id, "slow", bytes([i]), 10)) for i in range(2)
        ]
        await wait_until(lambda: len(b._tasks) >= 2, 5, "two requests in flight")
        with pytest.raises(RequestFailed, match="busy"):
            await a.request(b.peer_id, "slow", b"x", 10)
        gate.set()
        assert await asyncio.gather(*first) == [b"\x00", b"\x01"]
        assert await a.request(b.peer_id, "slow", b"again", 10) == b"again"
    finally:
        await stop_all([a, b])


async def test_initiator_refused_by_responder_never_reports_the_peer() -> None:
    """b does not admit a: a's handshake half succeeds (a verified b), but b never confirms,
    so a must not announce b as connected (no connect/disconnect flapping per retry)."""
    ka, kb = keys(2)
    b = Network(fast_config(kb, allowed={pub(keys(3)[2])}))
    await b.start()
    a = Network(fast_config(ka, peers=[(pub(kb), "127.0.0.1", b.port)]))
    events: list[tuple[bytes, bool]] = []
    a.on_peer(lambda p, up: events.append((p, up)))
    await a.start()
    try:
        await wait_until(lambda: a.stats().handshakes_failed >= 2, 10, "two refused attempts")
        assert b.stats().handshakes_failed >= 2
        assert events == [] and a.connected_peers() == []
        assert a.stats().handshakes_ok == 0
    finally:
        await stop_all([a, b])


async def test_punish_closes_the_connection_and_scores_the_peer_down() -> None:
    """The application's verdict on a peer's answer (a snapshot chunk that does not verify):
    its connection closes and the penalty counts toward a ban, as a protocol violation."""
    a, b = await start_mesh(2)
    try:
        assert a.punish(b.peer_id, "answer does not verify")
        await wait_until(lambda: not a.is_connected(b.peer_id), 5, "the connection closed")
        assert a.stats().violations == 1
        assert not a.punish(b.peer_id, "again")  # not connected: nothing to do
        assert a.banned_for(b.peer_id) == 0  # one violation does not ban
    finally:
        await stop_all([a, b])
