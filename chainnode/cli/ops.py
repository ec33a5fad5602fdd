"""CLI commands of the operations side: ``verify-proof`` and ``proof`` (fetch a bundle)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

MAX_BUNDLE_BYTES = 8 * 1024 * 1024


@click.command("verify-proof")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--genesis",
    "genesis_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The chain's genesis.json: the only thing trusted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what is proven as JSON.")
def verify_proof(bundle: Path, genesis_path: Path, as_json: bool) -> None:
    """Check a proof bundle offline against genesis; print what it proves.

    Exit status: 0 valid, 1 invalid (the reason is printed), 2 unreadable input.
    """
    from chainnode.model.codes import LedgerError
    from chainnode.model.genesis import Genesis
    from chainnode.proofs.bundle import ProofError, describe, summary, verify_bundle

    try:
        genesis = Genesis.load(genesis_path)
    except LedgerError as e:
        click.echo(f"error: genesis {genesis_path}: {e.message}", err=True)
        sys.exit(2)
    try:
        with bundle.open("rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as e:
        click.echo(f"error: cannot read {bundle}: {e.strerror}", err=True)
        sys.exit(2)
    try:
        proven = verify_bundle(data, genesis)
    except ProofError as e:
        if as_json:
            click.echo(json.dumps({"valid": False, "reason": str(e)}))
        click.echo(f"INVALID: {e}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(summary(proven, genesis.suite), indent=2))
    else:
        click.echo(describe(proven, genesis.suite))


@click.command("proof")
@click.argument("tx_hash")
@click.option("--node", envvar="CHAINNODE_NODE", default="http://127.0.0.1:8700", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write it here.")
def proof(tx_hash: str, node: str, out: Path | None) -> None:
    """Fetch the proof bundle of a committed transaction (GET /v1/proofs/{tx_hash})."""
    from chainnode.cli.connect import url_context

    url = f"{node.rstrip('/')}/v1/proofs/{tx_hash.lower().removeprefix('0x')}"
    try:
        with urllib.request.urlopen(url, timeout=30, context=url_context(url)) as resp:
            body = resp.read(MAX_BUNDLE_BYTES + 1)
    except urllib.error.HTTPError as e:
        click.echo(f"error: {url}: HTTP {e.code} {e.read(4096).decode(errors='replace')}", err=True)
        sys.exit(1)
    except (OSError, urllib.error.URLError) as e:
        click.echo(f"error: cannot reach {node}: {e}", err=True)
        sys.exit(1)
    if out is None:
        click.echo(body.decode(), nl=False)
    else:
        out.write_bytes(body)
        click.echo(f"wrote {out}")


@click.command("compose")
@click.option(
    "--dir",
    "out",
    default="devnet",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--hosts",
    default=None,
    help="Comma-separated address of each node's host (node0 first): one compose file per "
    "node, to run across hosts. Without it: one docker-compose.yml for a single host.",
)
@click.option("--image", default="chainnode:latest", show_default=True)
def compose(out: Path, hosts: str | None, image: str) -> None:
    """(Re)write the docker compose file(s) of a network directory."""
    from chainnode.deploy.compose import DeployError, write_compose
    from chainnode.node.config import ConfigError

    host_list = [h.strip() for h in hosts.split(",")] if hosts else None
    try:
        paths = write_compose(out, hosts=host_list, image=image)
    except (DeployError, ConfigError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    for p in paths:
        click.echo(f"wrote {p}")


@click.command("healthcheck")
@click.option(
    "--config",
    "config_path",
    envvar="CHAINNODE_CONFIG",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option("--timeout", default=3.0, show_default=True)
@click.option("--ready", is_flag=True, help="Ask /readyz (serving and caught up) instead.")
def healthcheck(config_path: Path, timeout: float, ready: bool) -> None:
    """Exit 0 when this node's /healthz (--ready: /readyz) answers (container and pod probes).
    Over TLS the node is asked on loopback without checking its certificate: it is ourselves."""
    import ssl

    from chainnode.node.config import ConfigError, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as e:
        click.echo(f"unhealthy: {e}", err=True)
        sys.exit(1)
    host = "127.0.0.1" if cfg.api_host in ("0.0.0.0", "::", "") else cfg.api_host
    url = f"{cfg.api_scheme}://{host}:{cfg.api_port}/{'readyz' if ready else 'healthz'}"
    context = None
    if cfg.api_scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # ourselves
            ok = resp.status == 200
    except (OSError, urllib.error.URLError) as e:
        click.echo(f"unhealthy: {url}: {e}", err=True)
        sys.exit(1)
    if not ok:
        sys.exit(1)
    click.echo("healthy")


def register(group: click.Group) -> None:
    group.add_command(verify_proof)
    group.add_command(proof)
    group.add_command(healthcheck)
    network = group.commands.get("network")
    if isinstance(network, click.Group):
        network.add_command(compose)
