"""Pre-signing: real transactions, signed on several processes, cached by their parameters."""

from __future__ import annotations

from pathlib import Path

from bench.harness import presign, workloads


def params(**kw: object) -> presign.SignParams:
    base: dict[str, object] = {
        "workload": "evidence",
        "phase": "load",
        "count": 450,
        "chain_id": "bench-test",
        "block_limit": 1000,
    }
    base.update(kw)
    return presign.SignParams(**base)  # type: ignore[arg-type]


def test_presigned_txs_are_valid_and_cached(tmp_path: Path) -> None:
    from chainnode.model.types import Transaction
    from crypto.suite import get_suite

    suite = get_suite("sm")
    p = params()
    txs, cached = presign.presign(p, tmp_path, processes=2, progress=False)
    assert not cached and len(txs) == 450 and len(set(txs.hashes)) == 450
    for i in (0, 1, 199, 200, 449):  # both sides of a chunk boundary
        tx = Transaction.decode(txs.raws[i], suite)
        assert tx.hash == txs.hashes[i]
        assert tx.verify(suite)
        call = workloads.evidence_call(i, 0)
        assert (tx.contract, tx.method, tx.chain_id) == (call.contract, call.method, "bench-test")
        assert tx.decoded_args() == list(call.args)
        assert tx.nonce == i and tx.block_limit == 1000
        assert tx.sender == suite.public_key(presign.sender_key("sm", i % p.senders))

    again, cached = presign.presign(p, tmp_path, processes=2, progress=False)
    assert cached and again.hashes == txs.hashes and again.raws == txs.raws
    # Any parameter change is a different cache entry and different transactions.
    other, cached = presign.presign(params(block_limit=1100), tmp_path, processes=1, progress=False)
    assert not cached and set(other.hashes).isdisjoint(txs.hashes)


def test_a_damaged_cache_file_is_re_signed(tmp_path: Path) -> None:
    p = params(count=5)
    txs, _ = presign.presign(p, tmp_path, processes=1, progress=False)
    (tmp_path / f"{p.key()}.msgpack").write_bytes(b"\x93garbage")
    again, cached = presign.presign(p, tmp_path, processes=1, progress=False)
    assert not cached and again.hashes == txs.hashes


def test_setup_and_offsets_change_the_calls() -> None:
    p = params(phase="setup", workload="traceability", count=3)
    assert presign.call_for(p, 2) == workloads.traceability_setup_call(2, 0)
    q = params(call_offset=10, salt=7)
    assert presign.call_for(q, 0) == workloads.evidence_call(10, 7)
    assert workloads.evidence_call(10, 7) != workloads.evidence_call(10, 0)
    assert params().key() != params(nonce_base=1).key()
