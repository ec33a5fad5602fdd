"""LevelDB's account of its levels: the ``leveldb.stats`` text parsed, and a real store whose
flushes and compactions show there as the files and bytes on its disk."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from storage import CommitBatch, LevelStats, Store
from storage.levels import MIB, parse_stats

# LevelDB's DBImpl::GetProperty("leveldb.stats") layout ("%3d %8d %8.0f %9.0f %8.0f %9.0f")
STATS = """\
                               Compactions
Level  Files Size(MB) Time(sec) Read(MB) Write(MB)
--------------------------------------------------
  0        3      312         4        0       330
  1       51      102        12      415       398
  3        7       14         0       20        14
"""


def test_the_stats_text_gives_one_row_per_level_shown() -> None:
    assert parse_stats(STATS) == (
        LevelStats(0, 3, 312 * MIB, 4.0, 0, 330 * MIB),
        LevelStats(1, 51, 102 * MIB, 12.0, 415 * MIB, 398 * MIB),
        LevelStats(3, 7, 14 * MIB, 0.0, 20 * MIB, 14 * MIB),
    )
    assert parse_stats("") == ()
    assert parse_stats("garbage\n  x  1 2 3 4 5\n  1  2  3  4  five  6\n") == ()


def block(height: int, entries: int) -> CommitBatch:
    """A block of `entries` state writes of random 1 KiB values (incompressible, unsorted)."""
    return CommitBatch(
        height=height,
        block_hash=b"hash-%d" % height,
        block=b"block-%d" % height,
        txs=[],
        receipts=[],
        state_writes={(b"acct", os.urandom(16)): os.urandom(1024) for _ in range(entries)},
        meta={},
    )


def settled(store: Store, path: Path, timeout: float = 30.0) -> tuple[LevelStats, ...]:
    """The store's levels once LevelDB's thread is done: its tables are the files on disk
    (it may still be compacting, or deleting the files it replaced)."""
    deadline = time.monotonic() + timeout
    while True:
        levels = store.level_stats()
        on_disk = [p for p in os.listdir(path) if p.endswith(".ldb")]
        if sum(lv.files for lv in levels) == len(on_disk) or time.monotonic() > deadline:
            return levels
        threading.Event().wait(0.01)


def test_a_store_reports_the_tables_on_its_disk_and_the_bytes_written(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = Store.open(path, b"chain", write_buffer_size=256 * 1024)  # flush every ~250 KiB
    try:
        for height in range(12):  # ~6 MiB through a 256 KiB memtable: flushes and compactions
            store.commit(block(height, 500))
        levels = settled(store, path)
        on_disk = [p for p in os.listdir(path) if p.endswith(".ldb")]
        assert sum(lv.files for lv in levels) == len(on_disk) > 1
        assert [lv.level for lv in levels] == sorted({lv.level for lv in levels})
        # every flushed or compacted byte was written into some level, at least the ~6 MiB
        assert sum(lv.written_bytes for lv in levels) >= 5 * MIB
        assert sum(lv.size_bytes for lv in levels) >= 4 * MIB
    finally:
        store.close()
    assert store.level_stats() == ()


def test_the_default_memtable_holds_28_mib_and_is_written_out_before_36(tmp_path: Path) -> None:
    """The main database's default memtable (``WRITE_BUFFER``, 32 MiB; see the measurement in
    storage.store): 28 MiB of state writes stay in it, and by 36 MiB it has been written out
    as a table."""
    path = tmp_path / "db"
    store = Store.open(path, b"chain")
    try:
        for height in range(28):  # 1 MiB of state each
            store.commit(block(height, 1024))
        assert sum(lv.files for lv in store.level_stats()) == 0
        assert not [p for p in os.listdir(path) if p.endswith(".ldb")]
        for height in range(28, 36):
            store.commit(block(height, 1024))
        deadline = time.monotonic() + 30
        while sum(lv.files for lv in store.level_stats()) == 0:
            assert time.monotonic() < deadline, "no table written after 36 MiB"
            threading.Event().wait(0.01)
    finally:
        store.close()


def test_approximate_size_estimates_a_key_range_in_the_tables(tmp_path: Path) -> None:
    """LevelDB's estimate of a key range's bytes in its tables: ~the bytes written there once
    flushed, nothing for a range with no keys, 0 once closed."""
    path = tmp_path / "db"
    store = Store.open(path, b"chain", write_buffer_size=256 * 1024)
    try:
        for height in range(8):  # 4,000 entries of ~1 KiB under "s": ~4 MiB, flushed
            store.commit(block(height, 500))
        settled(store, path)
        size = store.approximate_size(b"s", b"t")
        assert 3 * MIB <= size <= 6 * MIB
        assert store.approximate_size(b"t", b"u") == 0
        assert store.approximate_size(b"s", b"s") == 0
    finally:
        store.close()
    assert store.approximate_size(b"s", b"t") == 0
