"""A snapshot anchor served by a real ledger (LevelDB, real SM2 certificates) across a
validator-set change: the joining side verifies it from genesis, installs the snapshot, follows
the chain, and its proof bundles of later records are the source's and verify offline, the
change below its checkpoint proven by the governance proofs it kept from the anchor."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import Genesis
from chainnode.model.types import Block
from chainnode.node.snapshot_sync import join, verify_anchor, verify_recent
from chainnode.node.snapshot_wire import (
    decode_anchor,
    decode_recent,
    encode_height,
    encode_recent_request,
    handlers,
    serve_anchor,
    serve_recent,
)
from chainnode.proofs.bundle import ProofError, build_bundle, verify_bundle
from consensus.certificate import encode_certificate, make_certificate
from consensus.messages import commit_signing_bytes
from crypto.sm2 import PrivateKey
from crypto.suite import get_suite
from p2p import Network, P2PConfig
from tests.chainnode.ledger.helpers import genesis, keys, make_block, tx

SM = get_suite("sm")
EVERY, LAG, C = 4, 2, 4
NEW, ADMIN, USER = keys()[8], keys()[4], keys()[9]
OLD = [k.priv for k in keys()[:3]]  # 3 of the 4 genesis validators
BOTH = [*OLD, NEW.priv]  # 4 of the 5 after the change


def _commit(led: Ledger, txs: list[Any], signers: list[bytes]) -> Block:
    adm = led.mempool.submit(txs)
    assert all(a.accepted for a in adm), adm
    block = make_block(led)
    msg = commit_signing_bytes(led.chain_id.encode(), block.height, 0, block.hash)
    sigs = [(SM.public_key(p), SM.sign(p, msg)) for p in signers]
    led.commit_block(block, encode_certificate(make_certificate(block.height, 0, block.hash, sigs)))
    return block


def _follow(led: Ledger, blocks: list[Block], source: Ledger) -> None:
    for b in blocks:
        if b.height > led.height:
            peer = led.decode_block(b.encode())
            led.validate_block(peer)
            cert = source.certificate(b.height)
            assert cert is not None
            led.commit_block(peer, cert)


def test_a_node_joined_above_a_validator_change_serves_proofs_that_verify(
    tmp_path: Path,
) -> None:
    base = genesis(std=True)
    g: Genesis = dataclasses.replace(base, consensus=base.consensus.with_snapshots(EVERY, LAG))
    with Ledger.open(tmp_path / "src", g) as src:
        blocks = [_commit(src, [tx(src, USER, "records", "put", ["a", 1])], OLD)]
        change = tx(
            src,
            ADMIN,
            "governance",
            "add_validator",
            [NEW.pub, "node4", "10.0.0.5:1", "10.0.0.5:2"],
        )
        blocks.append(_commit(src, [change], OLD))  # block 2: 5 validators from block 3
        while src.height < 9:
            blocks.append(
                _commit(src, [tx(src, USER, "records", "put", [f"r{src.height}", 1])], BOTH)
            )
        assert len(src.validators_at(3)) == 5 and C in src.available_snapshots()

        anchor = decode_anchor(serve_anchor(src, encode_height(C), LAG))
        v = verify_anchor(g, C, anchor)
        assert len(v.governance) == 1 and v.header == src.header(C)
        # without the change's proof, the certificates (4 of the 5) are not a quorum of the 4
        with pytest.raises(ProofError, match="is not a validator"):
            verify_anchor(g, C, dataclasses.replace(anchor, governance=()))

        m = src.snapshot_manifest(C)
        assert m is not None
        chunks = [src.snapshot_chunk(C, i) or b"" for i in range(len(m.chunk_hashes))]
        kept = json.dumps([i.to_json() for i in v.governance]).encode()
        Ledger.install_snapshot(tmp_path / "joined", g, v.header, v.certificate, m, chunks, kept)
        Ledger.install_snapshot(tmp_path / "bare", g, v.header, v.certificate, m, chunks)
        record = blocks[-1].txs[0].hash
        with Ledger.open(tmp_path / "joined", g) as joined:
            assert joined.block(2) is None and joined.is_pruned(2)
            _follow(joined, blocks, src)
            bundle = build_bundle(joined, record)
            assert bundle is not None and bundle == build_bundle(src, record)
            proven = verify_bundle(bundle.dumps(), g)
            assert proven.record.tx.hash == record and len(proven.changes) == 1
        with Ledger.open(tmp_path / "bare", g) as bare:  # what the kept proofs are for
            _follow(bare, blocks, src)
            with pytest.raises(ProofError, match="block 2 .* is missing"):
                build_bundle(bare, record)


class _Rotated:
    """A real ledger whose list also names a checkpoint it no longer has (dropped by
    snapshot_keep between a joiner's list and its fetch): asked for it, it has nothing."""

    def __init__(self, led: Ledger, extra: int) -> None:
        self._led = led
        self._extra = extra

    def available_snapshots(self) -> list[int]:
        return [*self._led.available_snapshots(), self._extra]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._led, name)


async def test_a_joiner_falls_back_to_an_older_checkpoint_no_peer_can_prove(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = genesis(std=True)
    g = dataclasses.replace(base, consensus=base.consensus.with_snapshots(EVERY, LAG))
    with Ledger.open(tmp_path / "src", g) as src:
        while src.height < 2 * EVERY + LAG:  # 4 and 8 carried
            _commit(src, [tx(src, USER, "records", "put", [f"r{src.height}", 1])], OLD)
        assert src.available_snapshots() == [4, 8]
        joiner_key = PrivateKey.generate()
        servers = []
        for k in keys()[:2]:  # two genesis validators (f + 1 of 4) serve it
            net = Network(
                P2PConfig(g.chain_id.encode(), PrivateKey.from_bytes(k.priv), "127.0.0.1",
                          allowed={joiner_key.public_key().to_bytes()})
            )  # fmt: skip
            for kind, handler in handlers(_Rotated(src, 12), LAG).items():  # type: ignore[arg-type]
                net.on_request(kind, handler)
            await net.start()
            servers.append(net)
        joiner = Network(
            P2PConfig(g.chain_id.encode(), joiner_key, "127.0.0.1",
                      peers=[(s.peer_id, "127.0.0.1", s.port) for s in servers])
        )  # fmt: skip
        try:
            caplog.set_level(logging.INFO, "chainnode.snapshot")
            assert await join(joiner, tmp_path / "joined", g, timeout=30) == 8
        finally:
            for s in servers:
                await s.stop()
        assert "no peer gave a valid proof of checkpoint 12" in caplog.text
        assert "trying an older checkpoint" in caplog.text
        assert "Byzantine" not in caplog.text  # having nothing is no lie
    with Ledger.open(tmp_path / "joined", g) as joined:
        assert joined.height == 8 and joined.available_snapshots() == [8]


def test_recent_tx_hashes_are_checked_down_the_headers_and_indexed_as_committed(
    tmp_path: Path,
) -> None:
    """The joiner learns the txs of the blocks up to its checkpoint (served as header + tx
    hashes, checked by hash links down from block c and each tx root) and knows them as
    committed: one proposed again is a DUPLICATE on it as on every other node."""
    base = genesis(std=True)
    g: Genesis = dataclasses.replace(base, consensus=base.consensus.with_snapshots(EVERY, LAG))
    with Ledger.open(tmp_path / "src", g) as src:
        blocks = []
        while src.height < C + LAG:
            blocks.append(
                _commit(src, [tx(src, USER, "records", "put", [f"r{src.height}", 1])], OLD)
            )
        top = src.header(C)
        assert top is not None
        want = SM.hash(top.encode())
        sent = decode_recent(serve_recent(src, encode_recent_request(C, 64)))
        got, below = verify_recent(SM.hash, want, C, sent)
        assert [h for h, _ in got] == list(range(C, 0, -1))
        assert got == [(b.height, [t.hash for t in b.txs]) for b in reversed(blocks[:C])]
        assert below == src.header(1).prev_hash  # type: ignore[union-attr]
        # a hash swapped, a block left out, a header of another chain: each refused
        forged = [(raw, list(hs)) for raw, hs in sent]
        forged[1][1][0] = bytes(32)
        with pytest.raises(ProofError, match="tx root"):
            verify_recent(SM.hash, want, C, forged)
        with pytest.raises(ProofError, match="does not link"):
            verify_recent(SM.hash, want, C, [sent[0], *sent[2:]])
        with pytest.raises(ProofError, match="does not link"):
            verify_recent(SM.hash, bytes(32), C, sent)

        v = verify_anchor(g, C, decode_anchor(serve_anchor(src, encode_height(C), LAG)))
        m = src.snapshot_manifest(C)
        assert m is not None
        chunks = [src.snapshot_chunk(C, i) or b"" for i in range(len(m.chunk_hashes))]
        Ledger.install_snapshot(
            tmp_path / "joined", g, v.header, v.certificate, m, chunks, b"[]", got
        )
        Ledger.install_snapshot(tmp_path / "bare", g, v.header, v.certificate, m, chunks)
        old = blocks[C - 1].txs[0].hash
        with Ledger.open(tmp_path / "joined", g) as joined:
            assert joined.is_committed(old) and joined.tx_pruned_at(old) == C
        with Ledger.open(tmp_path / "bare", g) as bare:  # what the recent hashes are for
            assert not bare.is_committed(old)
