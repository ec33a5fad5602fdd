"""Key layout of the store: one-byte prefixes, fixed-width big-endian heights, length-prefixed
namespaces. See the package docstring for the table; this module is its only implementation."""

from __future__ import annotations

import struct

# Size limits (bytes unless noted). Checked before anything is written.
MAX_CHAIN_ID = 64
MAX_HASH = 64
MAX_NAMESPACE = 255  # one length byte in the state key
MAX_STATE_KEY = 4096
MAX_VALUE = 16 * 1024 * 1024  # state value, receipt, tx, meta value
MAX_BLOCK = 64 * 1024 * 1024
MAX_META_KEY = 256
MAX_TXS = 1_000_000
MAX_HEIGHT = 2**63 - 1

# Prefixes. Lower case: chain data. Upper case: the store's own metadata.
P_META_INTERNAL = b"M"
P_META = b"m"
P_BLOCK = b"b"
P_BLOCK_HASH_AT = b"n"
P_HEIGHT_OF_HASH = b"h"
P_BLOCK_TXS = b"l"
P_TX = b"t"  # t <h8> <i4> -> tx bytes (by height: written in key order)
P_TX_INDEX = b"x"  # x <tx hash> -> h8 i4 (the only hash-keyed tx entry: 12-byte values)
P_RECEIPT = b"r"  # r <h8> <i4> -> receipt bytes
P_STATE = b"s"
P_PRUNED_HEADER = b"g"

K_CHAIN_ID = P_META_INTERNAL + b"chain_id"
K_VERSION = P_META_INTERNAL + b"version"
K_HEAD = P_META_INTERNAL + b"head"
K_PRUNE_FLOOR = P_META_INTERNAL + b"prune_floor"
SCHEMA_VERSION = b"4"  # 4: layout 3 with the bodies' database keyed height first (body_key)
LAYOUT_3 = b"3"  # the bodies (b, t, r) in their own LevelDB, BODIES_DIR, as named: still opened
LAYOUT_2 = b"2"  # txs and receipts keyed by (height, index), all in one LevelDB: still opened
BODY_CODES = frozenset((P_BLOCK[0], P_TX[0], P_RECEIPT[0]))
"""First bytes of the body key spaces: each key is the prefix, then the height (``h8``)."""
BODIES_DIR = "bodies"
"""The bodies' LevelDB, a directory inside the store's (LevelDB ignores it; a copy of the
store's directory takes it along)."""

HEIGHT = struct.Struct(">Q")
LEN_BYTE = tuple(bytes((i,)) for i in range(256))  # u8 length prefixes; IndexError past 255
TX_LOC = struct.Struct(">QI")  # height, index: the 12-byte head of a tx value


def body_key_head(prefix: bytes, height8: bytes, height_first: bool) -> bytes:
    """What the stored keys of one height's bodies of one prefix (``b``, ``t``, ``r``) start
    with: ``<prefix> <h8>`` as named, or in a layout-4 bodies' database (`height_first`) its
    height first, ``<h8> <prefix>``, so everything one block adds sorts after everything
    before it and a growing chain's flushed tables overlap none before them."""
    return height8 + prefix if height_first else prefix + height8


def body_key(key: bytes) -> bytes:
    """Where body key `key` (``b <h8>``, ``t <h8> <i4>``, ``r <h8> <i4>``) is stored in a
    layout-4 bodies' database (``<h8> t <i4>``...)."""
    return body_key_head(key[:1], key[1:9], True) + key[9:]


def body_key_name(stored: bytes) -> bytes:
    """The body key (``t <h8> <i4>``...) a layout-4 bodies' database stores as `stored`."""
    return stored[8:9] + stored[:8] + stored[9:]


def height_bytes(height: int) -> bytes:
    return HEIGHT.pack(height)


def block_key(height: int) -> bytes:
    return P_BLOCK + HEIGHT.pack(height)


def block_hash_at_key(height: int) -> bytes:
    return P_BLOCK_HASH_AT + HEIGHT.pack(height)


def pruned_header_key(height: int) -> bytes:
    return P_PRUNED_HEADER + HEIGHT.pack(height)


def height_of_hash_key(block_hash: bytes) -> bytes:
    return P_HEIGHT_OF_HASH + block_hash


def block_txs_key(height: int) -> bytes:
    return P_BLOCK_TXS + HEIGHT.pack(height)


def tx_index_key(tx_hash: bytes) -> bytes:
    return P_TX_INDEX + tx_hash


def tx_key(height: int, index: int) -> bytes:
    return P_TX + TX_LOC.pack(height, index)


def receipt_key(height: int, index: int) -> bytes:
    return P_RECEIPT + TX_LOC.pack(height, index)


def meta_key(key: bytes) -> bytes:
    return P_META + key


def state_prefix(namespace: bytes) -> bytes:
    """All keys of one namespace start with this; the length byte makes it prefix-free, so
    namespace b"a" can never see keys of namespace b"ab" (b"s\\x01a" vs b"s\\x02ab")."""
    return P_STATE + bytes((len(namespace),)) + namespace


def state_key(namespace: bytes, key: bytes) -> bytes:
    return P_STATE + bytes((len(namespace),)) + namespace + key


def encode_head(height: int, block_hash: bytes) -> bytes:
    return HEIGHT.pack(height) + block_hash


def decode_head(value: bytes) -> tuple[int, bytes]:
    return HEIGHT.unpack_from(value)[0], value[8:]


def encode_tx_hashes(hashes: list[bytes]) -> bytes:
    """Length-prefixed concatenation (u8 len + hash) of a block's tx hashes, in block order."""
    lens = LEN_BYTE
    return b"".join([lens[len(h)] + h for h in hashes])


def decode_tx_hashes(value: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(value):
        n = value[pos]
        out.append(value[pos + 1 : pos + 1 + n])
        pos += 1 + n
    return out


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with `prefix` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))
