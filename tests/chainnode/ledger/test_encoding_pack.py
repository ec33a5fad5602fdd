"""`pack` reuses a per-thread msgpack Packer: its bytes must stay msgpack.packb's, also after
a failed pack and after a large one, and from several threads at once."""

from __future__ import annotations

import threading

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainnode.model import encoding
from chainnode.model.encoding import pack

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text(),
    lambda inner: st.lists(inner, max_size=5),
    max_leaves=20,
)


def _ref(v: object) -> bytes:
    out: bytes = msgpack.packb(v, use_bin_type=True)
    return out


@given(values)
def test_pack_is_packb(v: object) -> None:
    assert pack(v) == _ref(v)


def test_pack_after_an_error_and_after_a_large_value() -> None:
    with pytest.raises(TypeError):
        pack([b"half", object()])
    assert pack([1, b"x"]) == b"\x92\x01\xc4\x01x"  # nothing of the failed pack left behind
    big = [b"y" * 1000] * 2000
    assert pack(big) == _ref(big)
    assert not hasattr(encoding._local, "pack")  # the grown packer was dropped
    assert pack([2]) == b"\x91\x02"


def test_pack_from_threads() -> None:
    items = [[i, bytes([i % 256]) * (i % 300), [b"a"] * (i % 7)] for i in range(3000)]
    want = [_ref(v) for v in items]
    bad: list[int] = []

    def work(offset: int) -> None:
        for i in range(offset, len(items), 4):
            if pack(items[i]) != want[i]:
                bad.append(i)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bad == []
