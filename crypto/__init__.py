"""crypto: SM2/SM3/SM4 (+ an ECDSA P-256 suite), keys and keystores, Merkle trees.

Imports nothing else of ours. Submodules: `sm2`, `sm3`, `sm4`, `suite`, `merkle`,
`keystore`, `batch`. Errors derive from `CryptoError`.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.errors import (
    BackendUnavailable,
    CryptoError,
    DecryptError,
    InvalidKey,
    InvalidSignature,
    KeystoreError,
    WrongPassword,
)

__all__ = [
    "BackendUnavailable",
    "CryptoError",
    "DecryptError",
    "InvalidKey",
    "InvalidSignature",
    "KeystoreError",
    "WrongPassword",
    "verify_batch",
]


def verify_batch(items: Sequence[tuple[bytes, bytes, bytes]], suite: str = "sm") -> list[bool]:
    """Verify (pub65, msg, sig64) items: inline when small, on threads (one per core) when large."""
    from crypto.batch import verify_batch as _vb
    from crypto.suite import get_suite

    return _vb(items, suite, verify=get_suite(suite).verify)
