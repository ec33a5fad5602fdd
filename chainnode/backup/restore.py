"""Restore a backup archive into an empty data directory, trusting nothing but genesis.

The state root in a header is a hash chain over each block's state writes (``state_root`` in
``chainnode/ledger/executor.py``: ``H(prev_root, height, sorted writes)``), not a commitment
to the whole state, so the state at height H can only be checked by executing blocks 1..H.
Restoring therefore replays the archive's blocks from genesis in a scratch directory beside
the data directory, and before writing anything into the data directory:

1. the archive opens and every part matches the manifest's SM3 (else: damaged);
2. its chain id and genesis hash are this node's (else: foreign);
3. each block's certificate is a quorum of the validator set at its height, that set derived
   from genesis by the governance changes executed so far (the proof verifier's check,
   ``chainnode.proofs.bundle.verify_block_certificate``); each block is validated and executed
   like a synced block, so its state root, tx root and receipts root must match;
4. the replayed store equals the archive record for record (state, txs, receipts, meta).

Only then is the replayed store moved into ``data_dir/ledger`` (one rename). Any refusal
removes the scratch directory and leaves the data directory as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chainnode.backup.archive import Archive, ArchiveError
from chainnode.ledger.checkpoints import undo_key
from chainnode.ledger.ledger import STORE_DIR, Ledger
from chainnode.ledger.snapfiles import SNAPSHOT_DIR
from chainnode.model.codes import LedgerError
from chainnode.model.genesis import Genesis
from chainnode.model.layout import cert_key
from chainnode.proofs.bundle import ProofError, verify_block_certificate
from storage import StorageError, Store
from storage import keys as K


class RestoreError(Exception):
    """The archive is refused (or cannot be installed); the data directory is unchanged."""


@dataclass(frozen=True, slots=True)
class Restored:
    height: int
    head_hash: str
    records: int
    seconds: float


Progress = Callable[[str], None]


def restore(
    archive_path: Path, data_dir: Path, genesis: Genesis, progress: Progress | None = None
) -> Restored:
    """Verify ``archive_path`` against ``genesis`` and install it as ``data_dir``'s chain."""
    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    try:
        archive = Archive(archive_path)
    except ArchiveError as e:
        raise RestoreError(str(e)) from None
    with archive:
        m = archive.manifest
        if m.chain_id != genesis.chain_id:
            raise RestoreError(
                f"{archive_path}: a backup of chain {m.chain_id!r}, this node's genesis is "
                f"{genesis.chain_id!r} (foreign archive)"
            )
        if m.genesis_hash != genesis.hash.hex():
            raise RestoreError(
                f"{archive_path}: a backup of another genesis of chain {m.chain_id!r} "
                "(foreign archive)"
            )
        try:
            archive.check()
        except ArchiveError as e:
            raise RestoreError(str(e)) from None
        say(f"archive intact: chain {m.chain_id}, height {m.height}")
        _check_target(data_dir)
        parent = data_dir.parent
        if not parent.is_dir():
            raise RestoreError(f"{parent} does not exist (the data directory's parent)")
        scratch = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=parent))
        try:
            records = _replay_and_compare(archive, scratch, genesis, say)
            _check_target(data_dir)
            data_dir.mkdir(exist_ok=True)
            os.rename(scratch / STORE_DIR, data_dir / STORE_DIR)
            if (scratch / SNAPSHOT_DIR).is_dir():  # the replay's state snapshots: served too
                os.rename(scratch / SNAPSHOT_DIR, data_dir / SNAPSHOT_DIR)
            _fsync_dir(data_dir)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return Restored(m.height, m.head_hash, records, time.monotonic() - t0)


def _check_target(data_dir: Path) -> None:
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreError(
            f"{data_dir} is not empty: restore writes only into an empty or absent data "
            "directory (stop the node and move the old one away first)"
        )


# long: the replay loop, one refusal per check, in chain order
def _replay_and_compare(archive: Archive, scratch: Path, genesis: Genesis, say: Progress) -> int:
    m = archive.manifest
    certs: dict[int, bytes] = {}
    prefix = K.P_META + b"cert/"
    for key, value in archive.records("meta"):
        if key == K.K_PRUNE_FLOOR:
            raise RestoreError(
                f"a backup of a node pruned below height {int.from_bytes(value, 'big')}: its "
                "state cannot be verified from genesis (back up an unpruned node)"
            )
        if key.startswith(prefix) and len(key) == len(prefix) + 8:
            certs[int.from_bytes(key[len(prefix) :], "big")] = value
    try:
        ledger = Ledger.open(scratch, genesis)
    except (LedgerError, StorageError) as e:
        raise RestoreError(f"cannot create the scratch chain in {scratch}: {e}") from None
    try:
        blocks = (
            (int.from_bytes(k[1:], "big"), v)
            for k, v in archive.records("blocks")
            if k[:1] == K.P_BLOCK
        )
        expect = 0
        last = time.monotonic()
        for height, raw in blocks:
            if height != expect:
                raise RestoreError(f"block {expect}: missing from the archive")
            expect += 1
            if height == 0:
                if raw != ledger.block_bytes(0):
                    raise RestoreError("block 0: not this genesis's block (foreign archive)")
                continue
            _apply(ledger, genesis, height, raw, certs.get(height))
            if time.monotonic() - last > 5:
                last = time.monotonic()
                say(f"verified blocks 1..{height} of {m.height}")
        if ledger.height != m.height or ledger.head_hash.hex() != m.head_hash:
            raise RestoreError(
                f"the archive's blocks end at height {ledger.height}, the manifest says "
                f"{m.height} (archive damaged)"
            )
        if ledger.state_root.hex() != m.state_root:
            raise RestoreError("manifest: its state root is not the head block's")
    finally:
        ledger.close()
    say(f"blocks 1..{m.height}: certificates and state roots verified")
    return _compare(archive, scratch / STORE_DIR, genesis)


def _apply(ledger: Ledger, genesis: Genesis, height: int, raw: bytes, cert: bytes | None) -> None:
    what = f"block {height}"
    if cert is None:
        raise RestoreError(f"{what}: no certificate in the archive")
    try:
        block = ledger.decode_block(raw)
    except LedgerError as e:
        raise RestoreError(f"{what}: does not decode ({e.message})") from None
    if block.height != height:
        raise RestoreError(f"{what}: the block inside says height {block.height}")
    try:
        verify_block_certificate(
            what, genesis.chain_id, block.header, block.hash, cert, ledger.validators_at(height)
        )
    except ProofError as e:
        raise RestoreError(str(e)) from None
    try:
        ledger.commit_block(block, cert)  # validates: parent, roots, signatures, execution
    except LedgerError as e:  # InvalidBlock included
        raise RestoreError(f"{what}: {e.code}: {e.message}") from None


def _compare(archive: Archive, store_dir: Path, genesis: Genesis) -> int:
    """The replayed store and the archive, record for record."""
    try:
        store = Store.open(str(store_dir), genesis.chain_id.encode(), create=False)
    except StorageError as e:
        raise RestoreError(f"cannot reopen the replayed chain: {e}") from None
    n = 0
    with store, store.snapshot() as snap:
        ours = _consensus(snap.raw_items())
        theirs = _consensus(archive.all_records())
        for mine, got in itertools.zip_longest(ours, theirs):
            if mine != got:
                key = (got or mine)[0]
                raise RestoreError(
                    f"the archive differs from the chain its blocks produce at key "
                    f"{_describe(key)} (archive damaged or forged)"
                )
            n += 1
    return n


def _consensus(records: Iterable[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """Records but the node-local ones: the undo of a state checkpoint computation
    (``undo_key``: present or not depending on how fast that node's computation was) and the
    store's layout version (a backup of a store made by an older release restores into this
    release's layout)."""
    undo = K.meta_key(undo_key(0)[:5])
    return ((k, v) for k, v in records if not k.startswith(undo) and k != K.K_VERSION)


def _describe(key: bytes) -> str:
    kinds = {
        K.P_STATE[0]: "state",
        K.P_TX[0]: "tx",
        K.P_RECEIPT[0]: "receipt",
        K.P_META[0]: "meta",
        K.P_META_INTERNAL[0]: "store meta",
    }
    if key.startswith(K.P_META + cert_key(0)[:5]):
        return f"certificate {int.from_bytes(key[6:], 'big')}"
    return f"{kinds.get(key[0], 'block index')} {key[:40].hex()}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
