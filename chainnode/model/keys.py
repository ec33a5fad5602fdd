"""Key files: PEM private keys for node identities and client accounts.

SM2 keys use the crypto package's PEM (PKCS#8 with the SM2 curve OID); P-256 keys use standard
PKCS#8 PEM from ``cryptography``. The suite is recognised from the file itself.

A key file may instead hold a password-sealed keystore document (``crypto.keystore``: scrypt +
SM4-GCM, JSON), written by ``org init --password-file``; it opens with that password only. Its
suite is the one whose public key of the opened scalar is the one the document names.
"""

from __future__ import annotations

import os
import secrets
import shlex
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chainnode.invocation import command
from crypto import sm2

MAX_KEY_FILE = 64 * 1024
SUITES = ("sm", "ecdsa-p256")


class KeyFileError(Exception):
    """A key file that is missing, unreadable or not a private key we support."""


def private_key_pem(suite: str, private_key: bytes) -> bytes:
    if suite == "sm":
        return sm2.PrivateKey.from_bytes(private_key).to_pem()
    if suite == "ecdsa-p256":
        key = ec.derive_private_key(int.from_bytes(private_key, "big"), ec.SECP256R1())
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    raise KeyFileError(f"unknown crypto suite {suite!r}; choose one of {', '.join(SUITES)}")


def parse_private_key_pem(data: bytes, source: str = "key") -> tuple[str, bytes]:
    """(suite name, 32-byte private scalar) from PEM bytes."""
    try:
        return "sm", sm2.PrivateKey.from_pem(data).to_bytes()
    except ValueError:  # InvalidKey: not an SM2 key PEM; try the others
        pass
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"{source} is not a PEM private key (make one with `{command('keygen')}`)"
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256", key.private_numbers().private_value.to_bytes(32, "big")
    raise KeyFileError(f"{source}: only SM2 and P-256 private keys are supported")


def save_private_key(
    path: Path,
    suite: str,
    private_key: bytes,
    *,
    overwrite: bool = False,
    password: bytes | None = None,
) -> None:
    """Write the key readable by its owner only (mode 0600, whatever the umask or the file
    being replaced).

    Without ``overwrite`` the file is created with ``O_EXCL|O_NOFOLLOW``: an existing file or a
    symlink planted at ``path`` (even a dangling one) is refused, never opened. With
    ``overwrite`` the key goes to a fresh temp file in the same directory (also
    ``O_EXCL|O_NOFOLLOW``, 0600) that is then renamed over ``path``: an old 0644 file is
    replaced by a 0600 one, and a symlink is replaced itself, its target left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = private_key_pem(suite, private_key)
    if password is not None:
        from crypto import keystore
        from crypto.suite import get_suite

        public = get_suite(suite).public_key(private_key)
        pem = keystore.encrypt_private_key(private_key, password, public_key=public)
    if not overwrite:
        try:
            _write_new(path, pem)
        except FileExistsError:
            raise KeyFileError(
                f"{path} already exists; choose another file or pass --force to replace it"
            ) from None
        return
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            _write_new(tmp, pem)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 64 random bits
        raise KeyFileError(f"cannot create a temporary file next to {path}")
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (never an existing file, never through a symlink) holding ``data``, mode
    0600 enforced by fchmod (the open mode is masked by the umask); removed again on failure."""
    fd = os.open(path, _CREATE_FLAGS, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (best effort: not every filesystem lets a directory be synced)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def is_sealed(data: bytes) -> bool:
    """Whether key-file bytes are a password-sealed keystore document (not a plain PEM)."""
    return data.lstrip().startswith(b"{")


def _open_sealed(data: bytes, password: bytes | None, source: str) -> tuple[str, bytes]:
    import json

    from crypto import keystore
    from crypto.errors import CryptoError, KeystoreError, WrongPassword
    from crypto.suite import get_suite

    if password is None:
        raise KeyFileError(
            f"{source} is sealed with a password: give its password file "
            "(--password-file, or node_key_password_file in a node's config)"
        )
    try:
        priv = keystore.decrypt_private_key(data, password)
        named = bytes.fromhex(json.loads(data).get("public_key", ""))
    except WrongPassword:
        raise KeyFileError(f"{source}: wrong password (or the file was modified)") from None
    except (KeystoreError, ValueError, AttributeError) as e:
        raise KeyFileError(f"{source}: not a usable keystore ({e})") from None
    for suite in SUITES:
        try:
            if get_suite(suite).public_key(priv) == named:
                return suite, priv
        except (ValueError, CryptoError):  # not a valid scalar of this curve
            continue
    raise KeyFileError(f"{source}: the sealed key does not match the public key it names")


def read_password_file(path: Path | str) -> bytes:
    """A password from a file: its bytes without one trailing newline (``echo pw > file``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(f"cannot read password file {path}: {e.strerror}") from None
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    if not data:
        raise KeyFileError(f"password file {path} is empty")
    return data


def load_private_key(path: Path | str, password: bytes | None = None) -> tuple[str, bytes]:
    """(suite, private scalar) of a key file: a PEM, or a keystore opened with ``password``."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} not found (make one with `{command('keygen', '--out', shlex.quote(str(path)))}`)"
        ) from None
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"key file {path} is too large to be a private key")
    if is_sealed(data):
        return _open_sealed(data, password, str(path))
    return parse_private_key_pem(data, str(path))
