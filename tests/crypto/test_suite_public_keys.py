"""Suite.is_public_key: on-curve check of 65-byte public keys for both suites."""

from __future__ import annotations

import pytest

from crypto.suite import get_suite


@pytest.mark.parametrize("name", ["sm", "ecdsa-p256"])
def test_is_public_key(name: str) -> None:
    suite = get_suite(name)
    pub = suite.public_key(suite.generate_private_key())
    assert suite.is_public_key(pub)
    off_curve = pub[:-1] + bytes([pub[-1] ^ 1])
    assert not suite.is_public_key(off_curve)
    for bad in [b"", pub[:64], b"\x02" + pub[1:], b"\x04" + b"\x00" * 64, bytearray(pub)]:
        assert not suite.is_public_key(bad)  # type: ignore[arg-type]


def test_keys_are_per_curve() -> None:
    sm, p256 = get_suite("sm"), get_suite("ecdsa-p256")
    sm_pub = sm.public_key(sm.generate_private_key())
    p_pub = p256.public_key(p256.generate_private_key())
    assert not p256.is_public_key(sm_pub) and not sm.is_public_key(p_pub)
