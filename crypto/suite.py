"""Per-chain crypto suites, chosen at genesis and never mixed: "sm" and "ecdsa-p256".

A suite works on plain bytes (32-byte private scalars, 65-byte uncompressed public keys,
64-byte raw r||s) so consensus and the ledger never see key objects. Parsed keys are cached
inside (public keys by their 65 bytes, private keys by their 32 bytes).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CgInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from crypto import sm2, sm3
from crypto.errors import CryptoError, InvalidKey

VerifyItem = tuple[bytes, bytes, bytes]


@dataclass(frozen=True, slots=True)
class Suite:
    """Hash, keygen, sign, verify and address for one chain."""

    name: str
    hash: Callable[[bytes], bytes]
    generate_private_key: Callable[[], bytes]
    public_key: Callable[[bytes], bytes]
    sign: Callable[[bytes, bytes], bytes]
    verify: Callable[[bytes, bytes, bytes], bool]

    def verify_batch(self, items: Sequence[VerifyItem]) -> list[bool]:
        """Verify many (pub, msg, sig); large batches go to threads, one per core."""
        from crypto.batch import verify_batch

        return verify_batch(items, suite=self.name, verify=self.verify)

    def is_public_key(self, pub: bytes) -> bool:
        """True iff `pub` is a 65-byte uncompressed point on this suite's curve (for keys
        that arrive as data, e.g. a validator added by governance, before anyone relies on
        them). Parsed keys land in the suite's cache."""
        if not isinstance(pub, bytes) or len(pub) != 65 or pub[0] != 4:
            return False
        try:
            if self.name == "sm":
                sm2.PublicKey.from_bytes(pub)
            else:
                _p256_pub(pub)
        except CryptoError:
            return False
        return True

    def address(self, pub: bytes) -> bytes:
        """Last 20 bytes of hash(x || y) of a 65-byte uncompressed public key."""
        if len(pub) != 65 or pub[0] != 4:
            raise InvalidKey("address needs a 65-byte uncompressed public key")
        return self.hash(pub[1:])[-20:]


# --- sm ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _sm_priv(priv: bytes) -> sm2.PrivateKey:
    return sm2.PrivateKey.from_bytes(priv)


def _sm_generate() -> bytes:
    return sm2.PrivateKey.generate().to_bytes()


def _sm_public(priv: bytes) -> bytes:
    return _sm_priv(bytes(priv)).public_key().to_bytes()


def _sm_sign(priv: bytes, msg: bytes) -> bytes:
    return _sm_priv(bytes(priv)).sign(msg)


_sm_verify = sm2.verify_default


# --- ecdsa-p256 ------------------------------------------------------------------------------

_P256 = ec.SECP256R1()
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA = ec.ECDSA(hashes.SHA256())


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@functools.lru_cache(maxsize=1024)
def _p256_priv(priv: bytes) -> ec.EllipticCurvePrivateKey:
    if len(priv) != 32:
        raise InvalidKey("P-256 private key must be 32 bytes")
    d = int.from_bytes(priv, "big")
    if not 1 <= d < _P256_N:
        raise InvalidKey("P-256 private key out of range")
    return ec.derive_private_key(d, _P256)


@functools.lru_cache(maxsize=8192)
def _p256_pub(pub: bytes) -> ec.EllipticCurvePublicKey:
    if len(pub) != 65 or pub[0] != 4:
        raise InvalidKey("P-256 public key must be 65 bytes (04||x||y)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, pub)
    except ValueError:
        raise InvalidKey("P-256 public key is not on the curve") from None


def _p256_generate() -> bytes:
    key = ec.generate_private_key(_P256)
    return key.private_numbers().private_value.to_bytes(32, "big")


def _p256_public(priv: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return (
        _p256_priv(bytes(priv))
        .public_key()
        .public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )


def _p256_sign(priv: bytes, msg: bytes) -> bytes:
    """Raw r||s with low s (s <= n/2), so each signature has one canonical form."""
    r, s = decode_dss_signature(_p256_priv(bytes(priv)).sign(msg, _ECDSA))
    if s > _P256_N // 2:
        s = _P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _p256_verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """Rejects high-s signatures: the malleated twin of a valid signature never verifies."""
    if len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < _P256_N and 0 < s <= _P256_N // 2):
        return False
    try:
        key = _p256_pub(bytes(pub))
        key.verify(encode_dss_signature(r, s), bytes(msg), _ECDSA)
    except (_CgInvalidSignature, CryptoError, TypeError):
        return False
    return True


SUITES: dict[str, Suite] = {
    "sm": Suite("sm", sm3.digest, _sm_generate, _sm_public, _sm_sign, _sm_verify),
    "ecdsa-p256": Suite(
        "ecdsa-p256", _sha256, _p256_generate, _p256_public, _p256_sign, _p256_verify
    ),
}


def get_suite(name: str = "sm") -> Suite:
    try:
        return SUITES[name]
    except KeyError:
        raise CryptoError(
            f"unknown crypto suite {name!r}; choose one of {sorted(SUITES)}"
        ) from None
