"""The authenticated key exchange (a SIGMA-style three-message handshake).

    initiator -> responder   Hello  [protocol, chain_id, I_static, I_eph]
    responder -> initiator   Reply  [R_static, R_eph, sign_R("responder" || th)]
    initiator -> responder   Finish [sign_I("initiator" || th)]

th = SM3(msgpack[protocol, chain_id, I_static, I_eph, R_static, R_eph]) is the transcript
(``protocol`` as the initiator sent it).

Versions: ``protocol`` is ``chainnode-p2p/<N>``, or ``chainnode-p2p/<lo>..<hi>`` for a release
that speaks a range (one that speaks a single version sends the short form, which releases
before version ranges existed also accept). A responder admits an initiator whose range meets
its own. So a release that speaks N-1..N works with the release before it (N-1) and the one
after it (N..N+1), and a rolling upgrade goes node by node; ranges that do not meet are
refused in the handshake, and the responder says why in one last record,
``[b"refused", reason]``, naming both sides' versions (an initiator of this code raises it; an
older one sees a malformed reply).
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

PROTOCOL_NAME = b"chainnode-p2p/"
PROTOCOL_VERSION = 2  # 2: TXS frames name the peers they were sent to
MIN_PROTOCOL_VERSION = 2  # the oldest version this release still speaks
VERSIONS = (MIN_PROTOCOL_VERSION, PROTOCOL_VERSION)
PROTOCOL = PROTOCOL_NAME + str(PROTOCOL_VERSION).encode()  # what this release sends
REFUSED = b"refused"
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


def transcript_hash(  # the transcript's six parts
    chain_id: bytes,
    i_static: bytes,
    i_eph: bytes,
    r_static: bytes,
    r_eph: bytes,
    protocol: bytes = PROTOCOL,
) -> bytes:
    data = msgpack.packb([protocol, chain_id, i_static, i_eph, r_static, r_eph])
    return sm3.digest(data)


def _range_text(versions: tuple[int, int]) -> str:
    lo, hi = versions
    return f"{lo}" if lo == hi else f"{lo}..{hi}"


def protocol_bytes(versions: tuple[int, int]) -> bytes:
    return PROTOCOL_NAME + _range_text(versions).encode()


def protocol_versions(protocol: bytes) -> tuple[int, int] | None:
    """(lo, hi) of ``chainnode-p2p/N`` or ``chainnode-p2p/lo..hi`` (None: not ours)."""
    if not protocol.startswith(PROTOCOL_NAME):
        return None
    lo, sep, hi = protocol[len(PROTOCOL_NAME) :].partition(b"..")
    hi = hi if sep else lo
    if not (lo.isdigit() and hi.isdigit()) or len(lo) > 6 or len(hi) > 6 or int(lo) > int(hi):
        return None
    return int(lo), int(hi)


def version_problem(theirs: tuple[int, int], ours: tuple[int, int]) -> str | None:
    """Why a peer speaking ``theirs`` is refused by a node speaking ``ours`` (None: the
    ranges meet)."""
    if theirs[0] <= ours[1] and ours[0] <= theirs[1]:
        return None
    if theirs[1] < ours[0]:
        fix = "the peer runs an older release: upgrade it"
    else:
        fix = "the peer runs a newer release: upgrade this node"
    return (
        f"p2p protocol version {_range_text(theirs)} of the peer, {_range_text(ours)} here "
        f"({fix}, one release at a time)"
    )


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


def _refusal(record: bytes) -> str | None:
    """The reason of a responder's ``[b"refused", reason]`` record (None: not one)."""
    try:
        msg = msgpack.unpackb(record, use_list=True, raw=True)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if isinstance(msg, list) and len(msg) == 2 and msg[0] == REFUSED and isinstance(msg[1], bytes):
        return msg[1][:300].decode("utf-8", errors="replace")
    return None


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
    versions: tuple[int, int] = VERSIONS,
) -> HandshakeResult:
    """Run the initiator side; `admit(peer_id)` returns a refusal reason or None."""
    my_static = node_key.public_key().to_bytes()
    eph = PrivateKey.generate()
    my_eph = eph.public_key().to_bytes()
    protocol = protocol_bytes(versions)
    io.send_record(msgpack.packb([protocol, chain_id, my_static, my_eph]))

    reply = await io.recv_record(MAX_HANDSHAKE_RECORD)
    refusal = _refusal(reply)
    if refusal is not None:
        raise HandshakeError(f"the responder refused: {refusal}")
    r_static, r_eph, r_sig = _decode(reply, 3, "responder reply")
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
    th = transcript_hash(chain_id, my_static, my_eph, r_static, r_eph, protocol)
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
    versions: tuple[int, int] = VERSIONS,
) -> HandshakeResult:
    """Run the responder side; refuses with `HandshakeError` naming the reason."""
    protocol, their_chain, i_static, i_eph = _decode(
        await io.recv_record(MAX_HANDSHAKE_RECORD), 4, "hello"
    )
    theirs = protocol_versions(protocol)
    if theirs is None:
        raise HandshakeError(f"unknown protocol {protocol[:32]!r}")
    problem = version_problem(theirs, versions)
    if problem is not None:
        io.send_record(msgpack.packb([REFUSED, problem.encode()]))
        raise HandshakeError(problem)
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
    th = transcript_hash(chain_id, i_static, i_eph, my_static, my_eph, protocol)
    io.send_record(msgpack.packb([my_static, my_eph, node_key.sign(_LABEL_RESPONDER + th)]))

    (i_sig,) = _decode(await io.recv_record(MAX_HANDSHAKE_RECORD), 1, "finish")
    if len(i_sig) != SIGNATURE_SIZE or not i_static_key.verify(_LABEL_INITIATOR + th, i_sig):
        raise HandshakeError(
            "initiator's transcript signature is invalid (man in the middle or wrong key)"
        )
    k_i2r, k_r2i = derive_keys(_exchange(eph, i_eph_key), _exchange(node_key, i_static_key), th)
    return HandshakeResult(peer_id=i_static, send_key=k_r2i, recv_key=k_i2r)
