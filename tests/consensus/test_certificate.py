"""Commit certificates: standalone verification and canonical bytes."""

from __future__ import annotations

import pytest

from consensus import (
    CommitCertificate,
    DecodeError,
    commit_signing_bytes,
    decode_certificate,
    encode_certificate,
    make_certificate,
    verify_commit_certificate,
)
from tests.consensus.helpers import CHAIN, Keys

H = b"\xab" * 32


def cert_from(
    keys: Keys, signers: list[bytes], height: int = 5, view: int = 1
) -> CommitCertificate:
    msg = commit_signing_bytes(CHAIN, height, view, H)
    return make_certificate(height, view, H, [(p, keys.signers[p](msg)) for p in signers])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 10])
def test_quorum_boundary_for_any_n(n: int) -> None:
    keys = Keys(n)
    q = n - (n - 1) // 3
    ok = cert_from(keys, keys.pubs[:q])
    short = cert_from(keys, keys.pubs[: q - 1]) if q > 1 else None
    v = keys.suite.verify
    assert verify_commit_certificate(keys.pubs, 5, H, ok, CHAIN, v)
    assert verify_commit_certificate(keys.pubs, 5, H, encode_certificate(ok), CHAIN, v)
    if short is not None:
        assert not verify_commit_certificate(keys.pubs, 5, H, short, CHAIN, v)


def test_rejects_wrong_height_hash_chain_signer_or_signature() -> None:
    keys = Keys(4)
    v = keys.suite.verify
    cert = cert_from(keys, keys.pubs[:3])
    assert not verify_commit_certificate(keys.pubs, 6, H, cert, CHAIN, v)
    assert not verify_commit_certificate(keys.pubs, 5, b"\x00" * 32, cert, CHAIN, v)
    assert not verify_commit_certificate(keys.pubs, 5, H, cert, b"other-chain", v)
    outsider = Keys(5).pubs[4]
    # a signer outside the set in force makes the certificate invalid
    assert not verify_commit_certificate(keys.pubs[1:] + [outsider], 5, H, cert, CHAIN, v)
    bad = CommitCertificate(5, 1, H, cert.signatures[:2] + ((cert.signatures[2][0], b"\x00" * 64),))
    assert not verify_commit_certificate(keys.pubs, 5, H, bad, CHAIN, v)
    assert not verify_commit_certificate(keys.pubs, 5, H, b"\xc1garbage", CHAIN, v)

    def boom(*_: bytes) -> bool:
        raise RuntimeError("verifier crashed")

    assert not verify_commit_certificate(keys.pubs, 5, H, cert, CHAIN, boom)


def test_encoding_round_trip_and_hostile_bytes() -> None:
    keys = Keys(4)
    cert = cert_from(keys, keys.pubs)
    data = encode_certificate(cert)
    assert decode_certificate(data) == cert
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            decode_certificate(data[:cut])
