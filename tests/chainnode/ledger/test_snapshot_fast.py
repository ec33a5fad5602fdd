"""The bulk chunk check (:func:`verify_chunk`) against its plain reference
(:func:`verify_chunk_plain`, one Python pass per entry): the same entries from every good
chunk, a SnapshotError from each bad one (issue 21)."""

from __future__ import annotations

import msgpack
import pytest

from chainnode.model.snapshot import (
    CHUNK_MAX_BYTES,
    CHUNK_MAX_ENTRIES,
    MAX_KEY,
    Manifest,
    SnapshotError,
    checkpoint_root,
    chunk_hash_of_bytes,
    encode_chunk,
    hash_checked,
    verify_chunk,
    verify_chunk_plain,
)


def _key(ns: bytes, key: bytes) -> bytes:
    return bytes([len(ns)]) + ns + key


def _raw(pairs: object) -> bytes:
    out: bytes = msgpack.packb(pairs, use_bin_type=True)
    return out


def _manifest_of(data: bytes) -> Manifest:
    """A manifest naming `data` as its only chunk (what a lying quorum would certify)."""
    hashes = (chunk_hash_of_bytes(data),)
    return Manifest(7, checkpoint_root(hashes), hashes, 1)


K1, K2, K3 = _key(b"ns", b"a"), _key(b"ns", b"b"), _key(b"nt", b"")
LONG_NS = _key(b"n" * 255, b"k" * 4096)  # the longest state key
assert len(LONG_NS) == MAX_KEY

BAD = [
    _raw([]),
    _raw([[K2, b"1"], [K1, b"2"]]),
    _raw([[K1, b"1"], [K1, b"2"]]),
    _raw([[K1, b"1"], [K3, b"2"], [K2, b"3"]]),
    _raw([[K1]]),
    _raw([[K1, b"1", b"2"]]),
    _raw([[K1, b"1"], [K2]]),
    _raw([[K1, "text"]]),
    _raw([["text", b"1"]]),
    _raw([[K1, 5]]),
    _raw([K1, b"1"]),
    _raw([b"ab"]),
    _raw(["ab"]),
    _raw([[b"\x05ab", b"1"]]),
    _raw([[b"", b"1"]]),
    _raw([[b"\x00" + b"k" * 4097, b"1"]]),
    _raw({"a": 1}),
    _raw(5),
    _raw([[K1, b"1"]]) + b"\x00",
    _raw([[K1, b"1"]])[:-1],
    b"\xdd\x00\x00\x00\x01\x92\xc4\x04" + K1 + b"\xc4\x011",
    b"\x91\xdc\x00\x02\xc4\x04" + K1 + b"\xc4\x011",
    b"\x91\x92\xc5\x00\x04" + K1 + b"\xc4\x011",
    _raw([[K1, b"x" * CHUNK_MAX_BYTES], [K2, b"1"]]),
    _raw([[_key(b"n", i.to_bytes(4, "big")), b""] for i in range(CHUNK_MAX_ENTRIES + 1)]),
    b"\x91" * 5000,
    b"",
]

GOOD = [
    [(K1, b"1")],
    [(K1, b""), (K2, b"x" * 1000), (K3, b"\x00")],
    [(LONG_NS, b"v")],
    [(_key(b"", b""), b"")],
    [(K1, b"x" * CHUNK_MAX_BYTES)],
    [(K1, b"x" * (CHUNK_MAX_BYTES - 20)), (K2, b"y" * 5000)],
    [(_key(b"n", i.to_bytes(4, "big")), b"%d" % i) for i in range(CHUNK_MAX_ENTRIES)],
]


@pytest.mark.parametrize("data", BAD)
def test_verify_chunk_refuses_what_the_plain_path_refuses(data: bytes) -> None:
    manifest = _manifest_of(data)
    with pytest.raises(SnapshotError):
        verify_chunk_plain(manifest, 0, data)
    with pytest.raises(SnapshotError):
        verify_chunk(manifest, 0, data)


@pytest.mark.parametrize("entries", GOOD, ids=range(len(GOOD)))
def test_verify_chunk_agrees_with_the_plain_path(entries: list[tuple[bytes, bytes]]) -> None:
    last = encode_chunk(entries)
    manifest = _manifest_of(last)
    expected = [(bytes(k), bytes(v)) for k, v in entries]
    assert verify_chunk_plain(manifest, 0, last) == expected
    assert verify_chunk(manifest, 0, last) == expected
    with pytest.raises(SnapshotError, match="hash"):
        verify_chunk(manifest, 0, last + b"\x00")


def test_a_hashed_chunk_is_decoded_for_its_own_manifest_and_index_only() -> None:
    data = encode_chunk([(K1, b"1"), (K2, b"2")])
    manifest = _manifest_of(data)
    checked = hash_checked(manifest, 0, data)
    assert verify_chunk(manifest, 0, checked) == [(K1, b"1"), (K2, b"2")]
    other = _manifest_of(encode_chunk([(K1, b"1")]))
    with pytest.raises(SnapshotError, match="another root"):
        verify_chunk(other, 0, checked)
    with pytest.raises(SnapshotError, match="hash"):
        hash_checked(other, 0, data)
    with pytest.raises(SnapshotError, match="the manifest has 1"):
        hash_checked(manifest, 1, data)
