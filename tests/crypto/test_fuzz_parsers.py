"""Fuzz the parsers that see outside input: only our typed errors may come out.

Runs with the "ci" profile in `make test` and longer under `make fuzz` (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import base64
import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from crypto import CryptoError, keystore, merkle, sm2, sm2enc

KEY = sm2.PrivateKey.from_bytes((424242).to_bytes(32, "big"))
PKCS8_DER = base64.b64decode(b"".join(KEY.to_pem().splitlines()[1:-1]))


def _pem(label: str, der: bytes) -> bytes:
    return (
        f"-----BEGIN {label}-----\n".encode()
        + base64.encodebytes(der)
        + (f"-----END {label}-----\n".encode())
    )


@given(st.binary(max_size=120))
def test_fuzz_der_signature(data: bytes) -> None:
    try:
        raw = sm2.signature_from_der(data)
    except CryptoError:
        return
    assert len(raw) == 64
    assert sm2.signature_to_der(raw) == data  # strict DER: the only encoding of its value


@given(st.binary(max_size=len(PKCS8_DER) + 8), st.sampled_from(["PRIVATE KEY", "SM2 PRIVATE KEY"]))
def test_fuzz_private_key_der(data: bytes, label: str) -> None:
    try:
        key = sm2.PrivateKey.from_pem(_pem(label, data))
    except CryptoError:
        return
    assert 1 <= int.from_bytes(key.to_bytes(), "big") <= sm2.N - 2


@given(st.integers(0, len(PKCS8_DER) - 1), st.integers(0, 255))
def test_fuzz_mutated_pkcs8(pos: int, value: int) -> None:
    mutated = bytearray(PKCS8_DER)
    mutated[pos] = value
    try:
        key = sm2.PrivateKey.from_pem(_pem("PRIVATE KEY", bytes(mutated)))
    except CryptoError:
        return
    # a mutation that still parses must describe a consistent key pair
    assert key.public_key().verify(b"m", key.sign(b"m"))


@given(st.text(max_size=300))
def test_fuzz_pem_text(text: str) -> None:
    for parse in (sm2.PrivateKey.from_pem, sm2.PublicKey.from_pem):
        with contextlib.suppress(CryptoError):
            parse(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_fuzz_keystore_documents(doc: object) -> None:
    try:
        keystore.decrypt_private_key(json.dumps(doc).encode(), "pw")
    except CryptoError:
        return
    raise AssertionError("a random document opened as a keystore")  # pragma: no cover


@given(json_values)
def test_fuzz_merkle_proof_lists(data: object) -> None:
    try:
        proof = merkle.MerkleProof.from_list(data)  # type: ignore[arg-type]
    except CryptoError:
        return
    assert not merkle.verify_proof(b"\x00" * 32, b"leaf", proof)


@given(st.binary(max_size=200))
def test_fuzz_sm2_ciphertext(data: bytes) -> None:
    try:
        sm2enc.decrypt(KEY, data)
    except CryptoError:
        return
    raise AssertionError("random bytes decrypted")  # pragma: no cover
