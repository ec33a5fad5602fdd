"""Every SM2 vector in tests/vectors on every implementation that can run it.

Implementations: the `openssl` and `gmssl` backends (recommended curve), and our pure-integer
reference (`crypto._ec`, `crypto.sm2enc`, `crypto.sm2kx`) that also runs the GB/T 32918
Fp-256 test-curve cases, which carry their own curve parameters. gmssl is also run on the
test curve through its `ecc_table`, with our on-curve and range checks in front of it.

Policy (the vector files mark no case `policy_dependent`; these are our choices):
- `prehashed_e` (OpenSSL's raw-e signature): accepted through `PublicKey.verify_digest`;
  `verify()` itself always hashes SM3(Z || M).
- `openssl-fp256-encrypt-sha256` (SHA-256 instead of SM3 for KDF and C3): accepted by the
  reference path with an explicit hash; the public `crypto.sm2enc` API is SM3 only.
- Test-curve cases cannot run on libcrypto's SM2 (its curve is fixed); a test-curve key given
  to the public API (which is the recommended curve) is rejected as off-curve.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import DecryptError, InvalidKey, _ec, _gmssl, _openssl, sm2, sm2enc, sm2kx, sm3

BACKENDS = ["native", "openssl", "gmssl"]


def _doc(vectors_dir: Path, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((vectors_dir / name).read_text())
    assert doc["cases"], name
    return doc


def _curve(doc: dict[str, Any], case: dict[str, Any]) -> _ec.Curve:
    if case.get("curve", doc.get("curve")) == "sm2p256v1":
        return _ec.SM2P256V1
    return _ec.Curve.from_hex(case["curve"], doc["curve_params"])


def _pub(case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["public_key_uncompressed"])


def _point(raw: bytes) -> _ec.Point:
    return int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:65], "big")


def _sig(case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["sig_r"] + case["sig_s"])


def _uid(case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["user_id_hex"])


def _table(c: _ec.Curve) -> dict[str, str]:
    return _gmssl.curve_table(c.p, c.a, c.b, c.gx, c.gy, c.n)


def reference_verify(curve: _ec.Curve, pub: bytes, msg: bytes, sig: bytes, uid: bytes) -> bool:
    pt = _point(pub)
    if not _ec.is_on_curve(curve, pt):
        return False
    e = sm3.digest(_ec.compute_z(curve, pt, uid, sm3.digest) + msg)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    return _ec.verify_digest(curve, pt, int.from_bytes(e, "big"), r, s)


def gmssl_verify_on(curve: _ec.Curve, pub: bytes, msg: bytes, sig: bytes, uid: bytes) -> bool:
    """gmssl on any curve, behind the same checks our public API applies first."""
    pt = _point(pub)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not _ec.is_on_curve(curve, pt) or not (0 < r < curve.n and 0 < s < curve.n):
        return False
    e = sm3.digest(_ec.compute_z(curve, pt, uid, sm3.digest) + msg)
    return _gmssl.verify_digest(_gmssl.make_on_curve(_table(curve), None, pub), e, sig)


# --- signatures on the recommended curve -------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_sign_recommended_curve(vectors_dir: Path, backend: str) -> None:
    doc = _doc(vectors_dir, "sm2_sign_recommended_curve.json")
    for case in doc["cases"]:
        cid, pub_raw = case["id"], _pub(case)
        pub = sm2.PublicKey.from_bytes(pub_raw, backend=backend)
        msg = bytes.fromhex(case.get("msg_hex", ""))
        kind = case.get("kind")
        if kind == "za_and_e_only":
            assert pub.z(_uid(case)).hex() == case["za"] == case["expect"], cid
            assert sm3.digest(pub.z(_uid(case)) + msg).hex() == case["e"], cid
            continue
        want = case["expect"] == "valid"
        sig = _sig(case)
        assert sm2.signature_from_der(bytes.fromhex(case["sig_der"])) == sig, cid
        assert sm2.signature_to_der(sig).hex() == case["sig_der"], cid
        if kind == "prehashed_e":
            assert pub.verify_digest(bytes.fromhex(case["e"]), sig) is want, cid
        else:
            assert pub.verify(msg, sig, _uid(case)) is want, cid
            assert reference_verify(_ec.SM2P256V1, pub_raw, msg, sig, _uid(case)) is want
            if "za_computed" in case:
                assert sm2.compute_z(pub, _uid(case)).hex() == case["za_computed"], cid
                assert sm3.digest(pub.z(_uid(case)) + msg).hex() == case["e_computed"], cid
        if "private_key" in case:
            key = sm2.PrivateKey.from_bytes(bytes.fromhex(case["private_key"]), backend=backend)
            assert key.public_key().to_bytes() == pub_raw, cid
            if "k" in case and kind is None:
                e = sm3.digest(pub.z(_uid(case)) + msg)
                d, k = int(case["private_key"], 16), int(case["k"], 16)
                ref = _ec.sign_digest(_ec.SM2P256V1, d, int.from_bytes(e, "big"), k)
                assert (
                    ref is not None
                    and ref[0].to_bytes(32, "big") + ref[1].to_bytes(32, "big") == sig
                ), cid
                if backend == "gmssl":  # gmssl takes an explicit nonce: same r||s
                    handle = _gmssl.load_private(d, pub_raw)
                    assert bytes.fromhex(handle.sign(e, case["k"])) == sig, cid
            # a fresh signature by this backend verifies on the other one
            other = "gmssl" if backend == "openssl" else "openssl"
            fresh = key.sign(msg or b"x", _uid(case) if "user_id_hex" in case else sm2.DEFAULT_ID)
            opub = sm2.PublicKey.from_bytes(pub_raw, backend=other)
            uid = _uid(case) if "user_id_hex" in case else sm2.DEFAULT_ID
            assert opub.verify(msg or b"x", fresh, uid), cid


# --- signatures on the Fp-256 test curve ---------------------------------------------------------


def test_sign_test_curve_reference_and_gmssl(vectors_dir: Path) -> None:
    doc = _doc(vectors_dir, "sm2_sign_test_curve.json")
    for case in doc["cases"]:
        cid, curve = case["id"], _curve(doc, case)
        pub_raw, sig, uid = _pub(case), _sig(case), _uid(case)
        msg = bytes.fromhex(case["msg_hex"])
        want = case["expect"] == "valid"
        assert reference_verify(curve, pub_raw, msg, sig, uid) is want, cid
        assert gmssl_verify_on(curve, pub_raw, msg, sig, uid) is want, cid
        assert sm2.signature_from_der(bytes.fromhex(case["sig_der"])) == sig, cid
        if "za" in case:
            z = _ec.compute_z(curve, _point(pub_raw), uid, sm3.digest)
            assert z.hex() == case["za"], cid
            assert sm3.digest(z + msg).hex() == case["e"], cid
        if "k" in case:
            d, k, e = int(case["private_key"], 16), int(case["k"], 16), int(case["e"], 16)
            assert _ec.public_point(curve, d) == _point(pub_raw), cid
            ref = _ec.sign_digest(curve, d, e, k)
            assert ref == (int(case["sig_r"], 16), int(case["sig_s"], 16)), cid
            g = _gmssl.make_on_curve(_table(curve), d, pub_raw)
            assert g.sign(bytes.fromhex(case["e"]), case["k"]) == case["sig_r"] + case["sig_s"]
        if curve == _ec.SM2P256V1:  # the public API rejects the off-curve key outright
            for backend in BACKENDS:
                with pytest.raises(InvalidKey):
                    sm2.PublicKey.from_bytes(pub_raw, backend=backend)


# --- encryption ----------------------------------------------------------------------------------


def _hash_fn(case: dict[str, Any]) -> sm2enc.HashFn:
    if case.get("hash", "sm3") == "sm3":
        return sm3.digest
    assert case["hash"] == "sha256"
    return lambda data: hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "name", ["sm2_encrypt_recommended_curve.json", "sm2_encrypt_test_curve.json"]
)
def test_encrypt_vectors(vectors_dir: Path, name: str) -> None:
    doc = _doc(vectors_dir, name)
    for case in doc["cases"]:
        cid, curve, hash_fn = case["id"], _curve(doc, case), _hash_fn(case)
        d = int(case["private_key"], 16)
        pub_raw = _pub(case)
        assert _ec.public_point(curve, d) == _point(pub_raw), cid
        der = bytes.fromhex(case["ciphertext_der"])
        want = bytes.fromhex(case["expect"])
        c1, c3, c2 = sm2enc.decode_der(der)
        assert sm2enc.decrypt_raw(curve, d, c1, c3, c2, hash_fn) == want, cid
        c1c3c2 = b"\x04" + b"".join(v.to_bytes(32, "big") for v in c1) + c3 + c2
        if "k" in case:
            enc = sm2enc.encrypt_raw(
                curve, _point(pub_raw), want, k=int(case["k"], 16), hash_fn=hash_fn
            )
            assert sm2enc.encode_der(*enc) == der, cid
            assert c1c3c2.hex() == case["ciphertext_c1c3c2"], cid
            c1c2c3 = c1c3c2[:65] + c2 + c3
            assert c1c2c3.hex() == case["ciphertext_c1c2c3"], cid
        if curve == _ec.SM2P256V1:
            # libcrypto and gmssl decrypt the same ciphertext
            assert _openssl.decrypt(d, pub_raw, der) == want, cid
            key = sm2.PrivateKey.from_bytes(d.to_bytes(32, "big"))
            assert sm2enc.decrypt(key, der) == want, cid
        if hash_fn is sm3.digest:
            table = _table(curve)
            g = _gmssl.make_on_curve(table, d, pub_raw)
            g.mode = 1  # C1 || C3 || C2
            assert g.decrypt(c1c3c2[1:]) == want, cid
        bad = bytearray(der)
        bad[-1] ^= 1  # flip a bit of C2: C3 no longer matches
        with pytest.raises(DecryptError):
            c1b, c3b, c2b = sm2enc.decode_der(bytes(bad))
            sm2enc.decrypt_raw(curve, d, c1b, c3b, c2b, hash_fn)


def test_encrypt_roundtrip_with_openssl() -> None:
    key = sm2.PrivateKey.generate()
    ct = sm2enc.encrypt(key.public_key(), b"sealed for a validator")
    assert sm2enc.decrypt(key, ct) == b"sealed for a validator"
    d = int.from_bytes(key.to_bytes(), "big")
    assert _openssl.decrypt(d, key.public_key().to_bytes(), ct) == b"sealed for a validator"
    with pytest.raises(DecryptError):
        sm2enc.decrypt(sm2.PrivateKey.generate(), ct)
    with pytest.raises(DecryptError):
        sm2enc.decrypt(key, ct[:-1])


# --- key exchange --------------------------------------------------------------------------------


def _kx(doc: dict[str, Any], case: dict[str, Any]) -> tuple[sm2kx.KxResult, sm2kx.KxResult]:
    curve = _curve(doc, case)
    h = lambda k: int(case[k], 16)  # noqa: E731
    p_a, p_b = (h("p_a_x"), h("p_a_y")), (h("p_b_x"), h("p_b_y"))
    ra_pt, rb_pt = (h("R_a_x"), h("R_a_y")), (h("R_b_x"), h("R_b_y"))
    id_a, id_b = bytes.fromhex(case["id_a_hex"]), bytes.fromhex(case["id_b_hex"])
    z_a = _ec.compute_z(curve, p_a, id_a, sm3.digest)
    z_b = _ec.compute_z(curve, p_b, id_b, sm3.digest)
    klen = case["klen_bits"] // 8
    a = sm2kx.initiator(curve, h("d_a"), h("r_a"), p_b, rb_pt, z_a, z_b, klen)
    b = sm2kx.responder(curve, h("d_b"), h("r_b"), p_a, ra_pt, z_a, z_b, klen)
    return a, b


def test_key_exchange_vector(vectors_dir: Path) -> None:
    doc = _doc(vectors_dir, "sm2_key_exchange_test_curve.json")
    for case in doc["cases"]:
        curve = _curve(doc, case)
        assert _ec.public_point(curve, int(case["r_a"], 16)) == (
            int(case["R_a_x"], 16),
            int(case["R_a_y"], 16),
        )
        a, b = _kx(doc, case)
        assert a.key.hex() == b.key.hex() == case["key"] == case["expect"]
        assert b.send.hex() == a.expect.hex() == case["s_b"]
        assert a.send.hex() == b.expect.hex() == case["s_a"]


def test_key_exchange_negative(vectors_dir: Path) -> None:
    doc = _doc(vectors_dir, "sm2_key_exchange_negative.json")
    for case in doc["cases"]:
        cid = case["id"]
        assert case["expect"] == "invalid"
        try:
            a, b = _kx(doc, case)
        except InvalidKey:
            assert "not-on-curve" in cid, cid
            continue
        # each side confirms only if the received hash equals its expected one
        a_confirms = a.expect.hex() == case["s_b"]
        b_confirms = b.expect.hex() == case["s_a"]
        assert not (a_confirms and b_confirms), cid
