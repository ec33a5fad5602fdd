"""Typed errors of the crypto package: one base class, callers catch `CryptoError`."""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by `crypto` on bad input or a missing backend."""


class InvalidKey(CryptoError, ValueError):
    """A key's bytes, point or encoding is not acceptable (wrong length, off-curve, bad PEM)."""


class InvalidSignature(CryptoError, ValueError):
    """A signature encoding is malformed (e.g. non-canonical DER)."""


class DecryptError(CryptoError):
    """Authenticated decryption failed: wrong key, nonce, AAD or tampered data."""


class KeystoreError(CryptoError):
    """A keystore file is unreadable, malformed or uses unsupported parameters."""


class WrongPassword(KeystoreError):
    """The keystore password does not open the file (or the file was tampered with)."""


class BackendUnavailable(CryptoError):
    """The requested SM2 backend cannot be used on this system."""
