"""The ``chainnode`` command line: keys, networks, a node, transactions and queries."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from chainnode.cli import show
from chainnode.cli.connect import client
from chainnode.client.sdk import Account, Client, ClientError
from chainnode.invocation import command, program
from chainnode.model.addresses import address_hex
from chainnode.model.keys import SUITES, KeyFileError

if TYPE_CHECKING:
    from chainnode.node.config import NodeConfig

DEFAULT_NODE = "http://127.0.0.1:8700"
node_option = click.option(
    "--node",
    envvar="CHAINNODE_NODE",
    default=DEFAULT_NODE,
    show_default=True,
    help="API URL of any node of the chain (env CHAINNODE_NODE).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the API's JSON (for programs)."
)
key_option = click.option(
    "--key",
    "key_path",
    envvar="CHAINNODE_KEY",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file (PEM) that signs the transaction (env CHAINNODE_KEY).",
)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _print(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=False))


ADDRESS_RE = re.compile(r"(0[xX])?([0-9a-fA-F]{40})")


def _contract_ref(ref: str) -> str:
    """A contract name as given; an address (with or without 0x, any case) in the on-chain
    form the node stores and signs: 40 lower-case hex digits."""
    m = ADDRESS_RE.fullmatch(ref.strip())
    return m.group(2).lower() if m else ref


def _address(v: Any) -> str | None:
    """An address as the CLI prints it: 0x + 40 lower-case hex digits."""
    if isinstance(v, str) and (m := ADDRESS_RE.fullmatch(v)):
        return "0x" + m.group(2).lower()
    return None


def _client_error(e: ClientError) -> NoReturn:
    hints = {
        "UNREACHABLE": "",
        "BAD_SIGNATURE": " (is the key file the one you meant?)",
        "WRONG_CHAIN": " (the node belongs to another chain: check --node)",
        "EXPIRED": " (the node is ahead of the tx's block limit: just send it again)",
        "NO_PERMISSION": " (ask an admin of the chain to grant your address a role)",
        "UNKNOWN_CONTRACT": f" (`{command('contract', 'list')}` lists them; or deploy it first)",
        "UNKNOWN_METHOD": f" (`{command('contract', 'show', 'NAME')}` lists its methods)",
        "NOT_FOUND": "",
    }
    _fail(f"{e}{hints.get(e.code, '')}")


def _vm_value(v: Any) -> Any:
    """JSON to VM values: ``{"hex": "ab12"}`` is bytes; lists and objects recursively."""
    if isinstance(v, dict):
        if set(v) == {"hex"} and isinstance(v["hex"], str):
            try:
                return bytes.fromhex(v["hex"].removeprefix("0x"))
            except ValueError:
                _fail(f"--args: {v['hex']!r} is not hex")
        return {k: _vm_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_vm_value(x) for x in v]
    if isinstance(v, float):
        _fail("--args: contracts take integers, not floats")
    return v


ARGS_EXAMPLE = """e.g. '["doc-1", 42]' (bytes: {"hex": "ab12"})"""


def _parse_args(raw: str) -> list[Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        _fail(f"--args is not JSON ({e}); write a JSON array, {ARGS_EXAMPLE}")
    if not isinstance(value, list):
        _fail(f"--args must be a JSON array, {ARGS_EXAMPLE}")
    return [_vm_value(x) for x in value]


def _load_account(path: Path) -> Account:
    try:
        return Account.load(path)
    except KeyFileError as e:
        _fail(str(e))


class _Main(click.Group):
    """The top group: its help shows the examples with the program as it was started
    (``.venv/bin/chainnode`` from ``make run`` is not on PATH)."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        saved = self.help
        self.help = (saved or "").replace("{prog}", program())
        try:
            super().format_help_text(ctx, formatter)
        finally:
            self.help = saved


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="chainnode")
@click.option(
    "--ca",
    envvar="CHAINNODE_CA",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA certificate that signed the node's TLS certificate (for --node https://…).",
)
@click.option(
    "--cert",
    envvar="CHAINNODE_CERT",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="This client's TLS certificate (a node may require one).",
)
@click.option(
    "--client-key",
    envvar="CHAINNODE_CLIENT_KEY",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The private key of --cert.",
)
def main(ca: Path | None, cert: Path | None, client_key: Path | None) -> None:
    """chainnode: a permissioned consortium blockchain node (SM2/SM3, PBFT, LevelDB).

    \b
    Start a local 4-validator network:   {prog} network up
    Send a transaction to it:            {prog} tx send --key devnet/admin.pem \\
                                           --contract evidence --method register \\
                                           --args '["<64 hex digest>", "contract", "title"]' --wait
    Read it back from any node:          {prog} contract query --contract evidence \\
                                           --method get --args '["<64 hex digest>"]'
    """
    from chainnode.cli.connect import TLS

    TLS.ca, TLS.cert, TLS.key = ca, cert, client_key


# -- keys ------------------------------------------------------------------------------------


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the key here.")
@click.option("--suite", type=click.Choice(SUITES), default="sm", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def keygen(out: Path | None, suite: str, force: bool) -> None:
    """Generate a private key; print its public key and address."""
    acct = Account.generate(suite)
    if out is not None:
        try:
            acct.save(out, overwrite=force)
        except KeyFileError as e:
            _fail(str(e))
        except OSError as e:
            _fail(f"cannot write {out}: {e.strerror}")
    _print(
        {
            "suite": suite,
            "public_key": acct.public_key.hex(),
            "address": address_hex(acct.address),
            "key_file": str(out) if out else None,
        }
    )
    if out is None:
        click.echo("(not saved: pass --out FILE to keep the key)", err=True)


# -- network ---------------------------------------------------------------------------------


@main.group()
def network() -> None:
    """Create and run a network of validators."""


@network.command("init")
@click.option("--validators", "-n", default=4, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--out", default="devnet", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--chain-id", default="chainnode-dev", show_default=True)
@click.option("--suite", type=click.Choice(SUITES), default="sm", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address nodes listen on.")
@click.option(
    "--api-port-base", default=8700, show_default=True, help="Node i serves HTTP on this + i."
)
@click.option(
    "--p2p-port-base", default=8800, show_default=True, help="Node i speaks p2p on this + i."
)
@click.option(
    "--permissions",
    type=click.Choice(["open", "closed"]),
    default="open",
    show_default=True,
    help="open: anyone may send; closed: only addresses granted a role.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing network directory.")
@click.option(
    "--snapshot-interval",
    default=1000,
    show_default=True,
    type=click.IntRange(0, 1_000_000_000),
    help="Blocks between state checkpoints new nodes can join from (0: none).",
)
def network_init(  # noqa: PLR0913, PLR0917  # one parameter per click option
    validators: int,
    out: Path,
    chain_id: str,
    suite: str,
    host: str,
    api_port_base: int,
    p2p_port_base: int,
    permissions: str,
    force: bool,
    snapshot_interval: int,
) -> None:
    """Write genesis.json, admin.pem and node<i>/ (config.toml + node key) under --out."""
    from chainnode.deploy.devnet import NetworkError, init_network

    try:
        entries = init_network(
            out,
            validators,
            chain_id=chain_id,
            suite=suite,
            host=host,
            api_port_base=api_port_base,
            p2p_port_base=p2p_port_base,
            permissions=permissions,
            force=force,
            snapshot_interval=snapshot_interval,
        )
    except NetworkError as e:
        _fail(str(e))
    click.echo(f"wrote {out}/genesis.json, {out}/admin.pem and {len(entries)} node directories:")
    for entry in entries:
        click.echo(f"  {entry.node_id}: {entry.config_path}  API {entry.api_url}")
    click.echo(f"start them with: {command('network', 'up', '--dir', shlex.quote(str(out)))}")


@network.command("up")
@click.option(
    "--validators",
    "-n",
    default=None,
    type=click.IntRange(1, 100),
    help="Validators of a new network [default: 4].",
)
@click.option(
    "--dir",
    "out",
    default="devnet",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--api-port-base",
    default=None,
    type=click.IntRange(1, 65535),
    help="Node i serves HTTP on this + i [default: 8700]. An existing --dir keeps its ports "
    "(asking for others is refused).",
)
@click.option(
    "--p2p-port-base",
    default=None,
    type=click.IntRange(1, 65535),
    help="Node i speaks p2p on this + i [default: 8800]; as --api-port-base.",
)
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for block 1.")
def network_up(
    validators: int | None,
    out: Path,
    api_port_base: int | None,
    p2p_port_base: int | None,
    timeout: float,
) -> None:
    """Start a local network (initialising --dir if empty); Ctrl-C stops it cleanly."""
    from chainnode.deploy.devnet import NetworkError, up

    try:
        up(
            out,
            validators,
            click.echo,
            api_port_base=api_port_base,
            p2p_port_base=p2p_port_base,
            start_timeout=timeout,
        )
    except NetworkError as e:
        _fail(str(e))


# -- one node --------------------------------------------------------------------------------


@main.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    envvar="CHAINNODE_CONFIG",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's config.toml.",
)
@click.option(
    "--sync",
    type=click.Choice(["replay", "snapshot"]),
    default=None,
    help="How a node whose data directory holds no chain yet gets it (default: the config's "
    "`sync`, else replay): `replay` executes every block from genesis; `snapshot` fetches the "
    "newest state snapshot its peers serve, checks it against genesis (the certificate of the "
    "block carrying its root, every chunk against that root), installs it and follows the "
    "chain from there (blocks below it answer 410 PRUNED). Ignored when the data directory "
    "already holds a chain.",
)
def start(config_path: Path, sync: str | None) -> None:
    """Run one node in the foreground (SIGTERM or Ctrl-C stops it gracefully; SIGHUP
    re-reads the config's observers, e.g. after `org admit`)."""
    from chainnode.node.config import ConfigError, load_config
    from chainnode.node.runtime import StartupError, run

    def load() -> NodeConfig:
        cfg = load_config(config_path)
        return cfg if sync is None else cfg.model_copy(update={"sync": sync})

    try:
        cfg = load()
    except ConfigError as e:
        _fail(str(e))
    try:
        run(cfg, reload=load)
    except StartupError as e:
        _fail(f"{config_path}: {e}")


def _validators(c: Client) -> show.Validators:
    """The validator set, to name signers and the primary (empty if the node will not say)."""
    try:
        return show.Validators(c.validators().get("validators", []))
    except ClientError:
        return show.Validators([])


@main.command()
@node_option
@json_option
def status(node: str, as_json: bool) -> None:
    """Chain id, height, view, primary, peers and mempool of a node."""
    with client(node) as c:
        try:
            st = c.status()
            if as_json:
                _print(st)
                return
            click.echo(show.status(st, _validators(c)))
        except ClientError as e:
            _client_error(e)


# -- transactions ----------------------------------------------------------------------------


@main.group()
def tx() -> None:
    """Send and look up transactions."""


@tx.command("send")
@node_option
@key_option
@click.option("--contract", "-c", required=True, help="Contract name (e.g. evidence) or address.")
@click.option("--method", "-m", required=True)
@click.option(
    "--args", "args_json", default="[]", show_default=True, help="JSON array of arguments."
)
@click.option("--wait", is_flag=True, help="Wait until committed and print the receipt.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds --wait waits.")
@click.option("--gas-limit", default=1_000_000, show_default=True)
@json_option
@click.option("--raw", "as_json", is_flag=True, hidden=True)  # the older name of --json
def tx_send(  # noqa: PLR0913, PLR0917  # one parameter per click option
    node: str,
    key_path: Path,
    contract: str,
    method: str,
    args_json: str,
    wait: bool,
    timeout: float,
    gas_limit: int,
    as_json: bool = False,
) -> None:
    """Sign and send one contract call."""
    args = _parse_args(args_json)
    acct = _load_account(key_path)
    with client(node) as c:
        try:
            txn = c.build(acct, _contract_ref(contract), method, args, gas_limit=gas_limit)
            res = c.submit([txn], wait=timeout if wait else None)
        except (ClientError, ValueError) as e:
            if isinstance(e, ClientError):
                _client_error(e)
            _fail(f"cannot build the transaction: {e}")
    receipt = (res.receipts or [None])[0] if wait else None
    if as_json:
        _print({"hash": res.hashes[0], "receipt": receipt} if wait else {"hash": res.hashes[0]})
    else:
        click.echo(show.sent(res.hashes[0], receipt, wait))
    if wait and receipt is None:
        _fail(f"not committed within {timeout}s; look later: {command('tx', 'get', res.hashes[0])}")
    if wait and receipt is not None and receipt.get("status") != "ok":
        _fail(f"the transaction failed: {receipt.get('error')}")


@tx.command("get")
@node_option
@json_option
@click.argument("tx_hash")
def tx_get(node: str, tx_hash: str, as_json: bool) -> None:
    """A committed transaction, its position and its receipt."""
    with client(node) as c:
        try:
            out = c.transaction(tx_hash)
            out["receipt"] = c.receipt(tx_hash)
        except ClientError as e:
            _client_error(e)
    if as_json:
        _print(out)
    else:
        click.echo(show.transaction(out, out["receipt"]))


# -- blocks ----------------------------------------------------------------------------------


@main.group()
def block() -> None:
    """Look up blocks."""


@block.command("get")
@node_option
@json_option
@click.argument("ident", default="latest")
def block_get(node: str, ident: str, as_json: bool) -> None:
    """A block by height, hash or 'latest' (the default), with its commit certificate."""
    with client(node) as c:
        try:
            out = c.block(ident)
            if as_json:
                _print(out)
                return
            click.echo(show.block(out, _validators(c)))
        except ClientError as e:
            _client_error(e)


# -- contracts -------------------------------------------------------------------------------


@main.group()
def contract() -> None:
    """Deploy contracts, call them and read their state."""


@contract.command("deploy")
@node_option
@key_option
@click.option(
    "--source",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Contract source file (the Python subset of the contracts package).",
)
@click.option("--name", default=None, help="Register the contract under this name.")
@click.option("--timeout", default=30.0, show_default=True)
@json_option
def contract_deploy(
    node: str, key_path: Path, source: Path, name: str | None, timeout: float, as_json: bool
) -> None:
    """Compile a contract locally and deploy it; prints its address (0x…, which --contract
    takes, as it takes the name) and the deployment's receipt."""
    from chainnode.model.layout import DEPLOYMENT
    from contracts import CompileError, compile_source

    try:
        code = compile_source(source.read_text(encoding="utf-8"))
    except CompileError as e:
        _fail(f"{source}: {e}")
    acct = _load_account(key_path)
    args: list[Any] = [code] if name is None else [code, name]
    with client(node) as c:
        try:
            txn = c.build(acct, DEPLOYMENT, "deploy", args, gas_limit=1_000_000)
            res = c.submit([txn], wait=timeout)
        except ClientError as e:
            _client_error(e)
    receipt = (res.receipts or [None])[0]
    ok = receipt is not None and receipt.get("status") == "ok"
    address = _address(receipt.get("return_value_json")) if ok and receipt else None
    if as_json:
        _print({"address": address, "hash": res.hashes[0], "receipt": receipt})
    else:
        click.echo(show.deployed(res.hashes[0], receipt, address))
    if receipt is None:
        _fail(f"not committed within {timeout}s; look later: {command('tx', 'get', res.hashes[0])}")
    if receipt.get("status") != "ok":
        _fail(f"deployment failed: {receipt.get('error')}")


@contract.command("call")
@node_option
@key_option
@click.option("--contract", "-c", "name", required=True)
@click.option("--method", "-m", required=True)
@click.option("--args", "args_json", default="[]", show_default=True)
@click.option("--timeout", default=30.0, show_default=True)
@json_option
def contract_call(
    node: str,
    key_path: Path,
    name: str,
    method: str,
    args_json: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Call a contract method in a transaction and wait for its receipt."""
    ctx = click.get_current_context()
    ctx.invoke(
        tx_send,
        node=node,
        key_path=key_path,
        contract=name,
        method=method,
        args_json=args_json,
        wait=True,
        timeout=timeout,
        gas_limit=1_000_000,
        as_json=as_json,
    )


@contract.command("query")
@node_option
@click.option("--contract", "-c", "name", required=True)
@click.option("--method", "-m", required=True, help="A @view method.")
@click.option("--args", "args_json", default="[]", show_default=True)
@json_option
def contract_query(node: str, name: str, method: str, args_json: str, as_json: bool) -> None:
    """Run a read-only @view method on the node's current state (no transaction)."""
    args = _parse_args(args_json)
    with client(node) as c:
        try:
            out = c.call(_contract_ref(name), method, args)
        except ClientError as e:
            _client_error(e)
    if as_json:
        _print(out)
    else:
        click.echo(show.call(out))
    if not out.get("ok"):
        _fail(f"the call failed: {out.get('error')}")


@contract.command("list")
@node_option
@json_option
def contract_list(node: str, as_json: bool) -> None:
    """Every contract on the chain: name, kind (system, stdlib, deployed) and address."""
    with client(node) as c:
        try:
            out = c.contracts()
        except ClientError as e:
            _client_error(e)
    if as_json:
        _print(out)
    else:
        click.echo(show.contract_list(out))


@contract.command("show")
@node_option
@json_option
@click.argument("contract_ref", metavar="NAME_OR_ADDRESS")
def contract_show(node: str, contract_ref: str, as_json: bool) -> None:
    """A contract's methods: parameters and their types, @view or not, and their docs."""
    with client(node) as c:
        try:
            out = c.contract(_contract_ref(contract_ref))
        except ClientError as e:
            _client_error(e)
    if as_json:
        _print(out)
    else:
        click.echo(show.contract_detail(out))


@contract.command("state")
@node_option
@click.option("--contract", "-c", "name", required=True)
@click.argument("key")
@json_option
def contract_state(node: str, name: str, key: str, as_json: bool) -> None:
    """One raw stored value of a contract (KEY is text, or 0x-prefixed hex)."""
    with client(node) as c:
        try:
            out = c.state(_contract_ref(name), key)
        except ClientError as e:
            _client_error(e)
    if as_json:
        _print(out)
    else:
        click.echo(show.state(out))


from chainnode.cli.ops import register as _register_ops  # noqa: E402  # verify-proof, proof

_register_ops(main)

from chainnode.cli.data import register as _register_data  # noqa: E402  # backup, restore

_register_data(main)

from chainnode.cli.consortium import register as _register_consortium  # noqa: E402  # org, genesis

_register_consortium(main)

from chainnode.cli.governance import register as _register_governance  # noqa: E402  # votes

_register_governance(main)

if __name__ == "__main__":
    main()
