"""CLI commands of the consortium ceremony: ``org init``, ``genesis assemble``,
``org configure``, ``org admit`` (see ``chainnode.deploy.org``)."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import NoReturn

import click

from chainnode.invocation import command


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _password(path: Path | None) -> bytes | None:
    from chainnode.model.keys import KeyFileError, read_password_file

    if path is None:
        return None
    try:
        return read_password_file(path)
    except KeyFileError as e:
        _fail(str(e))


@click.group("org")
def org() -> None:
    """One organisation of a consortium: its keys, its public card, its node's config."""


@org.command("init")
@click.option("--name", required=True, help="The organisation's name (its node id on chain).")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Its directory."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Where its node listens.")
@click.option("--api-port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@click.option("--p2p-port", default=8800, show_default=True, type=click.IntRange(1, 65535))
@click.option("--suite", type=click.Choice(["sm", "ecdsa-p256"]), default="sm", show_default=True)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Seal both keys with this file's password (scrypt + SM4-GCM keystore).",
)
@click.option(
    "--tls",
    is_flag=True,
    help="Also make this organisation's CA and TLS certificates for its node's API (tls/).",
)
@click.option("--force", is_flag=True, help="Replace the keys of an existing directory.")
def org_init(  # noqa: PLR0913, PLR0917  # one parameter per click option
    name: str,
    out: Path,
    host: str,
    api_port: int,
    p2p_port: int,
    suite: str,
    password_file: Path | None,
    tls: bool,
    force: bool,
) -> None:
    """Make this organisation's node and admin keys (they never leave --out) and its public
    card, member.json, which is all the others need."""
    from chainnode.deploy.org import OrgError, init_org
    from chainnode.model.addresses import address_hex
    from crypto.suite import get_suite

    try:
        card = init_org(
            out,
            name,
            host=host,
            api_port=api_port,
            p2p_port=p2p_port,
            suite=suite,
            password=_password(password_file),
            force=force,
            tls=tls,
        )
    except OrgError as e:
        _fail(str(e))
    sealed = " (sealed with the password)" if password_file else ""
    click.echo(f"organisation {card.name} in {out}/:")
    click.echo(f"  node key     {out / 'node.pem'}{sealed}  (keep it on the node's host only)")
    click.echo(f"  admin key    {out / 'admin.pem'}{sealed}  (keep it with the admin only)")
    click.echo(f"  public card  {out / 'member.json'}  (send this to the other organisations)")
    click.echo(f"  node public key  {card.node_public_key.hex()}")
    for a in card.admin_public_keys:
        click.echo(f"  admin address    {address_hex(get_suite(suite).address(a))}")
    click.echo(f"  p2p {card.p2p_addr}   API {card.api_addr}")
    if tls:
        click.echo(
            f"  TLS          {out}/tls/: ca.pem (give it to clients), server.pem (the API's), "
            "client.pem + client-key.pem (for --cert/--client-key); move ca-key.pem offline"
        )


@org.command("configure")
@click.option(
    "--dir", "out", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--genesis",
    "genesis_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--observer",
    is_flag=True,
    help="Follow a chain that does not (yet) name this organisation, without signing.",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The password file of a sealed node key (its absolute path goes into the config).",
)
def org_configure(
    out: Path, genesis_path: Path, observer: bool, password_file: Path | None
) -> None:
    """Write --dir/config.toml for this organisation's node (a copy of the genesis goes to
    --dir/genesis.json); refuse a genesis that does not name this organisation's keys."""
    from chainnode.deploy.layout import GENESIS
    from chainnode.deploy.org import OrgError, configure_org
    from chainnode.model.genesis import Genesis

    target = out / GENESIS
    try:
        if not target.exists() or not target.samefile(genesis_path):
            # checked before the copy: a wrong genesis must not replace a right one
            configure_org(out, genesis_path, observer=observer, password_file=password_file)
            shutil.copyfile(genesis_path, target)
        cfg = configure_org(out, target, observer=observer, password_file=password_file)
    except OrgError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot copy {genesis_path} to {target}: {e.strerror}")
    genesis = Genesis.load(target)
    click.echo(f"wrote {out / 'config.toml'} (genesis {target}, hash {genesis.hash.hex()})")
    click.echo(
        f"  node {cfg.node_id}: API {cfg.api_host}:{cfg.api_port}, p2p {cfg.p2p_host}:{cfg.p2p_port}"
    )
    click.echo(f"  peers: the {len(genesis.validators)} validators of the chain")
    if cfg.api_tls_cert is not None:
        click.echo("  API over TLS; writes need a client certificate of this org's CA")
    if observer:
        click.echo("  observer: it follows the chain and signs once governance adds it")
    sealed = (out / "node.pem").read_bytes().lstrip().startswith(b"{")
    if sealed and password_file is None:
        click.echo(
            "  note: node.pem is sealed; give the node its password file "
            "(--password-file here, or CHAINNODE_NODE_KEY_PASSWORD_FILE)"
        )
    click.echo(
        f"start it with: {command('start', '--config', shlex.quote(str(out / 'config.toml')))}"
    )


@org.command("admit")
@click.option(
    "--dir", "out", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option(
    "--member",
    "card",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The public card (member.json) of the organisation about to join.",
)
def org_admit(out: Path, card: Path) -> None:
    """Let the node of the organisation on --member connect to this organisation's node as
    an observer (its key goes into --dir/config.toml's observers), so it syncs and verifies
    the chain before the vote that adds it (or a removed one's node go on following). A
    running node applies the list on SIGHUP, without a restart."""
    from chainnode.deploy.org import OrgError, admit_observer

    try:
        name, added = admit_observer(out, card)
    except OrgError as e:
        _fail(str(e))
    where = out / "config.toml"
    if not added:
        click.echo(f"{name}'s node is already admitted in {where}")
        return
    click.echo(f"admitted {name}'s node as an observer in {where}")
    click.echo("a running node applies it on SIGHUP (kill -HUP <its pid>), a starting one reads it")


@click.group("genesis")
def genesis_group() -> None:
    """The genesis of a consortium, from its members' public cards."""


@genesis_group.command("assemble")
@click.option("--chain-id", required=True)
@click.option(
    "--member",
    "members",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An organisation's member.json (repeat, in the order the validators are to have).",
)
@click.option("--permissions", type=click.Choice(["open", "closed"]), default="open")
@click.option(
    "--admin-threshold",
    default="2/3",
    show_default=True,
    help="Fraction of the admins whose votes apply a governance change.",
)
@click.option(
    "--proposal-ttl",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000_000),
    help="Blocks an open governance proposal waits for votes before it expires.",
)
@click.option(
    "--timestamp",
    type=int,
    default=None,
    help="Genesis time in ms since 1970 [default: now]; the same value, cards and order "
    "give the same genesis wherever it is assembled.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def genesis_assemble(
    chain_id: str,
    members: tuple[Path, ...],
    permissions: str,
    admin_threshold: str,
    proposal_ttl: int,
    timestamp: int | None,
    out: Path,
) -> None:
    """Write genesis.json from the members' cards alone; print its SM3 hash for every
    organisation to compare out of band."""
    from chainnode.deploy.org import MemberCard, OrgError, assemble_genesis, parse_threshold

    try:
        cards = [MemberCard.load(p) for p in members]
        genesis = assemble_genesis(
            cards,
            chain_id,
            permissions=permissions,
            timestamp=int(time.time() * 1000) if timestamp is None else timestamp,
            admin_threshold=parse_threshold(admin_threshold),
            proposal_ttl_blocks=proposal_ttl,
        )
    except OrgError as e:
        _fail(str(e))
    genesis.save(out)
    hash_name = "SM3" if genesis.suite == "sm" else "SHA-256"
    click.echo(
        f"wrote {out}: chain {genesis.chain_id}, {len(cards)} validators, "
        f"{len(genesis.admins)} admins, permissions {genesis.permissions}"
    )
    for c in cards:
        click.echo(f"  {c.name}: p2p {c.p2p_addr}, API {c.api_addr}")
    click.echo(f"genesis hash ({hash_name}): {genesis.hash.hex()}")
    click.echo("compare this hash with every organisation before starting a node")


@click.group("deploy")
def deploy() -> None:
    """Run one organisation's configured node on Kubernetes or docker compose."""


@deploy.command("k8s")
@click.option(
    "--dir", "out", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--image", default="chainnode:latest", show_default=True)
@click.option("--namespace", default="default", show_default=True)
@click.option(
    "--peer-cidr",
    "peer_cidrs",
    multiple=True,
    help="Admit p2p from this CIDR too (peers known by host name, NAT, a changed address).",
)
def deploy_k8s(out: Path, image: str, namespace: str, peer_cidrs: tuple[str, ...]) -> None:
    """Write --dir/k8s.yaml: StatefulSet + PVC, Services, the key as a Secret, a NetworkPolicy
    admitting p2p from the consortium's validators only, probes on /healthz and /readyz."""
    from chainnode.deploy.org import OrgError
    from chainnode.deploy.orgdeploy import write_k8s

    try:
        path, named = write_k8s(out, image=image, namespace=namespace, peer_cidrs=list(peer_cidrs))
    except OrgError as e:
        _fail(str(e))
    click.echo(
        f"wrote {path} (0600: it holds the node key); apply it with: kubectl apply -f {path}"
    )
    if named:
        click.echo(
            f"note: the p2p NetworkPolicy cannot name {', '.join(named)} (a host name in "
            "genesis): pass their addresses with --peer-cidr"
        )


@deploy.command("compose")
@click.option(
    "--dir", "out", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--image", default="chainnode:latest", show_default=True)
def deploy_compose(out: Path, image: str) -> None:
    """Write --dir/docker-compose.yml (and container.toml) for this organisation's node."""
    from chainnode.deploy.org import OrgError
    from chainnode.deploy.orgdeploy import write_org_compose

    try:
        path = write_org_compose(out, image=image)
    except OrgError as e:
        _fail(str(e))
    click.echo(f"wrote {path}; start it with: docker compose -f {path} up -d")


def register(main: click.Group) -> None:
    main.add_command(org)
    main.add_command(genesis_group)
    main.add_command(deploy)
