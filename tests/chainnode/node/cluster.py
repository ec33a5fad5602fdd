"""Real validator processes on loopback for tests: free ports, start/stop/kill, polling."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from chainnode.client.sdk import Client, ClientError
from chainnode.deploy.devnet import init_network
from tests.conftest import subprocess_env

T = TypeVar("T")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int, top: int = 32768) -> int:
    """A base port such that base .. base+count-1 are all free right now, below ``top``:
    ports below 32768, Linux's first ephemeral port, cannot be taken meanwhile as the local
    end of some outgoing connection (a node picked 34576 once, found free, and could not bind
    it a moment later)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, top - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range on loopback")


def wait_for(cond: Callable[[], T | None], timeout: float, what: str, poll: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            value = cond()
            if value:
                return value
        except (ClientError, OSError) as e:
            last_exc = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} ({last_exc})")
        time.sleep(poll)


class NodeExited(AssertionError):
    """A node's process ended while a test waited on it."""


class Cluster:
    """A generated network directory and its validator processes."""

    def __init__(self, root: Path, validators: int, **init_kw: Any) -> None:
        self.root = root
        self.n = validators
        base = free_port_range(2 * validators)
        self.api_base, self.p2p_base = base, base + validators
        self.entries = init_network(
            root, validators, api_port_base=self.api_base, p2p_port_base=self.p2p_base, **init_kw
        )
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.clients = [Client(e.api_url, timeout=30) for e in self.entries]

    def url(self, i: int) -> str:
        return self.entries[i].api_url

    def data_dir(self, i: int) -> Path:
        return self.entries[i].config_path.parent / "data"

    def start(
        self,
        i: int,
        env: dict[str, str] | None = None,
        chaos: bool = False,
        args: list[str] | None = None,
    ) -> None:
        """``chaos``: run the validator through ``bench.chaos.node`` (fault-injection seams,
        every signed consensus message collected) instead of ``chainnode start``; ``args``:
        more command-line arguments (``--sync snapshot``)."""
        log = (self.entries[i].config_path.parent / "node.log").open("ab")
        program = ["bench.chaos.node"] if chaos else ["chainnode", "start"]
        config = ["--config", str(self.entries[i].config_path)]
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", *program, *config, *(args or [])],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**subprocess_env(), **(env or {})},
        )
        log.close()

    def start_all(self) -> None:
        for i in range(self.n):
            self.start(i)

    def log(self, i: int) -> str:
        return (self.entries[i].config_path.parent / "node.log").read_text(errors="replace")

    def stop(self, i: int, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        p = self.procs.pop(i)
        if p.poll() is None:
            p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError(f"node{i} ignored signal {sig} for {timeout}s") from None

    def kill(self, i: int) -> None:
        self.stop(i, signal.SIGKILL)

    def close(self) -> None:
        for c in self.clients:
            c.close()
        for i in list(self.procs):
            p = self.procs.pop(i)
            if p.poll() is None:
                p.kill()
                p.wait()

    def status(self, i: int) -> dict[str, Any]:
        return self.clients[i].status()

    def height(self, i: int) -> int:
        return int(self.status(i)["height"])

    def wait_node(self, i: int, cond: Callable[[], T | None], timeout: float, what: str) -> T:
        """:func:`wait_for` on node `i`: fails at once if its process exits, and with the end
        of its log either way (a CI run's output is all there is to go on)."""

        def alive() -> T | None:
            p = self.procs.get(i)
            if p is not None and p.poll() is not None:
                raise NodeExited(
                    f"node{i} exited ({p.returncode}) before {what}:\n{self.log(i)[-3000:]}"
                )
            return cond()

        try:
            return wait_for(alive, timeout, what)
        except NodeExited:
            raise
        except AssertionError as e:
            raise AssertionError(f"{e}; node{i}'s log ends:\n{self.log(i)[-3000:]}") from None

    def wait_height(self, height: int, nodes: list[int] | None = None, timeout: float = 60) -> None:
        nodes = list(range(self.n)) if nodes is None else nodes

        def ok() -> bool:
            for i in nodes:
                p = self.procs.get(i)
                if p is not None and p.poll() is not None:
                    raise AssertionError(f"node{i} exited:\n{self.log(i)[-3000:]}")
            return all(self.height(i) >= height for i in nodes)

        wait_for(ok, timeout, f"height {height} on nodes {nodes}")


class Load:
    """A background thread that keeps submitting batches to the given nodes and records every
    tx hash a node acknowledged (HTTP 200). Submissions to a node that is down just fail."""

    def __init__(self, cluster: Cluster, nodes: list[int], batch: int = 20) -> None:
        import threading

        from chainnode.client.sdk import Account

        self.cluster = cluster
        self.nodes = list(nodes)
        self.batch = batch
        self.acked: list[str] = []
        self.failures = 0
        self._stop = threading.Event()
        self._acct = Account.generate()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._seq = 0

    def start(self) -> Load:
        self._thread.start()
        return self

    def _run(self) -> None:
        clients = {i: Client(self.cluster.url(i), timeout=10) for i in self.nodes}
        turn = 0
        try:
            while not self._stop.is_set():
                i = self.nodes[turn % len(self.nodes)]
                turn += 1
                c = clients[i]
                try:
                    st = c.status()
                    txs = []
                    for _ in range(self.batch):
                        self._seq += 1
                        txs.append(
                            self._acct.sign(
                                st["chain_id"], "records", "put",
                                [f"load-{self._seq}", self._seq],
                                block_limit=st["height"] + 200,
                            )
                        )  # fmt: skip
                    self.acked += c.submit(txs).hashes
                except ClientError:
                    self.failures += 1
                    time.sleep(0.05)
                time.sleep(0.02)
        finally:
            for c in clients.values():
                c.close()

    def stop(self) -> list[str]:
        self._stop.set()
        self._thread.join(30)
        return list(self.acked)


def chain(client: Client, upto: int) -> list[tuple[str, str, list[str]]]:
    """(block hash, state root, tx hashes) of blocks 1..upto on one node."""
    out = []
    for h in range(1, upto + 1):
        b = client.block(h)["block"]
        out.append((b["hash"], b["header"]["state_root"], list(b["tx_hashes"])))
    return out


def assert_same_chains(cluster: Cluster, nodes: list[int], must_include: list[str]) -> int:
    """Every node has identical blocks (hashes, state roots) up to the lowest common height,
    each tx at most once, and every tx of ``must_include`` exactly once. Returns that height."""
    height = min(cluster.height(i) for i in nodes)
    chains = [chain(cluster.clients[i], height) for i in nodes]
    for i, ch in zip(nodes[1:], chains[1:], strict=True):
        for h, (a, b) in enumerate(zip(chains[0], ch, strict=True), start=1):
            assert a[0] == b[0], f"block hash differs at height {h} on node{i}"
            assert a[1] == b[1], f"state root differs at height {h} on node{i}"
    seen: dict[str, int] = {}
    for h, (_, _, txs) in enumerate(chains[0], start=1):
        for t in txs:
            assert t not in seen, f"tx {t} in blocks {seen[t]} and {h}"
            seen[t] = h
    missing = [t for t in must_include if t not in seen]
    assert not missing, f"{len(missing)} acknowledged txs not committed, e.g. {missing[:3]}"
    return height


def add_node_dir(cluster: Cluster, node_id: str) -> tuple[bytes, str, str]:
    """Key and config of one more validator-to-be in the cluster's network directory.
    Returns (public key, p2p address, api address); ``cluster.start(i)`` starts it."""
    from chainnode.deploy.devnet import NodeEntry
    from chainnode.deploy.layout import CONFIG, GENESIS, NODE_KEY
    from chainnode.model.keys import save_private_key
    from chainnode.node.config import NodeConfig, write_config
    from crypto import sm2

    base = free_port_range(2)  # the cluster's nodes may be running: not ephemeral
    ndir = cluster.root / node_id
    key = sm2.PrivateKey.generate()
    save_private_key(ndir / NODE_KEY, "sm", key.to_bytes())
    cfg = NodeConfig(
        node_id=node_id,
        genesis=Path("..") / GENESIS,
        api_port=base,
        p2p_port=base + 1,
    )
    write_config(ndir / CONFIG, cfg)
    api = f"127.0.0.1:{base}"
    cluster.entries.append(NodeEntry(node_id, ndir / CONFIG, f"http://{api}"))
    cluster.clients.append(Client(f"http://{api}", timeout=30))
    cluster.n += 1
    return key.public_key().to_bytes(), f"127.0.0.1:{base + 1}", api
