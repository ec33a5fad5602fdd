"""SM2 over the system's OpenSSL 3 libcrypto through ctypes.

Hot path design: a public key is parsed once into an EVP_PKEY and one EVP_PKEY_CTX that is
initialised for verification once; a verify is then a single `EVP_PKEY_verify` call on the
precomputed e = SM3(Z || M) (SM2's EVP_PKEY_verify takes the digest value e directly, which
is what EVP_DigestVerify computes internally with the distinguishing ID). ctypes releases
the GIL during the call, so a per-key lock keeps the shared context single-threaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Any

from crypto import _der
from crypto.errors import BackendUnavailable

NAME = "openssl"
_c_p = ctypes.c_void_p
_c_size = ctypes.c_size_t
_FIX = (
    "install OpenSSL >= 3.0 with SM2 enabled (e.g. `apt-get install libssl3`), point "
    "CHAINNODE_LIBCRYPTO at such a libcrypto, or set CHAINNODE_SM2_BACKEND=gmssl"
)


def _find_library() -> str:
    env = os.environ.get("CHAINNODE_LIBCRYPTO")
    if env:
        return env
    for cand in ("libcrypto.so.3", ctypes.util.find_library("crypto"), "libcrypto.3.dylib"):
        if not cand:
            continue
        try:
            ctypes.CDLL(cand)
        except OSError:
            continue
        return cand
    raise BackendUnavailable(f"no libcrypto found; {_FIX}")


def _load() -> Any:
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise BackendUnavailable(f"cannot load libcrypto {path!r}: {exc}; {_FIX}") from None
    try:
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        version = lib.OpenSSL_version_num()
    except AttributeError:
        raise BackendUnavailable(f"{path!r} is not OpenSSL libcrypto; {_FIX}") from None
    if version < 0x30000000:
        raise BackendUnavailable(f"{path!r} is OpenSSL {version:#x}, need >= 3.0; {_FIX}")
    pp = ctypes.POINTER(ctypes.c_char_p)
    sigs: dict[str, tuple[Any, list[Any]]] = {
        "d2i_PUBKEY": (_c_p, [_c_p, pp, ctypes.c_long]),
        "d2i_AutoPrivateKey": (_c_p, [_c_p, pp, ctypes.c_long]),
        "EVP_PKEY_is_a": (ctypes.c_int, [_c_p, ctypes.c_char_p]),
        "EVP_PKEY_free": (None, [_c_p]),
        "EVP_PKEY_CTX_new": (_c_p, [_c_p, _c_p]),
        "EVP_PKEY_CTX_free": (None, [_c_p]),
        "EVP_PKEY_verify_init": (ctypes.c_int, [_c_p]),
        "EVP_PKEY_verify": (
            ctypes.c_int,
            [_c_p, ctypes.c_char_p, _c_size, ctypes.c_char_p, _c_size],
        ),
        "EVP_PKEY_sign_init": (ctypes.c_int, [_c_p]),
        "EVP_PKEY_sign": (
            ctypes.c_int,
            [_c_p, ctypes.c_char_p, ctypes.POINTER(_c_size), ctypes.c_char_p, _c_size],
        ),
        "EVP_PKEY_decrypt_init": (ctypes.c_int, [_c_p]),
        "EVP_PKEY_decrypt": (
            ctypes.c_int,
            [_c_p, ctypes.c_char_p, ctypes.POINTER(_c_size), ctypes.c_char_p, _c_size],
        ),
        "EVP_MD_fetch": (_c_p, [_c_p, ctypes.c_char_p, ctypes.c_char_p]),
        "EVP_MD_CTX_new": (_c_p, []),
        "EVP_MD_CTX_free": (None, [_c_p]),
        "EVP_MD_CTX_set_pkey_ctx": (None, [_c_p, _c_p]),
        "EVP_PKEY_CTX_set1_id": (ctypes.c_int, [_c_p, ctypes.c_char_p, ctypes.c_int]),
        "EVP_DigestVerifyInit": (ctypes.c_int, [_c_p, _c_p, _c_p, _c_p, _c_p]),
        "EVP_DigestVerify": (
            ctypes.c_int,
            [_c_p, ctypes.c_char_p, _c_size, ctypes.c_char_p, _c_size],
        ),
        "ERR_clear_error": (None, []),
    }
    try:
        for name, (res, args) in sigs.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
    except AttributeError as exc:
        raise BackendUnavailable(f"{path!r} lacks {exc}; {_FIX}") from None
    return lib


_lib: Any = None
_lib_error: BackendUnavailable | None = None
_lib_lock = threading.Lock()


def lib() -> Any:
    """The configured libcrypto, loaded and SM2-checked once."""
    global _lib, _lib_error
    if _lib is not None:
        return _lib
    if _lib_error is not None:
        raise _lib_error
    with _lib_lock:
        if _lib is None and _lib_error is None:
            try:
                candidate = _load()
                _selftest(candidate)
                _lib = candidate
            except BackendUnavailable as exc:
                _lib_error = exc
                raise
    if _lib is None:
        assert _lib_error is not None
        raise _lib_error
    return _lib


def _selftest(candidate: Any) -> None:
    gen = bytes.fromhex(
        "0432c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
        "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
    )
    der = _der.spki(gen)
    buf = ctypes.c_char_p(der)
    pkey = candidate.d2i_PUBKEY(None, ctypes.byref(buf), len(der))
    if not pkey:
        candidate.ERR_clear_error()
        raise BackendUnavailable(f"libcrypto cannot parse SM2 keys (no SM2 support); {_FIX}")
    ok = candidate.EVP_PKEY_is_a(pkey, b"SM2")
    candidate.EVP_PKEY_free(pkey)
    if ok != 1:
        raise BackendUnavailable(f"libcrypto does not treat SM2-curve keys as SM2; {_FIX}")


class _Handle:
    """An EVP_PKEY and an EVP_PKEY_CTX initialised for one operation, freed with the object."""

    __slots__ = ("pkey", "ctx", "lock", "_lib")

    def __init__(self, pkey: int, op: str) -> None:
        self._lib = lib()
        self.pkey = pkey
        self.ctx = self._lib.EVP_PKEY_CTX_new(pkey, None)
        self.lock = threading.Lock()
        init = self._lib.EVP_PKEY_verify_init if op == "verify" else self._lib.EVP_PKEY_sign_init
        if not self.ctx or init(self.ctx) != 1:
            self._lib.ERR_clear_error()
            raise BackendUnavailable(f"libcrypto refused EVP_PKEY_{op}_init for SM2; {_FIX}")

    def __del__(self) -> None:
        lib_ = getattr(self, "_lib", None)
        if lib_ is None:
            return
        if getattr(self, "ctx", None):
            lib_.EVP_PKEY_CTX_free(self.ctx)
        if getattr(self, "pkey", None):
            lib_.EVP_PKEY_free(self.pkey)


def load_public(pub65: bytes) -> _Handle | None:
    """A verify handle for a validated 65-byte point, or None if libcrypto rejects it."""
    lb = lib()
    der = _der.SPKI_PREFIX + pub65
    buf = ctypes.c_char_p(der)
    pkey = lb.d2i_PUBKEY(None, ctypes.byref(buf), len(der))
    if not pkey:
        lb.ERR_clear_error()
        return None
    if lb.EVP_PKEY_is_a(pkey, b"SM2") != 1:
        lb.EVP_PKEY_free(pkey)
        return None
    return _Handle(pkey, "verify")


def load_private(d: int, pub65: bytes) -> _Handle:
    lb = lib()
    der = _der.pkcs8(d, pub65)
    buf = ctypes.c_char_p(der)
    pkey = lb.d2i_AutoPrivateKey(None, ctypes.byref(buf), len(der))
    if not pkey:
        lb.ERR_clear_error()
        raise BackendUnavailable(f"libcrypto refused an SM2 private key; {_FIX}")
    return _Handle(pkey, "sign")


# (r high bit, s high bit) -> the DER bytes before r and between r and s, for an r and s with
# no leading zero byte (all but ~1 in 128 signatures): 32 bytes each, plus a 0x00 pad when
# the high bit is set
_DER_PARTS = {
    (rh, sh): (
        bytes((0x30, 68 + rh + sh, 0x02, 32 + rh)) + b"\x00" * rh,
        bytes((0x02, 32 + sh)) + b"\x00" * sh,
    )
    for rh in (0, 1)
    for sh in (0, 1)
}


# fast path: plain=crypto.sm2.signature_to_der test=tests/crypto/test_verify_fast_paths.py::test_sig_der_matches_the_asn1_encoder
def _sig_der(sig64: bytes) -> bytes:
    r0 = sig64[0]
    s0 = sig64[32]
    if r0 and s0:
        head, mid = _DER_PARTS[r0 >> 7, s0 >> 7]
        return head + sig64[:32] + mid + sig64[32:]
    r = sig64[:32].lstrip(b"\x00") or b"\x00"
    s = sig64[32:].lstrip(b"\x00") or b"\x00"
    if r[0] & 0x80:
        r = b"\x00" + r
    if s[0] & 0x80:
        s = b"\x00" + s
    body = b"\x02" + bytes((len(r),)) + r + b"\x02" + bytes((len(s),)) + s
    return b"\x30" + bytes((len(body),)) + body


def verify_digest(handle: Any, e: bytes, sig64: bytes) -> bool:
    """Verify raw r||s (already range-checked: 1 <= r, s < n) over digest value e."""
    der = _sig_der(sig64)
    with handle.lock:
        rc = handle._lib.EVP_PKEY_verify(handle.ctx, der, len(der), e, 32)
    if rc != 1:
        handle._lib.ERR_clear_error()
        return False
    return True


def sign_digest(handle: Any, e: bytes) -> bytes:
    """Raw r||s over digest value e (nonce from OpenSSL's DRBG)."""
    out = ctypes.create_string_buffer(80)
    outlen = _c_size(80)
    with handle.lock:
        rc = handle._lib.EVP_PKEY_sign(handle.ctx, out, ctypes.byref(outlen), e, 32)
    if rc != 1:
        handle._lib.ERR_clear_error()
        raise BackendUnavailable("libcrypto EVP_PKEY_sign failed for SM2")
    r, s = _der.parse_sm2_signature(out.raw[: outlen.value])
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def decrypt(d: int, pub65: bytes, der: bytes) -> bytes | None:
    """SM2 decryption of a GM/T 0009 DER ciphertext by libcrypto (a cross-check, not hot)."""
    lb = lib()
    key = load_private(d, pub65)
    ctx = lb.EVP_PKEY_CTX_new(key.pkey, None)
    try:
        if not ctx or lb.EVP_PKEY_decrypt_init(ctx) != 1:
            return None
        outlen = _c_size(0)
        if lb.EVP_PKEY_decrypt(ctx, None, ctypes.byref(outlen), der, len(der)) != 1:
            return None
        out = ctypes.create_string_buffer(outlen.value)
        if lb.EVP_PKEY_decrypt(ctx, out, ctypes.byref(outlen), der, len(der)) != 1:
            return None
        return out.raw[: outlen.value]
    finally:
        lb.ERR_clear_error()
        if ctx:
            lb.EVP_PKEY_CTX_free(ctx)


_sm3_md: int | None = None


def digest_verify(handle: Any, message: bytes, sig64: bytes, user_id: bytes) -> bool:
    """The textbook path: EVP_DigestVerify with SM3 and the distinguishing ID, so libcrypto
    computes Z and e itself. ~7 calls and two allocations per verify, measurably slower than
    `verify_digest`; kept to cross-check our Z/e computation and for the benchmark."""
    global _sm3_md
    lb = handle._lib
    if _sm3_md is None:
        _sm3_md = lb.EVP_MD_fetch(None, b"SM3", None)  # fetched once, reused
    der = _sig_der(sig64)
    mctx = lb.EVP_MD_CTX_new()
    pctx = lb.EVP_PKEY_CTX_new(handle.pkey, None)
    try:
        if not mctx or not pctx or lb.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) != 1:
            return False
        lb.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)
        if lb.EVP_DigestVerifyInit(mctx, None, _sm3_md, None, handle.pkey) != 1:
            return False
        return bool(lb.EVP_DigestVerify(mctx, der, len(der), message, len(message)) == 1)
    finally:
        lb.ERR_clear_error()
        if mctx:
            lb.EVP_MD_CTX_free(mctx)
        if pctx:
            lb.EVP_PKEY_CTX_free(pctx)
