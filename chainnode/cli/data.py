"""CLI commands for a node's data: ``backup`` (from the running node) and ``restore``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

_config = click.option(
    "--config",
    "config_path",
    required=True,
    envvar="CHAINNODE_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's config.toml.",
)


def _fail(message: str, code: int = 1) -> None:
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


def register(group: click.Group) -> None:
    group.add_command(backup)
    group.add_command(restore)
