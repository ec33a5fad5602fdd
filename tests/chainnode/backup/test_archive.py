"""Block archives from a real LevelDB ledger with real certificates and a validator-set change:
verified offline against genesis, proofs of their records equal to the node's own bundles,
and every alteration refused."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import Genesis, ValidatorInfo
from chainnode.proofs.archive import (
    BlockArchive,
    build_archive,
    bundle_from_archive,
    parse_archive,
    verify_archive,
)
from chainnode.proofs.bundle import ProofError, build_bundle, verify_bundle
from tests.chainnode.backup.test_restore import certify
from tests.chainnode.ledger.helpers import genesis, keys, make_block, tx

NEW = 8  # the validator added at block 3 (key index)


def signers(height: int) -> range | list[int]:
    return range(3) if height <= 3 else [0, 1, 2, NEW]  # 4 of 5 after the change


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Genesis, Ledger, dict[int, bytes]]:
    """6 blocks; block 3 adds a validator (so blocks 4.. are signed by the new set)."""
    g = genesis(std=True)
    led = Ledger.open(tmp_path_factory.mktemp("arch"), g)
    admin = keys()[4]
    first_tx: dict[int, bytes] = {}
    for b in range(6):
        txs = [tx(led, admin, "records", "put", [f"k{b}-{i}", i]) for i in range(3)]
        if led.height + 1 == 3:
            v = ValidatorInfo(keys()[NEW].pub, "node8", "127.0.0.1:1", "127.0.0.1:2")
            args = [v.public_key, v.node_id, v.p2p_addr, v.api_addr]
            txs.append(tx(led, admin, "governance", "add_validator", args))
        assert all(a.accepted for a in led.submit(txs))
        block = make_block(led)
        led.commit_block(block, certify(g, block.height, block.hash, signers(block.height)))
        first_tx[block.height] = txs[0].hash
    assert len(led.validators_at(4)) == 5
    yield g, led, first_tx
    led.close()


def test_an_archive_verifies_and_proves_its_records(
    chain: tuple[Genesis, Ledger, dict[int, bytes]],
) -> None:
    g, led, first_tx = chain
    data = build_archive(led, 2, 6).encode()
    v = verify_archive(data, g)
    assert [b.height for b in v.blocks] == [2, 3, 4, 5, 6]
    assert len(v.archive.governance) == 1
    for h in (2, 5):
        bundle = bundle_from_archive(v, first_tx[h])
        assert bundle is not None
        # the same bundle the node builds, and the offline verifier accepts it
        node_bundle = build_bundle(led, first_tx[h])
        assert node_bundle is not None and bundle.dumps() == node_bundle.dumps()
        assert verify_bundle(bundle.dumps(), g).record.header.height == h
    assert bundle_from_archive(v, first_tx[1]) is None  # block 1 is not in it


def _altered(a: BlockArchive, i: int, block: bytes | None = None, cert: bytes | None = None,
             receipt: bytes | None = None) -> BlockArchive:  # fmt: skip
    blocks = list(a.blocks)
    b, c, rs = blocks[i]
    if receipt is not None:
        rs = (receipt, *rs[1:])
    blocks[i] = (block if block is not None else b, cert if cert is not None else c, rs)
    return BlockArchive(a.chain_id, a.genesis_hash, a.first, a.last, a.governance, tuple(blocks))


def test_every_alteration_is_refused(chain: tuple[Genesis, Ledger, dict[int, bytes]]) -> None:
    g, led, _ = chain
    a = build_archive(led, 2, 6)
    bhash4 = led.block(4).hash  # type: ignore[union-attr]
    forged = certify(g, 4, bhash4, [0, 1, 3, NEW])
    r0 = a.blocks[1][2][0]
    cases = {
        "receipts root": _altered(a, 1, receipt=r0[:-1] + bytes([r0[-1] ^ 1])),
        "a quorum of the 5": _altered(a, 2, cert=certify(g, 4, bhash4, range(3))),  # 3 of 5
        "does not verify": _altered(a, 2, cert=forged[:-40] + bytes(40)),
        "the block inside says height 5": _altered(a, 1, block=a.blocks[3][0]),
    }
    for reason, bad in cases.items():
        with pytest.raises(ProofError, match=reason):
            verify_archive(bad.encode(), g)
    assert verify_archive(_altered(a, 2, cert=forged), g)  # any 4 of the 5 will do
    other = genesis(std=True, admins=2)
    with pytest.raises(ProofError, match="another genesis"):
        verify_archive(a, other)
    with pytest.raises(ProofError, match="not a chainnode archive"):
        parse_archive(b"\x93garbage")
    with pytest.raises(ProofError, match="malformed"):
        parse_archive(msgpack.packb(["chainnode-archive/1", "c", b"", 2, 1, [], []]))


def test_a_pruned_range_cannot_be_archived(tmp_path: Path) -> None:
    g = genesis(std=True)
    with Ledger.open(tmp_path, g) as led:
        admin = keys()[4]
        for b in range(3):
            assert all(
                a.accepted for a in led.submit([tx(led, admin, "records", "put", [f"k{b}", b])])
            )
            block = make_block(led)
            led.commit_block(block, certify(g, block.height, block.hash))
        led.prune(keep=1)
        with pytest.raises(ProofError, match="block 1 is not on this node"):
            build_archive(led, 1, 3)
        assert verify_archive(build_archive(led, 3, 3), g).blocks[0].height == 3
