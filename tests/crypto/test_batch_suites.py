"""crypto.batch takes the suite's verify function (it imports no suite registry: no cycle)."""

from __future__ import annotations

import pytest

import crypto
from crypto import batch
from crypto.suite import get_suite


def test_every_suite_batches_through_its_own_verify() -> None:
    for name in ("sm", "ecdsa-p256"):
        s = get_suite(name)
        priv = s.generate_private_key()
        pub = s.public_key(priv)
        sig = s.sign(priv, b"m")
        items = [(pub, b"m", sig), (pub, b"x", sig)] * 40  # above INLINE_MAX: the threads
        expected = [True, False] * 40
        assert crypto.verify_batch(items, suite=name) == expected
        assert s.verify_batch(items) == expected
        assert batch.verify_batch(items, name, verify=s.verify, workers=2) == expected


def test_a_non_sm_suite_without_its_verify_is_refused() -> None:
    with pytest.raises(ValueError, match="verify function"):
        batch.verify_batch([], "ecdsa-p256")
