"""`network init` (genesis, keys and one config per validator) and `network up` (the local
launcher: validators as child processes, a live status line, a clean stop on Ctrl-C)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from chainnode.client.sdk import Account
from chainnode.deploy.compose import write_compose
from chainnode.deploy.layout import ADMIN_KEY, CONFIG, GENESIS, NODE_KEY, node_dirs
from chainnode.model.genesis import ConsensusParams, Genesis, ValidatorInfo, make_genesis
from chainnode.model.keys import KeyFileError, save_private_key
from chainnode.node.config import NodeConfig, load_config, write_config
from crypto import sm2


class NetworkError(Exception):
    """A network directory that cannot be created or started; the message says what to do."""


@dataclass(frozen=True, slots=True)
class NodeEntry:
    node_id: str
    config_path: Path
    api_url: str


def init_network(
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
) -> list[NodeEntry]:
    """Write genesis.json, admin.pem and node<i>/{config.toml,node.pem} under ``out``."""
    if not 1 <= validators <= 100:
        raise NetworkError("--validators: between 1 and 100")
    for base in (api_port_base, p2p_port_base):
        if not base >= 1 or base + validators - 1 > 65535:
            raise NetworkError("port bases: the ports must stay within 1..65535")
    if (out / GENESIS).exists() and not force:
        raise NetworkError(
            f"{out / GENESIS} already exists: start it with `chainnode network up --dir {out}`, "
            "or pass --force to overwrite it (the old chain data is then unusable)"
        )
    out.mkdir(parents=True, exist_ok=True)
    admin = Account.generate(suite)
    try:
        admin.save(out / ADMIN_KEY, overwrite=force)
    except KeyFileError as e:
        raise NetworkError(_leftover_key(e)) from None
    infos: list[ValidatorInfo] = []
    entries: list[NodeEntry] = []
    for i in range(validators):
        ndir = out / f"node{i}"
        ndir.mkdir(parents=True, exist_ok=True)
        key = sm2.PrivateKey.generate()
        try:
            save_private_key(ndir / NODE_KEY, "sm", key.to_bytes(), overwrite=force)
        except KeyFileError as e:
            raise NetworkError(_leftover_key(e)) from None
        api_port, p2p_port = api_port_base + i, p2p_port_base + i
        cfg = NodeConfig(
            node_id=f"node{i}",
            data_dir=Path("data"),
            genesis=Path("..") / GENESIS,
            node_key=Path(NODE_KEY),
            api_host=host,
            api_port=api_port,
            p2p_host=host,
            p2p_port=p2p_port,
        )
        write_config(ndir / CONFIG, cfg)
        infos.append(
            ValidatorInfo(
                key.public_key().to_bytes(), f"node{i}", f"{host}:{p2p_port}", f"{host}:{api_port}"
            )
        )
        entries.append(NodeEntry(f"node{i}", ndir / CONFIG, f"http://{host}:{api_port}"))
    genesis = make_genesis(
        chain_id,
        infos,
        [admin.public_key],
        suite=suite,
        permissions=permissions,
        consensus=consensus,
        timestamp=int(time.time() * 1000),
    )
    genesis.save(out / GENESIS)

    write_compose(out)  # docker-compose.yml + node<i>/container.toml
    return entries


def _leftover_key(e: KeyFileError) -> str:
    """A key file left by an earlier, unfinished init is refused (keys are never overwritten
    without --force): say so."""
    return f"{e} (left by an earlier `network init` of this directory?)"


def read_network(out: Path) -> list[NodeEntry]:
    if not (out / GENESIS).is_file():
        raise NetworkError(f"no network in {out} (create one with `chainnode network init`)")
    entries = []
    for d in node_dirs(out):
        cfg = load_config(d / CONFIG, env={})
        host = "127.0.0.1" if cfg.api_host in ("0.0.0.0", "::", "") else cfg.api_host
        entries.append(NodeEntry(cfg.node_id, d / CONFIG, f"http://{host}:{cfg.api_port}"))
    if not entries:
        raise NetworkError(f"no node<i>/{CONFIG} in {out}")
    Genesis.load(out / GENESIS)
    return entries


def _get_json(url: str, timeout: float = 1.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our own node
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
        for e in self.entries:
            log = (e.config_path.parent / "node.log").open("ab")
            self._logs.append(log)
            self.procs[e.node_id] = subprocess.Popen(
                [sys.executable, "-m", "chainnode", "start", "--config", str(e.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches only the launcher, which stops them
                preexec_fn=_stop_with_parent,
            )

    def dead(self) -> list[str]:
        return [n for n, p in self.procs.items() if p.poll() is not None]

    def log_tail(self, node_id: str, lines: int = 15) -> str:
        for e in self.entries:
            if e.node_id == node_id:
                path = e.config_path.parent / "node.log"
                try:
                    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                except OSError:
                    return ""
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
                    f"see {self.out}/<node>/node.log"
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


def up(
    out: Path,
    validators: int,
    echo: Callable[[str], None],
    *,
    api_port_base: int = 8700,
    p2p_port_base: int = 8800,
    start_timeout: float = 60.0,
    status_every: float = 1.0,
    stream: TextIO | None = None,
) -> None:
    """Initialise ``out`` if needed, start every validator and show status until Ctrl-C."""
    if not (out / GENESIS).exists():
        init_network(out, validators, api_port_base=api_port_base, p2p_port_base=p2p_port_base)
        echo(f"initialised a {validators}-validator network in {out}/")
    entries = read_network(out)
    if len(entries) != validators:
        echo(f"note: {out}/ holds {len(entries)} validators; starting those")
    launcher = Launcher(out, entries)
    stopping = False

    def _term(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        launcher.start()
        echo(f"starting {len(entries)} validators (logs: {out}/node<i>/node.log) ...")
        launcher.wait_first_block(start_timeout)
        echo("the chain is live. Node APIs:")
        for e in entries:
            echo(f"  {e.node_id}: {e.api_url}   (docs: {e.api_url}/openapi.json)")
        echo(
            "try:  chainnode tx send --node "
            f"{entries[0].api_url} --key {out / ADMIN_KEY} --contract evidence "
            f'--method register --args \'["{"ab" * 32}", "contract", "My document"]\' --wait'
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
