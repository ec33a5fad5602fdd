"""Wire framing, sans-IO.

A TCP stream carries records: ``u32 length || body``. During the handshake a body is one
handshake message; afterwards it is one SM4-GCM sealed record whose plaintext packs one or
more frames ``u8 channel || u32 length || payload``. Coalescing frames into records amortises
the per-seal cost. Every length is checked against its bound as soon as its header is read,
before any buffer for the body is grown.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from p2p.errors import FrameTooLarge, ProtocolViolation

RECORD_HEADER = struct.Struct(">I")
FRAME_HEADER = struct.Struct(">BI")
RECORD_HEADER_SIZE = RECORD_HEADER.size
FRAME_HEADER_SIZE = FRAME_HEADER.size


def encode_frame(channel: int, payload: bytes) -> bytes:
    return FRAME_HEADER.pack(channel, len(payload)) + payload


def iter_frames(plaintext: bytes, max_frame: int) -> Iterator[tuple[int, bytes]]:
    """Split a record's plaintext into (channel, payload); a malformed record raises."""
    pos = 0
    end = len(plaintext)
    if end == 0:
        raise ProtocolViolation("empty record")
    unpack = FRAME_HEADER.unpack_from
    while pos < end:
        if end - pos < FRAME_HEADER_SIZE:
            raise ProtocolViolation("truncated frame header")
        channel, length = unpack(plaintext, pos)
        if length > max_frame:
            raise FrameTooLarge(f"frame of {length} bytes exceeds {max_frame}")
        pos += FRAME_HEADER_SIZE
        if end - pos < length:
            raise ProtocolViolation("frame overruns its record")
        yield channel, plaintext[pos : pos + length]
        pos += length


class RecordReader:
    """Accumulates stream bytes and cuts complete records off the front.

    `next_record(max_size)` returns ``(header, body)`` or None when more bytes are needed; a
    length above `max_size` raises `FrameTooLarge` at once, so a peer cannot make us buffer a
    body larger than the bound (we never wait for it).
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next_record(self, max_size: int) -> tuple[bytes, bytes] | None:
        rec = self.next_record_view(max_size)
        if rec is None:
            return None
        header, view = rec
        with view:
            return header, bytes(view)

    def next_record_view(self, max_size: int) -> tuple[bytes, memoryview] | None:
        """As `next_record`, but the body is a view of the buffer (no copy). The caller must
        `release()` it before feeding more data or asking for the next record (the buffer
        cannot be resized while the view exists)."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < RECORD_HEADER_SIZE:
            self._compact()
            return None
        (length,) = RECORD_HEADER.unpack_from(buf, pos)
        if length > max_size:
            raise FrameTooLarge(f"record length {length} exceeds {max_size}")
        if avail < RECORD_HEADER_SIZE + length:
            self._compact()
            return None
        start = pos + RECORD_HEADER_SIZE
        self._pos = start + length
        with memoryview(buf) as whole:
            return bytes(buf[pos:start]), whole[start : start + length]

    def _compact(self) -> None:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
