"""State snapshots: how the whole state at a checkpoint height is cut into chunks and hashed.

The header's ``state_root`` chains each block's writes; it does not commit to the state as a
whole, so a joining node could not check a piece of state against it. A checkpoint does: the
state at height c (every entry of the consensus state key space, in LevelDB key order) is cut
into chunks, each chunk hashed, and the chunk hashes Merkle-rooted; the header of block
``c + snapshot_lag`` carries that root (:class:`~chainnode.model.types.StateCheckpoint`).

An entry is ``(key, value)`` with ``key`` the stored state key without its key-space byte:
``u8 len(namespace) || namespace || key`` (prefix-free, and its byte order is the store's
order). A chunk takes consecutive entries and closes when it holds ``CHUNK_MAX_ENTRIES`` or
its entries' bytes (keys plus values) reach ``CHUNK_MAX_BYTES``; so the cut, like the bytes,
is a function of the state alone. Its bytes are ``pack([[k, v], ...])``, what a node serves.

Everything here is pure (no store): the node computes, the joining side verifies, both with
these functions. Decoding is bounded and validated; every refusal is a :class:`SnapshotError`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import msgpack

from chainnode.model.codes import MalformedError
from chainnode.model.encoding import pack, unpack, want_bytes, want_int, want_list
from chainnode.model.types import HASH_LEN, StateCheckpoint
from crypto import sm3
from crypto.merkle import merkle_root

try:  # the optional C extension (setup.py): a checkpoint's chunks with the GIL released
    from chainnode.model import _snapchunk as _native
except ImportError:  # not built: Builder.add_many runs the plain path
    _native = None  # type: ignore[assignment]

CHUNK_MAX_ENTRIES = 4096
CHUNK_MAX_BYTES = 1024 * 1024
MAX_NAMESPACE = 255
MAX_KEY = 1 + MAX_NAMESPACE + 4096  # u8 length + namespace + the store's longest state key
MAX_VALUE = 16 * 1024 * 1024  # the store's longest value
#: The longest a chunk's bytes can be: it closes once past CHUNK_MAX_BYTES, so by at most one
#: entry (plus msgpack headers: at most 5 per key or value, 1 per pair, 5 for the list).
MAX_CHUNK_BYTES = CHUNK_MAX_BYTES + MAX_KEY + MAX_VALUE + 11 * CHUNK_MAX_ENTRIES + 5
MAX_CHUNKS = 1 << 20  # a manifest of ~34 MiB: four billion entries at full chunks
MAX_MANIFEST_BYTES = 64 + MAX_CHUNKS * (HASH_LEN + 2)
MANIFEST_FORMAT = 1

CHUNK_DOMAIN = b"chainnode:snapshot-chunk:"
ROOT_DOMAIN = b"chainnode:snapshot-root:"

Entry = tuple[bytes, bytes]


class SnapshotError(MalformedError):
    """A chunk or manifest that is not what the checkpoint commits to (bad bytes, hash,
    order, size, or a manifest whose root is not the certified one). The sender is at fault."""


# -------------------------------------------------------------------------------- hashing


def chunk_hash_of_bytes(data: bytes) -> bytes:
    """The hash of a chunk from its bytes (what a node stores and serves)."""
    return sm3.digest(CHUNK_DOMAIN + data)


def encode_chunk(entries: Sequence[Entry]) -> bytes:
    """The canonical bytes of a chunk: ``pack([[k, v], ...])``."""
    return pack([[k, v] for k, v in entries])


def chunk_hash(entries: Sequence[Entry]) -> bytes:
    """SM3(b"chainnode:snapshot-chunk:" || pack([[k, v], ...]))."""
    return chunk_hash_of_bytes(encode_chunk(entries))


def checkpoint_root(chunk_hashes: Sequence[bytes]) -> bytes:
    """SM3(b"chainnode:snapshot-root:" || Merkle root over the chunk hashes); an empty state
    (no chunk) has the root of the empty tree under the same prefix, a constant."""
    return sm3.digest(ROOT_DOMAIN + merkle_root(list(chunk_hashes)))


# -------------------------------------------------------------------------------- chunking


def chunks_of(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Cut entries (in key order) into chunks: a chunk closes at CHUNK_MAX_ENTRIES entries or
    once its keys and values reach CHUNK_MAX_BYTES bytes."""
    chunk: list[Entry] = []
    size = 0
    for k, v in entries:
        chunk.append((k, v))
        size += len(k) + len(v)
        if len(chunk) >= CHUNK_MAX_ENTRIES or size >= CHUNK_MAX_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def state_entry_ok(key: bytes) -> bool:
    """Whether `key` is a well-formed state key (u8 length, then at least that namespace)."""
    return 0 < len(key) <= MAX_KEY and len(key) >= 1 + key[0] and len(key) - 1 - key[0] <= 4096


# long: one pass of checks over untrusted chunk bytes, each with its own message
def decode_chunk(data: bytes) -> list[Entry]:
    """The entries of chunk bytes from outside: bounded, canonical, non-empty, keys strictly
    increasing (sorted, no duplicate), well-formed keys, sizes within the chunking rule (a
    chunk that should have closed earlier is refused). Raises SnapshotError."""
    if not isinstance(data, bytes):
        raise SnapshotError("chunk: expected bytes")
    if len(data) > MAX_CHUNK_BYTES:
        raise SnapshotError(f"chunk: larger than {MAX_CHUNK_BYTES} bytes")
    try:
        # at most CHUNK_MAX_ENTRIES pairs plus the list itself
        raw = unpack(data, MAX_CHUNK_BYTES, CHUNK_MAX_ENTRIES + 1)
    except MalformedError as e:
        raise SnapshotError(f"chunk: {e.message}") from None
    if type(raw) is not list or not raw:
        raise SnapshotError("chunk: expected a non-empty array of [key, value]")
    if len(raw) > CHUNK_MAX_ENTRIES:
        raise SnapshotError(f"chunk: more than {CHUNK_MAX_ENTRIES} entries")
    out: list[Entry] = []
    prev = b""
    size = 0
    for n, pair in enumerate(raw):
        if size >= CHUNK_MAX_BYTES:
            raise SnapshotError(f"chunk: entries past {CHUNK_MAX_BYTES} bytes")
        if type(pair) is not list or len(pair) != 2:
            raise SnapshotError(f"chunk: entry {n} is not a [key, value] pair")
        k, v = pair
        if type(k) is not bytes or type(v) is not bytes:
            raise SnapshotError(f"chunk: entry {n} is not two byte strings")
        if not state_entry_ok(k):
            raise SnapshotError(f"chunk: entry {n} has a malformed state key")
        if len(v) > MAX_VALUE:
            raise SnapshotError(f"chunk: entry {n} has a value over {MAX_VALUE} bytes")
        if n and k <= prev:
            raise SnapshotError(f"chunk: entry {n} is out of key order or repeated")
        out.append((k, v))
        prev = k
        size += len(k) + len(v)
    if encode_chunk(out) != data:
        raise SnapshotError("chunk: not in canonical encoding")
    return out


# -------------------------------------------------------------------------------- manifest


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a node serves about its snapshot at `height`: the chunk hashes (their root is the
    checkpoint's root) and the number of entries."""

    height: int
    root: bytes
    chunk_hashes: tuple[bytes, ...]
    entries: int

    def __post_init__(self) -> None:
        want_int(self.height, "manifest.height")
        want_bytes(self.root, "manifest.root", HASH_LEN)
        want_int(self.entries, "manifest.entries")
        if len(self.chunk_hashes) > MAX_CHUNKS:
            raise SnapshotError(f"manifest: more than {MAX_CHUNKS} chunks")
        for h in self.chunk_hashes:
            if type(h) is not bytes or len(h) != HASH_LEN:
                raise SnapshotError("manifest: a chunk hash is not 32 bytes")
        if len(self.chunk_hashes) > self.entries or (self.entries > 0) != bool(self.chunk_hashes):
            raise SnapshotError("manifest: chunks must be 1..entries (none for no entry)")
        if checkpoint_root(self.chunk_hashes) != self.root:
            raise SnapshotError("manifest: the chunk hashes do not give its root")

    @property
    def checkpoint(self) -> StateCheckpoint:
        """The commitment a header carries for this snapshot."""
        return StateCheckpoint(self.height, self.root, len(self.chunk_hashes), self.entries)

    def to_list(self) -> list[Any]:
        return [MANIFEST_FORMAT, self.height, self.root, list(self.chunk_hashes), self.entries]

    def encode(self) -> bytes:
        return pack(self.to_list())

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        """Parse manifest bytes from outside (bounded; canonical; root checked)."""
        if not isinstance(data, bytes) or len(data) > MAX_MANIFEST_BYTES:
            raise SnapshotError(f"manifest: expected at most {MAX_MANIFEST_BYTES} bytes")
        try:
            f = want_list(unpack(data, MAX_MANIFEST_BYTES, 2), 5, "manifest")
            if f[0] != MANIFEST_FORMAT or type(f[0]) is not int:
                raise SnapshotError(f"manifest: format {f[0]!r}, expected {MANIFEST_FORMAT}")
            if type(f[3]) is not list:
                raise SnapshotError("manifest: chunk hashes must be an array")
            m = cls(f[1], f[2], tuple(f[3]), f[4])
        except SnapshotError:
            raise
        except MalformedError as e:
            raise SnapshotError(f"manifest: {e.message}") from None
        if m.encode() != data:
            raise SnapshotError("manifest: not in canonical encoding")
        return m

    def matches(self, checkpoint: StateCheckpoint) -> bool:
        """Whether this manifest is the one `checkpoint` (from a certified header) commits to."""
        return self.checkpoint == checkpoint


def verify_manifest(manifest: Manifest, checkpoint: StateCheckpoint) -> None:
    """Raise SnapshotError unless `manifest` is what the certified `checkpoint` commits to."""
    if not manifest.matches(checkpoint):
        raise SnapshotError(
            f"manifest of height {manifest.height} does not match the checkpoint of "
            f"height {checkpoint.height} (root, chunk or entry count differ)"
        )


def _check_index_and_hash(manifest: Manifest, index: int, data: bytes) -> None:
    if type(index) is not int or not 0 <= index < len(manifest.chunk_hashes):
        raise SnapshotError(f"chunk {index!r}: the manifest has {len(manifest.chunk_hashes)}")
    if not isinstance(data, bytes) or len(data) > MAX_CHUNK_BYTES:
        raise SnapshotError(f"chunk {index}: not bytes of at most {MAX_CHUNK_BYTES}")
    if chunk_hash_of_bytes(data) != manifest.chunk_hashes[index]:
        raise SnapshotError(f"chunk {index}: its hash is not the manifest's")


@dataclass(frozen=True, slots=True)
class HashedChunk:
    """Chunk bytes already found, by :func:`hash_checked`, to hash to chunk `index` of the
    manifest of `root`: the joining node hashes each chunk once, as it arrives (to blame a
    lying peer at once), and the installer does not hash it a second time."""

    root: bytes
    index: int
    data: bytes


def hash_checked(manifest: Manifest, index: int, data: bytes) -> HashedChunk:
    """`data` as chunk `index` of `manifest` once its size and hash are the manifest's (raises
    SnapshotError otherwise); :func:`verify_chunk` then decodes it without hashing again."""
    _check_index_and_hash(manifest, index, data)
    return HashedChunk(manifest.root, index, data)


def verify_chunk_plain(manifest: Manifest, index: int, data: bytes) -> list[Entry]:
    """:func:`verify_chunk` the plain way: the hash, then :func:`decode_chunk` (one Python
    pass per entry). The reference the fast path is pinned to."""
    _check_index_and_hash(manifest, index, data)
    return decode_chunk(data)


# fast path: plain=chainnode.model.snapshot.verify_chunk_plain test=tests/chainnode/ledger/test_snapshot_fast.py::test_verify_chunk_agrees_with_the_plain_path
def verify_chunk(manifest: Manifest, index: int, data: bytes | HashedChunk) -> list[Entry]:
    """The entries of chunk `index` of `manifest`, from bytes a peer sent: its hash must be
    the manifest's (checked before decoding, here or by :func:`hash_checked` for this
    manifest and index), then it must decode with every check of :func:`decode_chunk`, done
    in bulk (:func:`_decode_hashed`). Ordering across chunks (chunk i's first key above
    chunk i-1's last) is the installer's check. Raises SnapshotError."""
    if isinstance(data, HashedChunk):
        if data.root != manifest.root or data.index != index:
            raise SnapshotError(f"chunk {index}: hashed as chunk {data.index} of another root")
        return _decode_hashed(data.data)
    if not isinstance(data, bytes):
        raise SnapshotError(f"chunk {index}: not bytes")
    _check_index_and_hash(manifest, index, data)
    return _decode_hashed(data)


_BAD_KEY = "chunk: an entry has a malformed state key"


# long: the checks of decode_chunk, each over a whole column at C speed, with its message
def _decode_hashed(data: bytes) -> list[Entry]:
    """:func:`decode_chunk`'s checks, in bulk: msgpack's C unpacker bounded by its limits (no
    map, str or ext; arrays of at most CHUNK_MAX_ENTRIES; byte strings of at most MAX_VALUE)
    into tuples instead of a Python hook per array, then each check over a column of keys or values with
    C-level ``map``/``min``/``max``, and canonical form by re-packing the decoded tuples as they are.
    For bytes whose hash a certified manifest names only (:func:`verify_chunk`): the array
    budget of :func:`decode_chunk` (against a wide nest of empty arrays) is the C limits'
    and the byte bound's here, which certified bytes, made by :func:`encode_chunk`, meet."""
    try:
        raw = msgpack.unpackb(
            data,
            raw=False,
            use_list=False,  # tuples: not tracked by the GC (lists made it half the cost)
            strict_map_key=True,
            max_map_len=0,
            max_str_len=MAX_VALUE,
            max_ext_len=0,
            max_bin_len=MAX_VALUE,
            max_array_len=CHUNK_MAX_ENTRIES,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
        raise SnapshotError(f"chunk: bad msgpack (or arrays over a chunk's entries): {e}") from None
    except msgpack.UnpackException as e:
        raise SnapshotError(f"chunk: bad msgpack: {type(e).__name__}") from None
    if type(raw) is not tuple or not raw:
        raise SnapshotError("chunk: expected a non-empty array of [key, value]")
    if set(map(type, raw)) != {tuple} or set(map(len, raw)) != {2}:
        raise SnapshotError("chunk: an entry is not a [key, value] pair")
    keys, values = zip(*raw, strict=True)
    if set(map(type, keys)) != {bytes} or set(map(type, values)) != {bytes}:
        raise SnapshotError("chunk: an entry is not two byte strings")
    key_lens = list(map(len, keys))
    if min(key_lens) < 1 or max(key_lens) > MAX_KEY:
        raise SnapshotError(_BAD_KEY)
    # a namespace of key[0] bytes, then 0..4096 bytes of key: 1 <= len - key[0] <= 4097
    past_namespace = list(map(operator.sub, key_lens, map(operator.itemgetter(0), keys)))
    if min(past_namespace) < 1 or max(past_namespace) > 4097:
        raise SnapshotError(_BAD_KEY)
    value_lens = list(map(len, values))
    if max(value_lens) > MAX_VALUE:
        raise SnapshotError(f"chunk: a value over {MAX_VALUE} bytes")
    if not all(map(operator.lt, keys, islice(keys, 1, None))):
        raise SnapshotError("chunk: an entry is out of key order or repeated")
    if sum(key_lens) - key_lens[-1] + sum(value_lens) - value_lens[-1] >= CHUNK_MAX_BYTES:
        raise SnapshotError(f"chunk: entries past {CHUNK_MAX_BYTES} bytes")
    if pack(raw) != data:
        raise SnapshotError("chunk: not in canonical encoding")
    return list(raw)


class Builder:
    """Accumulates a snapshot's chunks from entries in key order (the node's computation and
    tests use it): chunk bytes as they close, then the manifest.

    ``strip``: the keys given carry that many leading bytes that are not the entry's key
    (the node passes the store's keys with their key-space byte, ``strip=1``, so no Python
    copies each key to drop it)."""

    __slots__ = ("height", "strip", "hashes", "entries", "_chunk", "_size")

    def __init__(self, height: int, strip: int = 0) -> None:
        if strip < 0:
            raise ValueError("strip: at least 0")
        self.height = height
        self.strip = strip
        self.hashes: list[bytes] = []
        self.entries = 0
        self._chunk: list[Entry] = []  # the open chunk's entries, keys as given
        self._size = 0

    def add(self, key: bytes, value: bytes) -> bytes | None:
        """Add the next entry; the bytes of the chunk it closes, if it closes one."""
        if len(key) < self.strip:
            raise ValueError(f"key shorter than the {self.strip} bytes to strip")
        self._chunk.append((key, value))
        self.entries += 1
        self._size += len(key) - self.strip + len(value)
        if len(self._chunk) >= CHUNK_MAX_ENTRIES or self._size >= CHUNK_MAX_BYTES:
            return self._close()
        return None

    # fast path: plain=chainnode.model.snapshot.Builder.add test=tests/chainnode/ledger/test_snapshot_native.py::test_add_many_agrees_with_add
    def add_many(self, entries: list[Entry]) -> list[bytes]:
        """:meth:`add` for each of `entries` in turn: the bytes of the chunks they close. In C
        (``_snapchunk.encode_chunks``) when built: the GIL is held only to read each entry's
        buffers; the cut, the encoding and SM3 run without it, so a checkpoint computed on a
        thread costs the node's event loop little. Else the plain loop over :meth:`add`."""
        if _native is None:
            out = []
            for k, v in entries:
                data = self.add(k, v)
                if data is not None:
                    out.append(data)
            return out
        pending = self._chunk + entries if self._chunk else entries
        datas, hashes, consumed, left = _native.encode_chunks(
            pending, self.strip, CHUNK_DOMAIN, CHUNK_MAX_ENTRIES, CHUNK_MAX_BYTES, False
        )
        self.entries += len(entries)
        self.hashes += hashes
        self._chunk = pending[consumed:]
        self._size = left
        return datas

    def finish(self) -> tuple[bytes | None, Manifest]:
        """The last (partial) chunk's bytes, if any, and the manifest."""
        last = self._close() if self._chunk else None
        root = checkpoint_root(self.hashes)
        return last, Manifest(self.height, root, tuple(self.hashes), self.entries)

    def _close(self) -> bytes:
        chunk = self._chunk
        if self.strip:
            chunk = [(k[self.strip :], v) for k, v in chunk]
        data = encode_chunk(chunk)
        self.hashes.append(chunk_hash_of_bytes(data))
        self._chunk, self._size = [], 0
        return data
