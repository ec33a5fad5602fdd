"""State checkpoints on real LevelDB ledgers (issue 21): headers carry them, validators check
them, the files are what the state gives, a snapshot installs into an empty data dir and the
chain goes on from it, and every history of the same blocks gives the same bytes."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from chainnode.ledger.checkpoints import undo_key
from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import Code, InvalidBlock, LedgerError
from chainnode.model.encoding import unpack
from chainnode.model.genesis import Genesis
from chainnode.model.snapshot import (
    Manifest,
    SnapshotError,
    checkpoint_root,
    chunk_hash,
    chunks_of,
    verify_chunk,
)
from chainnode.model.types import Block, StateCheckpoint
from chainnode.proofs.bundle import build_bundle, verify_bundle
from consensus.certificate import encode_certificate, make_certificate
from consensus.messages import commit_signing_bytes
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import genesis, keys, make_block, tx
from tests.chainnode.node.cluster import wait_for

SM = get_suite("sm")
EVERY, LAG = 4, 2


@pytest.fixture(scope="module")
def g() -> Genesis:
    base = genesis(std=True)
    return dataclasses.replace(base, consensus=base.consensus.with_snapshots(EVERY, LAG))


def _cert(led: Ledger, block: Block) -> bytes:
    """A real commit certificate of 3 of the 4 genesis validators."""
    msg = commit_signing_bytes(led.chain_id.encode(), block.height, 0, block.hash)
    sigs = [(SM.public_key(k.priv), SM.sign(k.priv, msg)) for k in keys()[:3]]
    return encode_certificate(make_certificate(block.height, 0, block.hash, sigs))


def _txs(led: Ledger, height: int) -> list[Any]:
    k = keys()[9 + height % 3]
    return [tx(led, k, "records", "put", [f"doc-{height}-{i}", height * 10 + i]) for i in range(3)]


def _grow(led: Ledger, upto: int) -> list[Block]:
    """Build, certify and commit blocks up to `upto` on `led` (3 txs each); the blocks."""
    out = []
    while led.height < upto:
        adm = led.mempool.submit(_txs(led, led.height + 1))
        assert all(a.accepted for a in adm), adm
        block = make_block(led)
        led.commit_block(block, _cert(led, block))
        out.append(block)
    return out


def _follow(led: Ledger, blocks: list[Block], source: Ledger) -> None:
    """Validate and commit `blocks` (from `source`) on `led`, as a peer or block sync does."""
    for b in blocks:
        if b.height <= led.height:
            continue
        peer = led.decode_block(b.encode())
        led.validate_block(peer)
        cert = source.certificate(b.height)
        assert cert is not None
        led.commit_block(peer, cert)


def _state(led: Ledger) -> list[tuple[bytes, bytes]]:
    with led.snapshot() as snap:
        return list(snap.raw_items(b"s", b"t"))


def _expected_checkpoint(state: list[tuple[bytes, bytes]], height: int) -> StateCheckpoint:
    """The commitment from the spec, from a state read straight from LevelDB."""
    chunks = list(chunks_of([(k[1:], v) for k, v in state]))
    hashes = [chunk_hash(c) for c in chunks]
    return StateCheckpoint(height, checkpoint_root(hashes), len(chunks), len(state))


def _files(led_dir: Path, height: int) -> dict[str, bytes]:
    d = led_dir / "snapshots" / str(height)
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, g: Genesis) -> Iterator[dict[str, Any]]:
    """A source ledger at 10 with its blocks, and the state it had at 4 and 8."""
    d = tmp_path_factory.mktemp("src")
    src = Ledger.open(d, g)
    states = {}
    blocks: list[Block] = []
    try:
        for c in (4, 8, 10):
            blocks += _grow(src, c)
            states[c] = _state(src)
        yield {"src": src, "dir": d, "blocks": blocks, "states": states}
    finally:
        src.close()


def test_headers_carry_the_checkpoint_of_the_state(chain: dict[str, Any]) -> None:
    src, blocks, states = chain["src"], chain["blocks"], chain["states"]
    carrying = {b.height: b.header.checkpoint for b in blocks if b.header.checkpoint}
    assert set(carrying) == {6, 10}
    assert carrying[6] == _expected_checkpoint(states[4], 4)
    assert carrying[10] == _expected_checkpoint(states[8], 8)
    assert carrying[6] is not None and carrying[6].entries > 20  # the whole state, sys.* too
    assert src.available_snapshots() == [4, 8]
    m = src.snapshot_manifest(4)
    assert m is not None and m.checkpoint == carrying[6]
    pairs = []
    for i in range(len(m.chunk_hashes)):
        data = src.snapshot_chunk(4, i)
        assert data is not None
        pairs += verify_chunk(m, i, data)
    assert pairs == [(k[1:], v) for k, v in states[4]]
    assert src.snapshot_chunk(4, len(m.chunk_hashes)) is None
    assert src.snapshot_manifest(5) is None and src.snapshot_chunk(6, 0) is None


def test_a_peer_checks_the_checkpoint_and_refuses_a_wrong_one(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    src, blocks = chain["src"], chain["blocks"]
    with Ledger.open(tmp_path, g) as peer:
        _follow(peer, blocks[:5], src)  # up to 5: the next header carries checkpoint 4
        good = blocks[5]
        hd = good.header
        assert hd.checkpoint is not None
        forged = {
            "wrong root": dataclasses.replace(hd.checkpoint, root=bytes(32)),
            "wrong entries": dataclasses.replace(hd.checkpoint, entries=hd.checkpoint.entries + 1),
            "wrong height": dataclasses.replace(hd.checkpoint, height=3),
            "missing": None,
        }
        for what, cp in forged.items():
            bad = Block(dataclasses.replace(hd, checkpoint=cp), good.txs, hasher=SM.hash)
            with pytest.raises(InvalidBlock) as e:
                peer.validate_block(bad)
            assert e.value.code == Code.BAD_CHECKPOINT, what
        peer.validate_block(peer.decode_block(good.encode()))
        _follow(peer, blocks[5:7], src)  # at 7: block 8 carries none
        nxt = blocks[7]
        extra = dataclasses.replace(nxt.header, checkpoint=hd.checkpoint)
        with pytest.raises(InvalidBlock) as e:
            peer.validate_block(Block(extra, nxt.txs, hasher=SM.hash))
        assert e.value.code == Code.BAD_CHECKPOINT


def test_install_a_snapshot_into_an_empty_dir_and_follow_the_chain(
    chain: dict[str, Any], g: Genesis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src, blocks, states = chain["src"], chain["blocks"], chain["states"]
    m = src.snapshot_manifest(4)
    assert m is not None
    header4 = src.header(4)
    cert4 = src.certificate(4)
    assert header4 is not None and cert4 is not None
    chunks = [src.snapshot_chunk(4, i) or b"" for i in range(len(m.chunk_hashes))]
    n = Ledger.install_snapshot(tmp_path, g, header4, cert4, m, chunks)
    assert n == m.entries
    assert _files(tmp_path, 4) == _files(chain["dir"], 4)  # kept as this node's own
    caplog.set_level(logging.INFO, "chainnode.ledger.checkpoints")
    with Ledger.open(tmp_path, g) as joined:
        assert "recomputing" not in caplog.text
        assert joined.height == 4 and joined.head == header4
        assert joined.head_hash == blocks[3].hash and joined.certificate(4) == cert4
        assert _state(joined) == states[4]  # key by key, the source's state at 4
        assert joined.is_pruned(2) and joined.is_pruned(4) and joined.block(2) is None
        assert joined.validators_at(5) == src.validators_at(5)
        _follow(joined, blocks[4:], src)  # 5..10, block 6 and 10 carrying checkpoints
        assert joined.height == 10 and joined.head_hash == src.head_hash
        for h in range(5, 11):
            j, s = joined.header(h), src.header(h)
            assert j is not None and s is not None and j.state_root == s.state_root
        assert _state(joined) == _state(src)
        # the joined node kept the installed checkpoint 4 as its files (no recomputation)
        # and serves 4 and 8 (computed as it followed) as well
        assert joined.available_snapshots() == [4, 8]
    assert _files(tmp_path, 4) == _files(chain["dir"], 4)
    assert _files(tmp_path, 8) == _files(chain["dir"], 8)
    with pytest.raises(LedgerError):  # not into a data dir that has a chain
        Ledger.install_snapshot(tmp_path, g, header4, cert4, m, chunks)


def test_install_refuses_a_bad_chunk_and_leaves_nothing(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    src = chain["src"]
    m = src.snapshot_manifest(8)
    header8, cert8 = src.header(8), src.certificate(8)
    assert m is not None and header8 is not None and cert8 is not None
    chunks = [src.snapshot_chunk(8, i) or b"" for i in range(len(m.chunk_hashes))]
    chunks[-1] = chunks[-1][:-1] + bytes([chunks[-1][-1] ^ 1])
    with pytest.raises(SnapshotError, match="hash"):
        Ledger.install_snapshot(tmp_path, g, header8, cert8, m, chunks)
    with pytest.raises(SnapshotError, match="chunks"):
        Ledger.install_snapshot(tmp_path, g, header8, cert8, m, chunks[:-1])
    other = Manifest(4, m.root, m.chunk_hashes, m.entries)
    with pytest.raises(SnapshotError, match="manifest of height 4"):
        Ledger.install_snapshot(tmp_path, g, header8, cert8, other, chunks)
    assert list(tmp_path.iterdir()) == []


def test_a_bundle_of_a_checkpoint_carrying_block_verifies(
    chain: dict[str, Any], g: Genesis
) -> None:
    src, blocks = chain["src"], chain["blocks"]
    for b in (blocks[5], blocks[4]):  # block 6 carries a checkpoint, block 5 none
        bundle = build_bundle(src, b.txs[0].hash)
        assert bundle is not None
        p = verify_bundle(bundle.dumps(), g)
        assert p.record.header == b.header


def test_every_history_of_the_same_blocks_gives_the_same_bytes(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    """A peer that validated every block first (warm cache), one restarted at every block and
    one that prunes as it goes: the same checkpoints and byte-identical files as the source."""
    src, blocks = chain["src"], chain["blocks"]
    warm, restarted, pruned = tmp_path / "warm", tmp_path / "restarted", tmp_path / "pruned"
    with Ledger.open(warm, g) as led:
        _follow(led, blocks, src)
    for b in blocks:
        with Ledger.open(restarted, g) as led:
            _follow(led, [b], src)
    with Ledger.open(pruned, g) as led:
        for b in blocks:
            _follow(led, [b], src)
            led.prune(keep=2)
        assert led.prune_floor > 4
    for d in (warm, restarted, pruned):
        for c in (4, 8):
            assert _files(d, c) == _files(chain["dir"], c), (d.name, c)


def test_a_restart_between_c_and_its_header_recomputes(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    src, blocks = chain["src"], chain["blocks"]
    with Ledger.open(tmp_path, g) as led:
        _follow(led, blocks[:4], src)
        led._checkpoints._jobs[4].result()
        # as if the computation were still running while block 5 commits (then a crash)
        led._checkpoints._jobs[4] = Future()
        _follow(led, blocks[4:5], src)
        assert led._store.get_meta(undo_key(5)) is not None
        assert led._store.get_meta(undo_key(4)) is None  # before the computation started
    shutil.rmtree(tmp_path / "snapshots" / "4")
    with Ledger.open(tmp_path, g) as led:
        assert led.height == 5
        assert led.checkpoint_of(6) == blocks[5].header.checkpoint  # from the store + undo
        assert led._store.get_meta(undo_key(5)) is None  # computed: the undo is dropped
        _follow(led, blocks[5:6], src)
    assert _files(tmp_path, 4) == _files(chain["dir"], 4)


def test_undo_records_from_a_blocks_reads_are_the_stores_values(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    """A block's undo record takes the values its writes replace from what its execution
    read (``BlockResult.base_reads``), the store only for keys written blind: the same bytes
    as looking every written key up in the store (the plain way), for new keys and for keys
    the block overwrites. Blocks executed while no computation runs keep no reads."""
    src, blocks = chain["src"], chain["blocks"]
    with Ledger.open(tmp_path, g) as led:
        _follow(led, blocks[:6], src)  # block 7 carries no checkpoint: nothing waits on 4
        led._checkpoints._jobs[4].result()
        k = keys()[9 + 5 % 3]  # who wrote block 5's records (_txs)
        again = [tx(led, k, "records", "put", [f"doc-5-{i}", -i]) for i in range(3)]
        assert all(a.accepted for a in led.mempool.submit(again + _txs(led, 7)))
        quiet = led._validate(make_block(led))
        assert quiet.writes and quiet.base_reads == {}  # no undo to record: reads not kept
        led._checkpoints._jobs[4] = Future()  # as if the computation of 4 were still running
        res = led._validate(make_block(led))
        assert res.writes == quiet.writes
        assert [r.error for r in res.receipts if r.error] == []
        plain = led._undo(res.writes, {})
        assert led._undo(res.writes, res.base_reads) == plain
        assert any(key in res.base_reads for key in res.writes)  # the reads were used
        old = dict(unpack(plain))
        assert sum(v is not None for v in old.values()) >= 3  # overwritten: doc-5-0..2
        assert sum(v is None for v in old.values()) >= 3  # new: nonces, doc-7-*


def test_a_slow_computation_makes_validation_wait_not_refuse(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    """Block 6 reaches a peer whose computation of checkpoint 4 has not finished: the node
    sees it pending (and awaits it off its loop); the ledger's validation waits for it and
    accepts, never refusing the proposal for this node's slowness."""
    src, blocks = chain["src"], chain["blocks"]
    with Ledger.open(tmp_path, g) as led:
        _follow(led, blocks[:5], src)
        done = led._checkpoints._jobs[4].result()
        slow: Future[Manifest | None] = Future()
        led._checkpoints._jobs[4] = slow  # as if the computation were still running
        assert led.checkpoint_pending(6) is slow and led.checkpoint_pending(7) is None
        result: list[BaseException | None] = []
        worker = threading.Thread(
            target=lambda: result.append(_validated(led, blocks[5])), daemon=True
        )
        worker.start()
        wait_for(lambda: _waits_on_a_future(worker), 30, "validation waiting for checkpoint 4")
        assert not result  # waiting, neither accepted nor refused
        slow.set_result(done)
        worker.join(30)
        assert result == [None]
        assert led.checkpoint_pending(6) is None


def _waits_on_a_future(t: threading.Thread) -> bool:
    """Whether thread `t` is inside concurrent.futures.Future.result (blocked on it)."""
    frame = sys._current_frames().get(t.ident or 0)
    while frame is not None:
        if frame.f_code.co_name == "result" and "concurrent" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def _validated(led: Ledger, block: Block) -> BaseException | None:
    try:
        led.validate_block(led.decode_block(block.encode()))
    except Exception as e:  # noqa: BLE001  # the test reports it
        return e
    return None


def test_a_block_archive_of_checkpoint_carrying_blocks_verifies(
    chain: dict[str, Any], g: Genesis
) -> None:
    from chainnode.proofs.archive import build_archive, verify_archive

    src, blocks = chain["src"], chain["blocks"]
    archive = build_archive(src, 5, 10)  # blocks 6 and 10 carry checkpoints
    verified = verify_archive(archive.encode(), g)
    assert verified is not None
    raw6 = archive.blocks[1][0]
    assert Block.decode(raw6).header.checkpoint == blocks[5].header.checkpoint


def test_a_backup_of_a_checkpointed_chain_restores_with_its_snapshots(
    chain: dict[str, Any], g: Genesis, tmp_path: Path
) -> None:
    """Restore replays every block (checkpoint-carrying headers checked against the replay's
    own computation) and keeps the replay's snapshot files: the same as the source's."""
    from chainnode.backup.archive import write_backup
    from chainnode.backup.restore import restore

    src = chain["src"]
    with src.snapshot() as snap:
        records = list(snap.raw_items())
    write_backup(iter(records), tmp_path / "backup.tar")
    restore(tmp_path / "backup.tar", tmp_path / "data", g)
    for c in (4, 8):
        assert _files(tmp_path / "data", c) == _files(chain["dir"], c)
    with Ledger.open(tmp_path / "data", g) as led:
        assert led.height == 10 and _state(led) == _state(src)
