"""bench.storage writes what Store.commit writes (its layout-2 pairs are the store's own), and
its layout-1 pairs are the same data keyed by hash: the before/after figures compare like
with like."""

from __future__ import annotations

import random
from pathlib import Path

from bench import ledger as bench_ledger
from bench.storage import CHAIN, evidence_block, layouts, make_block, raw_entries, raw_entries_v1
from chainnode.ledger.ledger import Ledger
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
        "3: bodies in their own LevelDB",
        "4: ... keyed height first",
    ]
    assert all(r["bytes/tx on disk"] > 40 for r in rows)


def test_evidence_blocks_have_a_real_ledgers_entry_sizes(tmp_path: Path) -> None:
    """The layout comparison's evidence blocks write, per tx and per key space, the bytes a
    real ledger writes for a block of evidence.register txs (within 10%)."""
    ntx = 64
    g = bench_ledger._genesis(ntx)
    led = Ledger.open(tmp_path / "ledger", g, mempool_capacity=4 * ntx)
    try:
        led.verify_batch = lambda items: [True] * len(items)  # type: ignore[method-assign]
        with led._store.snapshot() as snap:
            before = dict(snap.raw_items())
        txs = bench_ledger._txs(ntx, 0, "evidence.register")
        assert all(r.accepted for r in led.mempool.submit([t.encode() for t in txs]))
        block = led.build_block(1, 0, g.validators[0].public_key, 1000, ntx)
        assert len(block.txs) == ntx
        led.commit_block(block, b"cert")
        receipts = [led.receipt(t.hash) for t in txs]
        assert all(r is not None and r.ok for r in receipts)
        with led._store.snapshot() as snap:
            real = [(k, v) for k, v in snap.raw_items() if before.get(k) != v]
    finally:
        led.close()
    model = raw_entries(evidence_block(random.Random(1), 1, ntx))

    def per_space(entries: list[tuple[bytes, bytes]]) -> dict[bytes, float]:
        out: dict[bytes, float] = {}
        for k, v in entries:
            if k[:1] in b"trblxs":
                out[k[:1]] = out.get(k[:1], 0) + (len(k) + len(v)) / ntx
        return out

    want, got = per_space(real), per_space(model)
    assert set(got) == set(want)
    for space, size in want.items():
        assert abs(got[space] - size) <= 0.1 * size, (space, got[space], size)
