"""Who is blamed for a proposal that fails validation: the primary only when the block is
invalid; when this node fails (its storage, its memory, a bug) the check raises instead of
saying "invalid", so the replica reports no fault and starts no view change."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.types import Block
from chainnode.node.proposals import BlockCache, ProposalCheck
from consensus.types import Proposal
from storage import StorageError
from tests.chainnode.ledger.helpers import genesis, keys, make_block, open_ledger, tx


def _proposal(block: Block, payload: bytes | None = None) -> Proposal:
    return Proposal(
        block.height,
        block.header.prev_hash,
        block.hash,
        block.encode() if payload is None else payload,
    )


def _two_ledgers(tmp_path: Path) -> tuple[Ledger, Ledger, Block]:
    g = genesis(std=True)
    a, b = open_ledger(tmp_path / "a", g), open_ledger(tmp_path / "b", g)
    a.mempool.submit([tx(a, keys()[0], "records", "put", ["k", 1])])
    block = make_block(a)
    assert len(block.txs) == 1
    return a, b, block


def _check(ledger: Ledger) -> ProposalCheck:
    return ProposalCheck(ledger, BlockCache(), clock_ms=lambda: 1_700_000_000_000 + 10**9)


def test_a_valid_proposal_passes_and_an_invalid_one_is_the_primarys_fault(tmp_path: Path) -> None:
    a, b, block = _two_ledgers(tmp_path)
    with a, b:
        check = _check(b)
        assert check(_proposal(block)) is True
        bad_header = dataclasses.replace(block.header, state_root=b"\x01" * 32)
        forged = Block(bad_header, block.txs, hasher=b.suite.hash)
        assert check(_proposal(forged)) is False  # InvalidBlock: BAD_STATE_ROOT
        fresh = _check(b)  # (a check remembers blocks it validated, by digest)
        assert fresh(_proposal(block, payload=b"\x93garbage")) is False  # undecodable payload
        junk = Proposal(block.height, block.header.prev_hash, b"\x02" * 32, b"\xc1\xc1")
        assert check(junk) is False  # undecodable


def test_this_nodes_storage_failure_is_not_the_primarys_fault(tmp_path: Path) -> None:
    a, b, block = _two_ledgers(tmp_path)
    with a:
        b.close()  # a real storage failure: every read now raises StorageError
        with pytest.raises(StorageError):
            _check(b)(_proposal(block))


def test_running_out_of_memory_while_executing_is_not_the_primarys_fault(tmp_path: Path) -> None:
    a, b, block = _two_ledgers(tmp_path)
    with a, b:
        real = b.executor.execute_block

        def out_of_memory(*args: object, **kw: object) -> object:
            raise MemoryError

        b.executor.execute_block = out_of_memory  # type: ignore[method-assign]
        with pytest.raises(Exception) as e:
            _check(b)(_proposal(block))
        assert "EXECUTION_FAULT" in str(e.value)
        b.executor.execute_block = real  # type: ignore[method-assign]
        assert _check(b)(_proposal(block)) is True  # the same block, once this node can run it
