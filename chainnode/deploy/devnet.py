"""`network init` (genesis, keys and one config per validator) and `network up` (the local
launcher: validators as child processes, a live status line, a clean stop on Ctrl-C)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from chainnode.deploy.compose import write_compose
from chainnode.deploy.layout import (
    ADMIN_KEY,
    CONFIG,
    GENESIS,
    MEMBER,
    NODE_KEY,
    NODE_LOG,
    NODE_OUT,
    node_dirs,
)
from chainnode.deploy.org import MemberCard, OrgError, assemble_genesis, configure_org, init_org
from chainnode.invocation import command
from chainnode.model.codes import LedgerError
from chainnode.model.genesis import DEFAULT_SNAPSHOT_INTERVAL, ConsensusParams, Genesis
from chainnode.node.config import load_config


class NetworkError(Exception):
    """A network directory that cannot be created or started; the message says what to do."""


@dataclass(frozen=True, slots=True)
class NodeEntry:
    node_id: str
    config_path: Path
    api_url: str
    api_host: str = "127.0.0.1"
    api_port: int = 0
    p2p_host: str = "127.0.0.1"
    p2p_port: int = 0
    log_file: Path | None = None
    """The node's own log file when its config names one (else the launcher chooses)."""

    @property
    def log_path(self) -> Path:
        """Where the node logs: its config's ``log_file``, else ``node<i>/node.log``."""
        return self.log_file or self.config_path.parent / NODE_LOG

    @property
    def out_path(self) -> Path:
        """The process's stdout and stderr (start-up errors before logging is set up)."""
        return self.config_path.parent / NODE_OUT


def _with_snapshots(consensus: ConsensusParams | None, interval: int | None) -> ConsensusParams:
    params = consensus or ConsensusParams()
    if interval is None:
        if params.snapshot_interval is not None:
            return params
        interval = DEFAULT_SNAPSHOT_INTERVAL
    try:
        return params.with_snapshots(interval)
    except LedgerError as e:
        raise NetworkError(f"--snapshot-interval: {e.message}") from None


# long: the three ceremony steps for every node, then the entries and compose files
def init_network(  # noqa: PLR0913  # the options of `network init`, one each
    out: Path,
    validators: int,
    *,
    chain_id: str = "chainnode-dev",
    suite: str = "sm",
    host: str = "127.0.0.1",
    api_port_base: int = 8700,
    p2p_port_base: int = 8800,
    permissions: str = "open",
    force: bool = False,
    consensus: ConsensusParams | None = None,
    snapshot_interval: int | None = None,
) -> list[NodeEntry]:
    """Write genesis.json, admin.pem and node<i>/{config.toml,node.pem,member.json} under
    ``out``: the consortium ceremony (``org init``, ``genesis assemble``, ``org configure``)
    for ``validators`` organisations at once. The genesis checkpoints the state every
    ``snapshot_interval`` blocks (None: the parameters' own, else DEFAULT_SNAPSHOT_INTERVAL;
    0: never), so new nodes can join from a snapshot."""
    if not 1 <= validators <= 100:
        raise NetworkError("--validators: between 1 and 100")
    for base in (api_port_base, p2p_port_base):
        if not base >= 1 or base + validators - 1 > 65535:
            raise NetworkError("port bases: the ports must stay within 1..65535")
    if (out / GENESIS).exists() and not force:
        raise NetworkError(
            f"{out / GENESIS} already exists: start it with "
            f"`{command('network', 'up', '--dir', shlex.quote(str(out)))}`, "
            "or pass --force to overwrite it (the old chain data is then unusable)"
        )
    _refuse_leftover_keys(out, validators, force)
    out.mkdir(parents=True, exist_ok=True)
    # The ceremony of a consortium (chainnode.deploy.org), run for every node in one tree:
    # each node<i>/ is an organisation without an admin of its own; node0's card names the
    # devnet's one admin key, kept at the root.
    cards: list[MemberCard] = []
    try:
        for i in range(validators):
            cards.append(
                init_org(
                    out / f"node{i}",
                    f"node{i}",
                    host=host,
                    api_port=api_port_base + i,
                    p2p_port=p2p_port_base + i,
                    suite=suite,
                    force=force,
                    admin_key=out / ADMIN_KEY,
                    with_admin=i == 0,
                )
            )
        genesis = assemble_genesis(
            cards,
            chain_id,
            permissions=permissions,
            consensus=_with_snapshots(consensus, snapshot_interval),
            timestamp=int(time.time() * 1000),
        )
        genesis.save(out / GENESIS)
        configs = [configure_org(out / f"node{i}", out / GENESIS) for i in range(validators)]
    except OrgError as e:
        raise NetworkError(str(e)) from None
    entries = [
        NodeEntry(
            cfg.node_id,
            out / f"node{i}" / CONFIG,
            f"http://{host}:{cfg.api_port}",
            cfg.api_host,
            cfg.api_port,
            cfg.p2p_host,
            cfg.p2p_port,
        )
        for i, cfg in enumerate(configs)
    ]
    write_compose(out)  # docker-compose.yml + node<i>/container.toml
    return entries


def _refuse_leftover_keys(out: Path, validators: int, force: bool) -> None:
    """A key file (or card) left by an earlier, unfinished init is refused before anything is
    written (keys are never overwritten without --force): say so."""
    if force:
        return
    for path in [out / ADMIN_KEY] + [
        out / f"node{i}" / name for i in range(validators) for name in (NODE_KEY, MEMBER)
    ]:
        if path.exists() or path.is_symlink():
            raise NetworkError(
                f"{path} already exists (left by an earlier `network init` of this "
                "directory?); choose another --out or pass --force to replace it"
            )


def read_network(out: Path) -> list[NodeEntry]:
    if not (out / GENESIS).is_file():
        raise NetworkError(
            f"no network in {out} (create one with `{command('network', 'init', '--out', shlex.quote(str(out)))}`)"
        )
    entries = []
    for d in node_dirs(out):
        cfg = load_config(d / CONFIG, env={})
        host = "127.0.0.1" if cfg.api_host in ("0.0.0.0", "::", "") else cfg.api_host
        entries.append(
            NodeEntry(
                cfg.node_id,
                d / CONFIG,
                f"http://{host}:{cfg.api_port}",
                cfg.api_host,
                cfg.api_port,
                cfg.p2p_host,
                cfg.p2p_port,
                cfg.log_file,
            )
        )
    if not entries:
        raise NetworkError(f"no node<i>/{CONFIG} in {out}")
    Genesis.load(out / GENESIS)
    return entries


def _get_json(url: str, timeout: float = 1.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # our own node
        return json.loads(resp.read())


def node_status(api_url: str) -> dict[str, Any] | None:
    try:
        out = _get_json(api_url + "/v1/status")
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return out if isinstance(out, dict) else None


def _stop_with_parent() -> None:
    """In the child before exec: SIGTERM when the launcher dies, even by kill -9 (Linux
    PR_SET_PDEATHSIG), so no orphaned validator keeps the ports of the next `network up`."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


class Launcher:
    """Child validator processes of one network directory."""

    def __init__(self, out: Path, entries: list[NodeEntry], env: dict[str, str] | None = None):
        self.out = out
        self.entries = entries
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[Any] = []

    def start(self) -> None:
        """Each validator logs to its own size-rotated file, which it starts afresh (the last
        run's becomes ``node.log.1``); stdout and stderr, which hold what happens before
        logging is set up, go to ``node.out``, also fresh per run."""
        for e in self.entries:
            out = e.out_path.open("wb")
            self._logs.append(out)
            env = dict(os.environ if self.env is None else self.env)
            if e.log_file is None:
                env["CHAINNODE_LOG_FILE"] = str(e.log_path.resolve())
            self.procs[e.node_id] = subprocess.Popen(
                [sys.executable, "-m", "chainnode", "start", "--config", str(e.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C reaches only the launcher, which stops them
                preexec_fn=_stop_with_parent,
            )

    def dead(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def log_tail(self, node_id: str, lines: int = 15) -> str:
        """The end of this run's output and log of one validator."""
        for e in self.entries:
            if e.node_id == node_id:
                parts = []
                for path in (e.out_path, e.log_path):
                    try:
                        text = path.read_text(errors="replace").splitlines()[-lines:]
                    except OSError:
                        continue
                    if text:
                        parts.append(f"--- {path} ---\n" + "\n".join(text))
                return "\n".join(parts) or "(nothing: the process wrote no output)"
        return ""

    def wait_first_block(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {e.node_id: e.api_url for e in self.entries}
        while pending:
            if dead := self.dead():
                raise NetworkError(
                    f"{dead[0]} exited during start-up; its log says:\n{self.log_tail(dead[0])}"
                )
            for nid, url in list(pending.items()):
                st = node_status(url)
                if st is not None and st.get("height", 0) >= 1:
                    del pending[nid]
            if time.monotonic() > deadline:
                raise NetworkError(
                    f"no first block on {', '.join(sorted(pending))} within {timeout:.0f}s; "
                    f"see {self.out}/<node>/{NODE_LOG} and {NODE_OUT}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()


def status_line(entries: list[NodeEntry]) -> str:
    parts = []
    for e in entries:
        st = node_status(e.api_url)
        if st is None:
            parts.append(f"{e.node_id}: down")
        else:
            parts.append(
                f"{e.node_id}: h={st['height']} v={st['view']} "
                f"peers={len(st['peers'])} pool={st['mempool']}"
            )
    return " | ".join(parts)


DEFAULT_VALIDATORS = 4
DEFAULT_API_PORT_BASE = 8700
DEFAULT_P2P_PORT_BASE = 8800


def port_free(host: str, port: int) -> bool:
    """Whether a listener could bind ``host:port`` now (with SO_REUSEADDR, as the node does,
    so a port in TIME_WAIT counts as free)."""
    bind_host = "" if host in ("0.0.0.0", "::") else host
    try:
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((bind_host, port))
    except OSError:
        return False
    return True


def _port_fix(out: Path) -> str:
    return (
        "stop the program that holds it, or start a new network on other ports: "
        f"`{command('network', 'up', '--dir', shlex.quote(str(out) + '-2'), '--api-port-base', '9700', '--p2p-port-base', '9800')}`"
        " (from make: `make run DIR=" + shlex.quote(str(out) + "-2") + " API_PORT_BASE=9700 "
        "P2P_PORT_BASE=9800`)"
    )


def check_ports_free(entries: list[NodeEntry], out: Path) -> None:
    """Before starting anything: every port a validator of ``out`` listens on is free; else a
    NetworkError naming the port, the setting and file that chose it, and the fix."""
    for e in entries:
        for field, host, port in (
            ("api_port", e.api_host, e.api_port),
            ("p2p_port", e.p2p_host, e.p2p_port),
        ):
            if port and not port_free(host, port):
                raise NetworkError(
                    f"port {port} on {host} is in use (by this network, still running? or by "
                    f"another program); {e.node_id} listens "
                    f"there ({field} in {e.config_path}, fixed in {out / GENESIS} for this "
                    f"chain): {_port_fix(out)}"
                )


def _check_requested_ports(
    out: Path, entries: list[NodeEntry], api_port_base: int | None, p2p_port_base: int | None
) -> None:
    """An existing network keeps its ports: the validators' addresses are part of genesis.json,
    which every block builds on, so other ports would make another chain. Refuse a request
    for other ports rather than ignore it."""
    asked = {"--api-port-base": api_port_base, "--p2p-port-base": p2p_port_base}
    have = {
        "--api-port-base": [e.api_port for e in entries],
        "--p2p-port-base": [e.p2p_port for e in entries],
    }
    for flag, base in asked.items():
        if base is None:
            continue
        wanted = [base + i for i in range(len(entries))]
        if have[flag] != wanted:
            ports = have[flag]
            raise NetworkError(
                f"{out}/ is an existing network whose validators use ports "
                f"{ports[0]}..{ports[-1]} ({flag} {ports[0]}); {flag} {base} cannot change "
                f"them, because the validators' addresses are part of {out / GENESIS}. "
                f"Start it on its own ports (leave out {flag}): "
                f"`{command('network', 'up', '--dir', shlex.quote(str(out)))}`, or create a new "
                f"network on the ports you want with another --dir (or after `rm -rf "
                f"{shlex.quote(str(out))}`, which deletes its chain)"
            )


# long: the launcher's linear script: start, wait, report, stop
def up(
    out: Path,
    validators: int | None,
    echo: Callable[[str], None],
    *,
    api_port_base: int | None = None,
    p2p_port_base: int | None = None,
    start_timeout: float = 60.0,
    status_every: float = 1.0,
    stream: TextIO | None = None,
) -> None:
    """Initialise ``out`` if needed, start every validator and show status until Ctrl-C.

    ``None`` means "not asked for": a new directory gets the defaults, an existing one keeps
    what it was made with; asking an existing one for other ports is refused (NetworkError).
    """
    if not (out / GENESIS).exists():
        n = validators or DEFAULT_VALIDATORS
        api = DEFAULT_API_PORT_BASE if api_port_base is None else api_port_base
        p2p = DEFAULT_P2P_PORT_BASE if p2p_port_base is None else p2p_port_base
        for base, flag in ((api, "--api-port-base"), (p2p, "--p2p-port-base")):
            busy = [base + i for i in range(n) if not port_free("127.0.0.1", base + i)]
            if busy:
                raise NetworkError(
                    f"port {busy[0]} is in use by another program, and a new network in {out}/ "
                    f"would listen on {base}..{base + n - 1} ({flag} {base}): choose free "
                    f"ports, e.g. `{command('network', 'up', '--dir', shlex.quote(str(out)), '--api-port-base', '9700', '--p2p-port-base', '9800')}`"
                    " (from make: `make run API_PORT_BASE=9700 P2P_PORT_BASE=9800`)"
                )
        init_network(out, n, api_port_base=api, p2p_port_base=p2p)
        echo(f"initialised a {n}-validator network in {out}/")
    entries = read_network(out)
    if validators is not None and len(entries) != validators:
        echo(
            f"note: {out}/ holds {len(entries)} validators (--validators applies to a new "
            "directory only); starting those"
        )
    _check_requested_ports(out, entries, api_port_base, p2p_port_base)
    check_ports_free(entries, out)
    launcher = Launcher(out, entries)
    stopping = False

    def _term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        launcher.start()
        echo(f"starting {len(entries)} validators (logs: {out}/node<i>/{NODE_LOG}) ...")
        launcher.wait_first_block(start_timeout)
        echo("the chain is live. Node APIs:")
        for e in entries:
            echo(f"  {e.node_id}: {e.api_url}   (API docs: {e.api_url}/docs)")
        admin = shlex.quote(str(out / ADMIN_KEY))
        echo(
            "try:  "
            + command(
                "tx",
                "send",
                "--node",
                entries[0].api_url,
                "--key",
                admin,
                "--contract",
                "evidence",
                "--method",
                "register",
                "--args",
                shlex.quote(f'["{"ab" * 32}", "contract", "My document"]'),
                "--wait",
            )  # fmt: skip
        )
        echo(f"admin key: {out / ADMIN_KEY}   Ctrl-C stops the network.")
        stream = stream or sys.stdout
        tty = stream.isatty()
        while True:
            if dead := launcher.dead():
                raise NetworkError(f"{dead[0]} exited; its log says:\n{launcher.log_tail(dead[0])}")
            line = status_line(entries)
            if tty:
                stream.write("\r\033[K" + line)
            else:
                stream.write(line + "\n")
            stream.flush()
            time.sleep(status_every)
    except KeyboardInterrupt:
        echo("\nstopping the validators ...")
    finally:
        launcher.stop()
        signal.signal(signal.SIGTERM, old)
    echo("stopped.")
