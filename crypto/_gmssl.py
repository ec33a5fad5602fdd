"""SM2 over the pure-Python `gmssl` package: the fallback backend and a cross-check.

About 36x slower than libcrypto: never meant for the hot path of a busy node. We call its
digest-level `sign`/`verify` (e computed by us, so the distinguishing ID is ours to choose)
and set the public key hex directly because its constructor's `lstrip("04")` corrupts keys
whose x-coordinate starts with hex digits 0 or 4.
"""

from __future__ import annotations

import secrets
from typing import Any

from crypto.errors import BackendUnavailable

NAME = "gmssl"


def _cls() -> Any:
    try:
        from gmssl import sm2 as gsm2
    except ImportError:
        raise BackendUnavailable(
            "the pure-Python SM2 backend needs the gmssl package, which only the benchmark "
            "extras install: `pip install 'chainnode[bench]'` (or `pip install 'gmssl>=3.2.2,<4'`)"
        ) from None
    return gsm2.CryptSM2


def _make(private_hex: str, pub65: bytes, table: dict[str, str] | None = None) -> Any:
    cls = _cls()
    kwargs: dict[str, Any] = {}
    if table is not None:
        kwargs["ecc_table"] = table
    crypt = cls(private_key=private_hex, public_key="00", **kwargs)
    crypt.public_key = pub65[1:].hex()
    return crypt


def load_public(pub65: bytes) -> Any:
    return _make("", pub65)


def load_private(d: int, pub65: bytes) -> Any:
    return _make(f"{d:064x}", pub65)


def verify_digest(handle: Any, e: bytes, sig64: bytes) -> bool:
    """gmssl raises TypeError when s*G + t*P is the point at infinity (a signer can craft
    that); the standard says reject, and so does libcrypto, so we return False."""
    try:
        return bool(handle.verify(sig64.hex(), e))
    except (TypeError, ValueError, ZeroDivisionError):
        return False


def sign_digest(handle: Any, e: bytes) -> bytes:
    n = int(handle.ecc_table["n"], 16)
    while True:
        k = secrets.randbelow(n - 1) + 1
        out = handle.sign(e, f"{k:064x}")
        if out:
            return bytes.fromhex(out)


def curve_table(p: int, a: int, b: int, gx: int, gy: int, n: int) -> dict[str, str]:
    """A gmssl ecc_table for another curve (used for the GB/T 32918 test-curve vectors)."""
    return {
        "p": f"{p:064x}",
        "a": f"{a:064x}",
        "b": f"{b:064x}",
        "n": f"{n:064x}",
        "g": f"{gx:064x}{gy:064x}",
    }


def make_on_curve(table: dict[str, str], d: int | None, pub65: bytes) -> Any:
    return _make("" if d is None else f"{d:064x}", pub65, table)
