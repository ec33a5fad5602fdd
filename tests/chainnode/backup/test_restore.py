"""Backup archives and their verified restore on real LevelDB stores (no node process).

A chain of a few blocks with real commit certificates (signed by the test validators' keys) is
backed up from a store snapshot; restoring it must give the same store, and every kind of
damage or forgery must be refused with the target directory unchanged.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chainnode.backup.archive import Archive, ArchiveError, write_backup
from chainnode.backup.restore import RestoreError, restore
from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import Genesis, make_genesis
from chainnode.model.layout import cert_key
from consensus.certificate import encode_certificate, make_certificate
from consensus.messages import commit_signing_bytes
from crypto.suite import get_suite
from storage import keys as K
from tests.chainnode.ledger.helpers import CHAIN, genesis, keys, make_block, tx

Records = list[tuple[bytes, bytes]]


def certify(g: Genesis, height: int, block_hash: bytes, signers: range = range(3)) -> bytes:
    sm = get_suite("sm")
    msg = commit_signing_bytes(g.chain_id.encode(), height, 0, block_hash)
    ks = keys()
    sigs = [(ks[i].pub, sm.sign(ks[i].priv, msg)) for i in signers]
    return encode_certificate(make_certificate(height, 0, block_hash, sigs))


def build_chain(path: Path, g: Genesis, blocks: int = 4) -> Ledger:
    led = Ledger.open(path, g)
    admin = keys()[4]
    for b in range(blocks):
        txs = [tx(led, admin, "records", "put", [f"k{b}-{i}", i]) for i in range(3)]
        assert all(a.accepted for a in led.submit(txs))
        block = make_block(led)
        led.commit_block(block, certify(g, block.height, block.hash))
    return led


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Genesis, Records, Path]:
    """(genesis, every record of the store, a backup archive of it)."""
    root = tmp_path_factory.mktemp("chain")
    g = genesis(std=True)
    led = build_chain(root / "node", g)
    with led.snapshot() as snap:
        records = list(snap.raw_items())
    led.close()
    out = root / "backup.tar"
    write_backup(iter(records), out)
    return g, records, out


def tree(path: Path) -> dict[str, str]:
    """Every file under path with its SHA-256 (what 'unchanged' means)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(path.rglob("*"))
    }


def rewrite(src: Path, dst: Path, change: Callable[[Records], Records]) -> None:
    """A consistent archive (fresh SM3s in its manifest) of the changed records: damage that
    the manifest cannot catch, only the chain can."""
    with Archive(src) as a:
        records = list(a.all_records())
    write_backup(iter(change(records)), dst)


def test_the_manifest_describes_the_chain(chain: tuple[Genesis, Records, Path]) -> None:
    g, records, out = chain
    with Archive(out) as a:
        m = a.manifest
        a.check()
        assert list(a.all_records()) == records
    assert (m.chain_id, m.height, m.genesis_hash) == (CHAIN, 4, g.hash.hex())
    assert sum(p.records for p in m.parts) == len(records)
    head = dict(records)[K.K_HEAD]
    assert m.head_hash == head[8:].hex()


def test_restore_gives_the_same_store(chain: tuple[Genesis, Records, Path], tmp_path: Path) -> None:
    g, records, out = chain
    target = tmp_path / "data"
    done = restore(out, target, g)
    assert done.height == 4 and done.records == len(records) - 1  # all but the layout version
    led = Ledger.open(target, g)
    try:
        with led.snapshot() as snap:
            assert list(snap.raw_items()) == records
        assert led.height == 4
        assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no scratch left behind
    finally:
        led.close()


def test_a_backup_of_a_layout_2_store_restores(
    chain: tuple[Genesis, Records, Path], tmp_path: Path
) -> None:
    """A backup taken by an older release (its store's layout version 2) restores into this
    release's layout: the version is the store's own, not the chain's."""
    g, records, out = chain
    older = tmp_path / "older.tar"
    rewrite(out, older, lambda rs: [(k, b"2" if k == K.K_VERSION else v) for k, v in rs])
    with Archive(older) as a:
        assert dict(a.all_records())[K.K_VERSION] == b"2"
    done = restore(older, tmp_path / "data", g)
    assert done.height == 4
    led = Ledger.open(tmp_path / "data", g)
    try:
        with led.snapshot() as snap:
            assert list(snap.raw_items()) == records
    finally:
        led.close()


def _flip_byte_in_part(src: Path, dst: Path) -> None:
    data = bytearray(src.read_bytes())
    with tarfile.open(src) as t:
        m = t.getmember("parts/state.kv")
    data[m.offset_data + m.size // 2] ^= 0x01
    dst.write_bytes(bytes(data))


def _state_changed(records: Records) -> Records:
    out = list(records)
    i = max(i for i, (k, _) in enumerate(out) if k[:1] == K.P_STATE)
    out[i] = (out[i][0], out[i][1] + b"x")
    return out


def _cert_forged(records: Records) -> Records:
    """Block 2's certificate signed by one validator and an outsider (a 5th key)."""
    g = genesis(std=True)
    blocks = dict(records)
    h2 = blocks[K.block_hash_at_key(2)]
    forged = certify(g, 2, h2, signers=range(2, 5))  # keys 2, 3 and 4 (not a validator)
    return [(k, forged if k == K.P_META + cert_key(2) else v) for k, v in records]


def _block_dropped(records: Records) -> Records:
    return [(k, v) for k, v in records if k != K.block_key(3)]


def _tx_replaced(records: Records) -> Records:
    """Block 2's transactions gone from the tx index (its block still lists them)."""
    return [(k, v) for k, v in records if not (k[:1] == K.P_TX and k[1:9] == bytes(7) + b"\x02")]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("flip", "SM3 differs"),
        ("truncate", "damaged"),
        ("state", "differs from the chain its blocks produce"),
        ("cert", "not a validator"),
        ("drop", "block 3: missing"),
        ("tx", "differs from the chain its blocks produce"),
        ("garbage", "not a readable backup"),
    ],
)
def test_a_damaged_archive_is_refused_and_changes_nothing(
    chain: tuple[Genesis, Records, Path], tmp_path: Path, damage: str, reason: str
) -> None:
    g, _, out = chain
    bad = tmp_path / "bad.tar"
    if damage == "flip":
        _flip_byte_in_part(out, bad)
    elif damage == "truncate":
        bad.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00not a tar" * 1000)
    else:
        change = {
            "state": _state_changed,
            "cert": _cert_forged,
            "drop": _block_dropped,
            "tx": _tx_replaced,
        }[damage]
        rewrite(out, bad, change)
    target = tmp_path / "data"
    target.mkdir()
    before = tree(tmp_path)
    with pytest.raises(RestoreError, match=reason):
        restore(bad, target, g)
    assert tree(tmp_path) == before
    assert list(target.iterdir()) == []


def test_a_foreign_archive_is_refused(chain: tuple[Genesis, Records, Path], tmp_path: Path) -> None:
    _, _, out = chain
    ks = keys()
    g = genesis(std=True)
    other_chain = make_genesis(
        "other-chain", list(g.validators), [ks[4].pub], timestamp=g.timestamp
    )
    same_id = make_genesis(CHAIN, list(g.validators), [ks[5].pub], timestamp=g.timestamp)
    for foreign, reason in ((other_chain, "chain 'test-chain'"), (same_id, "another genesis")):
        with pytest.raises(RestoreError, match=reason):
            restore(out, tmp_path / "data", foreign)
        assert not (tmp_path / "data").exists()


def test_restore_writes_only_into_an_empty_data_dir(
    chain: tuple[Genesis, Records, Path], tmp_path: Path
) -> None:
    g, _, out = chain
    target = tmp_path / "data"
    target.mkdir()
    (target / "consensus.wal").write_bytes(b"old")
    before = tree(tmp_path)
    with pytest.raises(RestoreError, match="not empty"):
        restore(out, target, g)
    assert tree(tmp_path) == before


def test_a_backup_stream_must_be_a_whole_chain(tmp_path: Path) -> None:
    def stream() -> Iterator[tuple[bytes, bytes]]:
        yield K.K_CHAIN_ID, b"x"

    with pytest.raises(ArchiveError, match="not a whole chain"):
        write_backup(stream(), tmp_path / "b.tar")
    assert not (tmp_path / "b.tar").exists()
    with pytest.raises(ArchiveError, match="out of order"):
        write_backup(iter([(b"s1", b""), (b"M", b"")]), tmp_path / "b.tar")
    assert list(tmp_path.iterdir()) == []
