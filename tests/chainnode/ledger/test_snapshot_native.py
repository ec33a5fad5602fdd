"""The native snapshot chunker (chainnode/model/_snapchunk.c, ``Builder.add_many``) is the
plain one (``Builder.add``: ``chunks_of``'s cut, ``encode_chunk``'s bytes, SM3): same chunk
bytes, hashes and root for varied and edge entries, whatever the batches. Chunk bytes and the
root are consensus data, so a recorded root pins both to the bytes checkpoints always had.
The extension is built by ``make test`` (setup.py); a missing build fails here."""

from __future__ import annotations

import random

import msgpack
import pytest

from chainnode.model import _snapchunk, snapshot
from chainnode.model.snapshot import (
    CHUNK_DOMAIN,
    CHUNK_MAX_BYTES,
    CHUNK_MAX_ENTRIES,
    Builder,
    Entry,
    Manifest,
    chunk_hash,
    chunks_of,
    encode_chunk,
)
from crypto import sm3

# bin 8/16/32 and fixarray/array16 boundaries, and empty values
EDGE_LENGTHS = (0, 1, 15, 16, 255, 256, 257, 65535, 65536, 70000)


def _key(ns: bytes, key: bytes) -> bytes:
    return bytes((len(ns),)) + ns + key


def _varied(seed: int, n: int) -> list[Entry]:
    """`n` entries in key order: namespaces of 1..255 bytes, keys of 0..300 bytes, values
    mostly small with every edge length now and then, one over CHUNK_MAX_BYTES."""
    rng = random.Random(seed)
    namespaces = [rng.randbytes(rng.choice((1, 20, 255))) for _ in range(5)]
    out = {}
    for i in range(n):
        ns = rng.choice(namespaces)
        key = rng.randbytes(rng.choice((0, 1, 8, 36, 300)))
        if i % 97 == 0:
            value = rng.randbytes(rng.choice(EDGE_LENGTHS))
        elif i == n // 2:
            value = bytes(CHUNK_MAX_BYTES + 5)
        else:
            value = rng.randbytes(rng.randrange(0, 200))
        out[_key(ns, key)] = value
    return sorted(out.items())


def _plain(entries: list[Entry], strip: int = 0) -> tuple[list[bytes], Manifest]:
    b = Builder(7, strip)
    closed = [data for k, v in entries if (data := b.add(k, v)) is not None]
    last, manifest = b.finish()
    return closed + ([last] if last is not None else []), manifest


def _native(entries: list[Entry], cuts: list[int], strip: int = 0) -> tuple[list[bytes], Manifest]:
    b = Builder(7, strip)
    out: list[bytes] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(entries)], strict=True):
        out += b.add_many(entries[lo:hi])
    last, manifest = b.finish()
    return out + ([last] if last is not None else []), manifest


def test_the_extension_is_built_and_used() -> None:
    assert snapshot._native is _snapchunk


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_add_many_agrees_with_add(seed: int) -> None:
    rng = random.Random(seed)
    entries = _varied(seed, 12_000)
    plain_chunks, plain = _plain(entries)
    assert len(plain.chunk_hashes) > 3  # several chunks, closed by both rules
    # batches: empty, single entries, a chunk's worth, the rest in random sizes
    cuts = sorted([0, 0, 1, 2, 4096, 4097, *(rng.randrange(len(entries)) for _ in range(30))])
    chunks, manifest = _native(entries, cuts)
    assert chunks == plain_chunks
    assert manifest == plain
    # the chunks are chunks_of's, encoded and hashed as documented
    expected = list(chunks_of(entries))
    assert chunks == [encode_chunk(c) for c in expected]
    assert manifest.chunk_hashes == tuple(chunk_hash(c) for c in expected)
    # the store's keys with their key-space byte: the same snapshot both ways
    raw = [(b"s" + k, v) for k, v in entries]
    assert _plain(raw, strip=1) == (plain_chunks, plain)
    assert _native(raw, cuts, strip=1) == (plain_chunks, plain)


def test_mixing_add_and_add_many_is_one_sequence() -> None:
    entries = _varied(9, 6000)
    b = Builder(7)
    out: list[bytes] = []
    for i in range(0, len(entries), 500):
        part = entries[i : i + 500]
        if i % 1000:
            out += b.add_many(part)
        else:
            out += [d for k, v in part if (d := b.add(k, v)) is not None]
    last, manifest = b.finish()
    assert (out + ([last] if last else []), manifest) == _plain(entries)


def test_the_cut_at_the_entry_and_byte_limits() -> None:
    small = [(_key(b"n", i.to_bytes(4, "big")), b"v") for i in range(2 * CHUNK_MAX_ENTRIES + 1)]
    b = Builder(1)
    assert b.add_many(small[: CHUNK_MAX_ENTRIES - 1]) == []  # one short: still open
    closed = b.add_many(small[CHUNK_MAX_ENTRIES - 1 :])
    assert [len(snapshot.decode_chunk(c)) for c in closed] == [CHUNK_MAX_ENTRIES] * 2
    last, m = b.finish()
    assert last is not None and len(snapshot.decode_chunk(last)) == 1 and m.entries == len(small)
    # keys of 5 bytes; values so that two entries reach CHUNK_MAX_BYTES exactly, or miss by one
    half = CHUNK_MAX_BYTES // 2 - 5
    exact = [(_key(b"n", bytes([i]) * 3), bytes(half)) for i in range(3)]
    short = [(_key(b"n", bytes([i]) * 3), bytes(half - (i == 1))) for i in range(3)]
    assert [len(snapshot.decode_chunk(c)) for c in Builder(1).add_many(exact)] == [2]
    assert Builder(1).add_many(short[:2]) == []  # one byte under the limit: open
    assert [len(snapshot.decode_chunk(c)) for c in Builder(1).add_many(short)] == [3]
    # an entry over the limit closes a chunk on its own (after what was open)
    over = [(_key(b"n", b"a"), b"1"), (_key(b"n", b"b"), bytes(CHUNK_MAX_BYTES + 1))]
    assert [len(snapshot.decode_chunk(c)) for c in Builder(1).add_many(over)] == [2]
    for entries in (small, exact, short, over):
        assert _native(entries, [1]) == _plain(entries)


@pytest.mark.parametrize("count", [1, 15, 16, 65535, 65536])
def test_encoding_headers_are_msgpacks(count: int) -> None:
    """Array headers past a chunk's entry limit (fixarray, array16, array32) and every bin
    length form, against msgpack itself, through the extension with wide limits."""
    rng = random.Random(count)
    entries = [
        (_key(b"k", i.to_bytes(4, "big")), rng.randbytes(EDGE_LENGTHS[i % 4] if count < 100 else 1))
        for i in range(count)
    ]
    if count == 15:
        entries = [(_key(b"k", bytes([i])), bytes(n)) for i, n in enumerate(EDGE_LENGTHS)]
    datas, hashes, consumed, left = _snapchunk.encode_chunks(
        entries, 0, CHUNK_DOMAIN, 1 << 20, 1 << 40, True
    )
    packed = msgpack.packb([[k, v] for k, v in entries], use_bin_type=True)
    assert datas == [packed]
    assert hashes == [sm3.digest(CHUNK_DOMAIN + packed)]
    assert (consumed, left) == (len(entries), 0)


def test_what_is_left_open_is_reported() -> None:
    entries = [(_key(b"n", bytes([i])), bytes(10)) for i in range(5)]
    assert _snapchunk.encode_chunks(entries, 0, CHUNK_DOMAIN, 3, 1 << 20, False)[2:] == (3, 26)
    assert _snapchunk.encode_chunks(entries, 1, CHUNK_DOMAIN, 3, 1 << 20, False)[2:] == (3, 24)
    assert _snapchunk.encode_chunks([], 0, CHUNK_DOMAIN, 3, 1 << 20, True) == ([], [], 0, 0)


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ([(b"\x01nk", b"v", b"x")], TypeError),
        ([[b"\x01nk", b"v"]], TypeError),
        ([(b"\x01nk", "v")], TypeError),
        ([(bytearray(b"\x01nk"), b"v")], TypeError),
        ([(b"", b"v")], ValueError),  # shorter than strip
    ],
)
def test_bad_entries_are_refused_and_change_nothing(entries: list[Entry], error: type) -> None:
    b = Builder(7, strip=1)
    b.add_many([(b"s\x01na", b"1")])
    with pytest.raises(error):
        b.add_many(entries)
    last, manifest = b.finish()
    assert ([last], manifest) == _plain([(b"s\x01na", b"1")], strip=1) and manifest.entries == 1
    with pytest.raises(TypeError):
        _snapchunk.encode_chunks(iter([]), 0, CHUNK_DOMAIN, 3, 10, False)
    with pytest.raises(ValueError):
        _snapchunk.encode_chunks([], -1, CHUNK_DOMAIN, 3, 10, False)


def test_native_sm3_is_sm3() -> None:
    rng = random.Random(5)
    for n in [*range(0, 130), 1000, 4096, 100_003]:
        data = rng.randbytes(n)
        assert _snapchunk._sm3(data) == sm3.digest(data), n


# Computed with the Python chunker of commit 7994acc (before the native one existed) over
# _varied(2024, 20_000): consensus data, so neither path may ever change it.
RECORDED_ROOT = "62710fbc92877a86a42000a30f0c397cc25056127474116f1c06876b1b16e895"
RECORDED_CHUNKS = 7


def test_the_recorded_root_both_ways() -> None:
    entries = _varied(2024, 20_000)
    chunks, plain = _plain(entries)
    assert (plain.root.hex(), len(plain.chunk_hashes)) == (RECORDED_ROOT, RECORDED_CHUNKS)
    assert _native(entries, [5000, 5001, 13_000]) == (chunks, plain)


def test_without_the_extension_add_many_is_the_plain_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = [(b"s" + k, v) for k, v in _varied(4, 9000)]
    with_c = _native(entries, [100, 4000], strip=1)
    monkeypatch.setattr(snapshot, "_native", None)
    assert _native(entries, [100, 4000], strip=1) == with_c == _plain(entries, strip=1)
