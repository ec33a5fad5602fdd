"""Record protection after the handshake: SM4-GCM, one key per direction, counter nonces.

Each direction has its own 16-byte key and a 96-bit counter starting at 0 that is the GCM
nonce. The counter is implicit (never sent): the receiver decrypts record n with nonce n, so a
tampered, replayed, dropped or reordered record fails authentication and the connection is
closed. The record's length prefix is authenticated as associated data.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.errors import CryptoError
from crypto.sm4 import SM4GCM
from p2p.errors import ProtocolViolation
from p2p.framing import RECORD_HEADER

TAG_SIZE = 16
KEY_SIZE = 16
_MAX_COUNTER = (1 << 96) - 1


class SecureSession:
    """Seals outgoing record bodies and opens incoming ones, strictly in order."""

    __slots__ = ("_send", "_recv", "_send_ctr", "_recv_ctr")

    overhead = TAG_SIZE

    def __init__(self, send_key: bytes, recv_key: bytes) -> None:
        if len(send_key) != KEY_SIZE or len(recv_key) != KEY_SIZE:
            raise ValueError("session keys are 16 bytes")
        if send_key == recv_key:
            raise ValueError("the two directions must use different keys")
        self._send = SM4GCM(send_key)
        self._recv = SM4GCM(recv_key)
        self._send_ctr = 0
        self._recv_ctr = 0

    def seal_record(self, plaintext: bytes) -> bytes:
        """Header and sealed body of the next outgoing record."""
        return self.seal_parts((plaintext,), len(plaintext))

    def seal_parts(self, parts: Sequence[bytes], size: int) -> bytes:
        """Header and sealed body of the next record, whose plaintext is the `size` bytes of
        `parts` joined: gathered and encrypted into one buffer, no intermediate copies."""
        ctr = self._send_ctr
        if ctr >= _MAX_COUNTER:
            raise ProtocolViolation("send counter exhausted")
        self._send_ctr = ctr + 1
        header = RECORD_HEADER.pack(size + TAG_SIZE)
        return self._send.encrypt_with_header(ctr.to_bytes(12, "big"), parts, header)

    def open_record(self, header: bytes, body: bytes | memoryview) -> bytes:
        """Plaintext of the next incoming record, or `ProtocolViolation` if it is not that.
        `body` may be a view of the receive buffer: it is only read, not kept."""
        ctr = self._recv_ctr
        if ctr >= _MAX_COUNTER:
            raise ProtocolViolation("receive counter exhausted")
        try:
            plaintext = self._recv.decrypt(ctr.to_bytes(12, "big"), body, header)
        except CryptoError:
            raise ProtocolViolation(
                f"record {ctr} failed authentication (tampered, replayed or reordered)"
            ) from None
        self._recv_ctr = ctr + 1
        return plaintext


class PlainSession:
    """No protection. Only the benchmark's baseline uses it, to price the cipher."""

    __slots__ = ()

    overhead = 0

    def seal_record(self, plaintext: bytes) -> bytes:
        return RECORD_HEADER.pack(len(plaintext)) + plaintext

    def seal_parts(self, parts: Sequence[bytes], size: int) -> bytes:
        return b"".join((RECORD_HEADER.pack(size), *parts))

    def open_record(self, header: bytes, body: bytes | memoryview) -> bytes:
        return bytes(body)


Session = SecureSession | PlainSession
