"""SM2 key exchange (GB/T 32918.3) with confirmation hashes, in pure integers on any curve.

Reference implementation used to check the standard's vectors (which are on the Fp-256 test
curve). Either side aborts if the peer's ephemeral point is not on the curve, and the caller
must compare the received confirmation hash with the expected one (`hmac.compare_digest`).
Our p2p handshake uses plain ECDH (`PrivateKey.exchange`) plus signatures instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crypto import _ec, sm2enc, sm3
from crypto.errors import InvalidKey

HashFn = Callable[[bytes], bytes]


@dataclass(frozen=True, slots=True)
class KxResult:
    """The shared key, the confirmation hash to send, the one expected from the peer."""

    key: bytes
    send: bytes
    expect: bytes


def _xbar(curve: _ec.Curve, x: int) -> int:
    w = (curve.n.bit_length() + 1) // 2 - 1  # ceil(ceil(log2 n) / 2) - 1
    return (1 << w) + (x & ((1 << w) - 1))


def _agree(
    curve: _ec.Curve,
    d: int,
    r: int,
    own_ephemeral: _ec.Point,
    peer_pub: _ec.Point,
    peer_ephemeral: _ec.Point,
) -> _ec.Point:
    for pt, what in ((peer_pub, "peer public key"), (peer_ephemeral, "peer ephemeral point")):
        if not _ec.is_on_curve(curve, pt):
            raise InvalidKey(f"{what} is not on the curve")
    t = (d + _xbar(curve, own_ephemeral[0]) * r) % curve.n
    out = _ec.mul_add(
        curve, curve.h * t, peer_pub, curve.h * t * _xbar(curve, peer_ephemeral[0]), peer_ephemeral
    )
    if out is None:
        raise InvalidKey("key exchange produced the point at infinity")
    return out


def _finish(
    curve: _ec.Curve,
    shared: _ec.Point,
    z_a: bytes,
    z_b: bytes,
    r_a_pt: _ec.Point,
    r_b_pt: _ec.Point,
    klen: int,
    hash_fn: HashFn,
) -> tuple[bytes, bytes, bytes]:
    size = curve.size
    xs, ys = (v.to_bytes(size, "big") for v in shared)
    key = sm2enc.kdf(xs + ys + z_a + z_b, klen, hash_fn)
    pts = b"".join(v.to_bytes(size, "big") for v in (*r_a_pt, *r_b_pt))
    inner = hash_fn(xs + z_a + z_b + pts)
    s_2 = hash_fn(b"\x02" + ys + inner)  # S_B (responder sends) = S_1 (initiator expects)
    s_3 = hash_fn(b"\x03" + ys + inner)  # S_A (initiator sends) = S_2 (responder expects)
    return key, s_2, s_3


def initiator(  # noqa: PLR0913, PLR0917  # the inputs of GB/T 32918.3, one each
    curve: _ec.Curve,
    d_a: int,
    r_a: int,
    p_b: _ec.Point,
    r_b_pt: _ec.Point,
    z_a: bytes,
    z_b: bytes,
    klen: int,
    hash_fn: HashFn = sm3.digest,
) -> KxResult:
    """A's side: key K_A, S_A to send, S_1 to compare with the received S_B."""
    r_a_pt = _ec.public_point(curve, r_a)
    u = _agree(curve, d_a, r_a, r_a_pt, p_b, r_b_pt)
    key, s_b, s_a = _finish(curve, u, z_a, z_b, r_a_pt, r_b_pt, klen, hash_fn)
    return KxResult(key, send=s_a, expect=s_b)


def responder(  # noqa: PLR0913, PLR0917  # the inputs of GB/T 32918.3, one each
    curve: _ec.Curve,
    d_b: int,
    r_b: int,
    p_a: _ec.Point,
    r_a_pt: _ec.Point,
    z_a: bytes,
    z_b: bytes,
    klen: int,
    hash_fn: HashFn = sm3.digest,
) -> KxResult:
    """B's side: key K_B, S_B to send, S_2 to compare with the received S_A."""
    r_b_pt = _ec.public_point(curve, r_b)
    v = _agree(curve, d_b, r_b, r_b_pt, p_a, r_a_pt)
    key, s_b, s_a = _finish(curve, v, z_a, z_b, r_a_pt, r_b_pt, klen, hash_fn)
    return KxResult(key, send=s_b, expect=s_a)
