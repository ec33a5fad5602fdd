"""Interop with the `openssl` command line, both ways (keys, PEM, SM3 signatures with distid).

Note: `openssl dgst -sm3 -sign` without `-sigopt distid:...` uses an EMPTY ID in OpenSSL 3.0,
not GM/T 0009's default; we always pass the ID explicitly (and test the empty-ID case).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from crypto import sm2

OPENSSL = shutil.which("openssl")


def run(*args: str | Path, ok: bool = True) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None, "these interop tests need the `openssl` command (OpenSSL 3)"
    proc = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, timeout=30)
    if ok:
        assert proc.returncode == 0, proc.stderr.decode()
    return proc


@pytest.mark.parametrize("backend", ["native", "openssl", "gmssl"])
@pytest.mark.parametrize("uid", [sm2.DEFAULT_ID, b"ALICE123@YAHOO.COM", b""])
def test_openssl_key_and_signature_verify_with_ours(
    tmp_path: Path, backend: str, uid: bytes
) -> None:
    key_pem, pub_pem = tmp_path / "k.pem", tmp_path / "pub.pem"
    msg, sig = tmp_path / "msg", tmp_path / "sig"
    run("genpkey", "-algorithm", "SM2", "-out", key_pem)
    run("pkey", "-in", key_pem, "-pubout", "-out", pub_pem)
    msg.write_bytes(b"transfer 10 to bob")
    run("dgst", "-sm3", "-sign", key_pem, "-sigopt", f"distid:{uid.decode()}", "-out", sig, msg)

    pub = sm2.PublicKey.from_pem(pub_pem.read_bytes(), backend=backend)
    raw = sm2.signature_from_der(sig.read_bytes())
    assert pub.verify(b"transfer 10 to bob", raw, uid)
    assert not pub.verify(b"transfer 10 to bob", raw, uid + b"x")

    # the openssl-generated private key loads and signs; openssl verifies our signature
    priv = sm2.PrivateKey.from_pem(key_pem.read_text(), backend=backend)
    assert priv.public_key() == pub
    ours = tmp_path / "ours.sig"
    ours.write_bytes(sm2.signature_to_der(priv.sign(b"transfer 10 to bob", uid)))
    out = run(
        "dgst",
        "-sm3",
        "-verify",
        pub_pem,
        "-sigopt",
        f"distid:{uid.decode()}",
        "-signature",
        ours,
        msg,
    )
    assert b"Verified OK" in out.stdout
    bad = run(
        "dgst",
        "-sm3",
        "-verify",
        pub_pem,
        "-sigopt",
        "distid:someone-else",
        "-signature",
        ours,
        msg,
        ok=False,
    )
    assert bad.returncode != 0


def test_our_keys_read_by_openssl(tmp_path: Path) -> None:
    priv = sm2.PrivateKey.generate()
    key_pem, pub_pem = tmp_path / "ours.pem", tmp_path / "ours.pub"
    key_pem.write_bytes(priv.to_pem())
    pub_pem.write_bytes(priv.public_key().to_pem())
    # openssl derives the same public key from our PKCS#8 and re-emits our SPKI byte for byte
    derived = run("pkey", "-in", key_pem, "-pubout").stdout
    assert derived == priv.public_key().to_pem()
    assert run("pkey", "-pubin", "-in", pub_pem, "-pubout").stdout == pub_pem.read_bytes()
    text = run("pkey", "-in", key_pem, "-noout", "-text").stdout.decode()
    assert "SM2" in text
    # and openssl's own serialisation of our key loads back to the same scalar
    again = run("pkey", "-in", key_pem).stdout
    assert sm2.PrivateKey.from_pem(again).to_bytes() == priv.to_bytes()
    sec1 = run("ec", "-in", key_pem).stdout  # "SM2 PRIVATE KEY" (SEC1) form
    assert sm2.PrivateKey.from_pem(sec1).to_bytes() == priv.to_bytes()


def test_pkeyutl_rawin_verifies_ours(tmp_path: Path) -> None:
    priv = sm2.PrivateKey.generate()
    pub_pem, msg, sig = tmp_path / "p.pem", tmp_path / "m", tmp_path / "s"
    pub_pem.write_bytes(priv.public_key().to_pem())
    msg.write_bytes(b"block 7")
    sig.write_bytes(sm2.signature_to_der(priv.sign(b"block 7")))
    out = run(
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        pub_pem,
        "-rawin",
        "-in",
        msg,
        "-sigfile",
        sig,
        "-digest",
        "sm3",
        "-pkeyopt",
        "distid:1234567812345678",
    )
    assert b"Verified Successfully" in out.stdout
