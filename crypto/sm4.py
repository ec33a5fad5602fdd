"""SM4 (GB/T 32907) in GCM (AEAD) and CBC/PKCS#7, from `cryptography`."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import CryptoError, DecryptError

KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"SM4-GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")


class SM4GCM:
    """SM4-GCM bound to one key (key schedule checked once); output is ciphertext || tag16."""

    __slots__ = ("_alg",)

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        self._alg = algorithms.SM4(bytes(key))

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        _check_nonce(nonce)
        enc = Cipher(self._alg, modes.GCM(bytes(nonce))).encryptor()
        if aad:
            enc.authenticate_additional_data(aad)
        ct = enc.update(plaintext) + enc.finalize()
        return ct + enc.tag

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
        _check_nonce(nonce)
        if len(data) < TAG_SIZE:
            raise DecryptError("SM4-GCM data shorter than the tag")
        ct, tag = bytes(data[:-TAG_SIZE]), bytes(data[-TAG_SIZE:])
        dec = Cipher(self._alg, modes.GCM(bytes(nonce), tag)).decryptor()
        if aad:
            dec.authenticate_additional_data(aad)
        try:
            return dec.update(ct) + dec.finalize()
        except InvalidTag:
            raise DecryptError("SM4-GCM authentication failed") from None


def gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM encrypt: returns ciphertext || 16-byte tag."""
    return SM4GCM(key).encrypt(nonce, plaintext, aad)


def gcm_decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM decrypt ciphertext || tag; raises `DecryptError` if it does not authenticate."""
    return SM4GCM(key).decrypt(nonce, data, aad)


def cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding (unauthenticated: pair it with a MAC)."""
    _check_key(key)
    if len(iv) != BLOCK_SIZE:
        raise CryptoError(f"SM4-CBC IV must be {BLOCK_SIZE} bytes, got {len(iv)}")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.SM4(bytes(key)), modes.CBC(bytes(iv))).encryptor()
    return enc.update(padded) + enc.finalize()


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Inverse of `cbc_encrypt`; bad length or padding raises `DecryptError`."""
    _check_key(key)
    if len(iv) != BLOCK_SIZE:
        raise CryptoError(f"SM4-CBC IV must be {BLOCK_SIZE} bytes, got {len(iv)}")
    if not data or len(data) % BLOCK_SIZE:
        raise DecryptError("SM4-CBC ciphertext is not a positive multiple of 16 bytes")
    dec = Cipher(algorithms.SM4(bytes(key)), modes.CBC(bytes(iv))).decryptor()
    padded = dec.update(bytes(data)) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptError("SM4-CBC bad padding") from None
