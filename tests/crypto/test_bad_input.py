"""Bad input never crashes and never verifies: it returns False or raises our typed error."""

from __future__ import annotations

import base64

import pytest

from crypto import CryptoError, InvalidKey, InvalidSignature, _der, _ec, sm2, sm3, verify_batch
from crypto.suite import get_suite

BACKENDS = ["native", "openssl", "gmssl"]
N, P = sm2.N, sm2.P
KEY = sm2.PrivateKey.from_bytes((12345).to_bytes(32, "big"))
PUB = KEY.public_key().to_bytes()
MSG = b"a transaction"
SIG = KEY.sign(MSG)
GX = sm2.CURVE.gx


def _sig(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _pt(x: int, y: int, prefix: bytes = b"\x04") -> bytes:
    return prefix + x.to_bytes(32, "big") + y.to_bytes(32, "big")


BAD_PUBLIC_KEYS = {
    "empty": b"",
    "infinity-1-byte": b"\x00",
    "infinity-zeros": _pt(0, 0),
    "64-bytes": PUB[1:],
    "66-bytes": PUB + b"\x00",
    "compressed-prefix": b"\x02" + PUB[1:],
    "hybrid-prefix": b"\x06" + PUB[1:],
    "off-curve": PUB[:-1] + bytes([PUB[-1] ^ 1]),
    "x-equals-p": _pt(P, 1),
    "y-plus-p": _pt(GX, sm2.CURVE.gy + P) if sm2.CURVE.gy + P < 2**256 else _pt(P + 1, 0),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BAD_PUBLIC_KEYS))
def test_bad_public_keys_rejected(backend: str, name: str) -> None:
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_bytes(BAD_PUBLIC_KEYS[name], backend=backend)
    assert get_suite("sm").verify(BAD_PUBLIC_KEYS[name], MSG, SIG) is False


BAD_SIGS = {
    "empty": b"",
    "63-bytes": SIG[:63],
    "65-bytes": SIG + b"\x00",
    "der-instead-of-raw": sm2.signature_to_der(SIG),
    "r-zero": _sig(0, int.from_bytes(SIG[32:], "big")),
    "s-zero": _sig(int.from_bytes(SIG[:32], "big"), 0),
    "r-equals-n": _sig(N, int.from_bytes(SIG[32:], "big")),
    "s-equals-n": _sig(int.from_bytes(SIG[:32], "big"), N),
    "r-plus-n": _sig(int.from_bytes(SIG[:32], "big") + N, int.from_bytes(SIG[32:], "big"))
    if int.from_bytes(SIG[:32], "big") + N < 2**256
    else _sig(2**256 - 1, 1),
    "s-plus-n": _sig(int.from_bytes(SIG[:32], "big"), int.from_bytes(SIG[32:], "big") + N)
    if int.from_bytes(SIG[32:], "big") + N < 2**256
    else _sig(1, 2**256 - 1),
    "all-ff": b"\xff" * 64,
    "r-plus-s-is-n": _sig(1, N - 1),
    "zeros": bytes(64),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BAD_SIGS))
def test_bad_signatures_are_false(backend: str, name: str) -> None:
    pub = sm2.PublicKey.from_bytes(PUB, backend=backend)
    assert pub.verify(MSG, SIG)
    assert pub.verify(MSG, BAD_SIGS[name]) is False
    assert pub.verify_digest(bytes(32), BAD_SIGS[name]) is False


def test_non_bytes_arguments_are_typed_errors() -> None:
    pub = sm2.PublicKey.from_bytes(PUB)
    with pytest.raises(CryptoError):
        pub.verify("text", SIG)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        pub.verify(MSG, None)  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        pub.verify(MSG, SIG, user_id=b"x" * 8192)
    with pytest.raises(CryptoError):
        KEY.sign(MSG, user_id=b"x" * 8192)
    with pytest.raises(CryptoError):
        KEY.exchange(PUB)  # type: ignore[arg-type]
    assert pub.verify(bytearray(MSG), memoryview(SIG))


@pytest.mark.parametrize("d", [0, N - 1, N, 2**256 - 1])
def test_bad_private_scalars(d: int) -> None:
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_bytes(d.to_bytes(32, "big"))


@pytest.mark.parametrize("raw", [b"", b"\x01" * 31, b"\x01" * 33])
def test_bad_private_lengths(raw: bytes) -> None:
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_bytes(raw)


R_S = (0x80 << 248, 0x1234)
GOOD_DER = sm2.signature_to_der(_sig(*R_S))
BAD_DER = {
    "trailing-byte": GOOD_DER + b"\x00",
    "leading-zero-padding": b"\x30\x07\x02\x02\x00\x12\x02\x01\x34",
    "negative-integer": b"\x30\x06\x02\x01\x80\x02\x01\x01",
    "long-form-short-length": b"\x30\x81\x06\x02\x01\x01\x02\x01\x01",
    "indefinite-length": b"\x30\x80\x02\x01\x01\x02\x01\x01\x00\x00",
    "wrong-outer-tag": b"\x31\x06\x02\x01\x01\x02\x01\x01",
    "octet-string-inside": b"\x30\x06\x04\x01\x01\x02\x01\x01",
    "three-integers": b"\x30\x09\x02\x01\x01\x02\x01\x01\x02\x01\x01",
    "one-integer": b"\x30\x03\x02\x01\x01",
    "empty-integer": b"\x30\x04\x02\x00\x02\x00",
    "truncated": GOOD_DER[:-1],
    "integer-wider-than-256-bits": b"\x30\x26\x02\x21\x01" + b"\x00" * 32 + b"\x02\x01\x01",
    "empty": b"",
    "huge": b"\x30\x82\xff\xff" + b"\x00" * 100,
}


def test_good_der_parses() -> None:
    assert sm2.signature_from_der(GOOD_DER) == _sig(*R_S)


@pytest.mark.parametrize("name", sorted(BAD_DER))
def test_non_canonical_der_rejected(name: str) -> None:
    with pytest.raises(InvalidSignature):
        sm2.signature_from_der(BAD_DER[name])


def _pem(label: str, der: bytes) -> bytes:
    return (
        f"-----BEGIN {label}-----\n".encode()
        + base64.encodebytes(der)
        + f"-----END {label}-----\n".encode()
    )


PKCS8 = KEY.to_pem()
P256_PKCS8 = _pem(
    "PRIVATE KEY",
    bytes.fromhex(
        "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420"
        + "11" * 32
        + "a144034200"
        + "04"
        + "22" * 64
    ),
)
BAD_PEM = {
    "empty": b"",
    "garbage": b"\x00\xffnot a pem at all",
    "bad-base64": b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    "label-mismatch": PKCS8.replace(b"END PRIVATE KEY", b"END PUBLIC KEY"),
    "truncated-der": _pem("PRIVATE KEY", base64.b64decode(b"".join(PKCS8.splitlines()[1:-1]))[:-5]),
    "p256-key": P256_PKCS8,
    "encrypted-pkcs8": _pem("ENCRYPTED PRIVATE KEY", b"\x30\x00"),
    "proc-type": b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n"
    b"-----END EC PRIVATE KEY-----\n",
    "zero-scalar": _pem(
        "PRIVATE KEY",
        bytes.fromhex(
            "3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420" + "00" * 32
        ),
    ),
    "mismatched-public": _pem(
        "PRIVATE KEY",
        _der.pkcs8(
            12345, sm2.PrivateKey.from_bytes((999).to_bytes(32, "big")).public_key().to_bytes()
        ),
    ),
    "too-large": b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 70000 + b"\n-----END PRIVATE KEY-----\n",
    "many-unterminated-begins": b"-----BEGIN A-----" * 3800,
    "begin-without-end": b"-----BEGIN PRIVATE KEY-----\nAAAA\n",
}


@pytest.mark.parametrize("name", sorted(BAD_PEM))
def test_garbage_private_pem(name: str) -> None:
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_pem(BAD_PEM[name])


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        _pem("PUBLIC KEY", b"\x30\x03\x02\x01\x01"),
        KEY.public_key().to_pem().replace(b"PUBLIC KEY", b"CERTIFICATE"),
        _pem(
            "PUBLIC KEY",
            bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200") + PUB,
        ),
        _pem(
            "PUBLIC KEY",
            bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")
            + BAD_PUBLIC_KEYS["off-curve"],
        ),
    ],
)
def test_garbage_public_pem(blob: bytes) -> None:
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_pem(blob)


def test_batch_with_malformed_items() -> None:
    good = (PUB, MSG, SIG)
    items: list[object] = [
        good,
        (PUB, MSG),
        (b"", MSG, SIG),
        (PUB, MSG, b""),
        None,
        (1, 2, 3),
        good,
    ]
    assert verify_batch(items) == [True, False, False, False, False, False, True]  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", BACKENDS)
def test_signature_whose_sum_point_is_infinity(backend: str) -> None:
    """A key owner can pick (r, s) with s*G + (r+s)*P = O and r = e: the standard rejects it.
    gmssl alone would raise here; both backends (and the reference) must say False."""
    d = 123456789
    pub = sm2.PrivateKey.from_bytes(d.to_bytes(32, "big"), backend=backend).public_key()
    e = int.from_bytes(sm3.digest(pub.z() + MSG), "big")
    r = e % N
    s = (-r * d * pow(1 + d, -1, N)) % N
    assert _ec.mul_add(sm2.CURVE, s, sm2.CURVE.g, r + s, pub.point) is None
    assert pub.verify(MSG, _sig(r, s)) is False
    assert _ec.verify_digest(sm2.CURVE, pub.point, e, r, s) is False
