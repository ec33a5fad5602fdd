"""A cheap deterministic signer double for the simulator (consensus is what is tested).

Keys look like SM2 public keys (65 bytes, 04||x||y) but a signature is a keyed BLAKE2b MAC,
so thousands of schedules run in seconds. Forgery is still detected: without the secret of
a key nobody can produce its MAC.
"""

from __future__ import annotations

import hashlib
import hmac


class FakeSuite:
    """Registry of fake key pairs; ``verify`` is the injected verifier of every replica."""

    def __init__(self) -> None:
        self._secrets: dict[bytes, bytes] = {}

    def keypair(self, label: str) -> tuple[bytes, bytes]:
        secret = hashlib.sha256(b"sim-secret:" + label.encode()).digest()
        xy = hashlib.sha512(b"sim-public:" + secret).digest()
        public = b"\x04" + xy[:64]
        self._secrets[public] = secret
        return public, secret

    def signer(self, public: bytes) -> FakeSigner:
        return FakeSigner(self._secrets[public])

    def verify(self, public: bytes, message: bytes, signature: bytes) -> bool:
        secret = self._secrets.get(public)
        if secret is None or len(signature) != 64:
            return False
        return hmac.compare_digest(_mac(secret, message), signature)


class FakeSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def __call__(self, message: bytes) -> bytes:
        return _mac(self._secret, message)


def _mac(secret: bytes, message: bytes) -> bytes:
    return hashlib.blake2b(message, key=secret, digest_size=64).digest()
