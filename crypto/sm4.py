"""SM4 (GB/T 32907) in GCM (AEAD) and CBC/PKCS#7.

GCM has two backends with identical output: ``native`` (``crypto/_sm4gcm.c``: a GFNI S-box,
or on x86-64 CPUs without GFNI one from AES-NI (VAES with AVX2 where there is), PCLMULQDQ
GHASH; constant time; on 64 KB records ~20x OpenSSL with GFNI, ~8x with VAES, ~4.5x with
AES-NI alone; ~15x on 300-byte ones) and ``openssl``
(`cryptography`; OpenSSL 3 has no SM4 acceleration on x86).
`CHAINNODE_SM4_BACKEND=auto|native|openssl` (default auto: native when built and the CPU has
PCLMULQDQ and GFNI or AES-NI). Everything else here is `cryptography`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.errors import CryptoError, DecryptError

if TYPE_CHECKING:
    from crypto._sm4gcm import SM4GCM as _NativeCtx

KEY_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
BLOCK_SIZE = 16

BACKEND_ENV = "CHAINNODE_SM4_BACKEND"
BACKENDS = ("auto", "native", "openssl")


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise CryptoError(f"SM4 key must be {KEY_SIZE} bytes, got {len(key)}")


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"SM4-GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")


def _load_native() -> tuple[ModuleType | None, str]:
    try:
        from crypto import _sm4gcm
    except ImportError as exc:
        return None, (
            f"the extension crypto._sm4gcm is not built ({exc}); build it with `make test` / "
            "`python setup.py build_ext --inplace` (needs a C compiler and Python headers)"
        )
    if not _sm4gcm.AVAILABLE:
        return None, f"this machine cannot run it: {_sm4gcm.REASON}"
    return _sm4gcm, ""


_NATIVE, _NATIVE_WHY_NOT = _load_native()


def _resolve(backend: str | None) -> str:
    choice = backend or os.environ.get(BACKEND_ENV, "auto") or "auto"
    if choice not in BACKENDS:
        raise CryptoError(f"unknown SM4 backend {choice!r} (expected one of {BACKENDS})")
    if choice == "auto":
        return "native" if _NATIVE is not None else "openssl"
    if choice == "native" and _NATIVE is None:
        raise CryptoError(
            f"SM4-GCM backend 'native' requested but unavailable: {_NATIVE_WHY_NOT}; "
            f"or set {BACKEND_ENV}=auto (or openssl) to use OpenSSL"
        )
    return choice


def gcm_backend(backend: str | None = None) -> str:
    """The SM4-GCM backend new `SM4GCM` objects use: ``"native"`` or ``"openssl"``."""
    return _resolve(backend)


def gcm_backend_info() -> str:
    """One line for logs and benchmark output: the active backend and why."""
    try:
        name = _resolve(None)
    except CryptoError as exc:
        return f"error: {exc}"
    if name == "native" and _NATIVE is not None:
        isa = _NATIVE.isa()
        sbox = "AES-NI" if isa in ("aesni-sse", "vaes-avx2") else "GFNI"
        return f"native ({sbox} SM4 + PCLMULQDQ GHASH, {isa})"
    if _NATIVE is None:
        return f"openssl (native unavailable: {_NATIVE_WHY_NOT})"
    return f"openssl (chosen by {BACKEND_ENV})"


def native_unavailable_reason() -> str:
    """Empty when the native backend can run here, else why not."""
    return _NATIVE_WHY_NOT


# fast path: plain=crypto.sm4.SM4GCM(backend="openssl") test=tests/crypto/test_sm4_native.py::test_native_equals_openssl_random
class SM4GCM:
    """SM4-GCM bound to one key (key schedule done once); output is ciphertext || tag16.

    `backend` (``"native"``, ``"openssl"`` or ``"auto"``) overrides `CHAINNODE_SM4_BACKEND`.
    """

    __slots__ = ("_alg", "_native", "backend")

    def __init__(self, key: bytes, backend: str | None = None) -> None:
        _check_key(key)
        self.backend = _resolve(backend)
        self._alg: algorithms.SM4 | None = None
        self._native: _NativeCtx | None = None
        if self.backend == "native":
            assert _NATIVE is not None
            self._native = _NATIVE.SM4GCM(key)
        else:
            self._alg = algorithms.SM4(bytes(key))

    def encrypt(self, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        native = self._native
        if native is not None:
            try:
                return native.seal(nonce, plaintext, aad)
            except ValueError as exc:  # nonce size, length limit
                raise CryptoError(str(exc)) from None
        _check_nonce(nonce)
        assert self._alg is not None
        enc = Cipher(self._alg, modes.GCM(bytes(nonce))).encryptor()
        if aad:
            enc.authenticate_additional_data(aad)
        ct = enc.update(plaintext) + enc.finalize()
        return ct + enc.tag

    def encrypt_with_header(self, nonce: bytes, parts: Sequence[bytes], header: bytes) -> bytes:
        """``header || encrypt(nonce, b"".join(parts), aad=header)`` as one new buffer.

        For length-prefixed records: the parts are gathered straight into the output (the
        native backend encrypts in place), saving the join and the header concatenation.
        """
        native = self._native
        if native is not None:
            try:
                return native.seal_parts(nonce, parts, header)
            except ValueError as exc:
                raise CryptoError(str(exc)) from None
        return header + self.encrypt(nonce, b"".join(parts), header)

    def decrypt(self, nonce: bytes, data: bytes | memoryview, aad: bytes = b"") -> bytes:
        """Plaintext, or `DecryptError`; `data` may be a memoryview (read in place)."""
        if len(data) < TAG_SIZE:
            _check_nonce(nonce)
            raise DecryptError("SM4-GCM data shorter than the tag")
        native = self._native
        if native is not None:
            try:
                plaintext = native.open(nonce, data, aad)
            except ValueError as exc:
                raise CryptoError(str(exc)) from None
            if plaintext is None:
                raise DecryptError("SM4-GCM authentication failed")
            return plaintext
        _check_nonce(nonce)
        assert self._alg is not None
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
