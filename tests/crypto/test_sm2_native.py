"""The native SM2 verify (crypto/_sm2verify.c) against answers it did not compute: OpenSSL,
the pure-integer reference `crypto._ec`, hashlib's SM3 and signatures constructed from the
GB/T 32918.2 equations. Its three paths (per-signer cached table, wNAF without a table, a
fresh table) are pinned to the same answers."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import _ec, _native, _openssl, _sm2verify, sm2, sm3
from tests.crypto import sm2_differential as diff

C = _ec.SM2P256V1
N = C.n
MODES = (_sm2verify.MODE_AUTO, _sm2verify.MODE_COLD, _sm2verify.MODE_TABLE)
DIFF_CASES = int(os.environ.get("SM2_DIFF_CASES", "200000"))
DIFF_SEED = int(os.environ.get("SM2_DIFF_SEED", "20261206"))


def _pt_bytes(pt: _ec.Point | None) -> bytes:
    return b"" if pt is None else pt[0].to_bytes(32, "big") + pt[1].to_bytes(32, "big")


def test_differential_against_openssl_and_constructed_answers() -> None:
    """200,000 cases (valid, bit-flipped, random, edge values); OpenSSL re-checks every edge
    case and one in 200 of the rest. `make fuzz-sm2` runs the same with 10^7."""
    stats = diff.run(DIFF_CASES, DIFF_SEED, openssl_every=200)
    total = sum(v for k, v in stats.items() if k != "openssl_checked")
    assert total == DIFF_CASES >= 200_000 or "SM2_DIFF_CASES" in os.environ
    for kind in ("valid", "valid-msg", "flip", "random", "edge-range", "edge-valid"):
        assert stats.get(kind, 0) > 0, (kind, stats)
    for kind in ("edge-infinity", "edge-double", "edge-e-ge-n", "edge-key", "edge-x1-ge-n"):
        assert stats.get(kind, 0) > 0, (kind, stats)
    assert stats["openssl_checked"] >= DIFF_CASES // 200


@pytest.fixture
def portable() -> Iterator[None]:
    """The portable (__int128) arithmetic instead of mulx/adx, for the duration of a test."""
    assert _sm2verify._set_isa("portable") == "portable (__int128)"
    try:
        yield
    finally:
        _sm2verify._set_isa("best")
    assert _sm2verify.isa() == ("mulx/adx" if _sm2verify.cpu_has_adx() else "portable (__int128)")


def test_cpu_without_adx_is_logged() -> None:
    assert _native.isa_note(True) == ""
    assert "lacks BMI2/ADX" in _native.isa_note(False) and "portable" in _native.isa_note(False)


def test_differential_portable_arithmetic(portable: None) -> None:
    """The same differential cases on the arithmetic a CPU without BMI2/ADX gets."""
    stats = diff.run(max(DIFF_CASES // 8, 1000), DIFF_SEED + 1, openssl_every=200)
    assert stats["valid"] > 0 and stats["flip"] > 0


@given(k1=st.integers(0, 2**256 - 1), k2=st.integers(0, 2**256 - 1), d=st.integers(1, N - 1))
def test_mul_add_portable_matches_the_reference(k1: int, k2: int, d: int) -> None:
    _sm2verify._set_isa("portable")
    try:
        _check_mul_add(k1, k2, d)
    finally:
        _sm2verify._set_isa("best")


def test_every_branch_of_point_addition_is_reached_and_right() -> None:
    """Q = 2G with t = j, s = 2j makes the accumulator equal the point it adds (doubling);
    s G + t Q = infinity ends in P + (-P); the first addition starts from infinity."""
    gen = diff.Generator(7, n_keys=2, n_nonces=8)
    two = next(x for x in gen.signers if x.d == 2)
    _sm2verify._branch_counts(True)
    try:
        _branches_reached(gen, two)
    finally:
        _sm2verify._branch_counts(False)


def _branches_reached(gen: diff.Generator, two: diff.Signer) -> None:
    for mode in MODES:
        before = _sm2verify._branch_counts()
        for j in (1, 5, 63):
            r = (j - 2 * j) % N
            pt = _ec.mul(C, 4 * j, C.g)
            assert pt is not None
            e = (r - pt[0]) % N
            sig = r.to_bytes(32, "big") + (2 * j).to_bytes(32, "big")
            eb = e.to_bytes(32, "big")
            assert _sm2verify.verify_digest(two.pub, eb, sig, mode)
            assert _openssl.verify_digest(_openssl.load_public(two.pub), eb, sig)
            bad = ((e + 1) % N).to_bytes(32, "big")
            assert not _sm2verify.verify_digest(two.pub, bad, sig, mode)
        after_double = _sm2verify._branch_counts()
        signer = gen.signers[0]
        s = 12345
        t = -s * pow(signer.d, -1, N) % N
        sig = ((t - s) % N).to_bytes(32, "big") + s.to_bytes(32, "big")
        assert not _sm2verify.verify_digest(signer.pub, bytes(32), sig, mode)
        assert not _openssl.verify_digest(_openssl.load_public(signer.pub), bytes(32), sig)
        after_inf = _sm2verify._branch_counts()
        assert after_double[0] >= before[0] + 3, (mode, before, after_double)  # P == Q
        assert after_inf[1] >= after_double[1] + 1, (mode, after_double, after_inf)  # P == -Q
        assert after_inf[2] > before[2]  # infinity + P


def test_x1_at_least_n_is_accepted_through_x1_minus_n() -> None:
    rnd = random.Random(11)
    for _ in range(6):
        case = diff.high_x_case(rnd)
        bad = ((int.from_bytes(case.e, "big") + 1) % N).to_bytes(32, "big")
        assert diff.openssl_verify(case) is True
        for mode in MODES:
            assert _sm2verify.verify_digest(case.key, case.e, case.sig, mode), mode
            assert not _sm2verify.verify_digest(case.key, bad, case.sig, mode), mode


def test_generator_table_rederived() -> None:
    """Every entry (j+1) 2^(8i) G of the built-in table, re-derived with Python integers
    (window bases by doubling, rows by affine additions)."""
    base = C.g
    for i in range(33):
        acc = base
        for j in range(128):
            assert _sm2verify._g_table_point(i, j) == _pt_bytes(acc), (i, j)
            if j < 127:
                acc = _ec.mul_add(C, 1, acc, 1, base)  # type: ignore[assignment]
        for _ in range(8):
            base = _ec.mul(C, 2, base)  # type: ignore[assignment]
    with pytest.raises(IndexError):
        _sm2verify._g_table_point(33, 0)


@given(
    k1=st.integers(0, 2**256 - 1) | st.sampled_from([0, 1, N - 1, N, N + 1, 2**256 - 1]),
    k2=st.integers(0, 2**256 - 1) | st.sampled_from([0, 1, N - 1, N, N + 1, 2**256 - 1]),
    d=st.integers(1, N - 1) | st.integers(1, 20),
)
def test_mul_add_matches_the_reference(k1: int, k2: int, d: int) -> None:
    _check_mul_add(k1, k2, d)


def _check_mul_add(k1: int, k2: int, d: int) -> None:
    q = _ec.mul(C, d, C.g)
    assert q is not None
    want = _pt_bytes(_ec.mul_add(C, k1, C.g, k2, q))
    for mode in (_sm2verify.MODE_COLD, _sm2verify.MODE_TABLE):
        got = _sm2verify._mul_add(
            k1.to_bytes(32, "big"), k2.to_bytes(32, "big"), _pt_bytes(q), mode
        )
        assert got == want, mode


def openssl_sm3(data: bytes) -> bytes:
    """OpenSSL's SM3 (hashlib's, else cryptography's): the reference of the native one."""
    plain = sm3._hashlib_digest() or sm3._cryptography_digest
    return plain(data)


@given(st.binary(max_size=300))
def test_sm3_matches_hashlib(data: bytes) -> None:
    assert _sm2verify._sm3(data) == openssl_sm3(data)
    assert _sm2verify.sm3_digest(data) == openssl_sm3(data)


def test_sm3_every_padding_length() -> None:
    for n in range(0, 200):
        data = bytes(range(256))[:n] * 1
        assert _sm2verify._sm3(data) == openssl_sm3(data), n
        assert _sm2verify.sm3_digest(data) == openssl_sm3(data), n


def test_sm3_digest_of_long_inputs_and_other_buffers() -> None:
    """Past 4 KiB the GIL is released while hashing; any buffer is hashed as its bytes."""
    rng = random.Random(5)
    for n in (4095, 4096, 4097, 1 << 20):
        data = rng.randbytes(n)
        assert _sm2verify.sm3_digest(data) == openssl_sm3(data), n
        assert _sm2verify.sm3_digest(bytearray(data)) == openssl_sm3(data)
        assert _sm2verify.sm3_digest(memoryview(data)[1:]) == openssl_sm3(data[1:])
    with pytest.raises(TypeError):
        _sm2verify.sm3_digest("text")  # type: ignore[arg-type]


def test_the_default_sm3_is_the_native_one() -> None:
    assert sm3.digest is _sm2verify.sm3_digest


@given(
    d=st.integers(1, N - 2),
    msg=st.binary(max_size=200),
    uid=st.binary(max_size=40),
    flip=st.integers(0, 64 * 8 - 1),
)
def test_openssl_signatures_verify_in_every_mode(d: int, msg: bytes, uid: bytes, flip: int) -> None:
    key = sm2.PrivateKey.from_bytes(d.to_bytes(32, "big"), backend="openssl")
    sig = key.sign(msg, uid)
    raw = key.public_key().to_bytes()
    z = sm2.compute_z(raw, uid)
    bad = bytearray(sig)
    bad[flip // 8] ^= 1 << (flip % 8)
    for mode in MODES:
        assert _sm2verify.verify(raw, z, msg, sig, mode)
        assert not _sm2verify.verify(raw, z, msg + b"!", sig, mode)
        assert not _sm2verify.verify(raw, z, msg, bytes(bad), mode)
        if uid == sm2.DEFAULT_ID:
            assert _sm2verify.verify(raw, None, msg, sig, mode)


def test_published_vectors_in_every_mode(vectors_dir: Path) -> None:
    doc = json.loads((vectors_dir / "sm2_sign_recommended_curve.json").read_text())
    checked = 0
    for case in doc["cases"]:
        if case.get("kind") == "za_and_e_only":
            continue
        raw = bytes.fromhex(case["public_key_uncompressed"])
        sig = bytes.fromhex(case["sig_r"] + case["sig_s"])
        msg = bytes.fromhex(case.get("msg_hex", ""))
        want = case["expect"] == "valid"
        for mode in MODES:
            if case.get("kind") == "prehashed_e":
                got = _sm2verify.verify_digest(raw, bytes.fromhex(case["e"]), sig, mode)
            else:
                z = sm2.compute_z(raw, bytes.fromhex(case["user_id_hex"]))
                got = _sm2verify.verify(raw, z, msg, sig, mode)
            assert got is want, (case["id"], mode)
            checked += 1
    assert checked >= 3 * 3  # every signature case of the file, in each mode


def test_signer_table_cache_is_bounded_lru() -> None:
    rnd = random.Random(3)
    signers = [diff.Signer.of(rnd.randrange(1, N - 1)) for _ in range(6)]
    gen = diff.Generator(4, n_keys=1, n_nonces=4)
    k, x1 = gen.nonces[0]
    try:
        _sm2verify.clear_cache()
        _sm2verify.configure_cache(3, 2)
        for _round in range(3):
            for signer in signers:
                e = rnd.getrandbits(256)
                rs = signer.sign_with(k, x1, e)
                assert rs is not None
                sig = rs[0].to_bytes(32, "big") + rs[1].to_bytes(32, "big")
                assert _sm2verify.verify_digest(signer.pub, e.to_bytes(32, "big"), sig)
            info = _sm2verify.cache_info()
            assert info["entries"] <= 3, info
        assert info["built"] >= 3
        _sm2verify.configure_cache(0, 2)  # no tables at all: every verify takes the wNAF path
        assert _sm2verify.cache_info()["entries"] == 0
        built = _sm2verify.cache_info()["built"]
        assert _sm2verify.verify_digest(signers[-1].pub, e.to_bytes(32, "big"), sig)
        assert _sm2verify.cache_info()["built"] == built
        with pytest.raises(ValueError):
            _sm2verify.configure_cache(-1, 2)
    finally:
        _sm2verify.configure_cache(_native.TABLE_CACHE_ENTRIES, _native.TABLE_AFTER)


def test_malformed_inputs_are_false_not_errors() -> None:
    key = sm2.PrivateKey.generate(backend="openssl")
    raw = key.public_key().to_bytes()
    sig = key.sign(b"m")
    e = sm3.digest(key.public_key().z() + b"m")
    assert _sm2verify.verify_digest(raw, e, sig)
    assert _sm2verify.verify_digest(raw[1:], e, sig)  # 64 bytes x || y also accepted
    assert not _sm2verify.verify_digest(b"\x05" + raw[1:], e, sig)
    assert not _sm2verify.verify_digest(raw[:64], e, sig)
    assert not _sm2verify.verify_digest(raw, e[:31], sig)
    assert not _sm2verify.verify_digest(raw, e, sig[:63])
    assert not _sm2verify.verify(raw, b"z", b"m", sig)
    with pytest.raises(TypeError):
        _sm2verify.verify(raw, None, "m", sig)  # type: ignore[arg-type]
