"""Readers on other threads while a writer commits: snapshots and scans stay consistent."""

from __future__ import annotations

import threading
from pathlib import Path

from storage import CommitBatch, Overlay, Store

CHAIN = b"concurrency"
BLOCKS = 150
KEYS = 20


def batch(h: int) -> CommitBatch:
    # every block rewrites all KEYS state entries with its height and moves "head" along
    writes: dict[tuple[bytes, bytes], bytes | None] = {
        (b"ns", b"k%02d" % i): b"%d" % h for i in range(KEYS)
    }
    writes[(b"ns", b"old%d" % (h - 1))] = None
    writes[(b"ns", b"old%d" % h)] = b"x"
    txs = [(b"tx%d-%d" % (h, i), b"t") for i in range(5)]
    return CommitBatch(h, b"hash%d" % h, b"block%d" % h, txs, [(t, b"r") for t, _ in txs], writes)


def test_snapshots_consistent_while_committing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db", CHAIN)
    store.commit(batch(0))
    done = threading.Event()
    errors: list[BaseException] = []
    checks = [0]

    def reader() -> None:
        try:
            while not done.is_set():
                with store.snapshot() as snap:
                    head = snap.head()
                    assert head is not None
                    h = head[0]
                    state = dict(snap.state_scan(b"ns"))
                    # the whole state is from exactly the head block: never a mix of two
                    assert state == {
                        **{b"k%02d" % i: b"%d" % h for i in range(KEYS)},
                        b"old%d" % h: b"x",
                    }
                    assert snap.block_by_height(h) == b"block%d" % h
                    assert snap.block_by_height(h + 1) is None
                    assert all(snap.has_tx(b"tx%d-%d" % (h, i)) for i in range(5))
                    assert not snap.has_tx(b"tx%d-0" % (h + 1))
                    assert dict(Overlay(snap).scan(b"ns")) == state
                # a live scan is one consistent view too (the iterator pins its own snapshot)
                values = {v for k, v in store.state_scan(b"ns") if k.startswith(b"k")}
                assert len(values) == 1
                checks[0] += 1
        except BaseException as exc:  # noqa: BLE001  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for h in range(1, BLOCKS):
            store.commit(batch(h))
            if errors:
                break
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
        store.close()
    assert not errors, errors[0]
    assert checks[0] > 0
