"""Merkle trees over SM3 (or an injected hash) with leaf/inner/root domain separation.

leaf node = H(0x00 || leaf)        inner node = H(0x01 || left || right)
root      = H(0x02 || n as 8-byte big-endian || top node)   (empty list: H(0x02 || n=0))

Odd level: the last node has no partner and is promoted unchanged to the next level. We do
not duplicate it (Bitcoin's rule), because duplication makes [a, b, c] and [a, b, c, c] share
a root (CVE-2012-2459).

Why no second preimage: the three prefixes make leaf, inner and root hashes different
functions, so a leaf can never pass for an inner node (or vice versa, the classic attack of
presenting two child hashes as one 64-byte leaf) without an SM3 collision. The leaf count is
hashed into the root, so the tree shape is committed too: a proof is checked against that
count, the positions of its siblings follow from (index, count) alone, and a proof cannot be
replayed for another index or tree size (with promotion alone, the proof of leaf 0 of a
3-leaf tree would also "prove" it in a 4-leaf tree).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto import sm3
from crypto.errors import CryptoError

HashFn = Callable[[bytes], bytes]
LEAF = b"\x00"
INNER = b"\x01"
ROOT = b"\x02"
MAX_PROOF_DEPTH = 64


@dataclass(frozen=True, slots=True)
class MerkleProof:
    """Inclusion proof: leaf position, tree size and the sibling hashes bottom-up."""

    index: int
    leaf_count: int
    siblings: tuple[bytes, ...]

    def to_list(self) -> list[object]:
        return [self.index, self.leaf_count, list(self.siblings)]

    @classmethod
    def from_list(cls, data: Sequence[object]) -> MerkleProof:
        """Inverse of `to_list`, validating types and bounds (input may be untrusted)."""
        if not isinstance(data, list | tuple) or len(data) != 3:
            raise CryptoError("Merkle proof must be [index, leaf_count, siblings]")
        index, count, sibs = data
        if type(index) is not int or type(count) is not int or not 0 <= index < count < 1 << 63:
            raise CryptoError("Merkle proof index/leaf_count invalid")
        if not isinstance(sibs, list | tuple) or len(sibs) > MAX_PROOF_DEPTH:
            raise CryptoError("Merkle proof siblings invalid")
        if not all(isinstance(s, bytes) for s in sibs):
            raise CryptoError("Merkle proof siblings must be bytes")
        return cls(index, count, tuple(sibs))


def _leaf(h: HashFn, leaf: bytes) -> bytes:
    return h(LEAF + leaf)


def _inner(h: HashFn, left: bytes, right: bytes) -> bytes:
    return h(INNER + left + right)


def _next_level(h: HashFn, level: list[bytes]) -> list[bytes]:
    nxt = [_inner(h, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def _root(h: HashFn, count: int, top: bytes) -> bytes:
    return h(ROOT + count.to_bytes(8, "big") + top)


def _prefixed(prefix: bytes) -> Any:
    base: Any = sm3.hashlib_base()
    if base is not None:
        base.update(prefix)
    return base


# hashlib SM3 states with the leaf/inner prefix absorbed (None without hashlib SM3): with the
# default hash a root is computed by copying them, no prefix concatenation or wrapper frames.
_LEAF_STATE = _prefixed(LEAF)
_INNER_STATE = _prefixed(INNER)


# fast path: plain=crypto.merkle._next_level test=tests/crypto/test_suite_merkle_batch.py::test_sm3_merkle_fast_path_matches_the_generic_construction
def _sm3_top(leaves: Sequence[bytes]) -> bytes:
    """The top node of a non-empty tree under SM3: `_leaf`/`_next_level` inlined."""
    leaf_copy = _LEAF_STATE.copy
    inner_copy = _INNER_STATE.copy
    level = []
    for leaf in leaves:
        h = leaf_copy()
        h.update(leaf)
        level.append(h.digest())
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            h = inner_copy()
            h.update(level[i])
            h.update(level[i + 1])
            nxt.append(h.digest())
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    top: bytes = level[0]
    return top


def _native_top() -> Callable[[Sequence[bytes]], bytes] | None:
    try:
        from crypto import _sm2verify
    except ImportError:
        return None
    if not _sm2verify.AVAILABLE:  # its SM3 constants are set up by the self-test
        return None
    return _sm2verify.merkle_top


# fast path: plain=crypto.merkle._next_level test=tests/crypto/test_suite_merkle_batch.py::test_native_merkle_top_matches_the_generic_construction
_NATIVE_TOP = _native_top()
"""The top node in one call of the C extension (its own SM3, the GIL released): a block's
receipt and tx roots without a Python call per node (None when it is not built)."""


def merkle_root(leaves: Sequence[bytes], hash_fn: HashFn = sm3.digest) -> bytes:
    """Root over `leaves` (raw bytes, hashed with the leaf prefix)."""
    if not leaves:
        return _root(hash_fn, 0, b"")
    if hash_fn is sm3.digest:
        if _NATIVE_TOP is not None:
            try:
                return _root(hash_fn, len(leaves), _NATIVE_TOP(leaves))
            except TypeError:
                pass  # not all bytes (bytearray, memoryview): the path below takes buffers
        if _LEAF_STATE is not None:
            return _root(hash_fn, len(leaves), _sm3_top(leaves))
    level = [_leaf(hash_fn, leaf) for leaf in leaves]
    while len(level) > 1:
        level = _next_level(hash_fn, level)
    return _root(hash_fn, len(leaves), level[0])


def merkle_proof(leaves: Sequence[bytes], index: int, hash_fn: HashFn = sm3.digest) -> MerkleProof:
    if not 0 <= index < len(leaves):
        raise CryptoError(f"leaf index {index} out of range for {len(leaves)} leaves")
    level = [_leaf(hash_fn, leaf) for leaf in leaves]
    siblings = []
    pos = index
    while len(level) > 1:
        partner = pos ^ 1
        if partner < len(level):
            siblings.append(level[partner])
        level = _next_level(hash_fn, level)
        pos //= 2
    return MerkleProof(index, len(leaves), tuple(siblings))


def verify_proof(
    root: bytes, leaf: bytes, proof: MerkleProof, hash_fn: HashFn = sm3.digest
) -> bool:
    """True iff `leaf` sits at `proof.index` of a `proof.leaf_count`-leaf tree with `root`."""
    if not isinstance(proof, MerkleProof) or not 0 <= proof.index < proof.leaf_count < 1 << 63:
        return False
    node = _leaf(hash_fn, leaf)
    pos, width = proof.index, proof.leaf_count
    sibs = iter(proof.siblings)
    used = 0
    while width > 1:
        partner = pos ^ 1
        if partner < width:
            sib = next(sibs, None)
            if sib is None:
                return False
            used += 1
            node = _inner(hash_fn, sib, node) if pos & 1 else _inner(hash_fn, node, sib)
        pos //= 2
        width = (width + 1) // 2
    if used != len(proof.siblings):
        return False
    return _root(hash_fn, proof.leaf_count, node) == root
