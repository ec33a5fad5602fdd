"""The Python part of a verify takes shortcuts (DER building, the default-backend lookup);
each must agree with the general path it skips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import _openssl, sm2

_edge = st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF])


@given(st.binary(min_size=64, max_size=64), _edge, _edge, _edge, _edge)
def test_sig_der_matches_the_asn1_encoder(raw: bytes, r0: int, r1: int, s0: int, s1: int) -> None:
    for sig in (raw, bytes([r0, r1]) + raw[2:32] + bytes([s0, s1]) + raw[34:]):
        if not (any(sig[:32]) and any(sig[32:])):
            continue  # verify range-checks r, s >= 1 before building DER
        assert _openssl._sig_der(sig) == sm2.signature_to_der(sig)


@pytest.mark.parametrize("backend", ["native", "openssl"])
def test_verify_default_agrees_with_the_key_object(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv(sm2.ENV_BACKEND, backend)
    priv = sm2.PrivateKey.generate()
    pub = priv.public_key().to_bytes()
    for i in range(40):  # r, s with and without the high bit
        msg = i.to_bytes(2, "big")
        sig = priv.sign(msg)
        assert sm2.verify_default(pub, msg, sig)
        assert not sm2.verify_default(pub, msg + b"x", sig)
        assert sm2.PublicKey.from_bytes(pub).verify(msg, sig)


def test_backend_follows_env_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sm2.ENV_BACKEND, raising=False)
    assert sm2.backend_name() == "native"
    monkeypatch.setenv(sm2.ENV_BACKEND, "gmssl")
    assert sm2.backend_name() == "gmssl"
    monkeypatch.setenv(sm2.ENV_BACKEND, "openssl")
    assert sm2.backend_name() == "openssl"
    try:
        sm2.set_backend("gmssl")
        assert sm2.backend_name() == "gmssl"
    finally:
        sm2.set_backend(None)
    monkeypatch.delenv(sm2.ENV_BACKEND)
    assert sm2.backend_name() == "native"
    monkeypatch.setenv(sm2.ENV_BACKEND, "rot13")
    with pytest.raises(sm2.CryptoError):
        sm2.backend_name()
