"""The ledger: two nodes agree block by block, invalid blocks are refused, reopen keeps all."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from chainnode.ledger.executor import roots_of
from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import CallError, Code, GenesisError, InvalidBlock, LedgerError
from chainnode.model.types import Block, Transaction
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import (
    CHAIN,
    commit,
    genesis,
    keys,
    make_block,
    open_ledger,
    tx,
    validators,
)

RESOLVE = ("deployment", "resolve", ["evidence"])


def test_genesis_block(tmp_path: Path) -> None:
    g = genesis()
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        assert a.height == 0 and a.head_hash == b.head_hash and a.state_root == b.state_root
        blk = a.block(0)
        assert blk is not None and blk.txs == () and blk.header.timestamp == g.timestamp
        assert a.chain_id == CHAIN and a.suite.name == "sm" and a.genesis == g
    with open_ledger(tmp_path / "c", genesis(permissions="closed")) as c:
        assert c.head_hash != a.head_hash


def test_two_ledgers_agree_block_by_block(tmp_path: Path) -> None:
    ks = keys()
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        seen: list[int] = []
        b.on_commit(lambda blk, rs: seen.append(blk.height))
        for i in range(4):
            txs = [tx(a, ks[j], *RESOLVE) for j in range(i + 1)]
            txs.append(tx(a, ks[4], "permissions", "grant", [ks[i].address, "writer"]))
            rs = commit(a, txs, b)
            assert len(rs) == len(txs) and all(r.ok for r in rs)
        assert seen == [1, 2, 3, 4]
        for h in range(5):
            ba, bb = a.block(h), b.block(h)
            assert ba is not None and bb is not None
            assert ba.hash == bb.hash and ba.header.state_root == bb.header.state_root
            assert a.block_bytes(h) == b.block_bytes(h)
        assert a.head_hash == b.head_hash and a.state_root == b.state_root
        assert a.certificate(3) == b"cert-3" == b.certificate(3)
        t = a.mempool  # committed txs left the pool on both
        assert t.size == 0 and b.mempool.size == 0


def test_proposer_executes_once_and_peer_revalidation_is_cached(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as a:
        a.mempool.submit([tx(a, keys()[0], *RESOLVE)])
        blk = make_block(a)
        calls = []
        real = a.executor.execute_block

        def spy(*x: Any) -> Any:
            calls.append(1)
            return real(*x)

        a.executor.execute_block = spy  # type: ignore[method-assign,assignment]
        a.validate_block(blk)
        a.validate_block(a.decode_block(blk.encode()))
        a.commit_block(blk, b"c")
        assert calls == []


def _forge(
    led: Ledger, blk: Block, txs: tuple[Transaction, ...] | None = None, **hdr: Any
) -> Block:
    h = blk.header
    if txs is not None:
        h = dataclasses.replace(h, tx_root=roots_of(led.suite.hash, [t.hash for t in txs]))
    h = dataclasses.replace(h, **hdr)
    return Block(h, blk.txs if txs is None else txs, hasher=led.suite.hash)


def test_invalid_blocks_are_refused_and_change_nothing(tmp_path: Path) -> None:
    ks = keys()
    g = genesis(max_block_txs=3, window=20)
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        commit(a, [tx(a, ks[0], *RESOLVE)], b)
        done = tx(a, ks[0], *RESOLVE)
        commit(a, [done], b)  # height 2
        good_txs = [tx(a, ks[1], *RESOLVE), tx(a, ks[2], *RESOLVE)]
        a.mempool.submit(good_txs)
        good = make_block(a)
        root, head = b.state_root, b.head_hash
        other = tx(a, ks[3], *RESOLVE)
        forged_sig = Transaction(
            other.chain_id,
            other.sender,
            other.nonce,
            other.block_limit,
            other.contract,
            other.method,
            other.args,
            other.gas_limit,
            good_txs[0].signature,
        )
        h = good.header
        cases = {
            Code.BAD_HEIGHT: _forge(a, good, height=4),
            Code.BAD_PARENT: _forge(a, good, prev_hash=b"\x07" * 32),
            Code.BAD_TIMESTAMP: _forge(a, good, timestamp=h.timestamp - 10_000),
            Code.BAD_PROPOSER: _forge(a, good, proposer=ks[9].pub),
            Code.TOO_MANY_TXS: _forge(a, good, (*good.txs, other, tx(a, ks[4], *RESOLVE))),
            Code.WRONG_CHAIN: _forge(a, good, (tx(a, ks[3], *RESOLVE, chain_id="x"),)),
            Code.EXPIRED: _forge(a, good, (tx(a, ks[3], *RESOLVE, block_limit=2),)),
            Code.FUTURE_BLOCK_LIMIT: _forge(a, good, (tx(a, ks[3], *RESOLVE, block_limit=24),)),
            Code.DUPLICATE: _forge(a, good, (other, other)),
            Code.BAD_TX_ROOT: _forge(a, good, tx_root=b"\x01" * 32),
            Code.BAD_SIGNATURE: _forge(a, good, (forged_sig,)),
            Code.BAD_RECEIPTS_ROOT: _forge(a, good, receipts_root=b"\x02" * 32),
            Code.BAD_STATE_ROOT: _forge(a, good, state_root=b"\x03" * 32),
        }
        cases_committed = _forge(a, good, (done,))
        for code, blk in cases.items():
            with pytest.raises(InvalidBlock) as e:
                b.validate_block(b.decode_block(blk.encode()))
            assert e.value.code == code, (code, e.value)
            with pytest.raises(InvalidBlock):
                b.commit_block(blk, b"c")
        with pytest.raises(InvalidBlock) as e:
            b.validate_block(cases_committed)
        assert e.value.code == Code.DUPLICATE
        assert b.height == 2 and b.state_root == root and b.head_hash == head
        b.validate_block(b.decode_block(good.encode()))
        b.commit_block(b.decode_block(good.encode()), b"c")
        a.commit_block(good, b"c")
        assert a.head_hash == b.head_hash and a.state_root == b.state_root
        with pytest.raises(LedgerError):
            a.build_block(7, 0, validators()[0].public_key, 0)


def test_timestamp_never_goes_backwards_in_built_blocks(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as a:
        blk = a.build_block(1, 0, validators()[1].public_key, 5)
        assert blk.header.timestamp == a.head.timestamp and blk.header.view == 0
        a.commit_block(blk, b"")


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    ks = keys()
    g = genesis()
    with open_ledger(tmp_path, g) as a:
        t1 = tx(a, ks[0], *RESOLVE)
        t2 = tx(a, ks[4], "permissions", "grant", [ks[1].address, "deployer"])
        rs = commit(a, [t1, t2])
        commit(a)
        head, root, height = a.head_hash, a.state_root, a.height
        b1 = a.block(1)
    with open_ledger(tmp_path, g) as a:
        assert (a.head_hash, a.state_root, a.height) == (head, root, height)
        assert a.block(1) == b1 and a.block_by_hash(b1.hash) == b1  # type: ignore[union-attr]
        found = a.tx(t2.hash)
        assert found is not None and found[0] == t2 and found[1:] == (1, 1)
        assert a.receipt(t1.hash) == rs[0]
        assert a.certificate(1) == b"cert-1" and a.certificate(99) is None
        assert a.call_view("permissions", "roles", [ks[1].address]).return_value == ["deployer"]
        assert a.mempool.submit([t1])[0].code == Code.DUPLICATE
        commit(a, [tx(a, ks[0], *RESOLVE)])
        assert a.height == height + 1
    with pytest.raises(GenesisError):
        open_ledger(tmp_path, genesis(permissions="closed"))
    with pytest.raises(GenesisError):
        Ledger.open(tmp_path, dataclasses.replace(g, chain_id="another"))


def test_queries_and_call_view_errors(tmp_path: Path) -> None:
    with open_ledger(tmp_path) as a:
        assert a.block(5) is None and a.block_by_hash(b"\x00" * 32) is None
        assert a.tx(b"\x00" * 32) is None and a.receipt(b"\x00" * 32) is None
        assert a.state_get("nosuch", b"k") is None
        assert a.contract_address("governance") is not None
        assert a.contract_address("nosuch") is None
        cases: list[tuple[str, str, Any, Code]] = [
            ("nosuch", "x", [], Code.UNKNOWN_CONTRACT),
            ("governance", "nope", [], Code.UNKNOWN_METHOD),
            ("governance", "add_admin", [keys()[0].pub], Code.NOT_VIEW),
            ("governance", "admins", [1.5], Code.MALFORMED),
            ("governance", "admins", b"\xc1", Code.MALFORMED),
        ]
        for contract, method, args, code in cases:
            with pytest.raises(CallError) as e:
                a.call_view(contract, method, args)
            assert e.value.code == code
        for kw in [{"caller": b"\x01" * 5}, {"caller": b"\x02" * 65}, {"gas_limit": 0}]:
            with pytest.raises(CallError):
                a.call_view("governance", "admins", [], **kw)
        with pytest.raises(CallError):
            a.call_view("x" * 5000, "admins")
        # hostile query arguments: None, never a storage error
        assert a.block(-1) is None and a.block(2**64) is None and a.block_bytes(2**70) is None
        assert a.certificate(-5) is None and a.block_by_hash(b"\x00" * 100) is None
        assert a.tx(b"") is None and a.receipt(b"\x01" * 70) is None and a.tx_proof(b"") is None
        assert (
            a.state_get("x" * 5000, b"k") is None and a.state_get("governance", b"k" * 5000) is None
        )
        assert a.contract_address("Not A Name") is None
        with pytest.raises(CallError) as bad:  # checked against the interface before it runs
            a.call_view("governance", "admins", [1])
        assert bad.value.code == Code.INVALID_ARGS and bad.value.field == "args[0]"
        gov = a.contract_address("governance")
        assert gov is not None
        assert a.call_view(gov.hex(), "admins").return_value == [keys()[4].pub]


def test_ecdsa_chain(tmp_path: Path) -> None:
    g = genesis("ecdsa-p256")
    ks = keys("ecdsa-p256")
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        rs = commit(
            a,
            [
                tx(a, ks[0], *RESOLVE),
                tx(a, ks[4], "permissions", "grant", [ks[0].address, "writer"]),
            ],
            b,
        )
        assert all(r.ok for r in rs) and a.head_hash == b.head_hash
        sm_tx = tx(get_suite("sm"), keys()[0], *RESOLVE, block_limit=5)  # SM2 on a P-256 chain
        assert a.mempool.submit([sm_tx.encode()])[0].code == Code.WRONG_SUITE


def test_tx_and_receipt_merkle_proofs(tmp_path: Path) -> None:
    ks = keys()
    with open_ledger(tmp_path) as a:
        txs = [tx(a, ks[i % 4], *RESOLVE) for i in range(5)]
        commit(a, txs)
        for i, t in enumerate(txs):
            p = a.tx_proof(t.hash)
            assert p is not None and p.index == i and p.height == 1
            assert p.verify(a.suite.hash)
            assert p.block_hash == a.head_hash and p.header == a.head
            assert p.to_json()["tx_proof"]["leaf_count"] == 5
        p = a.tx_proof(txs[2].hash)
        assert p is not None
        forged = dataclasses.replace(p, tx_hash=txs[3].hash)
        assert not forged.verify(a.suite.hash)
        assert a.tx_proof(b"\x00" * 32) is None


def test_block_byte_limit_and_mempool_byte_bound(tmp_path: Path) -> None:
    from chainnode.model.genesis import ConsensusParams

    big = ["x" * 60_000]  # resolve(name: str): a str fits its interface
    g = dataclasses.replace(genesis(), consensus=ConsensusParams(max_block_bytes=200_000))
    sm = get_suite("sm")
    txs = [
        tx(sm, keys()[0], "deployment", "resolve", big, block_limit=5, nonce=1000 + i)
        for i in range(5)
    ]
    size = len(txs[0].encode())
    assert all(len(t.encode()) == size for t in txs)
    with Ledger.open(tmp_path, g, mempool_capacity=100, mempool_bytes=4 * size) as a:
        adm = a.mempool.submit(txs)
        assert [x.code for x in adm] == [Code.OK] * 4 + [Code.MEMPOOL_FULL]
        assert a.mempool.size_bytes == 4 * len(txs[0].encode())
        blk = make_block(a)
        assert len(blk.txs) == 3 and len(blk.encode()) <= 200_000
        a.commit_block(blk, b"")
        assert a.mempool.size == 1 and a.mempool.size_bytes == len(txs[0].encode())
        assert len(make_block(a).txs) == 1


def test_machine_faults_in_execution_are_not_receipts(tmp_path: Path) -> None:
    """A RecursionError/MemoryError may differ between nodes: never a failed receipt."""
    import contracts

    with open_ledger(tmp_path / "a", genesis(std=True)) as a:
        a.mempool.submit([tx(a, keys()[0], "records", "put", ["k", 1])])
        real = contracts.execute

        def boom(*args: Any, **kw: Any) -> Any:
            raise RecursionError("deep")

        contracts.execute = boom  # type: ignore[assignment]
        try:
            with pytest.raises(LedgerError) as e:
                make_block(a)
            assert e.value.code == Code.EXECUTION_FAULT
        finally:
            contracts.execute = real  # type: ignore[assignment]
        blk = make_block(a)
        assert a.commit_block(blk, b"c")[0].ok
