"""bench.storage writes what Store.commit writes (its layout-2 pairs are the store's own), and
its layout-1 pairs are the same data keyed by hash: the before/after figures compare like
with like."""

from __future__ import annotations

import random
from pathlib import Path

from bench.storage import CHAIN, layouts, make_block, raw_entries, raw_entries_v1
from storage import Store
from storage import keys as K


def test_raw_entries_are_what_the_store_writes(tmp_path: Path) -> None:
    rng = random.Random(7)
    expected: dict[bytes, bytes] = {K.K_CHAIN_ID: CHAIN, K.K_VERSION: K.SCHEMA_VERSION}
    with Store.open(tmp_path / "db", CHAIN) as store:
        for height in range(3):
            batch = make_block(rng, height, 20, 50)
            store.commit(batch)
            expected.update(raw_entries(batch))
        with store.snapshot() as snap:
            assert dict(snap.raw_items()) == expected


def test_layout_1_holds_the_same_bodies_keyed_by_hash() -> None:
    b = make_block(random.Random(3), 5, 10, 40)
    v1, v2 = dict(raw_entries_v1(b)), dict(raw_entries(b))
    for i, (h, tx) in enumerate(b.txs):
        assert v1[K.P_TX + h] == K.TX_LOC.pack(5, i) + tx
        assert v2[K.tx_key(5, i)] == tx and v2[K.tx_index_key(h)] == K.TX_LOC.pack(5, i)
    assert sorted(v1.values()) != sorted(v2.values())  # different layouts …
    assert {k: v for k, v in v1.items() if k[0] not in b"tr"} == {
        k: v for k, v in v2.items() if k[0] not in b"trx"
    }  # … of the same block


def test_layouts_reports_every_variant() -> None:
    rows = layouts(blocks=3, ntx=50, tx_size=40, seed=1)
    assert [r["layout"] for r in rows] == [
        "1: txs, receipts by hash",
        "2: by height + hash index",
        "2, bodies in a 2nd LevelDB",
    ]
    assert all(r["bytes/tx on disk"] > 40 for r in rows)
