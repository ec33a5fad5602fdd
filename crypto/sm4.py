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


class SM4Block:
    """Raw SM4 block operations under one key (ECB contexts kept open for speed).

    For known-answer tests and building other modes; never use ECB on real data.
    """

    __slots__ = ("_enc", "_dec")

    def __init__(self, key: bytes) -> None:
        _check_key(key)
        cipher = Cipher(algorithms.SM4(bytes(key)), modes.ECB())
        self._enc = cipher.encryptor()
        self._dec = cipher.decryptor()

    def encrypt(self, block: bytes) -> bytes:
        if len(block) != BLOCK_SIZE:
            raise CryptoError("SM4 block must be 16 bytes")
        return self._enc.update(block)

    def decrypt(self, block: bytes) -> bytes:
        if len(block) != BLOCK_SIZE:
            raise CryptoError("SM4 block must be 16 bytes")
        return self._dec.update(block)


def ctr_crypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """SM4-CTR with a full 128-bit big-endian counter starting at `iv` (encrypt = decrypt)."""
    _check_key(key)
    if len(iv) != BLOCK_SIZE:
        raise CryptoError("SM4-CTR IV must be 16 bytes")
    enc = Cipher(algorithms.SM4(bytes(key)), modes.CTR(bytes(iv))).encryptor()
    return enc.update(bytes(data)) + enc.finalize()


# --- CCM (NIST SP 800-38C / RFC 3610), built on SM4 from `cryptography` --------------------

CCM_MAX_DATA = 1 << 30


def _ccm_check(nonce: bytes, tag_len: int) -> int:
    if not 7 <= len(nonce) <= 13:
        raise CryptoError("SM4-CCM nonce must be 7..13 bytes")
    if tag_len not in (4, 6, 8, 10, 12, 14, 16):
        raise CryptoError("SM4-CCM tag length must be even, 4..16")
    return 15 - len(nonce)  # L: bytes of the length/counter field


def _ccm_mac(alg: algorithms.SM4, nonce: bytes, data: bytes, aad: bytes, tag_len: int) -> bytes:
    q = 15 - len(nonce)
    if len(data) >= 1 << (8 * q):
        raise CryptoError("SM4-CCM message too long for this nonce size")
    flags = (0x40 if aad else 0) | (((tag_len - 2) // 2) << 3) | (q - 1)
    blocks = bytearray(bytes((flags,)) + nonce + len(data).to_bytes(q, "big"))
    if aad:
        a = len(aad)
        if a < 0xFF00:
            blocks += a.to_bytes(2, "big")
        elif a < 1 << 32:
            blocks += b"\xff\xfe" + a.to_bytes(4, "big")
        else:
            blocks += b"\xff\xff" + a.to_bytes(8, "big")
        blocks += aad
        blocks += bytes(-len(blocks) % 16)
    blocks += data
    blocks += bytes(-len(blocks) % 16)
    enc = Cipher(alg, modes.CBC(bytes(16))).encryptor()
    mac = enc.update(bytes(blocks)) + enc.finalize()
    return mac[-16:][:tag_len]


def _ccm_ctr(alg: algorithms.SM4, nonce: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(S0, data xor keystream from counter 1)."""
    q = 15 - len(nonce)
    a0 = bytes((q - 1,)) + nonce + bytes(q)
    enc = Cipher(alg, modes.CTR(a0)).encryptor()
    out = enc.update(bytes(16) + data) + enc.finalize()
    return out[:16], out[16:]


def ccm_encrypt(
    key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"", tag_len: int = 16
) -> bytes:
    """SM4-CCM (RFC 8998 uses a 12-byte nonce and 16-byte tag): ciphertext || tag."""
    _check_key(key)
    _ccm_check(nonce, tag_len)
    if len(plaintext) > CCM_MAX_DATA:
        raise CryptoError("SM4-CCM message too long")
    alg = algorithms.SM4(bytes(key))
    tag = _ccm_mac(alg, bytes(nonce), bytes(plaintext), bytes(aad), tag_len)
    s0, ct = _ccm_ctr(alg, bytes(nonce), bytes(plaintext))
    return ct + bytes(x ^ y for x, y in zip(tag, s0, strict=False))


def ccm_decrypt(
    key: bytes, nonce: bytes, data: bytes, aad: bytes = b"", tag_len: int = 16
) -> bytes:
    """Inverse of `ccm_encrypt`; raises `DecryptError` if the tag does not match."""
    import hmac as _std_hmac

    _check_key(key)
    _ccm_check(nonce, tag_len)
    if len(data) < tag_len or len(data) > CCM_MAX_DATA + tag_len:
        raise DecryptError("SM4-CCM data length invalid")
    alg = algorithms.SM4(bytes(key))
    ct, got = bytes(data[:-tag_len]), bytes(data[-tag_len:])
    s0, pt = _ccm_ctr(alg, bytes(nonce), ct)
    try:
        want = _ccm_mac(alg, bytes(nonce), pt, bytes(aad), tag_len)
    except CryptoError:
        raise DecryptError("SM4-CCM message too long for this nonce size") from None
    want = bytes(x ^ y for x, y in zip(want, s0, strict=False))
    if not _std_hmac.compare_digest(want, got):
        raise DecryptError("SM4-CCM authentication failed")
    return pt
