"""SM2 `native` backend: verification in our C extension `crypto._sm2verify`, signing and
private keys on OpenSSL (constant time).

Why: OpenSSL 3 verifies SM2 with generic EC code; `_sm2verify.c` is specialised to the
curve, keeps precomputed tables for G and for each frequent signer, and hashes Z || M in the
same call (see crypto/README.md). A public-key handle is just its 65 bytes: the per-signer
table lives in the extension's own bounded cache, keyed by those bytes.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

from crypto import _openssl
from crypto.errors import BackendUnavailable

NAME = "native"
TABLE_CACHE_ENTRIES = 256  # ~150 KB each
TABLE_AFTER = 8  # a signer's table (~2 ms to build, ~60 us saved per verify) on its 8th verify


def _load() -> tuple[ModuleType | None, str]:
    try:
        from crypto import _sm2verify
    except ImportError as exc:
        return None, (
            f"the extension crypto._sm2verify is not built ({exc}); build it with `make test` / "
            "`python setup.py build_ext --inplace` (needs a C compiler and Python headers)"
        )
    if not _sm2verify.AVAILABLE:
        return None, f"this machine cannot run it: {_sm2verify.REASON}"
    _sm2verify.configure_cache(TABLE_CACHE_ENTRIES, TABLE_AFTER)
    note = isa_note(_sm2verify.cpu_has_adx())
    if note:
        logging.getLogger("crypto.sm2").warning("%s", note)
    return _sm2verify, ""


def isa_note(has_adx: bool) -> str:
    """What to log about the arithmetic the CPU allows (empty: the fast one)."""
    if has_adx:
        return ""
    return (
        "SM2 native verify: this CPU lacks BMI2/ADX (mulx, adcx/adox); using the portable "
        "64-bit arithmetic (~13% slower, same results)"
    )


_EXT, _WHY_NOT = _load()


def ext() -> Any:
    """The loaded extension; raises `BackendUnavailable` naming why it cannot be used."""
    if _EXT is None:
        raise BackendUnavailable(f"SM2 backend 'native' unavailable: {_WHY_NOT}")
    try:
        _openssl.lib()
    except BackendUnavailable as exc:
        raise BackendUnavailable(f"SM2 backend 'native' signs with OpenSSL: {exc}") from None
    return _EXT


def unavailable_reason() -> str:
    """Empty when the native backend can run here, else why not."""
    try:
        ext()
    except BackendUnavailable as exc:
        return str(exc)
    return ""


def load_public(pub65: bytes) -> bytes:
    return pub65


# fast path: plain=crypto._ec test=tests/crypto/test_sm2_native.py::test_mul_add_matches_the_reference
def verify_digest(handle: bytes, e: bytes, sig64: bytes) -> bool:
    return bool(_EXT.verify_digest(handle, e, sig64))  # type: ignore[union-attr]


def load_private(d: int, pub65: bytes) -> Any:
    return _openssl.load_private(d, pub65)


def sign_digest(handle: Any, e: bytes) -> bytes:
    return _openssl.sign_digest(handle, e)
