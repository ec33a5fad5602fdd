"""Password-protected keystore files for 32-byte private keys.

Format: a small JSON document. The key is derived from the password with scrypt (default)
or PBKDF2-HMAC-SM3, with all parameters and the salt stored in the file, then the private
key is sealed with SM4-GCM. The header (everything except the ciphertext, in canonical JSON)
is the GCM additional data, so editing the parameters or the public key breaks the tag
instead of silently weakening the file. A wrong password raises `WrongPassword`.
Parameters read from a file are bounded so a hostile file cannot make us burn memory or CPU.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto import sm4
from crypto.errors import CryptoError, DecryptError, KeystoreError, WrongPassword

KIND = "chainnode-keystore"
VERSION = 1
MAX_FILE_BYTES = 64 * 1024
SCRYPT_DEFAULT = {"n": 2**15, "r": 8, "p": 1}
PBKDF2_DEFAULT_ITERATIONS = 300_000
_MAX_SCRYPT_N = 2**20
_MAX_SCRYPT_R = 32
_MAX_SCRYPT_P = 16
_MAX_SCRYPT_MEMORY = 256 * 1024 * 1024  # bytes: 128 * r * n
_MAX_SCRYPT_WORK = 2**23  # n * r * p, ~16x the default
_MAX_PBKDF2_ITERATIONS = 10_000_000


def _password(password: str | bytes) -> bytes:
    if isinstance(password, str):
        return password.encode("utf-8")
    if isinstance(password, bytes | bytearray):
        return bytes(password)
    raise KeystoreError("password must be str or bytes")


def _derive(kdf: dict[str, Any], password: bytes) -> bytes:
    try:
        name = kdf["name"]
        salt = bytes.fromhex(kdf["salt"])
        if not 16 <= len(salt) <= 64:
            raise KeystoreError("keystore salt must be 16..64 bytes")
        if name == "scrypt":
            n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
            if not (2 <= n <= _MAX_SCRYPT_N and n & (n - 1) == 0):
                raise KeystoreError("scrypt n must be a power of two <= 2^20")
            if not (1 <= r <= _MAX_SCRYPT_R and 1 <= p <= _MAX_SCRYPT_P):
                raise KeystoreError("scrypt r/p out of range")
            if 128 * r * n > _MAX_SCRYPT_MEMORY or n * r * p > _MAX_SCRYPT_WORK:
                raise KeystoreError("scrypt parameters exceed the memory/time bound")
            return Scrypt(salt=salt, length=16, n=n, r=r, p=p).derive(password)
        if name == "pbkdf2-hmac-sm3":
            iterations = int(kdf["iterations"])
            if not 1_000 <= iterations <= _MAX_PBKDF2_ITERATIONS:
                raise KeystoreError("pbkdf2 iterations out of range")
            return PBKDF2HMAC(hashes.SM3(), 16, salt, iterations).derive(password)
    except (KeyError, TypeError, ValueError) as exc:
        raise KeystoreError(f"bad keystore KDF parameters: {exc}") from None
    raise KeystoreError(f"unsupported keystore KDF {name!r}")


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode()


def encrypt_private_key(
    priv_bytes: bytes,
    password: str | bytes,
    *,
    kdf: str = "scrypt",
    scrypt_n: int = SCRYPT_DEFAULT["n"],
    iterations: int = PBKDF2_DEFAULT_ITERATIONS,
    public_key: bytes | None = None,
) -> bytes:
    """The keystore document (bytes of JSON) sealing `priv_bytes`."""
    if len(priv_bytes) != 32:
        raise KeystoreError("keystore holds 32-byte private keys")
    salt = secrets.token_bytes(16).hex()
    params: dict[str, Any]
    if kdf == "scrypt":
        params = {"name": "scrypt", "n": scrypt_n, "r": 8, "p": 1, "salt": salt}
    elif kdf == "pbkdf2-hmac-sm3":
        params = {"name": "pbkdf2-hmac-sm3", "iterations": iterations, "salt": salt}
    else:
        raise KeystoreError(f"unsupported keystore KDF {kdf!r}")
    header: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "kdf": params,
        "cipher": {"name": "sm4-gcm", "nonce": secrets.token_bytes(12).hex()},
        "public_key": public_key.hex() if public_key else "",
    }
    key = _derive(params, _password(password))
    ct = sm4.gcm_encrypt(key, bytes.fromhex(header["cipher"]["nonce"]), priv_bytes, _aad(header))
    doc = dict(header, ciphertext=ct.hex())
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


def decrypt_private_key(document: bytes, password: str | bytes) -> bytes:
    """The 32-byte private key in a keystore document; `WrongPassword` if it does not open."""
    if len(document) > MAX_FILE_BYTES:
        raise KeystoreError("keystore file too large")
    try:
        doc = json.loads(document)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise KeystoreError("keystore is not JSON") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise KeystoreError("not a chainnode keystore")
    if doc.get("version") != VERSION:
        raise KeystoreError(f"unsupported keystore version {doc.get('version')!r}")
    try:
        ct = bytes.fromhex(doc.pop("ciphertext"))
        cipher = doc["cipher"]
        if cipher["name"] != "sm4-gcm":
            raise KeystoreError(f"unsupported keystore cipher {cipher['name']!r}")
        nonce = bytes.fromhex(cipher["nonce"])
        kdf = doc["kdf"]
        if not isinstance(kdf, dict):
            raise KeystoreError("keystore kdf must be an object")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeystoreError(f"malformed keystore: {exc}") from None
    key = _derive(kdf, _password(password))
    try:
        priv = sm4.gcm_decrypt(key, nonce, ct, _aad(doc))
    except DecryptError:
        raise WrongPassword("wrong keystore password (or the file was modified)") from None
    except CryptoError as exc:
        raise KeystoreError(f"malformed keystore: {exc}") from None
    if len(priv) != 32:
        raise KeystoreError("keystore does not hold a 32-byte key")
    return priv


def save_private_key(
    path: str | os.PathLike[str],
    priv_bytes: bytes,
    password: str | bytes,
    **options: Any,
) -> None:
    """Write a keystore file atomically with mode 0600 (options: kdf, scrypt_n, iterations)."""
    data = encrypt_private_key(priv_bytes, password, **options)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_private_key(path: str | os.PathLike[str], password: str | bytes) -> bytes:
    """Read a keystore file; raises `WrongPassword` or `KeystoreError`."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    return decrypt_private_key(data, password)
