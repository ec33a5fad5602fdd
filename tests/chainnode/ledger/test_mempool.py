"""Mempool admission: every reason code, batching of signature checks, FIFO proposals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.ledger.mempool import Admission
from chainnode.model.codes import Code
from chainnode.model.types import Block, Transaction
from tests.chainnode.ledger.helpers import commit, genesis, keys, make_block, open_ledger, tx

RESOLVE = ("deployment", "resolve", ["evidence"])


@pytest.fixture
def led(tmp_path: Path) -> Iterator[Ledger]:
    with open_ledger(tmp_path, genesis(), mempool_capacity=6) as led:
        yield led


def codes(led: Ledger, txs: Sequence[bytes | Transaction]) -> list[Code]:
    return [a.code for a in led.mempool.submit(list(txs))]


def test_accepts_and_orders_fifo(led: Ledger) -> None:
    ks = keys()
    txs = [tx(led, ks[i % 3], *RESOLVE) for i in range(5)]
    adm = led.mempool.submit([t.encode() for t in txs])
    assert [a.accepted for a in adm] == [True] * 5
    assert [a.tx_hash for a in adm] == [t.hash for t in txs]
    assert led.mempool.size == 5 and all(led.mempool.has(t.hash) for t in txs)
    assert [t.hash for t in led.mempool.take(3, led.height + 1)] == [t.hash for t in txs[:3]]
    block = make_block(led)
    assert [t.hash for t in block.txs] == [t.hash for t in txs]


def test_malformed_and_too_large(led: Ledger) -> None:
    assert codes(led, [b"junk", b"\x00" * 300_000]) == [Code.MALFORMED, Code.TOO_LARGE]
    adm = led.mempool.submit([b"\x93"])
    assert adm[0].tx_hash == b"" and not adm[0].accepted and adm[0].message


def test_wrong_chain(led: Ledger) -> None:
    assert codes(led, [tx(led, keys()[0], *RESOLVE, chain_id="other")]) == [Code.WRONG_CHAIN]


def test_bad_signature(led: Ledger) -> None:
    good = tx(led, keys()[0], *RESOLVE)
    other = tx(led, keys()[1], *RESOLVE)
    forged = Transaction(
        good.chain_id,
        good.sender,
        good.nonce,
        good.block_limit,
        good.contract,
        good.method,
        good.args,
        good.gas_limit,
        other.signature,
    )
    assert codes(led, [forged]) == [Code.BAD_SIGNATURE]
    assert led.mempool.size == 0
    # the genuine tx with the same hash is still admitted afterwards
    assert codes(led, [good]) == [Code.OK]


def test_duplicates_pending_in_batch_and_committed(led: Ledger) -> None:
    a, b = tx(led, keys()[0], *RESOLVE), tx(led, keys()[0], *RESOLVE)
    assert codes(led, [a, a, b]) == [Code.OK, Code.DUPLICATE, Code.OK]
    assert codes(led, [a.encode()]) == [Code.DUPLICATE]
    blk = make_block(led)
    assert [t.hash for t in blk.txs] == [a.hash, b.hash]
    led.commit_block(blk, b"c")
    assert led.mempool.size == 0 and led.tx(a.hash) is not None
    assert codes(led, [a, b]) == [Code.DUPLICATE, Code.DUPLICATE]


def test_block_limit_window(tmp_path: Path) -> None:
    with open_ledger(tmp_path, genesis(window=10)) as led:
        k = keys()[0]
        commit(led)
        commit(led)  # height 2, next block 3
        assert codes(
            led,
            [
                tx(led, k, *RESOLVE, block_limit=2),
                tx(led, k, *RESOLVE, block_limit=3),
                tx(led, k, *RESOLVE, block_limit=12),
                tx(led, k, *RESOLVE, block_limit=13),
            ],
        ) == [Code.EXPIRED, Code.OK, Code.OK, Code.FUTURE_BLOCK_LIMIT]


def test_expired_pending_txs_are_not_proposed(tmp_path: Path) -> None:
    with open_ledger(tmp_path, genesis()) as led:
        k = keys()[0]
        short = tx(led, k, *RESOLVE, block_limit=1)
        long = tx(led, k, *RESOLVE, block_limit=50)
        assert codes(led, [short, long]) == [Code.OK, Code.OK]
        assert [t.hash for t in led.mempool.take(10, 2)] == [long.hash]
        assert not led.mempool.has(short.hash)


def test_mempool_full(led: Ledger) -> None:
    txs = [tx(led, keys()[0], *RESOLVE) for _ in range(8)]
    assert codes(led, txs[:4]) == [Code.OK] * 4
    assert codes(led, txs[4:]) == [Code.OK, Code.OK, Code.MEMPOOL_FULL, Code.MEMPOOL_FULL]


def test_unknown_contract_and_method(led: Ledger) -> None:
    k = keys()[0]
    assert codes(
        led,
        [
            tx(led, k, "nosuch", "m"),
            tx(led, k, "ab" * 20, "m"),
            tx(led, k, "permissions", "nope"),
        ],
    ) == [Code.UNKNOWN_CONTRACT, Code.UNKNOWN_CONTRACT, Code.UNKNOWN_METHOD]


def test_no_permission(tmp_path: Path) -> None:
    with open_ledger(tmp_path, genesis(permissions="closed")) as led:
        user, admin = keys()[0], keys()[4]
        assert codes(
            led,
            [
                tx(led, user, "governance", "add_admin", [user.pub]),
                tx(led, user, "permissions", "grant", [user.address, "writer"]),
                tx(led, user, "deployment", "deploy", [b"code"]),
                tx(led, admin, "governance", "add_admin", [user.pub]),
            ],
        ) == [Code.NO_PERMISSION, Code.NO_PERMISSION, Code.NO_PERMISSION, Code.OK]


def test_each_signature_verified_once_in_batches(
    led: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = led.verify_batch

    def spy(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        calls.append(len(items))
        return real(items)

    monkeypatch.setattr(led, "verify_batch", spy)
    txs = [tx(led, keys()[i], *RESOLVE) for i in range(5)]
    led.mempool.submit([t.encode() for t in txs] + [b"junk"])
    assert calls == [5]
    led.mempool.submit([t.encode() for t in txs])  # duplicates: no verification at all
    assert calls == [5]
    block = make_block(led)
    led.validate_block(led.decode_block(block.encode()))  # cached execution, no re-verify
    led.commit_block(block, b"c")
    assert calls == [5]


def test_block_validation_verifies_unknown_txs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        calls: list[int] = []
        real = b.verify_batch

        def spy(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
            calls.append(len(items))
            return real(items)

        monkeypatch.setattr(b, "verify_batch", spy)
        txs = [tx(a, keys()[i], *RESOLVE) for i in range(4)]
        b.mempool.submit(txs[:1])  # b saw one tx by gossip
        assert calls == [1]
        a.mempool.submit(txs)
        blk = b.decode_block(make_block(a).encode())
        b.validate_block(blk)
        assert calls == [1, 3]
        b.commit_block(blk, b"c")
        assert calls == [1, 3] and b.mempool.size == 0


def test_malformed_args_rejected_at_admission(led: Ledger) -> None:
    from contracts import encode_value

    k = keys()[0]
    not_a_list = Transaction.create(
        led.suite, k.priv, led.chain_id, 1, 5, "deployment", "resolve", encode_value(5), 10**6
    )
    junk = Transaction.create(
        led.suite, k.priv, led.chain_id, 2, 5, "deployment", "resolve", b"\xc1", 10**6
    )
    assert codes(led, [not_a_list, junk]) == [Code.MALFORMED, Code.MALFORMED]


def test_decode_block_reuses_pending_txs(tmp_path: Path) -> None:
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        txs = [tx(a, keys()[i], *RESOLVE) for i in range(3)]
        a.mempool.submit(txs)
        b.mempool.submit(txs[:2])
        raw = make_block(a).encode()
        blk = b.decode_block(raw)
        assert blk.txs[0] is b.mempool.get(txs[0].hash)
        assert blk.txs[2] is not b.mempool.get(txs[2].hash) and blk.txs[2] == txs[2]
        assert blk == Block.decode(raw, b.suite) and blk.hash == Block.decode(raw).hash
        b.mempool.remove([txs[0].hash])
        assert b.mempool.lookup_raw(txs[0].encode()) is None and b.mempool.size == 1


def test_each_sender_nonce_is_used_once(tmp_path: Path) -> None:
    """A rebuilt tx (same sender and nonce, other bytes) is a duplicate, pending or committed;
    a peer that only saw the rebuilt copy drops it when the original commits."""
    k, other = keys()[0], keys()[1]
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        first = tx(a, k, *RESOLVE, nonce=777)
        rebuilt = tx(a, k, "deployment", "resolve", ["x"], nonce=777)
        assert first.hash != rebuilt.hash
        assert codes(a, [first, rebuilt, tx(a, other, *RESOLVE, nonce=777)]) == [
            Code.OK,
            Code.DUPLICATE,
            Code.OK,
        ]
        assert codes(a, [rebuilt]) == [Code.DUPLICATE]
        assert codes(b, [rebuilt]) == [Code.OK]
        blk = make_block(a)
        a.commit_block(blk, b"c")
        b.commit_block(b.decode_block(blk.encode()), b"c")
        assert not b.mempool.has(rebuilt.hash) and b.mempool.size == 0
        adm = a.mempool.submit([rebuilt])[0]
        assert adm.code == Code.DUPLICATE and "nonce" in adm.message


def test_a_used_nonce_fails_at_execution(tmp_path: Path) -> None:
    """If a proposer still includes a tx whose nonce was used (a race or a faulty proposer),
    its receipt fails; the nonce is consumed by a failing tx too."""
    k = keys()[0]
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        failing = tx(a, k, "deployment", "deploy", [b"not code"], nonce=5)
        again = tx(a, k, *RESOLVE, nonce=5)
        (r,) = commit(a, [failing], b)
        assert not r.ok
        a.mempool._pool[again.hash] = again  # bypass admission, as a faulty proposer would
        blk = make_block(a)
        peer = b.decode_block(blk.encode())
        b.validate_block(peer)  # a valid block: the duplicate is the tx's failure
        (r2,) = a.commit_block(blk, b"c")
        assert b.commit_block(peer, b"c") == [r2]
        assert not r2.ok and r2.error == "DUPLICATE: nonce already used" and r2.gas_used == 0


def test_concurrent_submission_while_committing(tmp_path: Path) -> None:
    """Threads admit (and re-send) txs while blocks are built and committed: every accepted tx
    is committed exactly once and nothing raises."""
    import threading

    with open_ledger(tmp_path) as a:
        batches = [
            [tx(a, keys()[t], *RESOLVE, block_limit=500) for _ in range(40)] for t in range(3)
        ]
        errors: list[BaseException] = []
        accepted: set[bytes] = set()
        lock = threading.Lock()

        def client(txs: list[Transaction]) -> None:
            try:
                for i in range(0, len(txs), 5):
                    for _ in range(2):  # every batch twice: the second is all duplicates
                        adm = a.mempool.submit([t.encode() for t in txs[i : i + 5]])
                        with lock:
                            accepted.update(x.tx_hash for x in adm if x.accepted)
            except BaseException as e:  # noqa: BLE001  # reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        committed: list[bytes] = []
        while any(t.is_alive() for t in threads) or a.mempool.size:
            blk = make_block(a)
            a.commit_block(blk, b"c")
            committed += [t.hash for t in blk.txs]
        for t in threads:
            t.join()
        assert not errors
        assert len(committed) == len(set(committed)) == 120
        assert set(committed) == accepted == {t.hash for b in batches for t in b}


class Recorder:
    """A LedgerObserver that keeps what it was told."""

    def __init__(self) -> None:
        self.admitted_batches: list[list[Code]] = []
        self.verified: list[int] = []
        self.writes: list[float] = []

    def admitted(self, admissions: Sequence[Admission]) -> None:
        self.admitted_batches.append([a.code for a in admissions])

    def verified_batch(self, n: int, seconds: float) -> None:
        assert seconds >= 0
        self.verified.append(n)

    def block_written(self, seconds: float) -> None:
        self.writes.append(seconds)


def test_the_observer_hears_each_admission_and_verification_batch(tmp_path: Path) -> None:
    """Metrics come through the observer passed at construction (no patched methods)."""
    rec = Recorder()
    with open_ledger(tmp_path, genesis(), observer=rec) as led:
        ks = keys()
        good = [tx(led, ks[i], *RESOLVE) for i in range(3)]
        led.mempool.submit([t.encode() for t in good] + [b"junk"])
        led.mempool.submit([good[0].encode()])  # known: nothing to verify
    assert rec.admitted_batches == [
        [Code.OK, Code.OK, Code.OK, Code.MALFORMED],
        [Code.DUPLICATE],
    ]
    assert rec.verified == [3]


def test_the_observer_hears_each_blocks_storage_write(tmp_path: Path) -> None:
    """One write time per committed block, from the synced write itself (the node's
    chainnode_block_write_duration_seconds)."""
    rec = Recorder()
    with open_ledger(tmp_path, genesis(), observer=rec) as led:
        ks = keys()
        for i in range(2):
            commit(led, [tx(led, ks[i], *RESOLVE)])
        assert led.height == 2
    assert len(rec.writes) == 2 and all(0 < s < 60 for s in rec.writes)
