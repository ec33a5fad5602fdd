"""Gas limits of the chain (issue 16): `consensus.max_block_gas` and `max_tx_gas` in genesis.

A block's transactions may not need more gas than the block limit (a tx runs only if the gas
used before it plus its gas limit fits): the proposer stops filling there and validation
rejects a block over it; admission refuses a tx whose gas limit is above `max_tx_gas`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chainnode.ledger.executor import roots_of
from chainnode.model.codes import Code, GenesisError, InvalidBlock
from chainnode.model.genesis import (
    DEFAULT_MAX_BLOCK_GAS,
    DEFAULT_MAX_TX_GAS,
    ConsensusParams,
    Genesis,
    make_genesis,
)
from chainnode.model.types import Block
from tests.chainnode.ledger.helpers import (
    CHAIN,
    keys,
    make_block,
    open_ledger,
    tx,
    validators,
)

RESOLVE = ("deployment", "resolve", ["nothing"])  # a system call: 1,000 gas + its arguments


def _genesis(**gas: int) -> Genesis:
    return make_genesis(
        CHAIN,
        validators(),
        [keys()[4].pub],
        consensus=ConsensusParams(**gas),
        timestamp=1_700_000_000_000,
        contracts=(),
    )


def test_a_genesis_without_gas_limits_keeps_loading_with_its_old_hash(tmp_path: Path) -> None:
    new = _genesis()
    old_json: dict[str, Any] = new.to_json()
    del old_json["consensus"]["max_block_gas"], old_json["consensus"]["max_tx_gas"]
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(old_json))
    old = Genesis.load(path)
    assert old.consensus.max_block_gas is None and old.consensus.max_tx_gas is None
    assert (old.consensus.block_gas, old.consensus.tx_gas) == (
        DEFAULT_MAX_BLOCK_GAS,
        DEFAULT_MAX_TX_GAS,
    )
    # its encoding is the one before the fields existed: six consensus integers
    assert len(old.consensus.to_list()) == 6
    assert old.encode() != new.encode() and old.hash != new.hash
    old.save(tmp_path / "again.json")
    assert Genesis.load(tmp_path / "again.json").hash == old.hash


def test_gas_limits_feed_the_genesis_hash(tmp_path: Path) -> None:
    a = _genesis()
    assert (a.consensus.max_block_gas, a.consensus.max_tx_gas) == (
        DEFAULT_MAX_BLOCK_GAS,
        DEFAULT_MAX_TX_GAS,
    )  # network init pins them
    b = _genesis(max_block_gas=DEFAULT_MAX_BLOCK_GAS + 1)
    c = _genesis(max_tx_gas=DEFAULT_MAX_TX_GAS - 1)
    assert len({a.hash, b.hash, c.hash}) == 3
    a.save(tmp_path / "g.json")
    assert Genesis.load(tmp_path / "g.json").hash == a.hash


@pytest.mark.parametrize(
    "consensus",
    [
        {"max_block_gas": 100_000, "max_tx_gas": 100_001},
        {"max_block_gas": 5},
        {"max_tx_gas": "many"},
        {"max_block_gas": 10**10},
    ],
)
def test_bad_gas_limits_are_refused(consensus: dict[str, Any], tmp_path: Path) -> None:
    obj = _genesis().to_json()
    obj["consensus"] = {**obj["consensus"], **consensus}
    if "max_block_gas" not in consensus:
        del obj["consensus"]["max_block_gas"]
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(GenesisError):
        Genesis.load(path)


def test_admission_refuses_a_gas_limit_above_max_tx_gas(tmp_path: Path) -> None:
    g = _genesis(max_block_gas=100_000, max_tx_gas=50_000)
    with open_ledger(tmp_path / "a", g) as a:
        over = tx(a, keys()[0], *RESOLVE, gas_limit=50_001)
        ok = tx(a, keys()[1], *RESOLVE, gas_limit=50_000)
        rejected, accepted = a.mempool.submit([over, ok])
        assert not rejected.accepted and rejected.code == Code.GAS_LIMIT
        assert "max_tx_gas" in rejected.message
        assert accepted.accepted


def test_proposer_stops_at_the_block_gas_limit_and_validation_enforces_it(
    tmp_path: Path,
) -> None:
    g = _genesis(max_block_gas=10_000, max_tx_gas=5_000)
    ks = keys()
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        txs = [tx(a, ks[i], *RESOLVE, gas_limit=5_000) for i in range(6)]
        assert all(x.accepted for x in a.mempool.submit(txs))
        block = make_block(a)
        receipts_gas = [r.gas_used for r in a._cache[block.hash][1].receipts]
        # each fits while the gas used before it + 5,000 <= 10,000
        fits, used = 0, 0
        for gas in receipts_gas:
            assert used + 5_000 <= 10_000
            used += gas
            fits += 1
        assert fits == len(block.txs) < 6 and used + 5_000 > 10_000
        # a peer accepts the filled block; one tx more and it is over the limit
        b.validate_block(b.decode_block(block.encode()))
        over = Block(
            _with_txs(a, block, (*block.txs, txs[len(block.txs)])),
            (*block.txs, txs[len(block.txs)]),
            hasher=a.suite.hash,
        )
        with pytest.raises(InvalidBlock) as e:
            b.validate_block(b.decode_block(over.encode()))
        assert e.value.code == Code.GAS_LIMIT
        # the txs left out stay in the mempool and go into the next block
        a.commit_block(block, b"cert-1")
        rest = txs[len(block.txs) :]
        assert [t.hash for t in make_block(a).txs] == [t.hash for t in rest]


def test_a_block_with_a_tx_above_max_tx_gas_is_invalid(tmp_path: Path) -> None:
    g = _genesis(max_block_gas=100_000, max_tx_gas=5_000)
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        good = tx(a, keys()[0], *RESOLVE, gas_limit=5_000)
        a.mempool.submit([good])
        block = make_block(a)
        heavy = tx(a, keys()[1], *RESOLVE, gas_limit=5_001)  # never admitted anywhere
        forged = Block(_with_txs(a, block, (heavy,)), (heavy,), hasher=a.suite.hash)
        with pytest.raises(InvalidBlock) as e:
            b.validate_block(b.decode_block(forged.encode()))
        assert e.value.code == Code.GAS_LIMIT


def _with_txs(led: Any, blk: Block, txs: tuple[Any, ...]) -> Any:
    import dataclasses

    return dataclasses.replace(blk.header, tx_root=roots_of(led.suite.hash, [t.hash for t in txs]))


def test_a_block_translates_at_most_max_block_load_whatever_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainnode.ledger import executor
    from contracts import stdlib, vm
    from tests.chainnode.ledger.helpers import genesis

    ks = keys()
    cost = {name: vm.load_cost(stdlib.compiled(name)) for name in stdlib.NAMES}
    # room for evidence and records, not traceability as well
    monkeypatch.setattr(executor, "MAX_BLOCK_LOAD", cost["evidence"] + cost["records"])
    g = genesis(std=True)
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        txs = [
            tx(a, ks[0], "evidence", "register", ["ab" * 32, "contract", "x"]),
            tx(a, ks[1], "records", "put", ["k", 1]),
            tx(a, ks[2], "records", "put", ["k2", 2]),  # the same program: no more load
            tx(a, ks[3], "traceability", "create_batch", ["b1", "apples", "farm"]),
        ]
        assert all(x.accepted for x in a.mempool.submit(txs))
        block = make_block(a)
        assert [t.hash for t in block.txs] == [t.hash for t in txs[:3]]
        vm.clear_cache()  # a node with nothing loaded decides the same
        b.validate_block(b.decode_block(block.encode()))
        over = Block(_with_txs(a, block, tuple(txs)), tuple(txs), hasher=a.suite.hash)
        with pytest.raises(InvalidBlock) as e:
            b.validate_block(b.decode_block(over.encode()))
        assert e.value.code == Code.GAS_LIMIT and "translation" in e.value.message
