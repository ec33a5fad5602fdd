"""CLI commands for a node's data: ``backup`` (from the running node) and ``restore``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    from chainnode.model.genesis import Genesis
    from chainnode.proofs.archive import VerifiedArchive

_config = click.option(
    "--config",
    "config_path",
    required=True,
    envvar="CHAINNODE_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's config.toml.",
)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.command("backup")
@_config
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The archive to write (it appears only when complete).",
)
def backup(config_path: Path, out: Path) -> None:
    """Back up a running node's chain without stopping it (through its admin socket).

    The archive is one consistent moment of the node's store: every block with its
    certificate, transactions, receipts and state, and a manifest (chain id, height, head
    hash, state root, SM3 of each part). Exit status: 0 written, 1 failed (nothing written).
    """
    from chainnode.backup.archive import ArchiveError, write_backup
    from chainnode.node.admin import SOCKET_NAME, AdminError, fetch_backup
    from chainnode.node.config import ConfigError, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        _fail(str(e))
        return
    t0 = time.monotonic()
    try:
        manifest = write_backup(fetch_backup(cfg.data_dir / SOCKET_NAME), out)
    except (AdminError, ArchiveError) as e:
        _fail(str(e))
        return
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror or e}")
        return
    records = sum(p.records for p in manifest.parts)
    click.echo(
        f"backup of chain {manifest.chain_id} at height {manifest.height} "
        f"(head {manifest.head_hash[:16]}…, state root {manifest.state_root[:16]}…): "
        f"{records} records, {out.stat().st_size} bytes in {time.monotonic() - t0:.1f}s -> {out}"
    )


@click.command("restore")
@_config
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
def restore(config_path: Path, archive: Path) -> None:
    """Verify a backup against the node's genesis and install it in its (empty) data directory.

    Every block's certificate is checked against the validator set derived from genesis and
    every block is re-executed (its state root must match) before anything is written; a
    damaged or foreign archive is refused and the data directory is left as it was. Start the
    node afterwards: it catches up from its peers. Exit status: 0 restored, 1 refused.
    """
    from chainnode.backup.restore import RestoreError
    from chainnode.backup.restore import restore as do_restore
    from chainnode.model.codes import LedgerError
    from chainnode.model.genesis import Genesis
    from chainnode.node.config import ConfigError, load_config

    try:
        cfg = load_config(config_path)
        genesis = Genesis.load(cfg.genesis)
    except ConfigError as e:
        _fail(str(e))
        return
    except LedgerError as e:
        _fail(f"genesis: {e.message}")
        return
    try:
        done = do_restore(archive, cfg.data_dir, genesis, progress=click.echo)
    except RestoreError as e:
        _fail(f"restore refused: {e}; {cfg.data_dir} is unchanged")
        return
    click.echo(
        f"restored chain {genesis.chain_id} at height {done.height} (head {done.head_hash[:16]}…, "
        f"{done.records} records verified) into {cfg.data_dir} in {done.seconds:.1f}s"
    )


@click.group("archive")
def archive() -> None:
    """Block archives: export before pruning, verify offline, prove records from them."""


_genesis = click.option(
    "--genesis",
    "genesis_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's genesis.json: the only thing trusted.",
)


def _load_genesis(path: Path) -> Genesis:
    from chainnode.model.codes import LedgerError
    from chainnode.model.genesis import Genesis

    try:
        return Genesis.load(path)
    except LedgerError as e:
        _fail(f"genesis {path}: {e.message}", 2)


def _read_archive(path: Path, genesis: Genesis) -> VerifiedArchive:
    from chainnode.proofs.archive import verify_archive
    from chainnode.proofs.bundle import ProofError

    try:
        data = path.read_bytes()
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror}", 2)
    try:
        return verify_archive(data, genesis)
    except ProofError as e:
        _fail(f"INVALID: {e}")


@archive.command("export")
@_config
@click.option("--from", "first", required=True, type=click.IntRange(1), help="First height.")
@click.option("--to", "last", required=True, type=click.IntRange(1), help="Last height.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def archive_export(config_path: Path, first: int, last: int, out: Path) -> None:
    """Write blocks FROM..TO of a running node (with certificates, receipts and the proofs of
    the validator-set changes) to an archive, verified against genesis before it is written.
    Do it before those blocks are pruned."""
    from chainnode.node.admin import SOCKET_NAME, AdminError, fetch_archive
    from chainnode.node.config import ConfigError, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        _fail(str(e))
        return
    genesis = _load_genesis(cfg.genesis)
    try:
        data = fetch_archive(cfg.data_dir / SOCKET_NAME, first, last)
    except AdminError as e:
        _fail(str(e))
        return
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        tmp.write_bytes(data)
        v = _read_archive(tmp, genesis)
        tmp.replace(out)
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror}")
        return
    finally:
        tmp.unlink(missing_ok=True)
    txs = sum(len(b.txs) for b in v.blocks)
    click.echo(f"archive of blocks {first}..{last} ({txs} txs, {len(data)} bytes) -> {out}")


@archive.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_genesis
def archive_verify(file: Path, genesis_path: Path) -> None:
    """Check an archive offline against genesis: every block's certificate (validator sets
    derived from genesis), hash chain, tx and receipts roots, tx signatures.
    Exit status: 0 valid, 1 invalid, 2 unreadable input."""
    v = _read_archive(file, _load_genesis(genesis_path))
    a = v.archive
    txs = sum(len(b.txs) for b in v.blocks)
    click.echo(
        f"VALID: blocks {a.first}..{a.last} of chain {a.chain_id!r} ({txs} txs), every "
        f"certificate checked against the validator sets derived from genesis "
        f"({len(a.governance)} proven change(s))"
    )


@archive.command("proof")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("tx_hash")
@_genesis
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
def archive_proof(file: Path, tx_hash: str, genesis_path: Path, out: Path | None) -> None:
    """The proof bundle of a record held in an archive (check it with verify-proof)."""
    from chainnode.proofs.archive import bundle_from_archive

    raw = tx_hash.lower().removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdef" for c in raw):
        _fail("TX_HASH: 64 hex digits", 2)
    v = _read_archive(file, _load_genesis(genesis_path))
    bundle = bundle_from_archive(v, bytes.fromhex(raw))
    if bundle is None:
        _fail(f"transaction {raw} is not in {file} (blocks {v.archive.first}..{v.archive.last})")
        return
    if out is None:
        click.echo(bundle.dumps(), nl=False)
    else:
        out.write_text(bundle.dumps(), encoding="utf-8")
        click.echo(f"proof bundle of {raw} -> {out}")


def register(group: click.Group) -> None:
    group.add_command(backup)
    group.add_command(restore)
    group.add_command(archive)
