"""The native SM4-GCM backend (crypto/_sm4gcm.c) against OpenSSL through `cryptography`.

Every check runs on each code path this CPU supports (AVX-512, AVX2, the 128-bit GFNI path, and
for CPUs without GFNI the 256-bit VAES one and the 128-bit AES-NI one), and OpenSSL is the
reference for every output.
"""

from __future__ import annotations

import platform
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import CryptoError, DecryptError, sm4
from crypto.tools import sm4_gfni_matrices as gfni

C_SOURCE = Path(sm4.__file__).with_name("_sm4gcm.c")


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.MULTILINE)
    return set(match.group(1).split()) if match else set()


CPU_CAN = platform.machine() in ("x86_64", "AMD64") and (
    {"gfni", "pclmulqdq"} <= _cpu_flags() or {"aes", "pclmulqdq", "sse4_1"} <= _cpu_flags()
)


def _native_isas() -> list[str]:
    if sm4._NATIVE is None:
        return []
    out = []
    for name in ("avx512", "avx2", "gfni-sse", "vaes-avx2", "aesni-sse"):
        try:
            prev = sm4._NATIVE._set_isa(name)
        except ValueError:
            continue
        sm4._NATIVE._set_isa(prev)
        out.append(name)
    return out


ISAS = _native_isas()


@pytest.fixture(params=ISAS or ["unavailable"])
def isa(request: pytest.FixtureRequest) -> Iterator[str]:
    if sm4._NATIVE is None:
        pytest.skip(f"native SM4-GCM unavailable here: {sm4.native_unavailable_reason()}")
    prev = sm4._NATIVE._set_isa(request.param)
    try:
        yield str(request.param)
    finally:
        sm4._NATIVE._set_isa(prev)


def _pair(key: bytes) -> tuple[sm4.SM4GCM, sm4.SM4GCM]:
    return sm4.SM4GCM(key, backend="native"), sm4.SM4GCM(key, backend="openssl")


def _check_equal(key: bytes, nonce: bytes, pt: bytes, aad: bytes) -> None:
    native, ossl = _pair(key)
    sealed = ossl.encrypt(nonce, pt, aad)
    assert native.encrypt(nonce, pt, aad) == sealed, (len(pt), len(aad))
    assert native.decrypt(nonce, sealed, aad) == pt
    assert ossl.decrypt(nonce, native.encrypt(nonce, pt, aad), aad) == pt


# ---- the S-box matrices ---------------------------------------------------------------


def test_gfni_matrices_reproduce_the_sbox() -> None:
    from gmssl.sm4 import SM4_BOXES_TABLE  # an independent transcription of the standard

    assert list(gfni.SBOX) == list(SM4_BOXES_TABLE)
    m1, c1, m2, c2 = gfni.derive()
    gfni.check(m1, c1, m2, c2)  # all 256 entries through a model of the two instructions
    for x in range(256):
        y = gfni.gf2p8affineinvqb(gfni.gf2p8affineqb(x, m1, c1), m2, c2)
        assert y == SM4_BOXES_TABLE[x]
    # and the C source carries exactly these constants
    src = C_SOURCE.read_text()
    consts = dict(re.findall(r"#define (SM4_GFNI_\w+) (0x[0-9a-f]+)", src))
    assert int(consts["SM4_GFNI_M1"], 16) == m1 and int(consts["SM4_GFNI_C1"], 16) == c1
    assert int(consts["SM4_GFNI_M2"], 16) == m2 and int(consts["SM4_GFNI_C2"], 16) == c2


def test_aesni_tables_reproduce_the_sbox() -> None:
    from gmssl.sm4 import SM4_BOXES_TABLE

    # the model of AESENCLAST's S-box is FIPS-197's (its first entries and a worked example)
    assert [gfni.aes_sbox(x) for x in (0x00, 0x01, 0x53, 0xFF)] == [0x63, 0x7C, 0xED, 0x16]
    tables = gfni.aesni_tables(*gfni.derive())
    gfni.check_aesni(tables)
    pre_lo, pre_hi, post_lo, post_hi = tables
    for x in range(256):
        s = gfni.aes_sbox(pre_lo[x & 15] ^ pre_hi[x >> 4])
        assert post_lo[s & 15] ^ post_hi[s >> 4] == SM4_BOXES_TABLE[x]
    # and the C source carries exactly these tables
    src = C_SOURCE.read_text()
    found = dict(re.findall(r"#define SM4_AESNI_(\w+) ((?:0x[0-9a-f]{2}(?:, )?){16})", src))
    for name, values in zip(("PRE_LO", "PRE_HI", "POST_LO", "POST_HI"), tables, strict=True):
        assert [int(v, 16) for v in found[name].split(", ")] == values, name


def test_aesni_check_catches_a_wrong_table() -> None:
    pre_lo, pre_hi, post_lo, post_hi = gfni.aesni_tables(*gfni.derive())
    with pytest.raises(AssertionError):
        gfni.check_aesni(([pre_lo[0] ^ 1, *pre_lo[1:]], pre_hi, post_lo, post_hi))


def test_gfni_check_catches_a_wrong_matrix() -> None:
    m1, c1, m2, c2 = gfni.derive()
    with pytest.raises(AssertionError):
        gfni.check(m1 ^ 1, c1, m2, c2)


# ---- backend selection ----------------------------------------------------------------


def test_native_backend_is_active_on_a_capable_cpu() -> None:
    """A broken build must not hide behind the OpenSSL fallback."""
    if CPU_CAN:
        assert sm4.native_unavailable_reason() == "", (
            "this CPU has PCLMULQDQ and GFNI or AES-NI but the native SM4-GCM is not usable "
            "(build it: "
            f"`.venv/bin/python setup.py build_ext --inplace`): {sm4.native_unavailable_reason()}"
        )
        assert sm4.gcm_backend("auto") == "native"
        assert sm4.gcm_backend_info().startswith("native") or sm4.gcm_backend() == "openssl"
    else:
        assert sm4.native_unavailable_reason() != ""
        assert sm4.gcm_backend("auto") == "openssl"


def test_backend_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sm4.BACKEND_ENV, "openssl")
    assert sm4.gcm_backend() == "openssl"
    assert sm4.SM4GCM(b"k" * 16).backend == "openssl"
    assert sm4.gcm_backend_info().startswith("openssl")
    monkeypatch.setenv(sm4.BACKEND_ENV, "rot13")
    with pytest.raises(CryptoError, match="unknown SM4 backend"):
        sm4.SM4GCM(b"k" * 16)
    monkeypatch.setenv(sm4.BACKEND_ENV, "native")
    monkeypatch.setattr(sm4, "_NATIVE", None)
    monkeypatch.setattr(sm4, "_NATIVE_WHY_NOT", "this machine cannot run it: no GFNI")
    with pytest.raises(CryptoError, match="no GFNI.*CHAINNODE_SM4_BACKEND=auto"):
        sm4.SM4GCM(b"k" * 16)
    monkeypatch.setenv(sm4.BACKEND_ENV, "auto")
    assert sm4.SM4GCM(b"k" * 16).backend == "openssl"


# ---- equality with OpenSSL ------------------------------------------------------------

# the native loops work in 64-, 32- and 16-block groups (1024, 512, 256 B; 4 on the SSE path)
# within 4 KiB chunks, GHASH in 8-block (128 B) groups; lengths around the multiples and sums
_BASES = (64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 3072, 3840, 4096, 5120, 8192)
_EDGES = sorted({b + d for b in _BASES for d in range(-17, 18)})


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.one_of(st.integers(0, 5000), st.sampled_from(_EDGES)),
    aad_len=st.one_of(st.integers(0, 300), st.sampled_from([0, 16, 128, 255, 256, 257, 1000])),
)
def test_native_equals_openssl_random(isa: str, seed: int, length: int, aad_len: int) -> None:
    rnd = random.Random(seed)
    _check_equal(
        rnd.randbytes(16), rnd.randbytes(12), rnd.randbytes(length), rnd.randbytes(aad_len)
    )


def test_native_equals_openssl_every_small_length(isa: str) -> None:
    rnd = random.Random(7)
    key, nonce = rnd.randbytes(16), rnd.randbytes(12)
    for length in list(range(0, 600)) + _EDGES + [16383, 16384, 16385, 65536 + 5]:
        _check_equal(key, nonce, rnd.randbytes(length), rnd.randbytes(length % 37))


def test_counter_wraps_like_openssl(isa: str) -> None:
    """The 32-bit block counter starts at 2; output must match over a long message."""
    rnd = random.Random(3)
    _check_equal(rnd.randbytes(16), rnd.randbytes(12), rnd.randbytes(300_001), b"hdr")


def test_buffer_protocol_inputs(isa: str) -> None:
    native, ossl = _pair(bytes(range(16)))
    nonce, pt, aad = bytes(12), bytes(range(256)) * 5, b"aad"
    want = ossl.encrypt(nonce, pt, aad)
    got = native.encrypt(bytearray(nonce), memoryview(pt), bytearray(aad))
    assert type(got) is bytes and got == want
    assert native.decrypt(memoryview(nonce), bytearray(want), memoryview(aad)) == pt
    assert native.decrypt(nonce, memoryview(b"xx" + want)[2:], aad) == pt


def test_threads_share_a_key_without_the_gil(isa: str) -> None:
    native, ossl = _pair(b"t" * 16)
    msgs = [random.Random(i).randbytes(200_000 + i) for i in range(4)]
    want = [ossl.encrypt(i.to_bytes(12, "big"), m) for i, m in enumerate(msgs)]
    got: dict[int, bytes] = {}

    def work(i: int) -> None:
        for _ in range(5):
            got[i] = native.encrypt(i.to_bytes(12, "big"), msgs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [got[i] for i in range(4)] == want


def test_sm4_block_examples_native_core(isa: str, vectors_dir: Path) -> None:
    import json

    assert sm4._NATIVE is not None
    n = 0
    for c in json.loads((vectors_dir / "sm4_block_examples.json").read_text())["cases"]:
        if "plaintext" in c:
            key, pt = bytes.fromhex(c["key"]), bytes.fromhex(c["plaintext"])
            if c.get("iterations", 1) == 1:
                assert sm4._NATIVE._ecb_encrypt(key, pt).hex() == c["expect"], c["id"]
                n += 1
    assert n


@pytest.mark.parametrize("backend", ["native", "openssl"])
def test_encrypt_with_header_gathers_the_parts(backend: str) -> None:
    if backend == "native" and sm4._NATIVE is None:
        pytest.skip(f"native SM4-GCM unavailable here: {sm4.native_unavailable_reason()}")
    box, ref = sm4.SM4GCM(b"h" * 16, backend=backend), sm4.SM4GCM(b"h" * 16, backend="openssl")
    rnd = random.Random(5)
    nonce = rnd.randbytes(12)
    for sizes in ([], [0], [5], [16, 0, 1], [1029] * 63, [70_000, 3], [255, 257, 4096]):
        parts = [rnd.randbytes(n) for n in sizes]
        header = len(sizes).to_bytes(4, "big")
        joined = b"".join(parts)
        want = header + ref.encrypt(nonce, joined, header)
        mixed = [bytearray(p) if i % 2 else memoryview(p) for i, p in enumerate(parts)]
        assert box.encrypt_with_header(nonce, parts, header) == want
        assert box.encrypt_with_header(nonce, tuple(mixed), header) == want  # type: ignore[arg-type]
        assert box.decrypt(nonce, memoryview(want)[4:], header) == joined
    with pytest.raises(CryptoError):
        box.encrypt_with_header(b"short", [b"x"], b"")
    with pytest.raises(TypeError):
        box.encrypt_with_header(nonce, [b"x", 5], b"")  # type: ignore[list-item]


# ---- published vectors through both backends ------------------------------------------


@pytest.mark.parametrize("backend", ["native", "openssl"])
def test_gcm_vectors_both_backends(backend: str, vectors_dir: Path) -> None:
    import json

    if backend == "native" and sm4._NATIVE is None:
        pytest.skip(f"native SM4-GCM unavailable here: {sm4.native_unavailable_reason()}")
    checked = 0
    for path in sorted(vectors_dir.glob("sm4_gcm_*.json")):
        for c in json.loads(path.read_text())["cases"]:
            key, iv = bytes.fromhex(c["key"]), bytes.fromhex(c["iv"])
            aad, msg = bytes.fromhex(c["aad"]), bytes.fromhex(c["msg"])
            ct, tag = bytes.fromhex(c["ct"]), bytes.fromhex(c["tag"])
            box = sm4.SM4GCM(key, backend=backend)
            if len(iv) != 12 or len(tag) != 16:
                with pytest.raises(CryptoError):
                    box.decrypt(iv, ct + tag, aad)
                continue
            if c["expect"] == "valid":
                assert box.encrypt(iv, msg, aad) == ct + tag, c["id"]
                assert box.decrypt(iv, ct + tag, aad) == msg, c["id"]
            else:
                with pytest.raises(DecryptError):
                    box.decrypt(iv, ct + tag, aad)
            checked += 1
    assert checked > 60


# ---- bad input ------------------------------------------------------------------------


def test_tampering_is_decrypt_error(isa: str) -> None:
    box = sm4.SM4GCM(b"K" * 16, backend="native")
    nonce, aad = b"N" * 12, b"header"
    for length in (0, 1, 15, 16, 17, 300, 5000):
        sealed = box.encrypt(nonce, bytes(range(256)) * (length // 256) + bytes(length % 256), aad)
        assert box.decrypt(nonce, sealed, aad) is not None
        for pos in {0, len(sealed) // 2, len(sealed) - 17, len(sealed) - 16, len(sealed) - 1}:
            if pos < 0:
                continue
            bad = bytearray(sealed)
            bad[pos] ^= 0x01
            with pytest.raises(DecryptError):
                box.decrypt(nonce, bytes(bad), aad)
        with pytest.raises(DecryptError):
            box.decrypt(nonce, sealed, aad + b"x")
        with pytest.raises(DecryptError):
            box.decrypt(nonce, sealed, b"Header")
        with pytest.raises(DecryptError):
            box.decrypt(b"N" * 11 + b"M", sealed, aad)
        with pytest.raises(DecryptError):
            sm4.SM4GCM(b"L" * 16, backend="native").decrypt(nonce, sealed, aad)
        for cut in (1, 16, len(sealed)):
            with pytest.raises(DecryptError):
                box.decrypt(nonce, sealed[:-cut], aad)
            with pytest.raises(DecryptError):
                box.decrypt(nonce, sealed[cut:], aad)


@pytest.mark.parametrize("backend", ["native", "openssl"])
def test_sizes_are_crypto_errors(backend: str) -> None:
    if backend == "native" and sm4._NATIVE is None:
        pytest.skip(f"native SM4-GCM unavailable here: {sm4.native_unavailable_reason()}")
    for bad_key in (b"", b"k" * 15, b"k" * 17, b"k" * 32):
        with pytest.raises(CryptoError):
            sm4.SM4GCM(bad_key, backend=backend)
    box = sm4.SM4GCM(b"k" * 16, backend=backend)
    sealed = box.encrypt(b"n" * 12, b"data")
    for bad_nonce in (b"", b"n" * 8, b"n" * 11, b"n" * 13, b"n" * 16):
        with pytest.raises(CryptoError):
            box.encrypt(bad_nonce, b"data")
        with pytest.raises(CryptoError):
            box.decrypt(bad_nonce, sealed)
    for short in (b"", b"x" * 15):
        with pytest.raises(DecryptError):
            box.decrypt(b"n" * 12, short)


def test_native_module_rejects_misuse() -> None:
    if sm4._NATIVE is None:
        pytest.skip(f"native SM4-GCM unavailable here: {sm4.native_unavailable_reason()}")
    mod = sm4._NATIVE
    ctx = mod.SM4GCM(bytes(16))
    with pytest.raises(TypeError):
        ctx.seal(bytes(12))  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ctx.seal(bytes(12), "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ctx.open(bytes(12), b"short")
    assert ctx.open(bytes(12), bytes(40)) is None
    with pytest.raises(ValueError):
        mod._set_isa("sse9")
    with pytest.raises(ValueError):
        mod._ecb_encrypt(bytes(16), b"x" * 15)
