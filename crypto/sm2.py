"""SM2 signatures (GB/T 32918.2) with the signer ID, keys, PEM, and ECDH on the SM2 curve.

Three backends, one behaviour: `native` (verification in our C extension
`crypto._sm2verify`, signing on OpenSSL; the default when built), `openssl` (system libcrypto
via ctypes) and `gmssl` (pure Python, fallback and cross-check). Choice, strongest first: the
`backend=` argument, `set_backend()` (node config), env
`CHAINNODE_SM2_BACKEND=native|openssl|gmssl|auto`, else automatic (native if built and
usable, logged when not; then openssl if its libcrypto has SM2, else gmssl). Input checks
that matter for safety (lengths, point on curve, 1 <= r, s < n, ID length) happen here,
before any backend, so all backends accept and reject exactly the same inputs.

Signatures are raw 64-byte r||s (canonical, fixed length); e = SM3(Z || M) with
Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA). Parsed public keys are cached by
their 65 bytes, so a repeat signer costs no re-parse.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import os
import re
import secrets
import threading
from types import ModuleType
from typing import Any

from crypto import _der, _ec, _gmssl, _native, _openssl, sm3
from crypto.errors import BackendUnavailable, CryptoError, InvalidKey, InvalidSignature

DEFAULT_ID = b"1234567812345678"
CURVE = _ec.SM2P256V1
N = CURVE.n
P = CURVE.p
MAX_ID_BYTES = 8191  # ENTL is a 16-bit bit length
MAX_PEM_BYTES = 64 * 1024
PUBLIC_CACHE_SIZE = 8192
ENV_BACKEND = "CHAINNODE_SM2_BACKEND"

_BACKENDS: dict[str, ModuleType] = {"native": _native, "openssl": _openssl, "gmssl": _gmssl}
_NATIVE_EXT: Any = _native._EXT  # the extension module or None; hot paths call it directly
_log = logging.getLogger("crypto.sm2")
_configured: str | None = None
_auto: str | None = None
_auto_lock = threading.Lock()

BytesLike = bytes | bytearray | memoryview


def _as_bytes(data: object, what: str) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise CryptoError(f"{what} must be bytes, not {type(data).__name__}")


# --- backend selection -------------------------------------------------------------------


def set_backend(name: str | None) -> None:
    """Configure the default backend (`None`: back to env / automatic)."""
    global _configured
    if name is not None and name not in _BACKENDS and name != "auto":
        raise CryptoError(f"unknown SM2 backend {name!r}; choose native, openssl, gmssl or auto")
    _configured = name


def backend_name(name: str | None = None) -> str:
    """Resolve a backend choice to `native`, `openssl` or `gmssl`, checking it is usable."""
    explicit = name or _configured
    key = (explicit, None if explicit else os.environ.get(ENV_BACKEND))
    hit = _resolved.get(key)
    if hit is None:
        hit = _resolved[key] = _resolve(key[0] or key[1] or "auto")
    return hit


_resolved: dict[tuple[str | None, str | None], str] = {}


def _resolve(choice: str) -> str:
    choice = choice.strip().lower()
    if choice == "auto":
        return _auto_backend()
    if choice == "native":
        _native.ext()  # raises BackendUnavailable naming why
        return choice
    if choice == "openssl":
        _openssl.lib()  # raises BackendUnavailable naming the fix
        return choice
    if choice == "gmssl":
        _gmssl._cls()
        return choice
    raise CryptoError(
        f"unknown SM2 backend {choice!r} ({ENV_BACKEND}); use native, openssl, gmssl or auto"
    )


def _auto_backend() -> str:
    global _auto
    if _auto is None:
        with _auto_lock:
            why_not = _native.unavailable_reason()
            if not why_not:
                _auto = "native"
                return _auto
            try:
                _openssl.lib()
                _auto = "openssl"
            except BackendUnavailable as no_openssl:
                try:
                    _gmssl._cls()
                except BackendUnavailable as no_gmssl:
                    raise BackendUnavailable(f"{no_openssl}; {no_gmssl}") from None
                _auto = "gmssl"
            _log.warning("SM2 verification falls back to %s: %s", _auto, why_not)
    return _auto


def backend_info() -> str:
    """One line for logs and benchmark output: the default backend and why."""
    try:
        name = backend_name()
    except CryptoError as exc:
        return f"error: {exc}"
    if name == "native":
        return f"native ({_NATIVE_EXT.isa()}; signing on OpenSSL)"
    why_not = _native.unavailable_reason()
    return f"{name} (native unavailable: {why_not})" if why_not else f"{name} (configured)"


def available_backends() -> list[str]:
    out = []
    for name in _BACKENDS:
        try:
            backend_name(name)
        except CryptoError:
            continue
        out.append(name)
    return out


# --- helpers -----------------------------------------------------------------------------


def _point_from_bytes(raw: bytes) -> tuple[int, int]:
    if len(raw) != 65:
        raise InvalidKey(f"SM2 public key must be 65 bytes (04||x||y), got {len(raw)}")
    if raw[0] != 4:
        raise InvalidKey("SM2 public key must be uncompressed (first byte 0x04)")
    x = int.from_bytes(raw[1:33], "big")
    y = int.from_bytes(raw[33:], "big")
    if not _ec.is_on_curve(CURVE, (x, y)):
        raise InvalidKey("SM2 public key is not a point on the SM2 curve")
    return x, y


def _z(point: tuple[int, int], user_id: bytes) -> bytes:
    return _ec.compute_z(CURVE, point, user_id, sm3.digest)


def _check_id(user_id: object) -> bytes:
    uid = _as_bytes(user_id, "user_id")
    if len(uid) > MAX_ID_BYTES:
        raise CryptoError(f"SM2 user ID longer than {MAX_ID_BYTES} bytes")
    return uid


_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----")


def _pem_blocks(data: object) -> list[tuple[str, bytes]]:
    """The (label, DER) blocks of a PEM text, in linear time (the input may be hostile)."""
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    raw = _as_bytes(data, "PEM")
    if len(raw) > MAX_PEM_BYTES:
        raise InvalidKey("PEM input too large")
    blocks = []
    pos = 0
    while (m := _PEM_BEGIN.search(raw, pos)) is not None:
        label = m.group(1)
        end_marker = b"-----END " + label + b"-----"
        end = raw.find(end_marker, m.end())
        if end < 0:
            raise InvalidKey(f"PEM block {label.decode()!r} has no matching END line")
        body = raw[m.end() : end]
        if b"-----" in body:
            raise InvalidKey("nested or mismatched PEM markers")
        if b":" in body:
            raise InvalidKey("encrypted (Proc-Type) PEM is not supported; use crypto.keystore")
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidKey("PEM body is not valid base64") from None
        blocks.append((label.decode(), der))
        pos = end + len(end_marker)
    if not blocks:
        raise InvalidKey("no PEM block found")
    return blocks


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    head = f"-----BEGIN {label}-----\n".encode()
    return head + b"\n".join(lines) + f"\n-----END {label}-----\n".encode()


# --- public keys ---------------------------------------------------------------------------


class PublicKey:
    """An SM2 public key bound to a backend; obtain via `from_bytes` (cached) or `from_pem`."""

    __slots__ = ("_raw", "_point", "_backend", "_handle", "_zdef", "_zcache", "__weakref__")

    def __init__(self, raw: bytes, point: tuple[int, int], backend: str, handle: Any) -> None:
        self._raw = raw
        self._point = point
        self._backend = backend
        self._handle = handle
        self._zdef = _z(point, DEFAULT_ID)
        self._zcache: dict[bytes, bytes] = {}

    @classmethod
    def from_bytes(cls, data: BytesLike, *, backend: str | None = None) -> PublicKey:
        """Parse 65-byte 04||x||y (validated, cached per backend); raises `InvalidKey`."""
        return _load_public(backend_name(backend), _as_bytes(data, "public key"))

    @classmethod
    def from_pem(cls, data: bytes | str, *, backend: str | None = None) -> PublicKey:
        """Read a SubjectPublicKeyInfo PEM (`openssl pkey -pubout`)."""
        for label, der in _pem_blocks(data):
            if label == "PUBLIC KEY":
                try:
                    raw = _der.parse_spki(der)
                except ValueError as exc:
                    raise InvalidKey(f"bad SM2 public key PEM: {exc}") from None
                return cls.from_bytes(raw, backend=backend)
        raise InvalidKey("no PUBLIC KEY block in PEM")

    def to_bytes(self) -> bytes:
        return self._raw

    def to_pem(self) -> bytes:
        return _pem("PUBLIC KEY", _der.spki(self._raw))

    @property
    def backend(self) -> str:
        return self._backend

    @property
    def point(self) -> tuple[int, int]:
        return self._point

    def z(self, user_id: bytes = DEFAULT_ID) -> bytes:
        """Z_A for this key and signer ID (cached for a few IDs)."""
        if user_id == DEFAULT_ID:
            return self._zdef
        uid = _check_id(user_id)
        z = self._zcache.get(uid)
        if z is None:
            z = _z(self._point, uid)
            if len(self._zcache) < 8:
                self._zcache[uid] = z
        return z

    def verify(self, message: BytesLike, signature: BytesLike, user_id: bytes = DEFAULT_ID) -> bool:
        """True iff `signature` (raw r||s) signs `message` under `user_id`. Never raises on a bad
        signature; a non-bytes argument or an over-long ID raises `CryptoError`."""
        msg = _as_bytes(message, "message")
        sig = _as_bytes(signature, "signature")
        if len(sig) != 64:
            return False
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:], "big")
        if not (0 < r < N and 0 < s < N):
            return False
        z = self._zdef if user_id == DEFAULT_ID else self.z(user_id)
        if self._backend == "native":  # SM3(Z || M) and the check in one call, GIL released
            return bool(_NATIVE_EXT.verify(self._raw, z, msg, sig))
        e = sm3.digest(z + msg)
        return bool(_BACKENDS[self._backend].verify_digest(self._handle, e, sig))

    def verify_digest(self, e: BytesLike, signature: BytesLike) -> bool:
        """Verify over a precomputed 32-byte e = SM3(Z || M)."""
        e = _as_bytes(e, "digest")
        sig = _as_bytes(signature, "signature")
        if len(e) != 32 or len(sig) != 64:
            return False
        r = int.from_bytes(sig[:32], "big")
        s = int.from_bytes(sig[32:], "big")
        if not (0 < r < N and 0 < s < N):
            return False
        return bool(_BACKENDS[self._backend].verify_digest(self._handle, e, sig))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"PublicKey({self._raw.hex()[:18]}..., backend={self._backend!r})"


_ZERO32 = bytes(32)
_N32 = N.to_bytes(32, "big")


# fast path: plain=crypto.sm2.PublicKey.verify test=tests/crypto/test_verify_fast_paths.py::test_verify_default_agrees_with_the_key_object
def verify_default(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """`PublicKey.from_bytes(public_key).verify(message, signature)` under `DEFAULT_ID`, in one
    call: the per-item hot path of batch verification. False for a bad key or signature.

    Same checks, fewer Python frames: equal-length big-endian bytes compare like the integers
    they encode, so 0 < r, s < n is checked without building ints."""
    if type(public_key) is not bytes or type(message) is not bytes or type(signature) is not bytes:
        try:
            return PublicKey.from_bytes(public_key).verify(message, signature)
        except CryptoError:
            return False
    if len(signature) != 64:
        return False
    r = signature[:32]
    s = signature[32:]
    if not (_ZERO32 < r < _N32 and _ZERO32 < s < _N32):
        return False
    try:
        key = _load_public(backend_name(), public_key)
    except CryptoError:
        return False
    if key._backend == "native":
        return bool(_NATIVE_EXT.verify(public_key, key._zdef, message, signature))
    e = sm3.digest(key._zdef + message)
    return bool(_BACKENDS[key._backend].verify_digest(key._handle, e, signature))


@functools.lru_cache(maxsize=PUBLIC_CACHE_SIZE)
def _load_public(backend: str, raw: bytes) -> PublicKey:
    point = _point_from_bytes(raw)
    handle = _BACKENDS[backend].load_public(raw)
    if handle is None:
        raise InvalidKey(f"the {backend} backend rejected the SM2 public key")
    return PublicKey(raw, point, backend, handle)


def clear_key_cache() -> None:
    _load_public.cache_clear()


# --- private keys --------------------------------------------------------------------------


class PrivateKey:
    """An SM2 private key d in [1, n-2] (GB/T 32918 needs 1 + d invertible mod n)."""

    __slots__ = ("_d", "_pub", "_backend", "_handle", "_lock")

    def __init__(self, d: int, backend: str, pub: PublicKey | None = None) -> None:
        if not 1 <= d <= N - 2:
            raise InvalidKey("SM2 private key must be in [1, n-2]")
        self._d = d
        self._backend = backend
        if pub is None:
            x, y = _ec.public_point(CURVE, d)
            raw = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
            pub = _load_public(backend, raw)
        self._pub = pub
        self._handle: Any = None
        self._lock = threading.Lock()

    @classmethod
    def generate(cls, *, backend: str | None = None) -> PrivateKey:
        return cls(secrets.randbelow(N - 2) + 1, backend_name(backend))

    @classmethod
    def from_bytes(cls, data: BytesLike, *, backend: str | None = None) -> PrivateKey:
        raw = _as_bytes(data, "private key")
        if len(raw) != 32:
            raise InvalidKey(f"SM2 private key must be 32 bytes, got {len(raw)}")
        return cls(int.from_bytes(raw, "big"), backend_name(backend))

    @classmethod
    def from_pem(cls, data: bytes | str, *, backend: str | None = None) -> PrivateKey:
        """Read PKCS#8 (`openssl genpkey -algorithm SM2`) or SEC1 (`EC`/`SM2 PRIVATE KEY`) PEM."""
        for label, der in _pem_blocks(data):
            try:
                if label == "PRIVATE KEY":
                    d, pub = _der.parse_pkcs8(der)
                elif label in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):
                    d, pub = _der.parse_sec1(der, need_curve=True)
                elif label == "ENCRYPTED PRIVATE KEY":
                    raise InvalidKey("encrypted PKCS#8 is not supported; use crypto.keystore")
                else:
                    continue
            except ValueError as exc:
                raise InvalidKey(f"bad SM2 private key PEM: {exc}") from None
            key = cls(d, backend_name(backend))
            if pub is not None and pub != key._pub.to_bytes():
                raise InvalidKey("PEM public key does not match its private key")
            return key
        raise InvalidKey("no PRIVATE KEY block in PEM")

    def to_bytes(self) -> bytes:
        return self._d.to_bytes(32, "big")

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, as `openssl genpkey -algorithm SM2` writes it (unencrypted)."""
        return _pem("PRIVATE KEY", _der.pkcs8(self._d, self._pub.to_bytes()))

    def public_key(self) -> PublicKey:
        return self._pub

    @property
    def backend(self) -> str:
        return self._backend

    def _get_handle(self) -> Any:
        if self._handle is None:
            with self._lock:
                if self._handle is None:
                    self._handle = _BACKENDS[self._backend].load_private(
                        self._d, self._pub.to_bytes()
                    )
        return self._handle

    def sign(self, message: BytesLike, user_id: bytes = DEFAULT_ID) -> bytes:
        """Raw 64-byte r||s over SM3(Z || message), random nonce from the backend."""
        msg = _as_bytes(message, "message")
        e = sm3.digest(self._pub.z(user_id) + msg)
        return self.sign_digest(e)

    def sign_digest(self, e: BytesLike) -> bytes:
        e = _as_bytes(e, "digest")
        if len(e) != 32:
            raise CryptoError("SM2 digest value must be 32 bytes")
        out: bytes = _BACKENDS[self._backend].sign_digest(self._get_handle(), e)
        return out

    def exchange(self, peer: PublicKey) -> bytes:
        """ECDH on the SM2 curve: the 32-byte x-coordinate of d * peer (not GB/T 32918.3).

        Pure integers: libcrypto 3.0 has no key exchange for SM2 keys (EVP_PKEY_derive_init
        returns -2); a fixed-length Montgomery ladder keeps the operation sequence
        independent of d."""
        if not isinstance(peer, PublicKey):
            raise CryptoError("exchange needs a crypto.sm2.PublicKey")
        pt = _ec.mul_secret(CURVE, self._d, peer.point)
        if pt is None:  # impossible for a validated point on a prime-order curve
            raise InvalidKey("ECDH result is the point at infinity")
        return pt[0].to_bytes(32, "big")

    def __repr__(self) -> str:
        return f"PrivateKey(public={self._pub.to_bytes().hex()[:18]}...)"


# --- module-level helpers ------------------------------------------------------------------


def compute_z(public_key: PublicKey | BytesLike, user_id: bytes = DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA) on the SM2 curve."""
    if isinstance(public_key, PublicKey):
        point = public_key.point
    else:
        point = _point_from_bytes(_as_bytes(public_key, "public key"))
    return _z(point, _check_id(user_id))


def signature_to_der(raw: BytesLike) -> bytes:
    """Raw 64-byte r||s to DER SEQUENCE { INTEGER r, INTEGER s } (GM/T 0009)."""
    sig = _as_bytes(raw, "signature")
    if len(sig) != 64:
        raise InvalidSignature(f"raw SM2 signature must be 64 bytes, got {len(sig)}")
    return _der.sm2_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))


def signature_from_der(der: BytesLike) -> bytes:
    """Strict DER (minimal lengths and integers, no trailing data) to raw 64-byte r||s."""
    data = _as_bytes(der, "signature")
    if len(data) > 80:
        raise InvalidSignature("DER SM2 signature too long")
    try:
        r, s = _der.parse_sm2_signature(data)
    except ValueError as exc:
        raise InvalidSignature(f"bad DER SM2 signature: {exc}") from None
    if r >= 1 << 256 or s >= 1 << 256:
        raise InvalidSignature("DER SM2 signature integer wider than 256 bits")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
