"""One TCP connection to a peer: an asyncio Protocol around the sans-IO framing and session.

Reading: bytes are fed to a `RecordReader`; during the handshake whole records go to the
waiting handshake coroutine; once established each record is opened and its frames are handed
to the owner synchronously (no per-frame task, no unbounded read buffer).

Writing: frames wait in three bounded priority queues (a slow peer fills only its own queues;
gossip is dropped first, consensus last). A flush scheduled with `call_soon` packs queued
frames into records of up to `COALESCE_BYTES`, seals each and writes it (frames queued in
one loop turn share one record and one write). Gossip alone waits up to
`gossip_delay` before flushing so bursts share records; any other frame flushes at the next
loop turn and carries queued gossip along. While the transport is paused (kernel buffer full)
nothing is written and the queues absorb or drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from typing import Protocol, cast

from p2p.channels import Priority
from p2p.errors import ConnectionClosed, FrameTooLarge, HandshakeError, ProtocolViolation
from p2p.framing import FRAME_HEADER, RecordReader, iter_frames
from p2p.session import PlainSession, SecureSession, Session

log = logging.getLogger("p2p")

COALESCE_BYTES = 64 * 1024
_HANDSHAKE_BUFFER = 64 * 1024
_WRITE_HIGH_WATER = 256 * 1024


class ConnectionOwner(Protocol):
    """The network side of a connection (implemented by `Network`)."""

    def connection_opened(self, conn: PeerConnection) -> None: ...

    def frame_received(self, conn: PeerConnection, channel: int, payload: bytes) -> None: ...

    def violation(self, conn: PeerConnection, reason: str) -> None: ...

    def connection_closed(self, conn: PeerConnection) -> None: ...


class PeerConnection(asyncio.Protocol):
    def __init__(
        self,
        owner: ConnectionOwner,
        *,
        initiator: bool,
        max_frame: int,
        queue_bytes: int,
        gossip_bytes: int,
        gossip_delay: float = 0.0,
        expected_peer: bytes | None = None,
    ) -> None:
        self.owner = owner
        self.initiator = initiator
        self.expected_peer = expected_peer
        self.peer_id: bytes | None = None
        self.address = "?"
        self.local_address = "?"
        self.max_frame = max_frame
        self._max_record = max_frame + FRAME_HEADER.size + 16
        self._queue_limit = queue_bytes
        self._gossip_limit = gossip_bytes
        self._transport: asyncio.Transport | None = None
        self._reader = RecordReader()
        self._session: Session | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._queues: tuple[deque[bytes], deque[bytes], deque[bytes]] = (
            deque(),
            deque(),
            deque(),
        )
        self.queued_bytes = 0
        self._flush_scheduled = False
        self._gossip_delay = gossip_delay
        self._gossip_timer: asyncio.TimerHandle | None = None
        self._paused_since: float | None = None
        self._reading_paused = False
        self.closed = False
        self.close_reason = ""
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()
        # resolved by the first authenticated record (key confirmation) or by closing
        self.confirmed: asyncio.Future[None] = loop.create_future()
        now = time.monotonic()
        self.last_recv = now
        self.last_send = now
        self.opened_at = now
        self.bytes_in = 0
        self.bytes_out = 0
        self.frames_in = 0
        self.frames_out = 0
        self.records_in = 0
        self.records_out = 0
        self.dropped = 0
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.inflight = 0
        self._room_waiters: list[tuple[int, asyncio.Future[None]]] = []

    # ---- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but implement it
        self._transport = cast(asyncio.Transport, transport)
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = self._transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.address = f"{peer[0]}:{peer[1]}"
        local = self._transport.get_extra_info("sockname")
        if isinstance(local, tuple) and len(local) >= 2:
            self.local_address = f"{local[0]}:{local[1]}"
        self._transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        self.owner.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.bytes_in += len(data)
        self.last_recv = time.monotonic()
        self._reader.feed(data)
        if self._session is None:
            self._handshake_data()
        else:
            self._process_records()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.close_reason:
            self.close_reason = f"connection lost: {exc}" if exc else "closed by peer"
        self._mark_closed()

    def pause_writing(self) -> None:
        self._paused_since = time.monotonic()

    def resume_writing(self) -> None:
        self._paused_since = None
        self._schedule_flush()

    # ---- handshake phase --------------------------------------------------------------

    def _handshake_data(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._reader.buffered() > _HANDSHAKE_BUFFER and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True

    async def recv_record(self, max_size: int) -> bytes:
        """Next whole record during the handshake (RecordIO)."""
        while True:
            if self.closed:
                raise HandshakeError(f"connection closed during handshake ({self.close_reason})")
            try:
                rec = self._reader.next_record(max_size)
            except FrameTooLarge as exc:
                raise HandshakeError(f"oversized handshake record: {exc}") from None
            if rec is not None:
                return rec[1]
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def send_record(self, body: bytes) -> None:
        """Write one unprotected handshake record (RecordIO)."""
        if self._transport is None or self.closed:
            raise HandshakeError("connection closed during handshake")
        data = len(body).to_bytes(4, "big") + body
        self.bytes_out += len(data)
        self._transport.write(data)

    def establish(self, peer_id: bytes, session: SecureSession | PlainSession) -> None:
        """Switch to protected records; records that arrived early are processed now."""
        self.peer_id = peer_id
        self._session = session
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        if self._reader.buffered():
            self._process_records()
        self._schedule_flush()

    @property
    def established(self) -> bool:
        return self._session is not None and not self.closed

    # ---- reading ----------------------------------------------------------------------

    def _process_records(self) -> None:
        session = self._session
        assert session is not None
        reader = self._reader
        max_record = self._max_record
        max_frame = self.max_frame
        owner = self.owner
        try:
            while not self.closed:
                rec = reader.next_record_view(max_record)
                if rec is None:
                    return
                with rec[1] as body:  # released before the buffer is touched again
                    plaintext = session.open_record(rec[0], body)
                self.records_in += 1
                if not self.confirmed.done():
                    self.confirmed.set_result(None)
                for channel, payload in iter_frames(plaintext, max_frame):
                    self.frames_in += 1
                    owner.frame_received(self, channel, payload)
                    if self.closed:
                        return
        except ProtocolViolation as exc:
            owner.violation(self, str(exc))

    # ---- writing ----------------------------------------------------------------------

    def enqueue(self, frame: bytes, priority: Priority) -> bool:
        """Queue one encoded frame; False if it was dropped (closed, or queue pressure)."""
        if self.closed:
            return False
        size = len(frame)
        if priority == Priority.LOW and self.queued_bytes + size > self._gossip_limit:
            self.dropped += 1
            return False
        if self.queued_bytes and self.queued_bytes + size > self._queue_limit:
            # Make room by evicting lower-priority frames, gossip first.
            for victim in (Priority.LOW, Priority.NORMAL):
                if victim <= priority:
                    break
                q = self._queues[victim]
                while q and self.queued_bytes + size > self._queue_limit:
                    self.queued_bytes -= len(q.popleft())
                    self.dropped += 1
            if self.queued_bytes and self.queued_bytes + size > self._queue_limit:
                self.dropped += 1
                return False
        self._queues[priority].append(frame)
        self.queued_bytes += size
        if priority == Priority.LOW and self._gossip_delay > 0:
            self._schedule_gossip_flush()
        else:
            self._schedule_flush()
        return True

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self._session is not None and not self.closed:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _schedule_gossip_flush(self) -> None:
        if self._gossip_timer is not None or self._flush_scheduled:
            return
        if self._session is not None and not self.closed:
            loop = asyncio.get_running_loop()
            self._gossip_timer = loop.call_later(self._gossip_delay, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._gossip_timer is not None:
            self._gossip_timer.cancel()
            self._gossip_timer = None
        transport = self._transport
        session = self._session
        if transport is None or session is None or self.closed:
            return
        queues = self._queues
        while self.queued_bytes and self._paused_since is None:
            parts: list[bytes] = []
            size = 0
            for q in queues:
                while q and (not parts or size + len(q[0]) <= COALESCE_BYTES):
                    frame = q.popleft()
                    parts.append(frame)
                    size += len(frame)
                if size >= COALESCE_BYTES:
                    break
            self.queued_bytes -= size
            record = session.seal_parts(parts, size)
            self.frames_out += len(parts)
            self.records_out += 1
            self.bytes_out += len(record)
            self.last_send = time.monotonic()
            # Several records per flush only happen past 64 KiB queued: joining them would copy
            # big buffers to save a syscall each, so each goes straight to the transport.
            transport.write(record)
        if self._room_waiters:
            self._wake_room_waiters()

    def _wake_room_waiters(self) -> None:
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for low_water, fut in self._room_waiters:
            if self.closed or self.has_room(low_water):
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((low_water, fut))
        self._room_waiters = keep

    async def wait_room(self, low_water: int) -> None:
        """Wait until at most `low_water` bytes are queued and the socket accepts writes."""
        while not self.closed and not self.has_room(low_water):
            fut = asyncio.get_running_loop().create_future()
            self._room_waiters.append((low_water, fut))
            await fut
        if self.closed:
            raise ConnectionClosed(self.close_reason)

    def write_stalled_for(self, now: float) -> float:
        return 0.0 if self._paused_since is None else now - self._paused_since

    def has_room(self, low_water: int) -> bool:
        return self.queued_bytes <= low_water and self._paused_since is None

    # ---- closing ----------------------------------------------------------------------

    def close(self, reason: str) -> None:
        """Flush what is queued (best effort), then close."""
        if self.closed:
            return
        self.close_reason = reason
        self._flush()
        if self._transport is not None:
            self._transport.close()
        self._mark_closed()

    def abort(self, reason: str) -> None:
        """Drop the connection at once (protocol violation, refused handshake)."""
        if self.closed:
            return
        self.close_reason = reason
        if self._transport is not None:
            self._transport.abort()
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._gossip_timer is not None:
            self._gossip_timer.cancel()
            self._gossip_timer = None
        for q in self._queues:
            q.clear()
        self.queued_bytes = 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosed(self.close_reason))
        self.pending.clear()
        self._wake_room_waiters()
        if not self.confirmed.done():
            self.confirmed.set_result(None)
        if not self.done.done():
            self.done.set_result(None)
        self.owner.connection_closed(self)
        log.debug("connection %s closed: %s", self.address, self.close_reason)
