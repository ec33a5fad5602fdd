"""The snapshot commitment's model (issue 21): versioned genesis parameters, the optional
header field, and the pure chunk / root / verify functions with their refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgpack
import pytest

from chainnode.model.codes import GenesisError, MalformedError
from chainnode.model.genesis import ConsensusParams, Genesis
from chainnode.model.snapshot import (
    CHUNK_MAX_BYTES,
    CHUNK_MAX_ENTRIES,
    Builder,
    Manifest,
    SnapshotError,
    checkpoint_root,
    chunk_hash,
    chunks_of,
    decode_chunk,
    encode_chunk,
    verify_chunk,
    verify_manifest,
)
from chainnode.model.types import Block, BlockHeader, StateCheckpoint
from crypto import sm3
from tests.chainnode.ledger.helpers import genesis

# Recorded on main before the snapshot fields existed (commit 40240e0): these must not move.
OLD_GENESIS_HASH = "3ec0dc6c8c60dd00885942704e767f58d0485fa0981e00b0d2550c262e85b150"
OLDEST_GENESIS_HASH = "ca748ce9ffec70ffef811b62297e6e16442f27519cf7bd8b4cfd7ec5b0ef2160"
OLD_HEADER = bytes.fromhex(
    "98cd03f0c420000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fc420010101"
    "0101010101010101010101010101010101010101010101010101010101c420020202020202020202020202"
    "0202020202020202020202020202020202020202c420030303030303030303030303030303030303030303"
    "0303030303030303030303cf0000018bcfe5687bc441041ccd3a059850359de64a4b200d21c9ab5c29cd1f"
    "5c13c85b17b9332ef3a014fcc8c9d0b53568a5c5a902b89dea5300d4155037a7eb8cfccb012c5f9b58c89f"
    "6002"
)


def _ns_key(ns: bytes, key: bytes) -> bytes:
    return bytes((len(ns),)) + ns + key


# ---------------------------------------------------------------------------- genesis


def test_an_old_genesis_keeps_its_hash_and_has_no_checkpoints() -> None:
    g = genesis()
    assert g.hash.hex() == OLD_GENESIS_HASH
    assert g.consensus.snapshot_every == 0 and not g.consensus.is_checkpoint(1000)
    oldest = dataclasses.replace(g, consensus=ConsensusParams(block_limit_window=1000))
    assert oldest.hash.hex() == OLDEST_GENESIS_HASH
    again = Genesis.from_json(g.to_json())  # its JSON has no snapshot fields either
    assert "snapshot_interval" not in g.to_json()["consensus"]
    assert again.hash.hex() == OLD_GENESIS_HASH


def test_snapshot_parameters_are_in_the_hash_and_survive_json() -> None:
    g = genesis()
    with_snap = dataclasses.replace(g, consensus=g.consensus.with_snapshots(4, 2))
    other = dataclasses.replace(g, consensus=g.consensus.with_snapshots(4, 3))
    off = dataclasses.replace(g, consensus=g.consensus.with_snapshots(0, 1))
    assert len({g.hash, with_snap.hash, other.hash, off.hash}) == 4
    assert with_snap.consensus.to_list()[-2:] == [4, 2]
    back = Genesis.from_json(with_snap.to_json())
    assert back == with_snap and back.hash == with_snap.hash
    c = with_snap.consensus
    assert [h for h in range(0, 20) if c.is_checkpoint(h)] == [4, 8, 12, 16]
    assert [c.checkpoint_carried_by(h) for h in (5, 6, 7, 10, 14)] == [None, 4, None, 8, 12]
    assert c.checkpoint_carried_by(2) is None  # height 0 is never a checkpoint
    assert off.consensus.snapshot_every == 0 and off.consensus.checkpoint_carried_by(9) is None


def test_bad_snapshot_parameters_are_refused() -> None:
    obj = genesis().to_json()
    obj["consensus"] = dict(obj["consensus"], snapshot_interval=4, snapshot_lag=5)
    with pytest.raises(GenesisError, match="snapshot_lag above snapshot_interval"):
        Genesis.from_json(obj)
    obj["consensus"] = dict(obj["consensus"], snapshot_interval=-1, snapshot_lag=1)
    with pytest.raises(GenesisError, match="snapshot_interval"):
        Genesis.from_json(obj)
    obj["consensus"] = dict(obj["consensus"], snapshot_interval=10, snapshot_lag=0)
    with pytest.raises(GenesisError, match="snapshot_lag"):
        Genesis.from_json(obj)


# ---------------------------------------------------------------------------- header


def test_an_old_header_decodes_and_encodes_byte_identical() -> None:
    h = BlockHeader.from_list(msgpack.unpackb(OLD_HEADER))
    assert h.checkpoint is None and h.height == 1008 and h.view == 2
    assert h.encode() == OLD_HEADER
    block = Block(h, ())
    assert Block.decode(block.raw).header == h
    assert block.hash == sm3.digest(OLD_HEADER)  # the header hash is as before
    assert BlockHeader.from_json(h.to_json()) == h and h.to_json()["checkpoint"] is None


def test_a_header_with_a_checkpoint_round_trips() -> None:
    old = BlockHeader.from_list(msgpack.unpackb(OLD_HEADER))
    cp = StateCheckpoint(1000, bytes([7]) * 32, 3, 9000)
    h = dataclasses.replace(old, checkpoint=cp)
    raw = h.encode()
    assert raw[0] == 0x99 and raw.startswith(b"\x99" + OLD_HEADER[1:])  # 9 fields, 9th appended
    assert msgpack.unpackb(raw)[8] == [1000, bytes([7]) * 32, 3, 9000]
    block = Block(h, ())
    assert Block.decode(block.raw) == block and Block.decode_header(block.raw) == h
    assert block.hash != Block(old, ()).hash
    assert BlockHeader.from_json(h.to_json()) == h
    assert h.to_json()["checkpoint"] == {
        "height": 1000,
        "root": "07" * 32,
        "chunks": 3,
        "entries": 9000,
    }


@pytest.mark.parametrize(
    "ninth",
    [
        None,
        [1000, b"\x07" * 32, 3],
        [1000, b"\x07" * 31, 3, 9],
        [1000, b"\x07" * 32, 4, 3],  # more chunks than entries
        [1000, b"\x07" * 32, 0, 3],  # entries without a chunk
        [1008, b"\x07" * 32, 1, 1],  # not below the header's height
        [-1, b"\x07" * 32, 1, 1],
    ],
)
def test_a_bad_checkpoint_field_is_malformed(ninth: object) -> None:
    f = msgpack.unpackb(OLD_HEADER)
    with pytest.raises(MalformedError):
        BlockHeader.from_list([*f, ninth])


def test_a_header_of_ten_fields_is_malformed() -> None:
    f = msgpack.unpackb(OLD_HEADER)
    with pytest.raises(MalformedError, match="8 or 9"):
        BlockHeader.from_list([*f, [1000, b"\x07" * 32, 1, 1], 0])


# ---------------------------------------------------------------------------- chunks and root


def test_chunk_hash_and_empty_root_are_the_documented_constructions() -> None:
    entries = [(_ns_key(b"sys.gov", b"a"), b"1"), (_ns_key(b"sys.gov", b"b"), b"")]
    packed = msgpack.packb([[k, v] for k, v in entries], use_bin_type=True)
    assert encode_chunk(entries) == packed
    assert chunk_hash(entries) == sm3.digest(b"chainnode:snapshot-chunk:" + packed)
    empty_tree = sm3.digest(b"\x02" + bytes(8))
    assert checkpoint_root([]) == sm3.digest(b"chainnode:snapshot-root:" + empty_tree)
    one = chunk_hash(entries)
    leaf = sm3.digest(b"\x00" + one)
    assert checkpoint_root([one]) == sm3.digest(
        b"chainnode:snapshot-root:" + sm3.digest(b"\x02" + (1).to_bytes(8, "big") + leaf)
    )


def test_chunks_close_at_the_entry_and_byte_limits() -> None:
    small = [(_ns_key(b"n", i.to_bytes(4, "big")), b"v") for i in range(CHUNK_MAX_ENTRIES + 1)]
    assert [len(c) for c in chunks_of(small)] == [CHUNK_MAX_ENTRIES, 1]
    big = CHUNK_MAX_BYTES // 2
    fat = [(_ns_key(b"n", bytes([i])), b"x" * big) for i in range(5)]
    # each entry is big + 3 bytes of key: two reach the byte limit, the fifth is left over
    assert [len(c) for c in chunks_of(fat)] == [2, 2, 1]
    assert list(chunks_of([])) == []


def test_the_builder_agrees_with_chunks_of() -> None:
    entries = [(_ns_key(b"ns", i.to_bytes(3, "big")), bytes(i % 300)) for i in range(9000)]
    b = Builder(40)
    closed = [data for k, v in entries if (data := b.add(k, v)) is not None]
    last, manifest = b.finish()
    assert last is not None
    datas = [*closed, last]
    expected = list(chunks_of(entries))
    assert [decode_chunk(d) for d in datas] == expected
    assert manifest.chunk_hashes == tuple(chunk_hash(c) for c in expected)
    assert manifest.entries == 9000 and manifest.height == 40
    assert manifest.root == checkpoint_root([chunk_hash(c) for c in expected])
    for i, d in enumerate(datas):
        assert verify_chunk(manifest, i, d) == expected[i]
    empty_last, empty = Builder(8).finish()
    assert empty_last is None and empty.chunk_hashes == () and empty.root == checkpoint_root([])


def _raw(pairs: object) -> bytes:
    out: bytes = msgpack.packb(pairs, use_bin_type=True)
    return out


K1, K2 = _ns_key(b"ns", b"a"), _ns_key(b"ns", b"b")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_raw([]), "non-empty"),
        (_raw([[K2, b"1"], [K1, b"2"]]), "out of key order"),
        (_raw([[K1, b"1"], [K1, b"2"]]), "repeated"),
        (_raw([[K1]]), "pair"),
        (_raw([[K1, "text"]]), "two byte strings"),
        (_raw([[b"\x05ab", b"1"]]), "malformed state key"),
        (_raw([[b"", b"1"]]), "malformed state key"),
        (_raw({"a": 1}), "msgpack"),
        (_raw([[K1, b"1"]]) + b"\x00", "msgpack"),
        (b"\xdd\x00\x00\x00\x01\x92\xc4\x04" + K1 + b"\xc4\x011", "canonical"),
        (_raw([[K1, b"x" * CHUNK_MAX_BYTES], [K2, b"1"]]), "past"),
        (_raw([[_ns_key(b"n", i.to_bytes(4, "big")), b""] for i in range(4097)]), "arrays"),
        (b"\x91" * 5000, "msgpack"),
    ],
)
def test_decode_chunk_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(SnapshotError, match=reason):
        decode_chunk(data)


def test_verify_chunk_checks_the_hash_before_anything() -> None:
    entries = [(K1, b"1"), (K2, b"2")]
    b = Builder(8)
    for k, v in entries:
        b.add(k, v)
    data, manifest = b.finish()
    assert data is not None
    assert verify_chunk(manifest, 0, data) == entries
    with pytest.raises(SnapshotError, match="hash"):
        verify_chunk(manifest, 0, data[:-1] + b"3")
    with pytest.raises(SnapshotError, match="the manifest has 1"):
        verify_chunk(manifest, 1, data)
    with pytest.raises(SnapshotError, match="the manifest has 1"):
        verify_chunk(manifest, -1, data)


def test_manifest_round_trip_and_refusals() -> None:
    hashes = (chunk_hash([(K1, b"1")]), chunk_hash([(K2, b"2")]))
    m = Manifest(16, checkpoint_root(hashes), hashes, 2)
    assert Manifest.decode(m.encode()) == m
    cp = StateCheckpoint(16, m.root, 2, 2)
    verify_manifest(m, cp)
    for other in (
        StateCheckpoint(8, m.root, 2, 2),
        StateCheckpoint(16, bytes(32), 2, 2),
        StateCheckpoint(16, m.root, 2, 3),
    ):
        with pytest.raises(SnapshotError, match="does not match"):
            verify_manifest(m, other)
    with pytest.raises(SnapshotError, match="do not give its root"):
        Manifest(16, bytes(32), hashes, 2)
    with pytest.raises(SnapshotError, match="do not give its root"):
        Manifest.decode(_raw([1, 16, bytes(32), list(hashes), 2]))
    with pytest.raises(SnapshotError, match="format"):
        Manifest.decode(_raw([2, 16, m.root, list(hashes), 2]))
    with pytest.raises(SnapshotError, match="manifest"):
        Manifest.decode(_raw([1, 16, m.root, [hashes[0], b"short"], 2]))
    with pytest.raises(SnapshotError, match="chunks must be"):
        Manifest.decode(_raw([1, 16, checkpoint_root(hashes), list(hashes), 1]))
    with pytest.raises(SnapshotError, match="manifest"):
        Manifest.decode(m.encode() + b"\x00")


def test_network_init_writes_snapshot_parameters(tmp_path: Path) -> None:
    from chainnode.deploy.devnet import NetworkError, init_network

    init_network(tmp_path / "a", 1, api_port_base=9700, p2p_port_base=9800)
    g = Genesis.load(tmp_path / "a" / "genesis.json")
    assert (g.consensus.snapshot_interval, g.consensus.snapshot_lag) == (1000, 512)
    init_network(tmp_path / "b", 1, api_port_base=9700, p2p_port_base=9800, snapshot_interval=4)
    g = Genesis.load(tmp_path / "b" / "genesis.json")
    assert (g.consensus.snapshot_interval, g.consensus.snapshot_lag) == (4, 4)
    init_network(tmp_path / "c", 1, api_port_base=9700, p2p_port_base=9800, snapshot_interval=0)
    g = Genesis.load(tmp_path / "c" / "genesis.json")
    assert g.consensus.snapshot_every == 0 and g.consensus.snapshot_interval == 0
    with pytest.raises(NetworkError, match="snapshot"):
        init_network(tmp_path / "d", 1, api_port_base=9700, snapshot_interval=-5)


def test_an_omitted_lag_is_the_default_or_the_interval_when_shorter() -> None:
    assert ConsensusParams(snapshot_interval=10).snapshot_lag == 10
    assert ConsensusParams(snapshot_interval=5000).snapshot_lag == 64
    assert ConsensusParams(snapshot_interval=0).snapshot_lag == 64
    assert ConsensusParams(snapshot_lag=3).snapshot_interval == 1000
    assert ConsensusParams().with_snapshots(4).checkpoint_lag == 4
    assert ConsensusParams().with_snapshots(1000).checkpoint_lag == 512  # what network init writes
    assert ConsensusParams().with_snapshots(1000, 64).checkpoint_lag == 64


def test_a_genesis_that_omits_the_lag_keeps_its_hash() -> None:
    """A genesis written before network init wrote 512 (interval set, lag omitted) still
    parses to lag 64: the hash every node of that chain pinned does not move."""
    omitted = ConsensusParams(snapshot_interval=1000)
    assert omitted.to_list()[-2:] == [1000, 64]
    assert omitted == ConsensusParams(snapshot_interval=1000, snapshot_lag=64)
