"""Pruning on a real LevelDB ledger: bodies and receipts of old blocks go, headers,
certificates, hash indexes and validator-change blocks stay, and the chain goes on."""

from __future__ import annotations

from pathlib import Path

import msgpack

from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import ValidatorInfo
from chainnode.model.types import Block
from chainnode.node import blocksync
from tests.chainnode.ledger.helpers import commit, genesis, keys, open_ledger, tx


def build(led: Ledger, blocks: int) -> dict[int, list[bytes]]:
    """Blocks of 2 record txs each; block 5 also adds a validator. Tx hashes by height."""
    admin = keys()[4]
    out: dict[int, list[bytes]] = {}
    for b in range(blocks):
        txs = [tx(led, admin, "records", "put", [f"k{b}-{i}", i]) for i in range(2)]
        if led.height + 1 == 5:
            new = ValidatorInfo(keys()[8].pub, "node8", "127.0.0.1:1", "127.0.0.1:2")
            args = [new.public_key, new.node_id, new.p2p_addr, new.api_addr]
            txs.append(tx(led, admin, "governance", "add_validator", args))
        commit(led, txs)
        out[led.height] = [t.hash for t in txs]
    return out


def test_prune_keeps_headers_certificates_and_validator_changes(tmp_path: Path) -> None:
    led = open_ledger(tmp_path, genesis(std=True))
    try:
        hashes = build(led, 40)
        headers = {h: led.block(h).header for h in range(1, 41)}  # type: ignore[union-attr]
        assert len(led.validators_at(6)) == 5  # the change of block 5 applied

        pruned = led.prune(keep=16, max_heights=10)  # a pass does at most 10 heights
        assert pruned == 9 and led.prune_floor == 11  # 1..10 but block 5
        while led.prune(keep=16):
            pass
        assert led.prune_floor == 25  # heights 25..40: the last 16 keep their bodies
        assert led.prune(keep=16) == 0  # nothing more until the chain grows

        for h in range(1, 41):
            kept = h >= 25 or h == 5
            assert (led.block(h) is not None) == kept, h
            assert led.is_pruned(h) == (not kept), h
            assert led.header(h) == headers[h]  # headers are never pruned
            assert led.certificate(h) == b"cert-%d" % h
            for th in hashes[h]:
                assert (led.tx(th) is not None) == kept
                assert (led.receipt(th) is not None) == kept
                assert (led.tx_proof(th) is not None) == kept
                assert led.tx_pruned_at(th) == (None if kept else h)
                assert led.is_committed(th)  # duplicates are still refused
        assert led.height_of(headers[3].prev_hash) == 2

        # block sync serves what it has: nothing from a pruned height on
        def served(lo: int, hi: int) -> list[int]:
            items = msgpack.unpackb(blocksync.serve(led, blocksync.encode_request(lo, hi)))
            return [Block.decode_header(raw).height for raw, _ in items]

        assert served(1, 30) == []
        assert served(25, 30) == [25, 26, 27, 28, 29, 30]

        build(led, 2)  # the chain goes on
        assert led.height == 42
    finally:
        led.close()
    with Ledger.open(tmp_path, genesis(std=True)) as again:  # and reopens
        assert again.prune_floor == 25 and again.block(4) is None and again.height == 42
        assert again.header(4) == headers[4]


def test_prune_never_takes_the_head(tmp_path: Path) -> None:
    with open_ledger(tmp_path, genesis(std=True)) as led:
        build(led, 3)
        assert led.prune(keep=1) == 2  # blocks 1 and 2; the head (3) stays
        assert led.block(3) is not None and led.block(2) is None
