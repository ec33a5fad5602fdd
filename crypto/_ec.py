"""Pure-integer short-Weierstrass arithmetic and SM2 sign/verify over any curve.

Why it exists: it is the reference path for vectors on curves no backend ships (the
GB/T 32918 Fp-256 test curve), it derives public keys and the ECDH x-coordinate (not hot
paths), and it is a third independent implementation to cross-check the backends.
Not constant time: never use it to sign with long-lived keys on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Point = tuple[int, int]
_Jac = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Curve:
    """y^2 = x^3 + a x + b over GF(p), base point G of prime order n, cofactor h."""

    name: str
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    h: int = 1

    @property
    def g(self) -> Point:
        return (self.gx, self.gy)

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    @classmethod
    def from_hex(cls, name: str, params: dict[str, str]) -> Curve:
        v = {k: int(params[k], 16) for k in ("p", "a", "b", "gx", "gy", "n")}
        return cls(name, h=int(params.get("h", "1"), 16), **v)


SM2P256V1 = Curve(
    "sm2p256v1",
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)


def is_on_curve(c: Curve, pt: Point) -> bool:
    x, y = pt
    if not (0 <= x < c.p and 0 <= y < c.p):
        return False
    return (y * y - (x * x * x + c.a * x + c.b)) % c.p == 0


def _double(c: Curve, pt: _Jac) -> _Jac:
    x, y, z = pt
    p = c.p
    if y == 0 or z == 0:
        return (1, 1, 0)
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = (3 * x * x + c.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    z3 = 2 * y * z % p
    return (x3, y3, z3)


def _add(c: Curve, p1: _Jac, p2: _Jac) -> _Jac:
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    if z1 == 0:
        return p2
    if z2 == 0:
        return p1
    p = c.p
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    if u1 == u2:
        if s1 != s2:
            return (1, 1, 0)
        return _double(c, p1)
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = h * z1 * z2 % p
    return (x3, y3, z3)


def _to_affine(c: Curve, pt: _Jac) -> Point | None:
    x, y, z = pt
    if z == 0:
        return None
    zi = pow(z, -1, c.p)
    zi2 = zi * zi % c.p
    return (x * zi2 % c.p, y * zi2 * zi % c.p)


def _mul_jac(c: Curve, k: int, pt: Point) -> _Jac:
    acc: _Jac = (1, 1, 0)
    base: _Jac = (pt[0], pt[1], 1)
    for bit in bin(k)[2:]:
        acc = _double(c, acc)
        if bit == "1":
            acc = _add(c, acc, base)
    return acc


def mul(c: Curve, k: int, pt: Point) -> Point | None:
    """[k]P in affine coordinates; None is the point at infinity."""
    k %= c.n
    if k == 0:
        return None
    return _to_affine(c, _mul_jac(c, k, pt))


def mul_secret(c: Curve, k: int, pt: Point) -> Point | None:
    """[k]P for a secret k: a Montgomery ladder over a fixed number of bits, so the sequence
    of point operations does not depend on k (Python integers still are not constant time;
    this removes the gross bit-dependent branch, not every side channel)."""
    k %= c.n
    if k == 0:
        return None
    r0: _Jac = (1, 1, 0)
    r1: _Jac = (pt[0], pt[1], 1)
    for i in range(c.n.bit_length() - 1, -1, -1):
        if (k >> i) & 1:
            r0, r1 = _add(c, r0, r1), _double(c, r1)
        else:
            r0, r1 = _double(c, r0), _add(c, r0, r1)
    return _to_affine(c, r0)


def mul_add(c: Curve, k1: int, p1: Point, k2: int, p2: Point) -> Point | None:
    """[k1]P1 + [k2]P2."""
    a = _mul_jac(c, k1 % c.n, p1) if k1 % c.n else (1, 1, 0)
    b = _mul_jac(c, k2 % c.n, p2) if k2 % c.n else (1, 1, 0)
    return _to_affine(c, _add(c, a, b))


def public_point(c: Curve, d: int) -> Point:
    pt = mul_secret(c, d, c.g)
    if pt is None:
        raise ValueError("private scalar is 0 mod n")
    return pt


def compute_z(c: Curve, pub: Point, user_id: bytes, hash_fn: Callable[[bytes], bytes]) -> bytes:
    """Z = H(ENTL || ID || a || b || xG || yG || xA || yA), ENTL = bit length of ID (16 bits)."""
    entl = len(user_id) * 8
    if entl > 0xFFFF:
        raise ValueError("user ID longer than 8191 bytes")
    size = c.size
    parts = [entl.to_bytes(2, "big"), user_id]
    parts += [v.to_bytes(size, "big") for v in (c.a, c.b, c.gx, c.gy, pub[0], pub[1])]
    return hash_fn(b"".join(parts))


def sign_digest(c: Curve, d: int, e: int, k: int) -> tuple[int, int] | None:
    """GB/T 32918.2 signature of digest value e with nonce k; None if k must be redrawn."""
    x1 = mul(c, k, c.g)
    if x1 is None:
        return None
    r = (e + x1[0]) % c.n
    if r == 0 or r + k == c.n:
        return None
    s = pow(1 + d, -1, c.n) * (k - r * d) % c.n
    if s == 0:
        return None
    return r, s


def verify_digest(c: Curve, pub: Point, e: int, r: int, s: int) -> bool:
    """GB/T 32918.2 verification of (r, s) over digest value e for public point `pub`."""
    if not (1 <= r < c.n and 1 <= s < c.n):
        return False
    if not is_on_curve(c, pub):
        return False
    t = (r + s) % c.n
    if t == 0:
        return False
    pt = mul_add(c, s, c.g, t, pub)
    if pt is None:
        return False
    return (e + pt[0]) % c.n == r
