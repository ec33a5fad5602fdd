"""The authenticated key exchange (a SIGMA-style three-message handshake).

    initiator -> responder   Hello  [protocol, chain_id, I_static, I_eph]
    responder -> initiator   Reply  [R_static, R_eph, sign_R("responder" || th)]
    initiator -> responder   Finish [sign_I("initiator" || th)]

th = SM3(msgpack[protocol, chain_id, I_static, I_eph, R_static, R_eph]) is the transcript.
Each side proves possession of its static SM2 key by signing the transcript that contains
both ephemerals, so a relay that substitutes an ephemeral (a man in the middle) breaks a
signature, and a relay that substitutes a static key is not on the allow-list. Session keys
come from ECDH on the SM2 curve, ephemeral-ephemeral for forward secrecy mixed with
static-static, through the SM3 KDF bound to th: one key per direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import msgpack

from crypto import sm3
from crypto.errors import CryptoError
from crypto.sm2 import PrivateKey, PublicKey
from p2p.config import PUBKEY_SIZE
from p2p.errors import HandshakeError
from p2p.session import KEY_SIZE, SecureSession

PROTOCOL = b"chainnode-p2p/2"  # 2: TXS frames name the peers they were sent to
MAX_HANDSHAKE_RECORD = 1024
SIGNATURE_SIZE = 64
_LABEL_RESPONDER = b"chainnode-p2p responder\x00"
_LABEL_INITIATOR = b"chainnode-p2p initiator\x00"
_LABEL_KEYS = b"chainnode-p2p keys\x00"


class RecordIO(Protocol):
    """What the handshake needs from a connection: whole records in, whole records out."""

    async def recv_record(self, max_size: int) -> bytes: ...

    def send_record(self, body: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    peer_id: bytes
    send_key: bytes
    recv_key: bytes

    def session(self) -> SecureSession:
        return SecureSession(self.send_key, self.recv_key)


def transcript_hash(
    chain_id: bytes, i_static: bytes, i_eph: bytes, r_static: bytes, r_eph: bytes
) -> bytes:
    data = msgpack.packb([PROTOCOL, chain_id, i_static, i_eph, r_static, r_eph])
    return sm3.digest(data)


def derive_keys(ee: bytes, ss: bytes, th: bytes) -> tuple[bytes, bytes]:
    """(initiator->responder key, responder->initiator key)."""
    okm = sm3.kdf(_LABEL_KEYS + ee + ss + th, 2 * KEY_SIZE)
    return okm[:KEY_SIZE], okm[KEY_SIZE:]


def _decode(body: bytes, n: int, what: str) -> list[bytes]:
    try:
        msg = msgpack.unpackb(body, use_list=True, raw=True)
    except (ValueError, TypeError, msgpack.UnpackException):  # what msgpack raises on garbage
        raise HandshakeError(f"malformed {what}") from None
    if not isinstance(msg, list) or len(msg) != n or not all(isinstance(x, bytes) for x in msg):
        raise HandshakeError(f"malformed {what}")
    return msg


def _public_key(raw: bytes, what: str) -> PublicKey:
    if len(raw) != PUBKEY_SIZE:
        raise HandshakeError(f"{what} is not a 65-byte public key")
    try:
        return PublicKey.from_bytes(raw)
    except CryptoError as exc:
        raise HandshakeError(f"{what} is not a valid SM2 point: {exc}") from None


def _exchange(priv: PrivateKey, pub: PublicKey) -> bytes:
    try:
        return priv.exchange(pub)
    except CryptoError as exc:
        raise HandshakeError(f"key agreement failed: {exc}") from None


async def initiate(
    io: RecordIO,
    chain_id: bytes,
    node_key: PrivateKey,
    expected_peer: bytes | None,
    admit: Callable[[bytes], str | None],
) -> HandshakeResult:
    """Run the initiator side; `admit(peer_id)` returns a refusal reason or None."""
    my_static = node_key.public_key().to_bytes()
    eph = PrivateKey.generate()
    my_eph = eph.public_key().to_bytes()
    io.send_record(msgpack.packb([PROTOCOL, chain_id, my_static, my_eph]))

    r_static, r_eph, r_sig = _decode(
        await io.recv_record(MAX_HANDSHAKE_RECORD), 3, "responder reply"
    )
    if expected_peer is not None and r_static != expected_peer:
        raise HandshakeError(
            f"responder presented key {r_static[:8].hex()}.., expected {expected_peer[:8].hex()}.."
        )
    if r_static == my_static:
        raise HandshakeError("connected to ourselves")
    reason = admit(r_static)
    if reason is not None:
        raise HandshakeError(reason)
    r_static_key = _public_key(r_static, "responder static key")
    r_eph_key = _public_key(r_eph, "responder ephemeral key")
    th = transcript_hash(chain_id, my_static, my_eph, r_static, r_eph)
    if len(r_sig) != SIGNATURE_SIZE or not r_static_key.verify(_LABEL_RESPONDER + th, r_sig):
        raise HandshakeError(
            "responder's transcript signature is invalid (man in the middle or wrong key)"
        )
    io.send_record(msgpack.packb([node_key.sign(_LABEL_INITIATOR + th)]))
    k_i2r, k_r2i = derive_keys(_exchange(eph, r_eph_key), _exchange(node_key, r_static_key), th)
    return HandshakeResult(peer_id=r_static, send_key=k_i2r, recv_key=k_r2i)


async def respond(
    io: RecordIO,
    chain_id: bytes,
    node_key: PrivateKey,
    admit: Callable[[bytes], str | None],
) -> HandshakeResult:
    """Run the responder side; refuses with `HandshakeError` naming the reason."""
    protocol, their_chain, i_static, i_eph = _decode(
        await io.recv_record(MAX_HANDSHAKE_RECORD), 4, "hello"
    )
    if protocol != PROTOCOL:
        raise HandshakeError(f"unknown protocol {protocol[:32]!r}")
    if their_chain != chain_id:
        raise HandshakeError(f"chain id mismatch ({their_chain[:16].hex()})")
    my_static = node_key.public_key().to_bytes()
    if i_static == my_static:
        raise HandshakeError("connected to ourselves")
    i_static_key = _public_key(i_static, "initiator static key")
    reason = admit(i_static)
    if reason is not None:
        raise HandshakeError(reason)
    i_eph_key = _public_key(i_eph, "initiator ephemeral key")
    eph = PrivateKey.generate()
    my_eph = eph.public_key().to_bytes()
    th = transcript_hash(chain_id, i_static, i_eph, my_static, my_eph)
    io.send_record(msgpack.packb([my_static, my_eph, node_key.sign(_LABEL_RESPONDER + th)]))

    (i_sig,) = _decode(await io.recv_record(MAX_HANDSHAKE_RECORD), 1, "finish")
    if len(i_sig) != SIGNATURE_SIZE or not i_static_key.verify(_LABEL_INITIATOR + th, i_sig):
        raise HandshakeError(
            "initiator's transcript signature is invalid (man in the middle or wrong key)"
        )
    k_i2r, k_r2i = derive_keys(_exchange(eph, i_eph_key), _exchange(node_key, i_static_key), th)
    return HandshakeResult(peer_id=i_static, send_key=k_r2i, recv_key=k_i2r)
