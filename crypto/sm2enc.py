"""SM2 public-key encryption (GB/T 32918.4) in pure integers, on any short-Weierstrass curve.

C1 = [k]G, (x2, y2) = [k]P_B, t = KDF(x2 || y2, len(M)), C2 = M xor t, C3 = H(x2 || M || y2).
The wire form is GM/T 0009 DER: SEQUENCE { INTEGER x1, INTEGER y1, OCTET STRING C3,
OCTET STRING C2 } (what OpenSSL reads and writes). Not a hot path (one scalar mult per call,
a few ms), so it stays backend-free; the tests cross-check it against libcrypto and gmssl.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from crypto import _der, _ec, sm2, sm3
from crypto.errors import CryptoError, DecryptError, InvalidKey

HashFn = Callable[[bytes], bytes]
MAX_PLAINTEXT = 1 << 20


def kdf(z: bytes, length: int, hash_fn: HashFn = sm3.digest) -> bytes:
    out = bytearray()
    ct = 1
    while len(out) < length:
        out += hash_fn(z + ct.to_bytes(4, "big"))
        ct += 1
    return bytes(out[:length])


def encrypt_raw(
    curve: _ec.Curve,
    pub: _ec.Point,
    msg: bytes,
    *,
    k: int | None = None,
    hash_fn: HashFn = sm3.digest,
) -> tuple[_ec.Point, bytes, bytes]:
    """(C1, C3, C2). `k` only for known-answer tests; normally drawn at random."""
    if not _ec.is_on_curve(curve, pub):
        raise InvalidKey("recipient public key is not on the curve")
    if not msg or len(msg) > MAX_PLAINTEXT:
        raise CryptoError("SM2 plaintext must be 1 byte .. 1 MiB")
    size = curve.size
    while True:
        kk = k if k is not None else secrets.randbelow(curve.n - 1) + 1
        c1 = _ec.mul(curve, kk, curve.g)
        shared = _ec.mul(curve, kk, pub)
        if c1 is None or shared is None:
            raise CryptoError("bad nonce")
        x2 = shared[0].to_bytes(size, "big")
        y2 = shared[1].to_bytes(size, "big")
        t = kdf(x2 + y2, len(msg), hash_fn)
        if any(t) or k is not None:
            break
    if not any(t):
        raise CryptoError("KDF output is all zero for this nonce")
    c2 = bytes(a ^ b for a, b in zip(msg, t, strict=True))
    c3 = hash_fn(x2 + msg + y2)
    return c1, c3, c2


def decrypt_raw(
    curve: _ec.Curve, d: int, c1: _ec.Point, c3: bytes, c2: bytes, hash_fn: HashFn = sm3.digest
) -> bytes:
    """Plaintext, or `DecryptError` if C1 is not on the curve or C3 does not match."""
    if not _ec.is_on_curve(curve, c1):
        raise DecryptError("SM2 ciphertext C1 is not on the curve")
    if not c2:
        raise DecryptError("SM2 ciphertext C2 is empty")
    shared = _ec.mul(curve, d, c1)
    if shared is None:
        raise DecryptError("SM2 shared point is at infinity")
    size = curve.size
    x2 = shared[0].to_bytes(size, "big")
    y2 = shared[1].to_bytes(size, "big")
    t = kdf(x2 + y2, len(c2), hash_fn)
    if not any(t):
        raise DecryptError("SM2 KDF output is all zero")
    msg = bytes(a ^ b for a, b in zip(c2, t, strict=True))
    if not hmac.compare_digest(hash_fn(x2 + msg + y2), c3):
        raise DecryptError("SM2 ciphertext hash C3 does not match")
    return msg


def encode_der(c1: _ec.Point, c3: bytes, c2: bytes) -> bytes:
    return _der.seq(
        _der.integer(c1[0]),
        _der.integer(c1[1]),
        _der.tlv(_der.OCTET_STRING, c3),
        _der.tlv(_der.OCTET_STRING, c2),
    )


def decode_der(der: bytes) -> tuple[_ec.Point, bytes, bytes]:
    try:
        items = _der.read_all(_der.expect(der, _der.SEQUENCE))
        tags = [t for t, _ in items]
        if tags != [_der.INTEGER, _der.INTEGER, _der.OCTET_STRING, _der.OCTET_STRING]:
            raise ValueError("not SEQUENCE { INTEGER, INTEGER, OCTET STRING, OCTET STRING }")
        x = _der.parse_integer(items[0][1])
        y = _der.parse_integer(items[1][1])
    except ValueError as exc:
        raise DecryptError(f"bad SM2 ciphertext DER: {exc}") from None
    return (x, y), items[2][1], items[3][1]


def encrypt(public_key: sm2.PublicKey, plaintext: bytes) -> bytes:
    """Encrypt to an SM2 public key (SM3, GM/T 0009 DER ciphertext)."""
    c1, c3, c2 = encrypt_raw(sm2.CURVE, public_key.point, bytes(plaintext))
    return encode_der(c1, c3, c2)


def decrypt(private_key: sm2.PrivateKey, ciphertext: bytes) -> bytes:
    """Decrypt a GM/T 0009 DER ciphertext; raises `DecryptError` on any mismatch."""
    if len(ciphertext) > MAX_PLAINTEXT + 256:
        raise DecryptError("SM2 ciphertext too long")
    c1, c3, c2 = decode_der(bytes(ciphertext))
    d = int.from_bytes(private_key.to_bytes(), "big")
    return decrypt_raw(sm2.CURVE, d, c1, c3, c2)
