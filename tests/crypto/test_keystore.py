"""Password keystore: round trip, wrong password, tampering, hostile parameters."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crypto import KeystoreError, WrongPassword, keystore, sm2

FAST = {"scrypt_n": 2**10}


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2-hmac-sm3"])
def test_roundtrip(tmp_path: Path, kdf: str) -> None:
    key = sm2.PrivateKey.generate()
    path = tmp_path / "node.key"
    keystore.save_private_key(
        path, key.to_bytes(), "correct horse", kdf=kdf, iterations=2000, **FAST
    )
    assert os.stat(path).st_mode & 0o777 == 0o600
    doc = json.loads(path.read_text())
    assert doc["kdf"]["name"] == kdf and doc["cipher"]["name"] == "sm4-gcm"
    assert key.to_bytes().hex() not in path.read_text()
    assert keystore.load_private_key(path, "correct horse") == key.to_bytes()
    with pytest.raises(WrongPassword):
        keystore.load_private_key(path, "wrong horse")


def test_tampered_params_fail_closed(tmp_path: Path) -> None:
    data = keystore.encrypt_private_key(b"\x01" * 32, b"pw", **FAST)
    doc = json.loads(data)
    doc["public_key"] = "04" + "00" * 64
    with pytest.raises(WrongPassword):
        keystore.decrypt_private_key(json.dumps(doc).encode(), b"pw")
    doc = json.loads(data)
    doc["kdf"]["n"] = 2**11
    with pytest.raises(WrongPassword):
        keystore.decrypt_private_key(json.dumps(doc).encode(), b"pw")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["kdf"].update(n=2**30),
        lambda d: d["kdf"].update(n=2**20, r=32),
        lambda d: d["kdf"].update(n=2**18, r=8, p=16),
        lambda d: d["kdf"].update(n=1000),
        lambda d: d["kdf"].update(name="argon9"),
        lambda d: d["kdf"].update(salt="00"),
        lambda d: d["cipher"].update(name="aes"),
        lambda d: d.update(version=7),
        lambda d: d.update(ciphertext="zz"),
        lambda d: d.pop("kdf"),
        lambda d: d.update(kdf=[1, 2]),
        lambda d: d["cipher"].update(nonce="00"),
    ],
)
def test_malformed_keystore_is_typed_error(mutate: object) -> None:
    doc = json.loads(keystore.encrypt_private_key(b"\x01" * 32, "pw", **FAST))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(KeystoreError):
        keystore.decrypt_private_key(json.dumps(doc).encode(), "pw")


@pytest.mark.parametrize(
    "blob", [b"", b"garbage", b"[]", b'{"kind": "x"}', b"\xff" * 10, b"{" * 70000, b"[" * 60000]
)
def test_garbage_file(blob: bytes) -> None:
    with pytest.raises(KeystoreError):
        keystore.decrypt_private_key(blob, "pw")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError):
        keystore.load_private_key(tmp_path / "nope", "pw")
