"""SM2 sign/verify on both backends, the GM/T 0003.5 Annex A vector, DER and PEM round trips."""

from __future__ import annotations

import pytest

from crypto import CryptoError, InvalidKey, InvalidSignature, sm2

BACKENDS = ["native", "openssl", "gmssl"]

ANNEX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
ANNEX_PUB = bytes.fromhex(
    "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
ANNEX_SIG = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sign_verify_roundtrip(backend: str) -> None:
    key = sm2.PrivateKey.generate(backend=backend)
    pub = key.public_key()
    sig = key.sign(b"payload")
    assert len(sig) == 64
    assert pub.verify(b"payload", sig)
    assert not pub.verify(b"payloaD", sig)
    assert not pub.verify(b"payload", sig, user_id=b"someone-else")
    sig2 = key.sign(b"payload", user_id=b"alice@example")
    assert pub.verify(b"payload", sig2, user_id=b"alice@example")
    assert not pub.verify(b"payload", sig2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_annex_a_signature_verifies(backend: str) -> None:
    pub = sm2.PublicKey.from_bytes(ANNEX_PUB, backend=backend)
    assert pub.verify(b"message digest", ANNEX_SIG)
    assert not pub.verify(b"message digesT", ANNEX_SIG)
    key = sm2.PrivateKey.from_bytes(ANNEX_D.to_bytes(32, "big"), backend=backend)
    assert key.public_key().to_bytes() == ANNEX_PUB


def test_public_keys_are_cached() -> None:
    a = sm2.PublicKey.from_bytes(ANNEX_PUB, backend="openssl")
    b = sm2.PublicKey.from_bytes(bytearray(ANNEX_PUB), backend="openssl")
    assert a is b


def test_der_roundtrip_and_strictness() -> None:
    der = sm2.signature_to_der(ANNEX_SIG)
    assert sm2.signature_from_der(der) == ANNEX_SIG
    with pytest.raises(InvalidSignature):
        sm2.signature_from_der(der + b"\x00")
    with pytest.raises(InvalidSignature):
        sm2.signature_to_der(ANNEX_SIG[:63])


def test_pem_roundtrip() -> None:
    key = sm2.PrivateKey.generate()
    again = sm2.PrivateKey.from_pem(key.to_pem())
    assert again.to_bytes() == key.to_bytes()
    pub = sm2.PublicKey.from_pem(key.public_key().to_pem())
    assert pub == key.public_key()
    with pytest.raises(InvalidKey):
        sm2.PrivateKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_exchange_is_symmetric() -> None:
    a, b = sm2.PrivateKey.generate(), sm2.PrivateKey.generate()
    shared = a.exchange(b.public_key())
    assert shared == b.exchange(a.public_key())
    assert len(shared) == 32


def test_bad_public_key_is_typed_error() -> None:
    with pytest.raises(InvalidKey):
        sm2.PublicKey.from_bytes(ANNEX_PUB[:-1] + bytes([ANNEX_PUB[-1] ^ 1]))
    with pytest.raises(CryptoError):
        sm2.PublicKey.from_bytes("04ab")  # type: ignore[arg-type]


def test_verify_default_agrees_with_public_key_verify_on_edge_signatures() -> None:
    """The fused hot path checks exactly what `PublicKey.verify` checks (range, length, key)."""
    key = sm2.PrivateKey.generate()
    pub = key.public_key().to_bytes()
    msg = b"edge"
    good = key.sign(msg)
    n = sm2.N.to_bytes(32, "big")
    n1 = (sm2.N - 1).to_bytes(32, "big")
    zero, one = bytes(32), (1).to_bytes(32, "big")
    sigs = [good, good[:32] + n, n + good[32:], zero + good[32:], good[:32] + zero]
    sigs += [n1 + one, one + n1, good[:-1], good + b"\0", b"", bytes([good[0] ^ 1]) + good[1:]]
    for sig in sigs:
        want = sm2.PublicKey.from_bytes(pub).verify(msg, sig)
        assert sm2.verify_default(pub, msg, sig) is want
    assert sm2.verify_default(pub, msg, good) is True
    assert sm2.verify_default(bytearray(pub), memoryview(msg), bytearray(good)) is True
    assert sm2.verify_default(pub[:-1] + bytes([pub[-1] ^ 1]), msg, good) is False  # off curve
    assert sm2.verify_default(pub, "edge", good) is False  # type: ignore[arg-type]
