"""`Network`: the node-facing asyncio p2p service.

It listens, dials the configured peers (jittered exponential back-off), runs the handshake on
every connection, keeps one connection per peer, routes frames by channel, floods transaction
gossip, answers and issues requests, sends keepalives and keeps scores, bans and counters.
All callbacks run on the event loop; message and tx callbacks are synchronous and must not
block, request handlers are coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet

from crypto.sm4 import gcm_backend_info
from p2p import handshake
from p2p.backoff import Backoff
from p2p.channels import INTERNAL, MAX_CHANNEL, Channel, Priority, priority_of
from p2p.config import P2PConfig, check_pubkey
from p2p.connection import PeerConnection
from p2p.errors import (
    HandshakeError,
    P2PError,
    PeerNotConnected,
    ProtocolViolation,
    RequestFailed,
    RequestTimeout,
)
from p2p.framing import encode_frame
from p2p.gossip import (
    MAX_COVERED,
    SeenCache,
    decode_tx_batch,
    encode_tx_batch,
    split_batches,
)
from p2p.rpc import (
    STATUS_ERROR,
    STATUS_OK,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)
from p2p.scores import PeerScores
from p2p.session import PlainSession, Session
from p2p.stats import NetworkStats, PeerStats

log = logging.getLogger("p2p")

MessageHandler = Callable[[bytes, bytes], None]
TxsHandler = Callable[[bytes, list[bytes]], None]
RequestHandler = Callable[[bytes, bytes], Awaitable[bytes]]
PeerHandler = Callable[[bytes, bool], None]

VIOLATION_PENALTY = 40
_MAX_KEEPALIVE_PAYLOAD = 16
_TOTALS = ("bytes_in", "bytes_out", "frames_in", "frames_out", "records_in", "records_out")


def short(peer_id: bytes | None) -> str:
    """Log form of a peer id: the first bytes of x."""
    return "?" if peer_id is None else peer_id[1:7].hex()


class Network:
    """See the module docstring; peer ids are 65-byte SM2 public keys."""

    def __init__(self, config: P2PConfig, *, _plaintext_for_benchmark: bool = False) -> None:
        self.config = config
        self._key = config.node_key
        self._id = config.node_key.public_key().to_bytes()
        self._plaintext = _plaintext_for_benchmark
        self._allowed: frozenset[bytes] = frozenset(config.allowed)
        self._dial_targets: dict[bytes, tuple[str, int]] = {
            k: (h, p) for k, h, p in config.peers if k != self._id
        }
        self._conns: dict[bytes, PeerConnection] = {}
        self._all: set[PeerConnection] = set()
        self._connected_events: dict[bytes, asyncio.Event] = {}
        self._handlers: dict[int, MessageHandler] = {}
        self._txs_handler: TxsHandler | None = None
        self._request_handlers: dict[str, RequestHandler] = {}
        self._peer_handlers: list[PeerHandler] = []
        self._seen = SeenCache(config.seen_cache_size)
        # (tx hash, tx bytes, peers not to send this copy to)
        self._tx_out: list[tuple[bytes, bytes, frozenset[bytes]]] = []
        self._tx_flush_scheduled = False
        self._scores = PeerScores(config.ban_threshold, config.ban_seconds)
        self._req_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._dialers: dict[bytes, asyncio.Task[None]] = {}
        self._server: asyncio.Server | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._handshaking = 0
        self._running = False
        self._port = config.port
        self._totals = dict.fromkeys(_TOTALS, 0)
        self._counters = dict.fromkeys(
            (
                "dropped_frames",
                "handshakes_ok",
                "handshakes_failed",
                "violations",
                "txs_received",
                "txs_new",
                "requests_sent",
                "requests_served",
                "request_timeouts",
            ),
            0,
        )
        if self._plaintext:
            log.warning("p2p network running WITHOUT encryption (benchmark baseline only)")

    # ---- lifecycle --------------------------------------------------------------------

    @property
    def peer_id(self) -> bytes:
        return self._id

    @property
    def port(self) -> int:
        """The listening port (the real one once started with port 0)."""
        return self._port

    async def start(self) -> None:
        if self._running:
            raise P2PError("network already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._new_connection(initiator=False, expected=None),
            self.config.host,
            self.config.port,
        )
        sockets = self._server.sockets
        if sockets:
            self._port = int(sockets[0].getsockname()[1])
        self._running = True
        self._keepalive = asyncio.create_task(self._keepalive_loop())
        for peer_id in self._dial_targets:
            self._start_dialer(peer_id)
        log.info("p2p node %s listening on %s:%d", short(self._id), self.config.host, self._port)
        if not self._plaintext:
            log.info("p2p records sealed with SM4-GCM, backend %s", gcm_backend_info())

    async def stop(self) -> None:
        """Stop dialing and listening, close every connection, cancel handlers."""
        if not self._running:
            return
        self._running = False
        tasks: list[asyncio.Task[None]] = [*self._dialers.values(), *self._tasks]
        if self._keepalive is not None:
            tasks.append(self._keepalive)
        for task in tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self._all):
            conn.close("network stopping")
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._dialers.clear()
        self._tasks.clear()

    # ---- registration of callbacks ----------------------------------------------------

    def on_message(self, channel: int, callback: MessageHandler) -> None:
        """`callback(peer_id, payload)` for every frame on `channel` (one callback each)."""
        self._check_app_channel(channel)
        self._handlers[channel] = callback

    def on_txs(self, callback: TxsHandler) -> None:
        """`callback(peer_id, [tx_bytes])` with transactions this node has not seen before."""
        self._txs_handler = callback

    def on_request(self, kind: str, callback: RequestHandler) -> None:
        """`await callback(peer_id, payload) -> bytes` answers requests of `kind`."""
        self._request_handlers[kind] = callback

    def on_peer(self, callback: PeerHandler) -> None:
        """`callback(peer_id, connected)` when a peer's connection opens or closes."""
        self._peer_handlers.append(callback)

    # ---- peers ------------------------------------------------------------------------

    def connected_peers(self) -> list[bytes]:
        return list(self._conns)

    def is_connected(self, peer_id: bytes) -> bool:
        return peer_id in self._conns

    async def wait_for_peers(self, peers: Iterable[bytes], timeout: float) -> None:
        """Wait until every peer in `peers` is connected, or raise `TimeoutError`."""
        wanted = list(peers)
        async with asyncio.timeout(timeout):
            for peer_id in wanted:
                await self._event(peer_id).wait()

    def set_allowed(self, keys: AbstractSet[bytes]) -> None:
        """Replace the allow-list (e.g. a validator-set change); drops peers no longer on it."""
        self._allowed = frozenset(check_pubkey(k, "allowed key") for k in keys)
        for peer_id, conn in list(self._conns.items()):
            if peer_id not in self._allowed:
                log.warning("disconnecting %s: no longer on the allow-list", short(peer_id))
                conn.close("removed from the allow-list")

    def add_peer(self, peer_id: bytes, host: str, port: int) -> None:
        """Admit and dial one more peer."""
        check_pubkey(peer_id, "peer key")
        if peer_id == self._id:
            return
        self._allowed = self._allowed | {peer_id}
        self._dial_targets[peer_id] = (host, port)
        task = self._dialers.get(peer_id)
        if self._running and (task is None or task.done()):
            self._start_dialer(peer_id)

    def punish(self, peer_id: bytes, reason: str) -> bool:
        """The application found the peer's answer faulty (bytes that do not verify): close
        its connection and score it down as for a protocol violation (repeated, it is banned).
        False when it was not connected."""
        conn = self._conns.get(peer_id)
        if conn is None:
            return False
        self.violation(conn, reason)
        return True

    def banned_for(self, peer_id: bytes) -> float:
        """Seconds left on the peer's ban (0 if it is not banned)."""
        return self._scores.banned_for(peer_id, time.monotonic())

    # ---- sending ----------------------------------------------------------------------

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> bool:
        """Queue `payload` for one peer; False if not connected or dropped under pressure."""
        self._check_app_channel(channel)
        conn = self._conns.get(peer_id)
        if conn is None:
            return False
        return self._enqueue(conn, channel, payload)

    def broadcast(self, channel: int, payload: bytes, peers: Iterable[bytes] | None = None) -> int:
        """Send to every connected peer (or those of `peers`); returns how many accepted it."""
        self._check_app_channel(channel)
        if len(payload) > self.config.max_frame_size:
            raise P2PError(f"payload of {len(payload)} bytes exceeds max_frame_size")
        frame = encode_frame(channel, payload)
        prio = priority_of(channel)
        targets = (
            self._conns.values()
            if peers is None
            else [c for p in peers if (c := self._conns.get(p)) is not None]
        )
        sent = 0
        for conn in list(targets):
            if conn.enqueue(frame, prio):
                sent += 1
        return sent

    async def drain(self, peer_id: bytes, low_water: int = 1 << 20) -> None:
        """Wait until the peer's send queue is below `low_water` (flow control for bulk)."""
        conn = self._conns.get(peer_id)
        if conn is None:
            raise PeerNotConnected(short(peer_id))
        await conn.wait_room(low_water)

    def gossip_txs(self, txs: Iterable[tuple[bytes, bytes]]) -> int:
        """Flood local transactions `(tx_hash, tx_bytes)`; returns how many were new.

        `tx_hash` must equal `config.tx_hash(tx_bytes)` (SM3 of the bytes by default): peers
        recognise the echo of our own transactions by that hash.
        """
        new = 0
        for tx_hash, tx in txs:
            if self._seen.add(tx_hash):
                self._tx_out.append((tx_hash, tx, frozenset()))
                new += 1
        if new:
            self._schedule_tx_flush()
        return new

    def offer_txs(self, peer_id: bytes, txs: Iterable[tuple[bytes, bytes]]) -> int:
        """Queue local transactions `(tx_hash, tx_bytes)` for one connected peer, those it is
        not known to hold; returns how many. For a peer that just connected: what waits here
        was flooded before it was there (or to no one), and would otherwise reach it only in a
        block, which a primary that never got it never proposes."""
        if peer_id not in self._conns:
            return 0
        others = frozenset(self._conns) - {peer_id}
        seen = self._seen
        n = 0
        for tx_hash, tx in txs:
            seen.add(tx_hash)
            if peer_id not in seen.holders(tx_hash):
                self._tx_out.append((tx_hash, tx, others))
                n += 1
        if n:
            self._schedule_tx_flush()
        return n

    async def request(
        self, peer_id: bytes, kind: str, payload: bytes, timeout: float | None = None
    ) -> bytes:
        """Ask one peer; raises `RequestTimeout`, `RequestFailed`, `PeerNotConnected` or
        `ConnectionClosed`."""
        conn = self._conns.get(peer_id)
        if conn is None:
            raise PeerNotConnected(short(peer_id))
        req_id = next(self._req_ids)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        conn.pending[req_id] = fut
        self._counters["requests_sent"] += 1
        try:
            if not self._enqueue(conn, Channel.REQUEST, encode_request(req_id, kind, payload)):
                raise P2PError("request dropped: send queue full")
            try:
                return await asyncio.wait_for(
                    fut, self.config.request_timeout if timeout is None else timeout
                )
            except TimeoutError:
                self._counters["request_timeouts"] += 1
                raise RequestTimeout(f"{kind} request to {short(peer_id)} timed out") from None
        finally:
            conn.pending.pop(req_id, None)

    def _enqueue(self, conn: PeerConnection, channel: int, payload: bytes) -> bool:
        if len(payload) > self.config.max_frame_size:
            raise P2PError(f"payload of {len(payload)} bytes exceeds max_frame_size")
        return conn.enqueue(encode_frame(channel, payload), priority_of(channel))

    @staticmethod
    def _check_app_channel(channel: int) -> None:
        if not 0 <= channel <= MAX_CHANNEL or channel in INTERNAL:
            raise P2PError(f"channel {channel} is not available to applications")

    # ---- stats ------------------------------------------------------------------------

    def stats(self) -> NetworkStats:
        live = {name: sum(getattr(c, name) for c in self._all) for name in _TOTALS}
        tot = {name: self._totals[name] + live[name] for name in _TOTALS}
        dropped = self._counters["dropped_frames"] + sum(c.dropped for c in self._all)
        c = self._counters
        return NetworkStats(
            peers=len(self._conns),
            bytes_in=tot["bytes_in"],
            bytes_out=tot["bytes_out"],
            frames_in=tot["frames_in"],
            frames_out=tot["frames_out"],
            records_in=tot["records_in"],
            records_out=tot["records_out"],
            dropped_frames=dropped,
            handshakes_ok=c["handshakes_ok"],
            handshakes_failed=c["handshakes_failed"],
            violations=c["violations"],
            txs_received=c["txs_received"],
            txs_new=c["txs_new"],
            requests_sent=c["requests_sent"],
            requests_served=c["requests_served"],
            request_timeouts=c["request_timeouts"],
        )

    def peer_stats(self) -> list[PeerStats]:
        now = time.monotonic()
        return [
            PeerStats(
                peer_id=pid,
                address=c.address,
                local_address=c.local_address,
                initiator=c.initiator,
                connected_seconds=now - c.opened_at,
                bytes_in=c.bytes_in,
                bytes_out=c.bytes_out,
                frames_in=c.frames_in,
                frames_out=c.frames_out,
                records_in=c.records_in,
                records_out=c.records_out,
                queued_bytes=c.queued_bytes,
                dropped_frames=c.dropped,
                score=self._scores.score(pid, now),
            )
            for pid, c in self._conns.items()
        ]

    # ---- connections: setup -----------------------------------------------------------

    def _new_connection(self, *, initiator: bool, expected: bytes | None) -> PeerConnection:
        cfg = self.config
        return PeerConnection(
            self,
            initiator=initiator,
            max_frame=cfg.max_frame_size,
            queue_bytes=cfg.send_queue_bytes,
            gossip_bytes=cfg.gossip_queue_bytes,
            gossip_delay=cfg.gossip_flush_delay,
            expected_peer=expected,
        )

    def _event(self, peer_id: bytes) -> asyncio.Event:
        ev = self._connected_events.get(peer_id)
        if ev is None:
            ev = self._connected_events[peer_id] = asyncio.Event()
        return ev

    def _admit(self, peer_id: bytes) -> str | None:
        if peer_id not in self._allowed:
            return f"node {short(peer_id)} is not on the allow-list"
        ban = self._scores.banned_for(peer_id, time.monotonic())
        if ban > 0:
            return f"node {short(peer_id)} is banned for {ban:.0f}s more"
        return None

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def connection_opened(self, conn: PeerConnection) -> None:
        self._all.add(conn)
        if conn.initiator:
            return  # the dialer drives the handshake
        if not self._running or self._handshaking >= self.config.max_pending_handshakes:
            log.warning("refusing inbound %s: too many pending handshakes", conn.address)
            conn.abort("too many pending handshakes")
            return
        self._handshaking += 1
        self._spawn(self._accept(conn))

    async def _accept(self, conn: PeerConnection) -> None:
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.handshake_timeout):
                result = await handshake.respond(conn, cfg.chain_id, self._key, self._admit)
        except HandshakeError as exc:
            self._refused(conn, "inbound", str(exc))
            return
        except TimeoutError:
            self._refused(conn, "inbound", "handshake timed out")
            return
        except Exception as exc:  # a bug of ours: drop this connection, keep serving
            log.exception("inbound handshake from %s failed unexpectedly", conn.address)
            self._refused(conn, "inbound", f"internal error {exc!r}")
            return
        finally:
            self._handshaking -= 1
        self._establish(conn, result)

    def _start_dialer(self, peer_id: bytes) -> None:
        self._dialers[peer_id] = asyncio.create_task(self._dial_loop(peer_id))

    async def _dial_loop(self, peer_id: bytes) -> None:
        cfg = self.config
        backoff = Backoff(cfg.reconnect_min, cfg.reconnect_max)
        while self._running:
            conn = self._conns.get(peer_id)
            if conn is not None:
                await asyncio.shield(conn.done)
                # Both ends redial at once after a drop: a little jitter spreads them out.
                await asyncio.sleep(random.uniform(0, cfg.reconnect_min))
                continue
            ban = self._scores.banned_for(peer_id, time.monotonic())
            if ban > 0:
                await asyncio.sleep(ban)
                continue
            if peer_id not in self._allowed:
                return
            if await self._dial_once(peer_id):
                backoff.reset()
                continue
            with contextlib.suppress(TimeoutError):  # an inbound connection ends the wait
                await asyncio.wait_for(self._event(peer_id).wait(), backoff.next_delay())

    async def _dial_once(self, peer_id: bytes) -> bool:
        cfg = self.config
        host, port = self._dial_targets[peer_id]
        loop = asyncio.get_running_loop()
        conn: PeerConnection | None = None
        try:
            async with asyncio.timeout(cfg.handshake_timeout):
                _, conn = await loop.create_connection(
                    lambda: self._new_connection(initiator=True, expected=peer_id), host, port
                )
                result = await handshake.initiate(
                    conn, cfg.chain_id, self._key, peer_id, self._admit
                )
                # The responder verifies our finish after we sent it: count the peer as
                # connected only once its first sealed record proves it accepted us.
                conn.establish(peer_id, self._session_for(result))
                await asyncio.shield(conn.confirmed)
        except HandshakeError as exc:
            assert conn is not None
            self._refused(conn, f"outbound to {short(peer_id)}", str(exc))
            return False
        except (OSError, TimeoutError) as exc:
            if conn is not None and isinstance(exc, TimeoutError):
                self._refused(conn, f"outbound to {short(peer_id)}", "handshake timed out")
                return False
            log.debug("dial %s at %s:%d failed: %r", short(peer_id), host, port, exc)
            if conn is not None:
                conn.abort(f"dial failed: {exc!r}")
            return False
        except Exception as exc:  # a bug of ours: drop this attempt, the dialer retries
            log.exception("outbound handshake to %s failed unexpectedly", short(peer_id))
            if conn is not None:
                self._refused(conn, f"outbound to {short(peer_id)}", f"internal error {exc!r}")
            return False
        if conn.closed:  # refused by the responder, or it kept another connection of ours
            self._counters["handshakes_failed"] += 1
            log.info(
                "peer %s closed the connection before confirming it (%s)",
                short(peer_id),
                conn.close_reason,
            )
            return False
        return self._register(conn, result)

    def _refused(self, conn: PeerConnection, direction: str, reason: str) -> None:
        self._counters["handshakes_failed"] += 1
        log.warning("handshake refused (%s, %s): %s", direction, conn.address, reason)
        conn.abort(f"handshake refused: {reason}")

    def _session_for(self, result: handshake.HandshakeResult) -> Session:
        return PlainSession() if self._plaintext else result.session()

    def _establish(self, conn: PeerConnection, result: handshake.HandshakeResult) -> bool:
        """Responder side: register the connection, then confirm it to the initiator with a
        first sealed record (a keepalive)."""
        if not self._register(conn, result):
            return False
        conn.enqueue(encode_frame(Channel.KEEPALIVE, b""), Priority.HIGH)
        return True

    def _register(self, conn: PeerConnection, result: handshake.HandshakeResult) -> bool:
        """Make a connection whose handshake succeeded the peer's; resolve duplicates."""
        peer_id = result.peer_id
        if conn.closed or not self._running:
            return False
        existing = self._conns.get(peer_id)
        if existing is not None and existing is not conn:
            if not self._prefer_new(existing, conn, peer_id):
                conn.close("duplicate connection")
                return False
            del self._conns[peer_id]  # a replacement, not a disconnect: no peer event
            existing.close("replaced by a duplicate connection")
        self._counters["handshakes_ok"] += 1
        self._conns[peer_id] = conn
        if not conn.established:
            conn.establish(peer_id, self._session_for(result))
            if conn.closed:
                return False
        if existing is None:
            self._event(peer_id).set()
            log.info(
                "peer %s connected (%s, %s)",
                short(peer_id),
                conn.address,
                "outbound" if conn.initiator else "inbound",
            )
            self._notify_peer(peer_id, True)
        return True

    def _prefer_new(self, old: PeerConnection, new: PeerConnection, peer_id: bytes) -> bool:
        """Both ends keep the connection dialed by the lower key; same dialer: the newer."""
        old_dialer = self._id if old.initiator else peer_id
        new_dialer = self._id if new.initiator else peer_id
        if old_dialer == new_dialer:
            return True
        return new_dialer == min(self._id, peer_id)

    def _notify_peer(self, peer_id: bytes, connected: bool) -> None:
        for cb in self._peer_handlers:
            try:
                cb(peer_id, connected)
            except Exception:
                log.exception("peer callback failed")

    # ---- connections: events ----------------------------------------------------------

    def violation(self, conn: PeerConnection, reason: str) -> None:
        self._counters["violations"] += 1
        peer_id = conn.peer_id
        log.warning(
            "closing connection to %s (%s): protocol violation: %s",
            short(peer_id),
            conn.address,
            reason,
        )
        if peer_id is not None and self._scores.penalize(
            peer_id, VIOLATION_PENALTY, time.monotonic()
        ):
            log.warning("banning %s for %.0fs", short(peer_id), self.config.ban_seconds)
        conn.abort(f"protocol violation: {reason}")

    def connection_closed(self, conn: PeerConnection) -> None:
        self._all.discard(conn)
        for name in _TOTALS:
            self._totals[name] += getattr(conn, name)
        self._counters["dropped_frames"] += conn.dropped
        peer_id = conn.peer_id
        if peer_id is not None and self._conns.get(peer_id) is conn:
            del self._conns[peer_id]
            self._event(peer_id).clear()
            log.info("peer %s disconnected: %s", short(peer_id), conn.close_reason)
            self._notify_peer(peer_id, False)

    def frame_received(self, conn: PeerConnection, channel: int, payload: bytes) -> None:
        peer_id = conn.peer_id
        assert peer_id is not None
        if channel == Channel.TXS:
            self._on_txs_frame(peer_id, payload)
        elif channel == Channel.REQUEST:
            self._on_request_frame(conn, payload)
        elif channel == Channel.RESPONSE:
            self._on_response_frame(conn, payload)
        elif channel == Channel.KEEPALIVE:
            if len(payload) > _MAX_KEEPALIVE_PAYLOAD:
                raise ProtocolViolation("oversized keepalive")
        else:
            handler = self._handlers.get(channel)
            if handler is None:
                return
            try:
                handler(peer_id, payload)
            except Exception:
                log.exception("handler for channel %d failed", channel)

    # ---- gossip -----------------------------------------------------------------------

    def _on_txs_frame(self, peer_id: bytes, payload: bytes) -> None:
        covered, txs = decode_tx_batch(payload, self.config.max_txs_per_frame)
        self._counters["txs_received"] += len(txs)
        tx_hash = self.config.tx_hash
        seen = self._seen
        # this copy's sender holds it and sent it to `covered`: relay it to nobody of those
        exclude = frozenset(covered).union((peer_id,))
        sender = frozenset((peer_id,))
        live = self._conns.keys()
        fresh: list[bytes] = []
        out = self._tx_out
        for tx in txs:
            h = tx_hash(tx)
            if seen.add(h, sender):
                fresh.append(tx)
                out.append((h, tx, exclude))
            else:
                seen.add_holders(h, sender)
                if live - exclude - seen.holders(h):
                    out.append((h, tx, exclude))  # some peer this copy's sender did not cover
        if out:
            self._schedule_tx_flush()
        if not fresh:
            return
        self._counters["txs_new"] += len(fresh)
        if self._txs_handler is not None:
            try:
                self._txs_handler(peer_id, fresh)
            except Exception:
                log.exception("txs handler failed")

    def _schedule_tx_flush(self) -> None:
        if not self._tx_flush_scheduled:
            self._tx_flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_txs)

    def _flush_txs(self) -> None:
        """Send each queued tx to the connected peers that neither hold it nor were covered by
        the copy it came in; txs with the same targets share frames naming those targets."""
        self._tx_flush_scheduled = False
        out, self._tx_out = self._tx_out, []
        conns = self._conns
        if not out or not conns:
            return
        cfg = self.config
        seen = self._seen
        live = frozenset(conns)
        groups: dict[frozenset[bytes], list[bytes]] = {}
        for h, tx, exclude in out:
            targets = live - exclude - seen.holders(h)
            if targets:
                seen.add_holders(h, targets)
                groups.setdefault(targets, []).append(tx)
        for targets, txs in groups.items():
            order = sorted(targets)
            covered = order[:MAX_COVERED]
            room = max(cfg.max_tx_batch_bytes - 70 * len(covered), 1)
            for batch in split_batches(txs, cfg.max_txs_per_frame, room):
                frame = encode_frame(Channel.TXS, encode_tx_batch(batch, covered))
                for peer_id in order:
                    conns[peer_id].enqueue(frame, Priority.LOW)

    # ---- request / response -----------------------------------------------------------

    def _on_request_frame(self, conn: PeerConnection, payload: bytes) -> None:
        req_id, kind, body = decode_request(payload)
        handler = self._request_handlers.get(kind)
        if handler is None:
            self._respond(conn, req_id, STATUS_ERROR, b"unknown request kind")
        elif conn.inflight >= self.config.max_inflight_requests:
            self._respond(conn, req_id, STATUS_ERROR, b"busy")
        else:
            conn.inflight += 1
            self._spawn(self._serve(conn, handler, req_id, body))

    async def _serve(
        self, conn: PeerConnection, handler: RequestHandler, req_id: int, body: bytes
    ) -> None:
        peer_id = conn.peer_id
        assert peer_id is not None
        try:
            result = await handler(peer_id, body)
            if not isinstance(result, bytes):
                raise P2PError("request handler must return bytes")
            if len(result) > self.config.max_frame_size - 64:
                raise P2PError("response too large")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # the app's handler: its failure is the requester's error reply
            log.warning("request handler failed for %s: %r", short(peer_id), exc)
            self._respond(conn, req_id, STATUS_ERROR, f"handler failed: {exc}"[:200].encode())
        else:
            self._counters["requests_served"] += 1
            self._respond(conn, req_id, STATUS_OK, result)
        finally:
            conn.inflight -= 1

    def _respond(self, conn: PeerConnection, req_id: int, status: int, body: bytes) -> None:
        conn.enqueue(
            encode_frame(Channel.RESPONSE, encode_response(req_id, status, body)),
            Priority.NORMAL,
        )

    def _on_response_frame(self, conn: PeerConnection, payload: bytes) -> None:
        req_id, status, body = decode_response(payload)
        fut = conn.pending.pop(req_id, None)
        if fut is None or fut.done():
            return  # late answer to a request that timed out
        if status == STATUS_OK:
            fut.set_result(body)
        else:
            fut.set_exception(RequestFailed(body.decode("utf-8", "replace")))

    # ---- keepalive --------------------------------------------------------------------

    async def _keepalive_loop(self) -> None:
        cfg = self.config
        ping = encode_frame(Channel.KEEPALIVE, b"")
        while True:
            await asyncio.sleep(cfg.keepalive_interval / 2)
            now = time.monotonic()
            for conn in list(self._conns.values()):
                if now - conn.last_recv > cfg.keepalive_timeout:
                    log.warning("peer %s: keepalive timeout", short(conn.peer_id))
                    conn.abort("keepalive timeout")
                elif conn.write_stalled_for(now) > cfg.keepalive_timeout:
                    log.warning("peer %s: not reading (send stalled)", short(conn.peer_id))
                    conn.abort("send stalled")
                elif now - conn.last_send >= cfg.keepalive_interval / 2:
                    conn.enqueue(ping, Priority.HIGH)
