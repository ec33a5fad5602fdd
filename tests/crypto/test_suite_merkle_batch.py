"""Suites, Merkle trees and batch verification."""

from __future__ import annotations

import pytest

from crypto import CryptoError, batch, merkle, sm3, verify_batch
from crypto.suite import get_suite


@pytest.mark.parametrize("name", ["sm", "ecdsa-p256"])
def test_suite_roundtrip(name: str) -> None:
    s = get_suite(name)
    priv = s.generate_private_key()
    pub = s.public_key(priv)
    assert len(priv) == 32 and len(pub) == 65 and pub[0] == 4
    sig = s.sign(priv, b"tx")
    assert len(sig) == 64
    assert s.verify(pub, b"tx", sig)
    assert not s.verify(pub, b"tX", sig)
    assert not s.verify(pub[:-1], b"tx", sig)
    assert len(s.hash(b"x")) == 32
    assert s.address(pub) == s.hash(pub[1:])[-20:]


def test_unknown_suite() -> None:
    with pytest.raises(CryptoError):
        get_suite("rsa")


def test_merkle_proofs_all_sizes() -> None:
    for n in range(1, 12):
        leaves = [bytes([i]) * 3 for i in range(n)]
        root = merkle.merkle_root(leaves)
        for i in range(n):
            proof = merkle.merkle_proof(leaves, i)
            assert merkle.verify_proof(root, leaves[i], proof)
            assert merkle.verify_proof(
                root, leaves[i], merkle.MerkleProof.from_list(proof.to_list())
            )
            assert not merkle.verify_proof(root, leaves[i] + b"x", proof)
    assert merkle.merkle_root([]) == sm3.digest(b"\x02")


def test_merkle_odd_level_not_duplicated() -> None:
    a, b, c = b"a", b"b", b"c"
    assert merkle.merkle_root([a, b, c]) != merkle.merkle_root([a, b, c, c])


def _items(n: int) -> list[tuple[bytes, bytes, bytes]]:
    s = get_suite("sm")
    privs = [s.generate_private_key() for _ in range(4)]
    out = []
    for i in range(n):
        p = privs[i % 4]
        msg = i.to_bytes(4, "big")
        out.append((s.public_key(p), msg, s.sign(p, msg)))
    return out


def test_verify_batch_inline_and_pool() -> None:
    items = _items(120)
    items[7] = (items[7][0], b"forged", items[7][2])
    items[100] = (items[100][0][:10], items[100][1], items[100][2])
    expected = [True] * 120
    expected[7] = expected[100] = False
    assert verify_batch(items[:10]) == expected[:10]
    assert batch.verify_batch(items, workers=2) == expected
    pids = batch.pool_pids()
    assert len(pids) == 2
    assert batch.verify_batch(items, workers=2) == expected
    assert batch.pool_pids() == pids  # the pool is reused, not re-forked
