"""Layout 4 on real LevelDB files: the bodies (blocks, txs, receipts) in a database of their
own inside the store's directory, keyed height first; what a crash between its two synced
writes leaves; stores made before it (layouts 2 and 3) still opened, read and written as they
are."""

from __future__ import annotations

import random
import shutil
import tarfile
from pathlib import Path

import plyvel
import pytest

from storage import Corruption, LevelStats, Store, TxLocation
from storage import keys as K
from storage.levels import merge_levels
from tests.storage.crash_child import CHAIN as FIXTURE_CHAIN
from tests.storage.crash_child import make_block
from tests.storage.test_store import CHAIN, block

LAYOUT_2 = Path(__file__).parents[1] / "testdata" / "storage" / "layout2.tar.gz"
"""A store written by the layout-2 code (0c892fe): blocks 0..11 of ``crash_child.make_block``,
heights 1 and 2 pruned (headers b"header:1", b"header:2", floor 3), then compacted."""
LAYOUT_3 = Path(__file__).parents[1] / "testdata" / "storage" / "layout3.tar.gz"
"""The same chain written by the layout-3 code (8bc7652): the bodies in ``bodies/``, keyed by
name (``t <h8> <i4>``...)."""

BODY = (K.P_BLOCK, K.P_TX, K.P_RECEIPT)


def _keys(path: Path) -> list[bytes]:
    db = plyvel.DB(str(path))
    try:
        return list(db.iterator(include_value=False))
    finally:
        db.close()


def _put_raw(path: Path, items: dict[bytes, bytes]) -> None:
    db = plyvel.DB(str(path))
    try:
        with db.write_batch(sync=True) as wb:
            for k, v in items.items():
                wb.put(k, v)
    finally:
        db.close()


def test_bodies_live_in_their_own_database(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store.open(path, CHAIN) as s:
        assert s.layout == 4
        for h in range(4):
            s.commit(block(h))
        assert s.tx(b"tx-2-1") == TxLocation(b"body-1", 2, 1)
        assert s.receipt(b"tx-3-0") == b"ok-tx-3-0"
        assert s.block_by_height(1) == b"block-1"
    main, bodies = _keys(path), _keys(path / K.BODIES_DIR)
    assert not [k for k in main if k[:1] in BODY]

    def stored(h: int, kind: bytes, i: int | None = None) -> bytes:
        return h.to_bytes(8, "big") + kind + (b"" if i is None else i.to_bytes(4, "big"))

    # 4 blocks, 3 txs and 3 receipts each, height first (a growing chain's flushed tables do
    # not overlap), then block, receipts, txs, each by index
    assert bodies == [
        key
        for h in range(4)
        for key in (stored(h, b"b"), *(stored(h, b"r", i) for i in range(3)))
        + tuple(stored(h, b"t", i) for i in range(3))
    ]
    db = plyvel.DB(str(path))
    try:
        assert db.get(K.K_VERSION) == b"4"
    finally:
        db.close()


def test_bodies_of_an_unmoved_head_are_hidden_then_dropped_on_open(tmp_path: Path) -> None:
    """The state a crash between the two synced writes leaves: the next height's bodies are
    written, the batch that moves the head is not."""
    path = tmp_path / "db"
    s = Store.open(path, CHAIN)
    for h in range(3):
        s.commit(block(h))
    staged = s.stage(block(3, ntx=5))
    staged.bodies.write()  # the bodies' batch only
    try:
        assert s.head() == (2, b"hash-2")
        assert s.block_by_height(3) is None
        assert [h for h, _ in s.blocks()] == [0, 1, 2]
        assert not [k for k, _ in s.raw_items() if k.startswith(K.P_TX + K.HEIGHT.pack(3))]
        with s.snapshot() as snap:
            assert snap.block_by_height(3) is None
            assert [h for h, _ in snap.blocks()] == [0, 1, 2]
    finally:
        s.close()
    assert len([k for k in _keys(path / K.BODIES_DIR) if k[:8] == K.HEIGHT.pack(3)]) == 11
    with Store.open(path, CHAIN) as s:
        assert s.head() == (2, b"hash-2")
        s.commit(block(3, tag=b"b"))  # another block 3 (3 txs) commits in its place
        assert s.block_by_height(3) == b"block-3b"
        assert s.tx(b"tx-3b-0") is not None and s.tx(b"tx-3-0") is None
    left = [k for k in _keys(path / K.BODIES_DIR) if k[:8] == K.HEIGHT.pack(3)]
    assert len(left) == 7  # block 3b's: none of the dropped block's is left


def test_a_store_without_a_head_lists_no_bodies(tmp_path: Path) -> None:
    """Before its first commit, and after a crash between block 0's bodies and the batch that
    writes the head, a store has no head: its ranges of blocks, txs and receipts are empty
    (they once packed height -1 and raised struct.error)."""
    path = tmp_path / "db"
    with Store.open(path, CHAIN) as s:
        assert s.head() is None
        assert list(s.blocks()) == [] and list(s.blocks(1)) == []
        with s.snapshot() as snap:
            assert list(snap.blocks()) == []
        s.stage(block(0)).bodies.write()  # block 0's bodies only
        assert s.head() is None
        assert list(s.blocks()) == [] and s.block_by_height(0) is None
        assert [k for k, _ in s.raw_items() if k[:1] in BODY] == []
        with s.snapshot() as snap:
            assert list(snap.blocks()) == []
    assert len(_keys(path / K.BODIES_DIR)) == 7  # the block, 3 txs, 3 receipts: on disk
    with Store.open(path, CHAIN) as s:
        assert s.head() is None and list(s.blocks()) == []
        s.commit(block(0))
        assert [h for h, _ in s.blocks()] == [0]


def test_bodies_below_the_prune_floor_are_dropped_on_open(tmp_path: Path) -> None:
    """A prune writes the headers and the floor, then deletes the bodies: a crash between
    them leaves bodies below the floor."""
    path = tmp_path / "db"
    with Store.open(path, CHAIN) as s:
        for h in range(6):
            s.commit(block(h))
        assert s.prune([1, 2], [b"h1", b"h2"], 3) == 6
        assert s.block_by_height(1) is None and s.pruned_header(1) == b"h1"
    h1, h2, i0 = K.HEIGHT.pack(1), K.HEIGHT.pack(2), bytes(4)
    stale = {h2 + b"b": b"block-2", h2 + b"t" + i0: b"body-0", h1 + b"r" + i0: b"r"}
    _put_raw(path / K.BODIES_DIR, stale)
    with Store.open(path, CHAIN) as s:
        assert s.prune_floor() == 3
        assert s.block_by_height(3) == b"block-3"
    left = _keys(path / K.BODIES_DIR)
    assert not set(stale) & set(left)
    assert len(left) == 3 * 7  # heights 3, 4 and 5 whole


def test_a_store_without_its_bodies_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with Store.open(path, CHAIN) as s:
        for h in range(3):
            s.commit(block(h))
    shutil.rmtree(path / K.BODIES_DIR)
    with pytest.raises(Corruption, match="bodies database"):
        Store.open(path, CHAIN)
    # an empty bodies database in its place: the head block's body is missing
    plyvel.DB(str(path / K.BODIES_DIR), create_if_missing=True).close()
    with pytest.raises(Corruption, match="head block 2"):
        Store.open(path, CHAIN)


def test_a_half_created_store_opens(tmp_path: Path) -> None:
    """Creation makes the bodies' database first; a directory left with only that opens."""
    path = tmp_path / "db"
    path.mkdir()
    plyvel.DB(str(path / K.BODIES_DIR), create_if_missing=True).close()
    with Store.open(path, CHAIN) as s:
        assert s.head() is None and s.layout == 4
        s.commit(block(0))


def test_ranges_across_both_databases_are_in_key_order(tmp_path: Path) -> None:
    """Any [start, stop) reads what one ordered list of every entry holds there."""
    with Store.open(tmp_path / "db", CHAIN) as s:
        for h in range(5):
            s.commit(block(h))
        everything = list(s.raw_items())
        keys = [k for k, _ in everything]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert {k[:1] for k in keys} >= {b"M", b"m", b"b", b"h", b"l", b"n", b"r", b"s", b"t"}
        rng = random.Random(7)
        bounds = [b"", b"a", b"b", b"c", b"r", b"s", b"t", b"u", b"\xff", *rng.sample(keys, 20)]
        for _ in range(300):
            start = rng.choice(bounds)
            stop = rng.choice([None, *bounds])
            want = [kv for kv in everything if kv[0] >= start and (stop is None or kv[0] < stop)]
            assert list(s.raw_items(start, stop)) == want, (start, stop)


def test_ranges_of_height_first_bodies_read_what_a_plain_scan_of_the_databases_holds(
    tmp_path: Path,
) -> None:
    """The skip scan that reads a range of body names from a height-first database, against
    both databases read whole by plyvel (each stored body key renamed by hand, the next
    height's staged bodies left out): blocks with no txs, with hundreds, pruned heights
    between, and bounds inside keys."""
    with Store.open(tmp_path / "db", CHAIN) as s:
        sizes = [3, 0, 300, 1, 0, 2, 260, 5, 0, 4]
        for h, n in enumerate(sizes):
            s.commit(block(h, ntx=n))
        s.prune([2, 4], [b"h2", b"h4"], 0)
        s.stage(block(len(sizes), ntx=7)).bodies.write()  # above the head: never read
        with s._db.iterator() as it:
            main = [kv for kv in it if kv[0][:1] not in BODY]
        with s._bodies.iterator() as it:
            named = [(k[8:9] + k[:8] + k[9:], v) for k, v in it if k[:8] < K.HEIGHT.pack(10)]
        everything = sorted(main + named)
        assert len(named) == sum(1 + 2 * n for h, n in enumerate(sizes) if h not in (2, 4))
        rng = random.Random(11)
        keys = [k for k, _ in everything]
        bounds = [b"", b"b", b"c", b"r", b"s", b"t", b"u", b"\xff", b"t\x00\x00\x00"]
        bounds += [b"r" + K.HEIGHT.pack(h)[:n] for h in (2, 3, 6, 9, 10) for n in (3, 8)]
        bounds += [k + b"\x00" for k in rng.sample(keys, 10)] + rng.sample(keys, 30)
        for _ in range(400):
            start = rng.choice(bounds)
            stop = rng.choice([None, *bounds])
            want = [kv for kv in everything if kv[0] >= start and (stop is None or kv[0] < stop)]
            assert list(s.raw_items(start, stop)) == want, (start, stop)
        for lo in range(12):
            for hi in (None, lo, lo + 1, lo + 3, 11):
                got = [h for h, _ in s.blocks(lo, hi)]
                assert got == [
                    h for h in range(lo, 10 if hi is None else min(hi, 10)) if h not in (2, 4)
                ]


def _holds_the_fixture_chain(s: Store) -> None:
    """What the LAYOUT_2 and LAYOUT_3 stores hold: blocks 3..11 of ``make_block`` whole, 1 and
    2 pruned with their headers kept."""
    assert s.head() == (11, b"block:11")
    assert s.prune_floor() == 3
    assert s.block_by_height(1) is None and s.pruned_header(1) == b"header:1"
    for h in range(3, 12):
        want = make_block(h)
        assert s.block_by_height(h) == want.block
        for i, (tx_hash, body) in enumerate(want.txs):
            assert s.tx(tx_hash) == TxLocation(body, h, i)
            assert s.receipt(tx_hash) == b"receipt:" + tx_hash


def test_layout_2_store_is_read_and_written_as_it_is(tmp_path: Path) -> None:
    with tarfile.open(LAYOUT_2) as tar:
        tar.extractall(tmp_path, filter="data")
    path = tmp_path / "layout2"
    with Store.open(path, FIXTURE_CHAIN) as s:
        assert s.layout == 2
        _holds_the_fixture_chain(s)
        s.commit(make_block(12))
        s.prune([3], [b"header:3"], 4)
        assert s.block_by_height(3) is None
        n = s.verify()
    assert not (path / K.BODIES_DIR).exists()
    with Store.open(path, FIXTURE_CHAIN) as s:
        assert s.layout == 2 and s.head() == (12, b"block:12")
        assert s.block_by_height(12) == make_block(12).block
        assert s.verify() == n


def test_layout_3_store_is_read_and_written_as_it_is(tmp_path: Path) -> None:
    """A store whose bodies' database keys them by name: read, written, pruned and cleaned
    of a crash's stray bodies as it is; it stays layout 3."""
    with tarfile.open(LAYOUT_3) as tar:
        tar.extractall(tmp_path, filter="data")
    path = tmp_path / "layout3"
    stray = {K.tx_key(12, 500): b"tx of a head never moved", K.receipt_key(2, 0): b"pruned"}
    _put_raw(path / K.BODIES_DIR, stray)
    with Store.open(path, FIXTURE_CHAIN) as s:
        assert s.layout == 3
        _holds_the_fixture_chain(s)
        assert [h for h, _ in s.blocks(0, 6)] == [3, 4, 5]  # 0: below the floor, dropped
        s.commit(make_block(12))
        s.prune([3], [b"header:3"], 4)
        assert s.block_by_height(3) is None
        with s.snapshot() as snap:
            assert snap.block_by_height(12) == make_block(12).block
            assert [h for h, _ in snap.blocks(3)] == list(range(4, 13))
        n = s.verify()
    names = _keys(path / K.BODIES_DIR)
    assert not set(stray) & set(names)
    assert all(k[:1] in BODY for k in names)  # by name still
    assert K.tx_key(12, 0) in names and K.block_key(12) in names
    with Store.open(path, FIXTURE_CHAIN) as s:
        assert s.layout == 3 and s.head() == (12, b"block:12")
        assert s.verify() == n


def test_merge_levels_adds_each_level() -> None:
    a = (LevelStats(0, 2, 10, 1.0, 5, 6), LevelStats(1, 3, 30, 2.0, 7, 8))
    b = (LevelStats(0, 1, 4, 0.5, 1, 2), LevelStats(2, 5, 50, 0.0, 0, 0))
    assert merge_levels([a, b]) == (
        LevelStats(0, 3, 14, 1.5, 6, 8),
        LevelStats(1, 3, 30, 2.0, 7, 8),
        LevelStats(2, 5, 50, 0.0, 0, 0),
    )


def test_a_snapshot_a_prune_lands_between_is_taken_again(tmp_path: Path) -> None:
    """A prune writes its headers, then deletes the bodies: a snapshot whose main half is
    taken before the first and bodies half after the second would show neither the block
    nor its header. The store takes such a pair again."""
    with Store.open(tmp_path / "db", CHAIN) as s:
        for h in range(5):
            s.commit(block(h))
        real = s._bodies
        taken = []

        class PruneBetween:
            """The bodies' database, where a whole prune lands just before the first snapshot."""

            def __getattr__(self, name: str) -> object:
                return getattr(real, name)

            def snapshot(self) -> object:
                if not taken:
                    s.prune([1], [b"h1"], 2)
                taken.append(1)
                return real.snapshot()

        s._bodies = PruneBetween()
        with s.snapshot() as snap:
            s._bodies = real
            assert len(taken) == 2  # the first pair was dropped
            assert snap.block_by_height(1) is None and snap.pruned_header(1) == b"h1"
            assert snap.block_by_height(2) == b"block-2"
