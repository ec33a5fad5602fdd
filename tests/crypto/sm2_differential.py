"""Differential cases for the native SM2 verify: every case carries an answer that does not
come from the code under test, and OpenSSL re-checks a sample of them (all edge cases).

Where the expected answers come from:
- valid signatures are *constructed* from known private keys with the GB/T 32918.2 signing
  equations (r = (e + x(kG)) mod n, s = (1 + d)^-1 (k - r d) mod n) in Python integers, nonce
  points kG from a chain of affine additions (k, k + 1, ...), so one nonce point yields
  signatures for as many digests as we like. OpenSSL verifying a sample of them True checks
  the construction itself.
- tampered signatures (one bit of e, r, s or the key flipped) and random (r, s) are invalid
  except with probability about 2^-255; OpenSSL checks a sample.
- edge cases (r or s in {0, 1, n-1, n, n+1, 2^256-1}, valid signatures with r or s = 1 or
  n-1, s G + t Q = infinity, a point addition that doubles, keys at small multiples of G, e >= n,
  x1 >= n)
  are all checked by OpenSSL as well as against the constructed answer.

`make test` runs 200,000+ cases (tests/crypto/test_sm2_native.py); `make fuzz-sm2` runs 10^7.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crypto import _ec, _openssl, _sm2verify, sm2, sm3

C = _ec.SM2P256V1
N, P = C.n, C.p
EDGE_SCALARS = (0, 1, N - 1, N, N + 1, 2**256 - 1)


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    key: bytes  # 65 bytes 04 || x || y (may be off-curve for tampered keys)
    e: bytes
    sig: bytes
    expect: bool
    msg: bytes | None = None  # set: verify through SM3(Z || msg) (e is that digest)
    check_openssl: bool = False


def _b32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def _key_bytes(pt: _ec.Point) -> bytes:
    return b"\x04" + _b32(pt[0]) + _b32(pt[1])


def _affine_add(a: _ec.Point, b: _ec.Point) -> _ec.Point:
    """Distinct, non-opposite points only (the nonce chain never meets those)."""
    lam = (b[1] - a[1]) * pow(b[0] - a[0], -1, P) % P
    x = (lam * lam - a[0] - b[0]) % P
    return x, (lam * (a[0] - x) - a[1]) % P


@dataclass
class Signer:
    d: int
    pub: bytes
    inv1d: int  # (1 + d)^-1 mod n

    @classmethod
    def of(cls, d: int) -> Signer:
        pt = _ec.mul(C, d, C.g)
        assert pt is not None
        return cls(d, _key_bytes(pt), pow(1 + d, -1, N))

    def sign_with(self, k: int, x1: int, e: int) -> tuple[int, int] | None:
        r = (e + x1) % N
        if r == 0 or r + k == N:
            return None
        s = self.inv1d * (k - r * self.d) % N
        return (r, s) if s else None


class Generator:
    """Seeded source of cases (same seed, same cases)."""

    def __init__(self, seed: int, n_keys: int = 24, n_nonces: int = 256) -> None:
        self.rnd = random.Random(seed)
        rnd = self.rnd
        ds = [rnd.randrange(1, N - 1) for _ in range(n_keys)]
        ds += list(range(1, 9)) + [N - 2, N - 3, 2**128 + 1]  # small multiples of G and -G
        self.signers = [Signer.of(d) for d in ds]
        k0 = rnd.randrange(1, N // 2)
        pt = _ec.mul(C, k0, C.g)
        assert pt is not None
        self._multiples: dict[int, _ec.Point] = {}
        self.high_x = [high_x_case(rnd) for _ in range(4)]
        self.nonces: list[tuple[int, int]] = []
        for i in range(n_nonces):  # (k, x(kG)) for k = k0, k0 + 1, ...
            self.nonces.append((k0 + i, pt[0]))
            pt = _affine_add(pt, C.g)

    def _multiple(self, k: int) -> _ec.Point:
        pt = self._multiples.get(k)
        if pt is None:
            pt = self._multiples[k] = _ec.mul(C, k, C.g)  # type: ignore[assignment]
        assert pt is not None
        return pt

    def valid(self) -> tuple[Signer, int, int, int]:
        rnd = self.rnd
        while True:
            signer = rnd.choice(self.signers)
            k, x1 = rnd.choice(self.nonces)
            e = rnd.getrandbits(256)
            rs = signer.sign_with(k, x1, e)
            if rs is not None:
                return signer, e, rs[0], rs[1]

    def case(self) -> Case:
        rnd = self.rnd
        signer, e, r, s = self.valid()
        roll = rnd.random()
        if roll < 0.45:
            if rnd.random() < 0.1:  # through the message path: e = SM3(Z || M)
                msg = rnd.randbytes(rnd.randrange(0, 300))
                e = int.from_bytes(sm3.digest(sm2.compute_z(signer.pub) + msg), "big")
                k, x1 = rnd.choice(self.nonces)
                rs = signer.sign_with(k, x1, e)
                if rs is None:
                    return self.case()
                r, s = rs
                return Case("valid-msg", signer.pub, _b32(e), _b32(r) + _b32(s), True, msg)
            return Case("valid", signer.pub, _b32(e), _b32(r) + _b32(s), True)
        if roll < 0.85:
            key, eb, sig = bytearray(signer.pub), bytearray(_b32(e)), bytearray(_b32(r) + _b32(s))
            what = rnd.randrange(4)
            target = (eb, sig, sig, key)[what]
            lo, hi = ((0, 32), (0, 32), (32, 64), (1, 65))[what]
            bit = rnd.randrange(lo * 8, hi * 8)
            target[bit // 8] ^= 1 << (bit % 8)
            return Case("flip", bytes(key), bytes(eb), bytes(sig), False)
        if roll < 0.97:
            rr, ss = rnd.randrange(1, N), rnd.randrange(1, N)
            return Case("random", signer.pub, _b32(e), _b32(rr) + _b32(ss), False)
        return self.edge()

    def edge(self) -> Case:
        rnd = self.rnd
        signer, e, r, s = self.valid()
        kind = rnd.choices(range(8), (30, 4, 20, 15, 15, 6, 10, 3))[0]
        if kind == 7:  # x1 >= n, valid; or the same with e off by one (invalid)
            case = rnd.choice(self.high_x)
            if rnd.random() < 0.5:
                return case
            e = (int.from_bytes(case.e, "big") + 1) % N
            return Case("edge-x1-ge-n-bad", case.key, _b32(e), case.sig, False, None, True)
        if kind == 6:  # a valid signature with r = 1 or n - 1 (nonce from the chain)
            k, x1 = rnd.choice(self.nonces)
            r = rnd.choice((1, N - 1))
            s = signer.inv1d * (k - r * signer.d) % N
            e = (r - x1) % N
            if s == 0:
                return self.edge()
            return Case("edge-valid", signer.pub, _b32(e), _b32(r) + _b32(s), True, None, True)
        if kind == 0:  # r or s at an edge value, the other from a valid signature
            v = rnd.choice(EDGE_SCALARS)
            if rnd.random() < 0.5:
                r = v
            else:
                s = v
            sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
            return Case("edge-range", signer.pub, _b32(e), sig, False, check_openssl=True)
        if kind == 1:  # a valid signature whose s is 1 or n - 1: choose r, s, derive k and e
            r = rnd.choice((1, N - 1, r))
            s = rnd.choice((1, N - 1)) if r not in (1, N - 1) else rnd.choice((1, N - 1, s))
            k = (s * (1 + signer.d) + r * signer.d) % N
            pt = _ec.mul(C, k, C.g)
            if pt is None or (r + s) % N == 0:
                return self.edge()
            e = (r - pt[0]) % N
            if rnd.random() < 0.3 and e + N < 2**256:
                e += N  # the same residue, e >= n
            return Case("edge-valid", signer.pub, _b32(e), _b32(r) + _b32(s), True, None, True)
        if kind == 2:  # s G + t Q = infinity: t = -s / d, r = t - s (must reject)
            s = rnd.randrange(1, N)
            t = -s * pow(signer.d, -1, N) % N
            r = (t - s) % N
            if r == 0:
                return self.edge()
            return Case("edge-infinity", signer.pub, _b32(e), _b32(r) + _b32(s), False, None, True)
        if kind == 3:  # Q = 2G, t = j, s = 2j: the accumulator meets the point it adds
            two = next(x for x in self.signers if x.d == 2)
            j = rnd.randrange(1, 64)
            t, s = j, 2 * j
            r = (t - s) % N
            e = (r - self._multiple(4 * j)[0]) % N
            ok = rnd.random() < 0.7
            if not ok:
                e = (e + 1) % N
            return Case("edge-double", two.pub, _b32(e), _b32(r) + _b32(s), ok, None, True)
        if kind == 4:  # e >= n (x1 + e wraps twice), constructed valid
            k, x1 = rnd.choice(self.nonces)
            e = rnd.randrange(N, 2**256)
            rs = signer.sign_with(k, x1, e)
            if rs is None:
                return self.edge()
            return Case(
                "edge-e-ge-n", signer.pub, _b32(e), _b32(rs[0]) + _b32(rs[1]), True, None, True
            )
        # kind 5: a key that is not on the curve, or has a coordinate >= p
        x = rnd.choice((rnd.getrandbits(256), P, P + 1, 2**256 - 1, 0))
        y = rnd.choice((rnd.getrandbits(256), P, 0))
        key = b"\x04" + _b32(x) + _b32(y)
        return Case("edge-key", key, _b32(e), _b32(r) + _b32(s), False)

    def cases(self, count: int) -> Iterator[Case]:
        for _ in range(count):
            yield self.case()


def high_x_case(rnd: random.Random) -> Case:
    """A valid signature whose point x1 = x(s G + t Q) lies in [n, p), so (e + x1) mod n == r
    holds through x1 - n (about 1 point in 2^129 has such an x: never met by chance). Made
    backwards: pick R with x in [n, p) on the curve, s and t at random, and the key
    Q = t^-1 (R - s G); then r = t - s and e = r - x mod n."""
    while True:
        x = rnd.randrange(N, P)
        rhs = (x * x * x - 3 * x + C.b) % P
        y = pow(rhs, (P + 1) // 4, P)  # p = 3 mod 4
        if y * y % P == rhs:
            break
    s, t = rnd.randrange(1, N), rnd.randrange(1, N)
    if (t - s) % N == 0:
        return high_x_case(rnd)
    sg = _ec.mul(C, s, C.g)
    assert sg is not None
    diff_pt = _ec.mul_add(C, 1, (x, y), N - 1, sg)  # R - sG
    assert diff_pt is not None
    q = _ec.mul(C, pow(t, -1, N), diff_pt)
    assert q is not None
    r = (t - s) % N
    e = (r - x) % N
    return Case("edge-x1-ge-n", _key_bytes(q), _b32(e), _b32(r) + _b32(s), True, None, True)


def openssl_verify(case: Case) -> bool | None:
    """OpenSSL's answer; None when it cannot take the input at all (an off-curve key), which
    the Python layer rejects before any backend."""
    r = int.from_bytes(case.sig[:32], "big")
    s = int.from_bytes(case.sig[32:], "big")
    if not (0 < r < N and 0 < s < N):
        return False  # the range check runs before any backend
    handle = _openssl.load_public(case.key)
    if handle is None:
        return None
    return _openssl.verify_digest(handle, case.e, case.sig)


def native_verify(case: Case, mode: int) -> bool:
    if case.msg is not None:
        return bool(_sm2verify.verify(case.key, None, case.msg, case.sig, mode))
    return bool(_sm2verify.verify_digest(case.key, case.e, case.sig, mode))


def run(
    count: int,
    seed: int,
    openssl_every: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Run `count` cases; raise AssertionError on the first disagreement. Modes rotate:
    the cached-table path (most), the wNAF path without table, and a fresh table."""
    gen = Generator(seed)
    stats: dict[str, int] = {"openssl_checked": 0}
    for i, case in enumerate(gen.cases(count)):
        if i % 4099 == 0:  # a table built for this one verify (~2 ms)
            mode = _sm2verify.MODE_TABLE
        elif i % 8 == 0:
            mode = _sm2verify.MODE_COLD
        else:
            mode = _sm2verify.MODE_AUTO  # the signer's cached table
        got = native_verify(case, mode)
        if got is not case.expect:
            raise AssertionError(f"case {i} ({case.kind}, mode {mode}): native {got}, {case}")
        if case.check_openssl or i % openssl_every == 0:
            ref = openssl_verify(case)
            if ref is not None and ref is not case.expect:
                raise AssertionError(f"case {i} ({case.kind}): openssl {ref}, {case}")
            stats["openssl_checked"] += 1
        stats[case.kind] = stats.get(case.kind, 0) + 1
        if progress is not None and i % 100_000 == 0:
            progress(i)
    return stats
