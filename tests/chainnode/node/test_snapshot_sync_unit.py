"""The joining side's choices and refusals, in process: which checkpoint it picks, and the
clear errors when none can be had (real p2p networks on loopback, real data directories)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import ConsensusParams, Genesis
from chainnode.model.types import BlockHeader, StateCheckpoint
from chainnode.node.snapshot_sync import (
    InOrder,
    SnapshotSyncError,
    faults_needed,
    holds_chain,
    join,
    newest_offered,
    verify_anchor,
)
from chainnode.node.snapshot_wire import Anchor, decode_anchor, encode_anchor
from chainnode.proofs.bundle import ProofError
from consensus.certificate import encode_certificate, make_certificate
from consensus.messages import commit_signing_bytes
from crypto.sm2 import PrivateKey
from crypto.suite import get_suite
from p2p import Network
from tests.chainnode.ledger.helpers import genesis, keys
from tests.p2p.helpers import fast_config


def test_the_newest_checkpoint_offered_by_enough_peers_is_picked() -> None:
    offers = {b"a": [10, 20, 30], b"b": [10, 20], b"c": [20, 30, 40], b"d": []}
    assert newest_offered(offers, 1) == 40
    assert newest_offered(offers, 2) == 30  # 40: one peer only (maybe a liar)
    assert newest_offered(offers, 3) == 20
    assert newest_offered(offers, 4) is None
    assert newest_offered({b"a": [10, 10]}, 2) is None  # one peer repeating counts once


def test_f_plus_one_of_the_genesis_set() -> None:
    g = genesis()
    assert len(g.validators) == 4 and faults_needed(g) == 2
    assert faults_needed(dataclasses.replace(g, validators=g.validators[:1])) == 1


def test_a_data_directory_holds_a_chain_once_its_store_exists(tmp_path: Path) -> None:
    assert not holds_chain(tmp_path / "missing") and not holds_chain(tmp_path)
    (tmp_path / "node.log").write_bytes(b"")
    (tmp_path / "ledger.installing").mkdir()  # an install cut short: replaced by the next
    assert not holds_chain(tmp_path)
    Ledger.open(tmp_path, genesis()).close()
    assert holds_chain(tmp_path)


def _with_snapshots(g: Genesis, interval: int) -> Genesis:
    params = ConsensusParams(
        block_limit_window=g.consensus.block_limit_window,
        snapshot_interval=interval,
        snapshot_lag=2,
    )
    return dataclasses.replace(g, consensus=params)


def _net(g: Genesis) -> Network:
    # the genesis validators as peers, none of them running
    key = PrivateKey.generate()
    peers = [(v.public_key, "127.0.0.1", 1) for v in g.validators]
    return Network(fast_config(key, peers=peers))


async def test_a_chain_without_snapshots_is_refused_with_what_to_do(tmp_path: Path) -> None:
    g = _with_snapshots(genesis(), 0)
    with pytest.raises(SnapshotSyncError, match="snapshot_interval.*without --sync snapshot"):
        await join(_net(g), tmp_path / "data", g, timeout=5)
    assert not holds_chain(tmp_path / "data")


async def test_no_peer_offering_a_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    g = _with_snapshots(genesis(), 8)
    with pytest.raises(SnapshotSyncError) as e:
        await join(_net(g), tmp_path / "data", g, timeout=0.5)
    msg = str(e.value)
    assert "no snapshot offered by 2 peers" in msg and "0 connected" in msg
    assert "observers" in msg and "without --sync snapshot" in msg
    assert not holds_chain(tmp_path / "data")


# ---- the anchor: a checkpoint certified from genesis ------------------------------------------

SM = get_suite("sm")
LAG = 2
C = 8


def _cert(g: Genesis, header: BlockHeader, signers: list[bytes], view: int = 0) -> bytes:
    h = SM.hash(header.encode())
    msg = commit_signing_bytes(g.chain_id.encode(), header.height, view, h)
    return encode_certificate(
        make_certificate(
            header.height, view, h, [(SM.public_key(p), SM.sign(p, msg)) for p in signers]
        )
    )


def _headers(checkpoint: StateCheckpoint | None, count: int = LAG + 1) -> list[BlockHeader]:
    out: list[BlockHeader] = []
    prev = b"\x01" * 32
    for k in range(count):
        top = k == count - 1
        hd = BlockHeader(
            C + k, prev, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32, 1_700_000_000_000 + k,
            keys()[0].pub, 0, checkpoint if top else None,
        )  # fmt: skip
        out.append(hd)
        prev = SM.hash(hd.encode())
    return out


QUORUM = [k.priv for k in keys()[:3]]
CHECKPOINT = StateCheckpoint(C, b"\x05" * 32, 3, 9000)


def _anchor(g: Genesis, headers: list[BlockHeader], signers: list[bytes] = QUORUM) -> Anchor:
    return Anchor(
        tuple(h.encode() for h in headers),
        _cert(g, headers[0], signers),
        _cert(g, headers[-1], signers),
        (),
    )


def test_a_certified_anchor_gives_the_checkpoint_and_the_header_to_install() -> None:
    g = _with_snapshots(genesis(), C)
    headers = _headers(CHECKPOINT)
    anchor = _anchor(g, headers)
    v = verify_anchor(g, C, decode_anchor(encode_anchor(anchor)))
    assert v.checkpoint == CHECKPOINT
    assert v.header == headers[0] and v.certificate == anchor.certificate


def test_every_fault_of_an_anchor_is_refused() -> None:
    g = _with_snapshots(genesis(), C)
    good = _headers(CHECKPOINT)
    cases: dict[str, Anchor] = {
        "headers, expected": _anchor(g, _headers(CHECKPOINT, LAG)),
        "carries no checkpoint of height 8": _anchor(g, _headers(None)),
        "no checkpoint of height": _anchor(
            g, _headers(StateCheckpoint(C - 1, b"\x05" * 32, 3, 9000))
        ),
        "a quorum of the 4": _anchor(g, good, QUORUM[:2]),
        "is not a validator": _anchor(g, good, [keys()[9].priv, *QUORUM[:2]]),
    }
    # a header altered after signing: the top one (its certificate no longer signs it)...
    top = good[-1]
    altered = dataclasses.replace(top, checkpoint=StateCheckpoint(C, b"\x06" * 32, 3, 9000))
    a = _anchor(g, good)
    cases["the header was altered"] = dataclasses.replace(
        a, headers=(*a.headers[:-1], altered.encode())
    )
    # ...or one below it (the hash links break)
    low = dataclasses.replace(good[1], timestamp=good[1].timestamp + 1)
    cases["prev_hash does not link"] = dataclasses.replace(
        a, headers=(a.headers[0], low.encode(), a.headers[2])
    )
    cases["has height"] = dataclasses.replace(a, headers=(a.headers[1], a.headers[1], a.headers[2]))
    cases["certificate"] = dataclasses.replace(a, certificate=a.top_certificate)
    for reason, anchor in cases.items():
        with pytest.raises(ProofError, match=reason):
            verify_anchor(g, C, anchor)


def test_chunks_reach_the_installer_in_order_and_a_failed_fetch_stops_it() -> None:
    feed = InOrder(3)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(feed))
    reader.start()
    for i, data in ((2, b"c"), (0, b"a"), (1, b"b")):  # as the peers answer
        feed.put(i, data)
    reader.join(10)
    assert got == [b"a", b"b", b"c"]

    failing = InOrder(2)
    failing.put(0, b"a")
    it = iter(failing)
    assert next(it) == b"a"
    failing.fail(RuntimeError("no usable peer"))  # the installer waits for chunk 1: it stops
    with pytest.raises(SnapshotSyncError, match="the fetch stopped: no usable peer"):
        next(it)
