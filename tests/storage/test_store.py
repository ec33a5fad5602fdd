"""Store API on real LevelDB files: commits, reads, validation, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from storage import (
    ChainMismatch,
    CommitBatch,
    Corruption,
    DatabaseLocked,
    DuplicateEntry,
    HeightMismatch,
    InvalidInput,
    NotADatabase,
    StorageError,
    Store,
    TxLocation,
)
from tests.conftest import subprocess_env

CHAIN = b"test-chain"


def block(height: int, ntx: int = 3, tag: bytes = b"") -> CommitBatch:
    hb = str(height).encode() + tag
    txs = [(b"tx-" + hb + b"-" + str(i).encode(), b"body-%d" % i) for i in range(ntx)]
    return CommitBatch(
        height=height,
        block_hash=b"hash-" + hb,
        block=b"block-" + hb,
        txs=txs,
        receipts=[(h, b"ok-" + h) for h, _ in txs],
        state_writes={
            (b"acct", b"k%d" % height): b"v" + hb,
            (b"acct", b"k%d" % (height - 1)): None,
        },
        meta={b"last": hb},
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "db", CHAIN)
    yield s  # type: ignore[misc]
    s.close()


def test_empty_store(store: Store) -> None:
    assert store.head() is None
    assert store.block_by_height(0) is None
    assert store.tx(b"x") is None
    assert not store.has_tx(b"x")
    assert store.state_get(b"ns", b"k") is None
    assert list(store.state_scan(b"ns")) == []
    assert store.chain_id() == CHAIN


def test_commit_and_read_back(store: Store) -> None:
    for h in range(3):
        store.commit(block(h))
    assert store.head() == (2, b"hash-2")
    assert store.block_by_height(1) == b"block-1"
    assert store.block_by_hash(b"hash-1") == b"block-1"
    assert store.block_hash_at(2) == b"hash-2"
    assert store.height_of(b"hash-0") == 0
    assert store.block_tx_hashes(1) == [b"tx-1-0", b"tx-1-1", b"tx-1-2"]
    assert store.tx(b"tx-1-2") == TxLocation(b"body-2", 1, 2)
    assert store.has_tx(b"tx-0-0")
    assert store.receipt(b"tx-2-1") == b"ok-tx-2-1"
    assert store.state_get(b"acct", b"k2") == b"v2"
    assert store.state_get(b"acct", b"k1") is None  # deleted by block 2
    assert store.state_get(b"acct", b"k0") is None
    assert list(store.state_scan(b"acct")) == [(b"k2", b"v2")]
    assert store.get_meta(b"last") == b"2"
    assert list(store.blocks(1)) == [(1, b"block-1"), (2, b"block-2")]
    assert list(store.blocks(0, 1)) == [(0, b"block-0")]


def test_creates_missing_parent_directories(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a" / "b" / "db", CHAIN) as s:
        s.commit(block(0))
    with Store.open(tmp_path / "a" / "b" / "db", CHAIN, create=False) as s:
        assert s.head() == (0, b"hash-0")


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db", CHAIN) as s:
        s.commit(block(0))
        s.commit(block(1))
    with Store.open(tmp_path / "db", CHAIN, create=False) as s:
        assert s.head() == (1, b"hash-1")
        assert s.tx(b"tx-1-0") == TxLocation(b"body-0", 1, 0)
        s.commit(block(2))
        assert s.head() == (2, b"hash-2")


def test_height_must_be_next(store: Store) -> None:
    with pytest.raises(HeightMismatch) as ei:
        store.commit(block(1))
    assert ei.value.expected == 0
    store.commit(block(0))
    for bad in (0, 2, 5):
        with pytest.raises(HeightMismatch):
            store.commit(block(bad, tag=b"x"))
    assert store.head() == (0, b"hash-0")


def test_namespaces_never_collide(store: Store) -> None:
    writes = {
        (b"a", b"bc"): b"1",
        (b"ab", b"c"): b"2",
        (b"", b"abc"): b"3",
        (b"abc", b""): b"4",
        (b"a", b""): b"5",
    }
    store.commit(CommitBatch(0, b"h", b"b", [], [], writes))
    for (ns, key), value in writes.items():
        assert store.state_get(ns, key) == value
    assert list(store.state_scan(b"a")) == [(b"", b"5"), (b"bc", b"1")]
    assert list(store.state_scan(b"ab")) == [(b"c", b"2")]
    assert list(store.state_scan(b"")) == [(b"abc", b"3")]
    assert list(store.state_scan(b"abc")) == [(b"", b"4")]


def test_range_scans(store: Store) -> None:
    writes: dict[tuple[bytes, bytes], bytes | None] = {
        (b"ns", bytes([i])): bytes([i]) for i in range(0, 256, 16)
    }
    writes[(b"ns", b"\xff\xff")] = b"top"
    writes[(b"nt", b"\x00")] = b"other"
    store.commit(CommitBatch(0, b"h", b"b", [], [], writes))
    keys = [k for k, _ in store.state_scan(b"ns")]
    assert keys == sorted(keys) and len(keys) == 17
    assert [k for k, _ in store.state_scan(b"ns", start=b"\x20", stop=b"\x50")] == [
        b"\x20",
        b"\x30",
        b"\x40",
    ]
    assert [k for k, _ in store.state_scan(b"ns", b"\xff")] == [b"\xff\xff"]
    assert [k for k, _ in store.state_scan(b"ns", b"\xf0", start=b"\xf1")] == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: CommitBatch(0, "str", b.block, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(0, b"", b.block, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(0, b"x" * 65, b.block, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(True, b.block_hash, b.block, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(-1, b.block_hash, b.block, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, None, b.txs, b.receipts, b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, b.block, [(b"h", "tx")], [], b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, b.block, [(b"h",)], [], b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, b.block, [(b"", b"t")], [], b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, b.block, [([1], b"t")], [], b.state_writes),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, [(b"nope", b"r")], {}),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, [(b.txs[0][0], 5)], {}),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, {(b"n", "k"): b"v"}),
        lambda b: CommitBatch(
            0, b.block_hash, b.block, b.txs, b.receipts, {(b"n" * 256, b""): b""}
        ),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, {(b"n", b"k"): 1}),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, [1, 2]),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, {}, {b"k": "v"}),
        lambda b: CommitBatch(0, b.block_hash, b.block, [(b"h" * 65, b"t")], [], {}),
        lambda b: CommitBatch(0, b.block_hash, b.block, [(b"h", b"t", b"x")], [], {}),
        lambda b: CommitBatch(0, b.block_hash, b.block, b"txs", [], {}),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, {b"ab": b"v"}),
        lambda b: CommitBatch(
            0, b.block_hash, b.block, b.txs, b.receipts, {(b"n", b"k" * 4097): b""}
        ),
        lambda b: CommitBatch(
            0, b.block_hash, b.block, b.txs, b.receipts, {(b"n", b"k"): None, (b"n", b"j"): "v"}
        ),
        lambda b: CommitBatch(0, b.block_hash, b.block, b.txs, b.receipts, {}, [b"k"]),
        lambda b: "not a batch",
    ],
)
def test_invalid_batches_write_nothing(store: Store, mutate: object) -> None:
    bad = mutate(block(0))  # type: ignore[operator]
    with pytest.raises(InvalidInput):
        store.commit(bad)
    assert store.head() is None
    assert not store.has_tx(b"tx-0-0")
    assert list(store.state_scan(b"acct")) == []
    assert store.get_meta(b"last") is None
    store.commit(block(0))  # the store is still usable
    assert store.head() == (0, b"hash-0")


def test_duplicates_rejected(store: Store) -> None:
    store.commit(block(0))
    dup_tx = CommitBatch(1, b"hash-1", b"b", [(b"tx-0-1", b"again")], [], {})
    with pytest.raises(DuplicateEntry):
        store.commit(dup_tx, check_duplicates=True)
    with pytest.raises(DuplicateEntry):
        store.commit(CommitBatch(1, b"hash-0", b"b", [], [], {}))
    with pytest.raises(DuplicateEntry):
        store.commit(CommitBatch(1, b"h1", b"b", [(b"x", b"1"), (b"x", b"2")], [], {}))
    assert store.head() == (0, b"hash-0")
    assert store.tx(b"tx-0-1") == TxLocation(b"body-1", 0, 1)


def test_snapshot_isolated_from_later_commits(store: Store) -> None:
    store.commit(block(0))
    with store.snapshot() as snap:
        store.commit(block(1))
        assert snap.head() == (0, b"hash-0")
        assert snap.block_by_height(1) is None
        assert not snap.has_tx(b"tx-1-0")
        assert snap.state_get(b"acct", b"k0") == b"v0"
        assert store.state_get(b"acct", b"k0") is None
    with pytest.raises(StorageError):
        snap.head()


def test_closed_store_raises_storage_error(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "db", CHAIN)
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(StorageError):
        s.head()
    with pytest.raises(StorageError):
        s.tx(b"x")
    with pytest.raises(StorageError):
        s.commit(block(0))


def test_read_inputs_validated(store: Store) -> None:
    with pytest.raises(InvalidInput):
        store.tx("abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.has_tx(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        store.block_by_height(-1)
    with pytest.raises(InvalidInput):
        store.state_get(b"n" * 256, b"k")


# -- opening errors -------------------------------------------------------------------------


def test_other_chain(tmp_path: Path) -> None:
    Store.open(tmp_path / "db", CHAIN).close()
    with pytest.raises(ChainMismatch) as ei:
        Store.open(tmp_path / "db", b"another-chain")
    assert ei.value.found == CHAIN and str(tmp_path) in str(ei.value)


def test_not_a_database(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"hello")
    with pytest.raises(NotADatabase):
        Store.open(f, CHAIN)
    with pytest.raises(NotADatabase):
        Store.open(tmp_path / "missing", CHAIN, create=False)
    assert not (tmp_path / "missing").exists()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(NotADatabase) as ei:
        Store.open(tmp_path / "docs", CHAIN)
    assert "notes.txt" in str(ei.value)
    assert sorted(os.listdir(tmp_path / "docs")) == ["notes.txt"]


def test_foreign_leveldb_is_not_ours(tmp_path: Path) -> None:
    import plyvel

    db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
    db.put(b"someone", b"else")
    db.close()
    with pytest.raises(NotADatabase):
        Store.open(tmp_path / "db", CHAIN)


def test_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Store.open(path, CHAIN).close()
    code = (
        "import sys; from storage import Store; "
        f"s = Store.open({str(path)!r}, {CHAIN!r}); print('open', flush=True); sys.stdin.read()"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=subprocess_env(),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"open\n"
        with pytest.raises(DatabaseLocked) as ei:
            Store.open(path, CHAIN)
        assert str(path) in str(ei.value)
    finally:
        child.kill()
        child.wait(timeout=10)
    Store.open(path, CHAIN).close()  # the lock dies with the process


def test_locked_in_same_process(store: Store) -> None:
    with pytest.raises(DatabaseLocked):
        Store.open(store.path, CHAIN)


def test_corrupt_current_file(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Store.open(path, CHAIN).close()
    (path / "CURRENT").write_bytes(b"garbage-without-newline")
    with pytest.raises(Corruption) as ei:
        Store.open(path, CHAIN)
    assert str(path) in str(ei.value) and "chainnode restore" in str(ei.value)


@pytest.mark.parametrize("where", [".", "bodies"])
def test_corrupt_table_file_detected(tmp_path: Path, where: str) -> None:
    """Damaged tables of either database (the main one, the bodies') are reported."""
    path = tmp_path / "db"
    with Store.open(path, CHAIN) as s:
        for h in range(20):
            s.commit(block(h, ntx=50))
        s.compact()  # push everything into .ldb tables
    tables = sorted((path / where).glob("*.ldb"))
    assert tables
    for t in tables:
        data = bytearray(t.read_bytes())
        for pos in range(100, len(data) - 100, 997):
            data[pos] ^= 0xFF
        t.write_bytes(bytes(data))
    with pytest.raises(Corruption) as ei:
        s = Store.open(path, CHAIN)
        try:
            s.verify()
        finally:
            s.close()
    assert str(path) in str(ei.value) and "hint" in str(ei.value)


def test_store_state_get_is_the_reader_path(tmp_path: Path) -> None:
    """Store.state_get (one frame) reads what Reader.state_get reads and fails as it fails:
    present, absent, empty parts, the size limits, wrong types, a closed store."""
    from storage import keys as K
    from storage.reader import Reader

    s = Store.open(tmp_path / "db", CHAIN)
    writes = {
        (b"a", b"bc"): b"1",
        (b"ab", b"c"): b"2",
        (b"", b""): b"3",
        (b"n" * K.MAX_NAMESPACE, b"k" * K.MAX_STATE_KEY): b"4",
    }
    s.commit(CommitBatch(0, b"h", b"b", [], [], writes))
    probes: list[tuple[object, object]] = [
        *writes,
        (b"a", b"b"),
        (b"zz", b"none"),
        (b"n" * (K.MAX_NAMESPACE + 1), b"k"),
        (b"n", b"k" * (K.MAX_STATE_KEY + 1)),
        ("a", b"bc"),
        (b"a", "bc"),
        (bytearray(b"a"), b"bc"),
    ]

    def outcome(fn: object, ns: object, key: object) -> tuple[str, object]:
        try:
            return ("ok", fn(ns, key))  # type: ignore[operator]
        except StorageError as exc:
            return ("error", (type(exc), str(exc)))

    def plain(ns: object, key: object) -> object:
        return Reader.state_get(s, ns, key)  # type: ignore[arg-type]

    try:
        for ns, key in probes:
            assert outcome(s.state_get, ns, key) == outcome(plain, ns, key), (ns, key)
        assert [outcome(s.state_get, ns, k)[1] for ns, k in writes] == list(writes.values())
        assert outcome(s.state_get, b"x", b"y") == ("ok", None)
    finally:
        s.close()
    for ns, key in probes[:2]:
        got = outcome(s.state_get, ns, key)
        assert got == outcome(plain, ns, key) and got[0] == "error"


def test_store_has_tx_is_the_reader_path(tmp_path: Path) -> None:
    """Store.has_tx (one frame) answers as Reader.has_tx does, errors included."""
    from storage.reader import Reader

    s = Store.open(tmp_path / "db", CHAIN)
    s.commit(block(0))
    probes: list[object] = [b"tx-0-0", b"tx-0-2", b"tx-0-3", b"", b"x" * 300, "tx-0-0", None]

    def outcome(fn: object, tx_hash: object) -> tuple[str, object]:
        try:
            return ("ok", fn(tx_hash))  # type: ignore[operator]
        except StorageError as exc:
            return ("error", (type(exc), str(exc)))

    def plain(tx_hash: object) -> object:
        return Reader.has_tx(s, tx_hash)  # type: ignore[arg-type]

    try:
        got = [outcome(s.has_tx, p) for p in probes]
        assert got == [outcome(plain, p) for p in probes]
        assert [g[1] for g in got[:5]] == [True, True, False, False, False]
    finally:
        s.close()
    assert outcome(s.has_tx, b"tx-0-0") == outcome(plain, b"tx-0-0")
    assert outcome(s.has_tx, b"tx-0-0")[0] == "error"


@pytest.mark.parametrize(
    "batch",
    [
        [(b"s\x02nsk", b"v"), (b"b\x02nsk", b"v")],  # not a state key
        [(b"s\x02nsk", "v")],
        [(b"s", b"v")],
        [(b"s\x02ns" + b"k" * 5000, b"v")],
    ],
)
def test_install_refuses_a_bad_state_batch_before_writing_it(
    tmp_path: Path, batch: list[tuple[bytes, bytes]]
) -> None:
    with Store.open(tmp_path / "db", CHAIN) as s:
        good = [(b"s\x02nsa", b"1"), (b"s\x02nsb", b"2")]
        with pytest.raises(InvalidInput):
            s.install(3, b"h" * 32, b"hdr", [good, batch], {}, 4)
        assert s.head() is None
        assert s.state_get(b"ns", b"a") == b"1"  # the batches before it are written
        assert s.state_get(b"ns", b"k") is None


def test_install_writes_every_batch_and_the_head(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db", CHAIN) as s:
        batches = [[(b"s\x02ns" + bytes([i, j]), bytes([j])) for j in range(5)] for i in range(3)]
        assert s.install(3, b"h" * 32, b"hdr", [*batches, []], {b"m": b"x"}, 4) == 15
        assert s.head() == (3, b"h" * 32)
        assert s.state_get(b"ns", bytes([2, 4])) == b"\x04"


def test_stage_then_write_staged_is_commit(tmp_path: Path) -> None:
    """``commit`` in its two halves (the node stages on its loop and writes on its commit
    thread): nothing is visible until written, a batch is written once, and the database
    ends entry for entry as a twin's that took ``commit``."""
    with Store.open(tmp_path / "a", CHAIN) as a, Store.open(tmp_path / "b", CHAIN) as b:
        for h in range(3):
            staged = a.stage(block(h))
            assert a.head() == (None if h == 0 else (h - 1, b"hash-%d" % (h - 1)))
            assert a.block_by_height(h) is None and not a.has_tx(b"tx-%d-0" % h)
            writer = threading.Thread(target=a.write_staged, args=(staged,))
            writer.start()
            writer.join()
            with pytest.raises(InvalidInput, match="written already"):
                a.write_staged(staged)
            b.commit(block(h))
            assert a.head() == b.head() == (h, b"hash-%d" % h)
        with pytest.raises(HeightMismatch):
            a.stage(block(5))
        entries = [list(s.raw_items()) for s in (a, b)]
        assert entries[0] == entries[1] and len(entries[0]) > 3 * 10
