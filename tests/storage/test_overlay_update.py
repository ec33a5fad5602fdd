"""Overlay.update (a VM call's writes in one call) is set/delete of each write, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage import InvalidInput, Overlay, StorageError, Store
from storage import keys as K

_keys = st.binary(min_size=0, max_size=6)
_writes = st.dictionaries(_keys, st.none() | st.binary(max_size=8), max_size=12)


class _Empty:
    def state_get(self, namespace: bytes, key: bytes) -> bytes | None:
        return None


def _outcome(fn: object) -> tuple[str, object]:
    try:
        fn()  # type: ignore[operator]
    except StorageError as exc:
        return ("error", (type(exc), str(exc)))
    return ("ok", None)


@given(_writes, _writes, st.sampled_from([b"\x01" * 20, b"sys.nonce", b""]))
def test_update_is_set_and_delete_in_order(
    before: dict[bytes, bytes | None], writes: dict[bytes, bytes | None], ns: bytes
) -> None:
    """Same buffered writes, same order (the state root walks them sorted; writes() and
    scans keep the overlay's order), with earlier writes to the same keys overwritten."""
    fast, plain = Overlay(_Empty()), Overlay(_Empty())  # type: ignore[arg-type]
    for ov in (fast, plain):
        for k, v in before.items():
            ov.set(ns, k, v) if v is not None else ov.delete(ns, k)
    fast.update(ns, writes)
    for k, v in writes.items():
        plain.set(ns, k, v) if v is not None else plain.delete(ns, k)
    assert list(fast.writes().items()) == list(plain.writes().items())
    assert {n: list(kv.items()) for n, kv in fast.namespaced_writes().items()} == {
        n: list(kv.items()) for n, kv in plain.namespaced_writes().items()
    }


@pytest.mark.parametrize(
    ("ns", "writes"),
    [
        (b"n", {b"k" * (K.MAX_STATE_KEY + 1): b"v"}),
        (b"n", {b"k": b"v", b"x": "text"}),
        (b"n", {"text": b"v"}),
        (b"n" * (K.MAX_NAMESPACE + 1), {b"k": b"v"}),
        ("n", {b"k": b"v"}),
        (b"n", {b"a": b"1", b"k": bytearray(b"v")}),
    ],
)
def test_bad_writes_fail_as_set_fails(ns: object, writes: dict[object, object]) -> None:
    """Anything the C-level checks refuse goes through set/delete: the same error, and the
    writes before the bad one stay as set would have left them."""
    fast, plain = Overlay(_Empty()), Overlay(_Empty())  # type: ignore[arg-type]

    def one_by_one() -> None:
        for k, v in writes.items():
            plain.set(ns, k, v) if v is not None else plain.delete(ns, k)  # type: ignore[arg-type]

    got = _outcome(lambda: fast.update(ns, writes))  # type: ignore[arg-type]
    assert got == _outcome(one_by_one) and got[0] == "error"
    assert got[1][0] is InvalidInput  # type: ignore[index]
    assert fast.writes() == plain.writes()


def test_update_after_commit_to_parent_fails(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db", chain_id=b"c")
    try:
        parent = Overlay(store)
        child = parent.child()
        child.update(b"n", {b"k": b"v", b"d": None})
        child.commit_to_parent()
        assert parent.writes() == {(b"n", b"k"): b"v", (b"n", b"d"): None}
        with pytest.raises(StorageError):
            child.update(b"n", {b"k": b"w"})
    finally:
        store.close()
