"""CLI commands of membership by vote: ``validator add/remove``, ``admin add/remove``,
``permissions grant/revoke/mode`` and ``governance pending``.

A governance command is this admin's vote: it signs the change with ``--key``, waits for its
receipt and prints the proposal, the votes so far, the votes needed and, once the change
passed, the height from which it is in force. Identical changes are one proposal, so the other
admins run the same command with their own keys.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from chainnode.cli.connect import client
from chainnode.client.sdk import Account, ClientError
from chainnode.invocation import command
from chainnode.model.keys import KeyFileError, read_password_file

DEFAULT_NODE = "http://127.0.0.1:8700"


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _vote_options(f: Any) -> Any:
    """--node, --key, --password-file, --timeout, --json: what every vote takes."""
    for option in reversed(
        [
            click.option(
                "--node", envvar="CHAINNODE_NODE", default=DEFAULT_NODE, show_default=True
            ),
            click.option(
                "--key",
                "key_path",
                envvar="CHAINNODE_KEY",
                required=True,
                type=click.Path(dir_okay=False, path_type=Path),
                help="This admin's key file (the vote is signed with it).",
            ),
            click.option(
                "--password-file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="The password of a sealed key file.",
            ),
            click.option("--timeout", default=30.0, show_default=True),
            click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON."),
        ]
    ):
        f = option(f)
    return f


def _account(key_path: Path, password_file: Path | None) -> Account:
    try:
        password = read_password_file(password_file) if password_file else None
        return Account.load(key_path, password)
    except KeyFileError as e:
        _fail(str(e))


def _event(receipt: dict[str, Any], name: str) -> dict[str, Any] | None:
    for e in receipt.get("events") or []:
        if e.get("name") == name and isinstance(e.get("fields_value"), dict):
            return dict(e["fields_value"])
    return None


def describe_vote(receipt: dict[str, Any], height: int | None) -> str:
    """The vote's outcome as the admin reads it: proposal, votes, needed, activation."""
    voted = _event(receipt, "Voted") or {}
    votes, admins = voted.get("votes"), voted.get("admins")
    needed = voted.get("needed") or (-(-int(admins or 0) * 2 // 3) if admins else None)
    lines = [
        f"proposal    {str(voted.get('proposal', '?')).removeprefix('0x')}",
        f"action      {voted.get('action', '?')}",
        f"votes       {votes} of {needed} needed ({admins} admins)",
    ]
    if receipt.get("return_value_json") is True:
        active = "the next block" if height is None else f"height {height + 1}"
        lines.append(f"status      PASSED: in force from {active}")
    else:
        expiry = voted.get("expires_at")
        until = f" until height {expiry}" if expiry is not None else ""
        lines.append(f"status      open{until}: the other admins vote with the same command")
    return "\n".join(lines)


def _send_vote(
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
    contract: str,
    method: str,
    args: list[Any],
) -> None:
    acct = _account(key_path, password_file)
    with client(node, timeout=max(timeout, 10.0)) as c:
        try:
            txn = c.build(acct, contract, method, args, gas_limit=1_000_000)
            res = c.submit([txn], wait=timeout)
            receipt = (res.receipts or [None])[0]
            height = c.transaction(res.hashes[0])["height"] if receipt is not None else None
        except ClientError as e:
            _fail(str(e))
    if receipt is None:
        _fail(f"not committed within {timeout}s; look later: {command('tx', 'get', res.hashes[0])}")
    if as_json:
        click.echo(json.dumps({"hash": res.hashes[0], "height": height, "receipt": receipt}))
    else:
        click.echo(f"tx          {res.hashes[0]} (block {height})")
        if receipt.get("status") == "ok" and _event(receipt, "Voted") is not None:
            click.echo(describe_vote(receipt, height))
        elif receipt.get("status") == "ok":  # a chain without genesis governance parameters
            click.echo("status      APPLIED (on this chain one admin changes permissions)")
    if receipt.get("status") != "ok":
        _fail(f"the vote failed: {receipt.get('error')}")


def _card(path: Path) -> Any:
    from chainnode.deploy.org import MemberCard, OrgError

    try:
        return MemberCard.load(path)
    except OrgError as e:
        _fail(str(e))


def _public_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        _fail(f"--public-key {text!r} is not hex")
    if len(key) != 65 or key[0] != 4:
        _fail("--public-key: a 65-byte public key 04||x||y (130 hex digits)")
    return key


# -- validator -----------------------------------------------------------------------------------


@click.group()
def validator() -> None:
    """Vote to add or remove a validator (an organisation's node)."""


@validator.command("add")
@click.option(
    "--member",
    "card_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The joining organisation's member.json.",
)
@_vote_options
def validator_add(  # one parameter per click option
    card_path: Path,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """This admin's vote to add the organisation of --member as a validator."""
    card = _card(card_path)
    args = [card.node_public_key, card.name, card.p2p_addr, card.api_addr]
    _send_vote(node, key_path, password_file, timeout, as_json, "governance", "add_validator", args)


@validator.command("remove")
@click.option("--name", required=True, help="The validator's node id (organisation name).")
@_vote_options
def validator_remove(  # one parameter per click option
    name: str,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """This admin's vote to remove the validator named --name."""
    with client(node) as c:
        try:
            vals = c.validators()["validators"]
        except ClientError as e:
            _fail(str(e))
    found = [v for v in vals if v["node_id"] == name]
    if not found:
        names = ", ".join(v["node_id"] for v in vals)
        _fail(f"no validator named {name!r} (the validators: {names})")
    pub = bytes.fromhex(found[0]["public_key"].removeprefix("0x"))
    _send_vote(
        node, key_path, password_file, timeout, as_json, "governance", "remove_validator", [pub]
    )


# -- admin ---------------------------------------------------------------------------------------


def _admin_keys(card_path: Path | None, public_key: str | None) -> list[bytes]:
    if (card_path is None) == (public_key is None):
        _fail("give either --member (its admin keys) or --public-key")
    if public_key is not None:
        return [_public_key(public_key)]
    keys = list(_card(card_path).admin_public_keys)  # type: ignore[arg-type]  # not None here
    if not keys:
        _fail(f"{card_path} names no admin key")
    return keys


@click.group()
def admin() -> None:
    """Vote to add or remove an admin."""


def _admin_target(f: Any) -> Any:
    f = click.option("--public-key", help="The admin's public key (hex).")(f)
    return click.option(
        "--member",
        "card_path",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="An organisation's member.json: its admin keys.",
    )(f)


@admin.command("add")
@_admin_target
@_vote_options
def admin_add(  # one parameter per click option
    card_path: Path | None,
    public_key: str | None,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """This admin's vote to add an admin (each admin key of --member, one vote each)."""
    for key in _admin_keys(card_path, public_key):
        _send_vote(
            node, key_path, password_file, timeout, as_json, "governance", "add_admin", [key]
        )


@admin.command("remove")
@_admin_target
@_vote_options
def admin_remove(  # one parameter per click option
    card_path: Path | None,
    public_key: str | None,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """This admin's vote to remove an admin."""
    for key in _admin_keys(card_path, public_key):
        _send_vote(
            node, key_path, password_file, timeout, as_json, "governance", "remove_admin", [key]
        )


# -- permissions ---------------------------------------------------------------------------------


@click.group()
def permissions() -> None:
    """Vote to grant or revoke a role, or to set the permission mode."""


def _who(text: str) -> bytes:
    raw = text.removeprefix("0x").removeprefix("0X")
    try:
        who = bytes.fromhex(raw)
    except ValueError:
        _fail(f"--address {text!r} is not hex")
    if len(who) not in (20, 65):
        _fail("--address: a 20-byte address (0x + 40 hex digits) or a 65-byte public key")
    return who


ROLE = click.Choice(["writer", "deployer"])


@permissions.command("grant")
@click.option("--address", "who", required=True, help="0x address or public key (hex).")
@click.option("--role", required=True, type=ROLE)
@_vote_options
def permissions_grant(  # one parameter per click option
    who: str,
    role: str,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Grant a role (writer: send transactions in closed mode; deployer: deploy contracts)."""
    _send_vote(
        node, key_path, password_file, timeout, as_json, "permissions", "grant", [_who(who), role]
    )


@permissions.command("revoke")
@click.option("--address", "who", required=True, help="0x address or public key (hex).")
@click.option("--role", required=True, type=ROLE)
@_vote_options
def permissions_revoke(  # one parameter per click option
    who: str,
    role: str,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Revoke a role."""
    _send_vote(
        node, key_path, password_file, timeout, as_json, "permissions", "revoke", [_who(who), role]
    )


@permissions.command("mode")
@click.argument("mode", type=click.Choice(["open", "closed"]))
@_vote_options
def permissions_mode(  # one parameter per click option
    mode: str,
    node: str,
    key_path: Path,
    password_file: Path | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Set the permission mode (open: anyone may send; closed: granted addresses only)."""
    _send_vote(node, key_path, password_file, timeout, as_json, "permissions", "set_mode", [mode])


# -- governance pending --------------------------------------------------------------------------


@click.group()
def governance() -> None:
    """Open governance proposals."""


@governance.command("pending")
@click.option("--node", envvar="CHAINNODE_NODE", default=DEFAULT_NODE, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def governance_pending(node: str, as_json: bool) -> None:
    """The open proposals: what each changes, who voted, the votes needed, when it expires."""
    with client(node) as c:
        try:
            out = c.call("governance", "pending", [])
            height = c.status()["height"]
        except ClientError as e:
            _fail(str(e))
    if not out.get("ok"):
        _fail(f"the call failed: {out.get('error')}")
    rows = out.get("result") or []
    if as_json:
        click.echo(json.dumps({"height": height, "pending": rows}, indent=2))
        return
    if not rows:
        click.echo(f"no open proposal (height {height})")
        return
    for pid, method, args, voters, needed, expires in rows:
        click.echo(f"proposal {str(pid).removeprefix('0x')}")
        click.echo(f"  {method} {_args_text(method, args)}")
        click.echo(f"  votes {len(voters)} of {needed} needed; expires after height {expires}")
        for v in voters:
            click.echo(f"  voted: {str(v)[:18]}...")


def _args_text(method: str, args: list[Any]) -> str:
    if method == "add_validator" and len(args) == 4:
        return f"{args[1]} (node key {str(args[0])[:18]}..., p2p {args[2]}, API {args[3]})"
    return " ".join(str(a)[:20] + ("..." if len(str(a)) > 20 else "") for a in args)


def register(main: click.Group) -> None:
    for group in (validator, admin, permissions, governance):
        main.add_command(group)
