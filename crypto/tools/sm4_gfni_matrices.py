"""Derive the GFNI matrices of the SM4 S-box (constants of ``crypto/_sm4gcm.c``), and the
nibble tables of its AES-NI form (for CPUs without GFNI).

    python -m crypto.tools.sm4_gfni_matrices

The SM4 S-box is affine ∘ inversion in GF(2^8)/f ∘ affine, for an irreducible f and a
circulant matrix A: S(x) = A·inv_f(A·x + c) + c. ``gf2p8affineinvqb`` inverts in the AES field
GF(2^8)/0x11B instead. The two fields are isomorphic: with β a root of f in the AES field, the
linear map T: x^i ↦ β^i sends f-field products to AES-field products, so
inv_f(y) = T⁻¹·inv_aes(T·y) and

    S(x) = (A·T⁻¹)·inv_aes((T·A)·x + T·c) + c
         = gf2p8affineinvqb(gf2p8affineqb(x, T·A, T·c), A·T⁻¹, c).

Rather than trusting a transcription of A, c and f, the script searches them (f over all
irreducible octics, A over circulants, c over bytes) against the published S-box table, then
checks the two-instruction form on all 256 inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

# GB/T 32907-2016 S-box, row-major (Sbox[0x00] = 0xD6).
SBOX: tuple[int, ...] = (
    0xD6, 0x90, 0xE9, 0xFE, 0xCC, 0xE1, 0x3D, 0xB7, 0x16, 0xB6, 0x14, 0xC2, 0x28, 0xFB, 0x2C, 0x05,
    0x2B, 0x67, 0x9A, 0x76, 0x2A, 0xBE, 0x04, 0xC3, 0xAA, 0x44, 0x13, 0x26, 0x49, 0x86, 0x06, 0x99,
    0x9C, 0x42, 0x50, 0xF4, 0x91, 0xEF, 0x98, 0x7A, 0x33, 0x54, 0x0B, 0x43, 0xED, 0xCF, 0xAC, 0x62,
    0xE4, 0xB3, 0x1C, 0xA9, 0xC9, 0x08, 0xE8, 0x95, 0x80, 0xDF, 0x94, 0xFA, 0x75, 0x8F, 0x3F, 0xA6,
    0x47, 0x07, 0xA7, 0xFC, 0xF3, 0x73, 0x17, 0xBA, 0x83, 0x59, 0x3C, 0x19, 0xE6, 0x85, 0x4F, 0xA8,
    0x68, 0x6B, 0x81, 0xB2, 0x71, 0x64, 0xDA, 0x8B, 0xF8, 0xEB, 0x0F, 0x4B, 0x70, 0x56, 0x9D, 0x35,
    0x1E, 0x24, 0x0E, 0x5E, 0x63, 0x58, 0xD1, 0xA2, 0x25, 0x22, 0x7C, 0x3B, 0x01, 0x21, 0x78, 0x87,
    0xD4, 0x00, 0x46, 0x57, 0x9F, 0xD3, 0x27, 0x52, 0x4C, 0x36, 0x02, 0xE7, 0xA0, 0xC4, 0xC8, 0x9E,
    0xEA, 0xBF, 0x8A, 0xD2, 0x40, 0xC7, 0x38, 0xB5, 0xA3, 0xF7, 0xF2, 0xCE, 0xF9, 0x61, 0x15, 0xA1,
    0xE0, 0xAE, 0x5D, 0xA4, 0x9B, 0x34, 0x1A, 0x55, 0xAD, 0x93, 0x32, 0x30, 0xF5, 0x8C, 0xB1, 0xE3,
    0x1D, 0xF6, 0xE2, 0x2E, 0x82, 0x66, 0xCA, 0x60, 0xC0, 0x29, 0x23, 0xAB, 0x0D, 0x53, 0x4E, 0x6F,
    0xD5, 0xDB, 0x37, 0x45, 0xDE, 0xFD, 0x8E, 0x2F, 0x03, 0xFF, 0x6A, 0x72, 0x6D, 0x6C, 0x5B, 0x51,
    0x8D, 0x1B, 0xAF, 0x92, 0xBB, 0xDD, 0xBC, 0x7F, 0x11, 0xD9, 0x5C, 0x41, 0x1F, 0x10, 0x5A, 0xD8,
    0x0A, 0xC1, 0x31, 0x88, 0xA5, 0xCD, 0x7B, 0xBD, 0x2D, 0x74, 0xD0, 0x12, 0xB8, 0xE5, 0xB4, 0xB0,
    0x89, 0x69, 0x97, 0x4A, 0x0C, 0x96, 0x77, 0x7E, 0x65, 0xB9, 0xF1, 0x09, 0xC5, 0x6E, 0xC6, 0x84,
    0x18, 0xF0, 0x7D, 0xEC, 0x3A, 0xDC, 0x4D, 0x20, 0x79, 0xEE, 0x5F, 0x3E, 0xD7, 0xCB, 0x39, 0x48,
)  # fmt: skip

AES_POLY = 0x11B

Matrix = tuple[int, ...]
"""An 8×8 GF(2) matrix as 8 row masks: output bit i = parity(row[i] & x)."""


def gf_mul(a: int, b: int, poly: int) -> int:
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= poly
    return r


def gf_inv(a: int, poly: int) -> int:
    """Multiplicative inverse (0 ↦ 0), by a^254."""
    r, e = 1, 254
    while e:
        if e & 1:
            r = gf_mul(r, a, poly)
        a = gf_mul(a, a, poly)
        e >>= 1
    return r


def _parity(v: int) -> int:
    return bin(v).count("1") & 1


def apply(m: Matrix, x: int) -> int:
    return sum(_parity(m[i] & x) << i for i in range(8))


def from_function(f: Callable[[int], int]) -> Matrix:
    cols = [f(1 << j) for j in range(8)]
    return tuple(sum(((cols[j] >> i) & 1) << j for j in range(8)) for i in range(8))


def mul(a: Matrix, b: Matrix) -> Matrix:
    return from_function(lambda x: apply(a, apply(b, x)))


def inverse(m: Matrix) -> Matrix:
    table = {apply(m, x): x for x in range(256)}
    if len(table) != 256:
        raise ValueError("singular matrix")
    return from_function(lambda y: table[y])


def to_qword(m: Matrix) -> int:
    """The matrix operand of gf2p8affine(inv)qb: row i sits in byte 7 - i."""
    return sum(m[i] << (8 * (7 - i)) for i in range(8))


def gf2p8affineqb(x: int, qword: int, imm: int) -> int:
    return sum(
        (_parity((qword >> (8 * (7 - i))) & 0xFF & x) ^ ((imm >> i) & 1)) << i for i in range(8)
    )


def gf2p8affineinvqb(x: int, qword: int, imm: int) -> int:
    return gf2p8affineqb(gf_inv(x, AES_POLY), qword, imm)


def _irreducible_octics() -> list[int]:
    out = []
    for p in range(0x101, 0x200, 2):
        # irreducible iff no factor of degree 1..4
        if all(_polymod(p, q) for q in range(2, 32)):
            out.append(p)
    return out


def _polymod(a: int, b: int) -> int:
    db = b.bit_length()
    while a.bit_length() >= db:
        a ^= b << (a.bit_length() - db)
    return a


def _circulants() -> list[Matrix]:
    out = []
    for row in range(1, 256):
        for step in (1, 7):  # successive rows rotated left / right by one bit
            rows = tuple(
                ((row << ((step * i) % 8)) | (row >> ((8 - (step * i) % 8) % 8))) & 0xFF
                for i in range(8)
            )
            out.append(rows)
    return out


def find_structure() -> tuple[int, Matrix, int]:
    """(f, A, c) with S(x) = A·inv_f(A·x + c) + c for every x."""
    polys = _irreducible_octics()
    polys.sort(key=lambda p: p != 0x1F5)  # the published field first: the search ends at once
    for poly in polys:
        inv = [gf_inv(x, poly) for x in range(256)]
        for a in _circulants():
            try:
                a_inv = inverse(a)
            except ValueError:
                continue
            for c in range(256):
                # where A·x + c = 0 the inversion gives 0, so S(x) = c there: a cheap filter
                if SBOX[apply(a_inv, c)] != c:
                    continue
                if all(apply(a, inv[apply(a, x) ^ c]) ^ c == SBOX[x] for x in range(256)):
                    return poly, a, c
    raise ValueError("no affine-inversion structure found for the S-box")


def field_isomorphism(poly: int) -> Matrix:
    """T: GF(2^8)/poly → GF(2^8)/0x11B, x^i ↦ β^i for the smallest root β of poly."""
    for beta in range(2, 256):
        value, power = 0, 1
        for i in range(9):
            if (poly >> i) & 1:
                value ^= power
            power = gf_mul(power, beta, AES_POLY)
        if value == 0:
            powers = [1]
            for _ in range(7):
                powers.append(gf_mul(powers[-1], beta, AES_POLY))
            return from_function(partial(_combine, basis=powers))
    raise ValueError("poly has no root in the AES field")


def _combine(x: int, basis: list[int]) -> int:
    r = 0
    for i in range(8):
        if (x >> i) & 1:
            r ^= basis[i]
    return r


def derive() -> tuple[int, int, int, int]:
    """(M1, c1, M2, c2): S(x) = gf2p8affineinvqb(gf2p8affineqb(x, M1, c1), M2, c2)."""
    poly, a, c = find_structure()
    t = field_isomorphism(poly)
    m1, m2 = mul(t, a), mul(a, inverse(t))
    return to_qword(m1), apply(t, c), to_qword(m2), c


def check(m1: int, c1: int, m2: int, c2: int) -> None:
    for x in range(256):
        got = gf2p8affineinvqb(gf2p8affineqb(x, m1, c1), m2, c2)
        if got != SBOX[x]:
            raise AssertionError(f"S-box mismatch at {x:#04x}: {got:#04x} != {SBOX[x]:#04x}")


# ---- the AES-NI form -------------------------------------------------------------------------
#
# Without GFNI, the AES-field inversion comes from AESENCLAST with a zero round key: per byte it
# is the AES S-box, A_aes·inv(y) + 0x63, after which ShiftRows moves bytes (undone by shuffling
# the input with InvShiftRows first). Then
#
#     S(x) = affineinv(y, M2, c2) = affine(inv(y), M2, c2),  y = affine(x, M1, c1)
#          = post(aes_sbox(pre(x)))  with  pre = affine(·, M1, c1),
#                                         post(s) = affine(A_aes⁻¹·(s + 0x63), M2, c2).
#
# pre and post are affine over GF(2), so each is two 16-entry tables, one per nibble (PSHUFB):
# f(x) = LO[x & 15] ^ HI[x >> 4], LO holding the constant term.


def aes_sbox(y: int) -> int:
    """FIPS-197 SubBytes: the AES affine map of the inverse, plus 0x63."""
    v = gf_inv(y, AES_POLY)
    rol = [((v << k) | (v >> (8 - k))) & 0xFF for k in range(5)]
    return rol[0] ^ rol[1] ^ rol[2] ^ rol[3] ^ rol[4] ^ 0x63


def nibble_tables(f: Callable[[int], int]) -> tuple[list[int], list[int]]:
    """(LO, HI) with f(x) = LO[x & 15] ^ HI[x >> 4] for an affine f."""
    lo = [f(n) for n in range(16)]
    hi = [f(n << 4) ^ f(0) for n in range(16)]
    for x in range(256):
        if lo[x & 15] ^ hi[x >> 4] != f(x):
            raise ValueError("not an affine map")
    return lo, hi


def aesni_tables(m1: int, c1: int, m2: int, c2: int) -> tuple[list[int], ...]:
    """(PRE_LO, PRE_HI, POST_LO, POST_HI) of the AES-NI form, from the GFNI constants."""
    unsub = {aes_sbox(y) ^ 0x63: gf_inv(y, AES_POLY) for y in range(256)}  # A_aes⁻¹
    pre = nibble_tables(lambda x: gf2p8affineqb(x, m1, c1))
    post = nibble_tables(lambda s: gf2p8affineqb(unsub[s ^ 0x63], m2, c2))
    return (*pre, *post)


def check_aesni(tables: tuple[list[int], ...]) -> None:
    pre_lo, pre_hi, post_lo, post_hi = tables
    for x in range(256):
        s = aes_sbox(pre_lo[x & 15] ^ pre_hi[x >> 4])
        got = post_lo[s & 15] ^ post_hi[s >> 4]
        if got != SBOX[x]:
            raise AssertionError(f"S-box mismatch at {x:#04x}: {got:#04x} != {SBOX[x]:#04x}")


def _c_bytes(name: str, values: list[int]) -> str:
    return f"#define {name} " + ", ".join(f"0x{v:02x}" for v in values)


def main() -> None:
    m1, c1, m2, c2 = derive()
    check(m1, c1, m2, c2)
    print(f"#define SM4_GFNI_M1 0x{m1:016x}ULL")
    print(f"#define SM4_GFNI_C1 0x{c1:02x}")
    print(f"#define SM4_GFNI_M2 0x{m2:016x}ULL")
    print(f"#define SM4_GFNI_C2 0x{c2:02x}")
    tables = aesni_tables(m1, c1, m2, c2)
    check_aesni(tables)
    for name, values in zip(("PRE_LO", "PRE_HI", "POST_LO", "POST_HI"), tables, strict=True):
        print(_c_bytes(f"SM4_AESNI_{name}", values))


if __name__ == "__main__":
    main()
