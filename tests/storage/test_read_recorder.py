"""ReadRecorder: an overlay over it reads exactly what it reads over the store, and it keeps
the committed value of each key read (what the ledger's undo records take instead of a
second LevelDB lookup)."""

from __future__ import annotations

from pathlib import Path

from storage import CommitBatch, Overlay, ReadRecorder, Store

NS = b"records"


def _store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "db", b"test-chain")
    s.commit(
        CommitBatch(
            height=0,
            block_hash=b"\x01" * 32,
            block=b"b",
            txs=[],
            receipts=[],
            state_writes={(NS, b"a"): b"1", (NS, b"b"): b"2", (NS, b"c"): b"3"},
        )
    )
    return s


def test_reads_through_it_are_the_stores_and_it_keeps_each(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        rec = ReadRecorder(store)
        over_rec, over_store = Overlay(rec), Overlay(store)
        for ov in (over_rec, over_store):
            ov.set(NS, b"b", b"new")  # written before any read: never reaches the base
        for key in (b"a", b"b", b"zz", b"a"):
            assert over_rec.get(NS, key) == over_store.get(NS, key)
        assert list(over_rec.scan(NS)) == list(over_store.scan(NS))
        assert list(over_rec.scan(NS)) == [(b"a", b"1"), (b"b", b"new"), (b"c", b"3")]
        # the committed value of each key got through it (absent: None); scans unrecorded
        assert rec.reads == {(NS, b"a"): b"1", (NS, b"zz"): None}


def test_a_child_overlays_reads_reach_it_once_past_the_block_overlay(tmp_path: Path) -> None:
    with _store(tmp_path) as store:
        rec = ReadRecorder(store)
        block = Overlay(rec)
        tx = block.child()
        assert tx.get(NS, b"c") == b"3"
        tx.set(NS, b"c", b"4")
        tx.commit_to_parent()
        assert block.get(NS, b"c") == b"4"  # from the block's writes, not the base
        assert rec.reads == {(NS, b"c"): b"3"}  # the value the block replaces
