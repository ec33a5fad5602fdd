"""The contract attacks of issue 16 on four real validator processes (loopback).

Each was measured on a real network before: one correctly signed transaction raised every
validator from ~70 MB to ~970 MB (64 KiB strings in nested lists), or took 53 s to commit
(`x in list` over long strings, colliding int map keys), or a ~10 KB program became ~8 MB of
Python translated on the event loop. Now: a maximal transaction (gas limit = max_tx_gas)
commits or fails within 10 s, the next ordinary transaction commits within 10 s, and no
validator's peak RSS reaches 700 MB.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainnode.client.sdk import Account
from chainnode.model.genesis import DEFAULT_MAX_TX_GAS, ConsensusParams
from contracts import compile_source
from contracts import opcodes as op
from contracts.bytecode import CodeBuilder, FunctionEntry, assemble
from tests.chainnode.node.cluster import Cluster

pytestmark = pytest.mark.slow

MAX_RSS = 700 * 1024 * 1024

ATTACKS = compile_source(
    """
@public
def bomb() -> int:
    base = "a"
    for k in range(16):
        base = base + base
    outer = []
    i = 0
    while True:
        inner = []
        for j in range(8):
            inner.append(base[:65535 - (i % 7)] + str(j))
        outer.append([inner])
        i += 1


@public
def search(prefix: str) -> int:
    items = []
    for i in range(64):
        items.append(prefix + str(i % 10))
    found = 0
    while True:
        if prefix + "z" in items:
            found += 1


@public
def collide() -> int:
    d = {}
    i = 1
    while True:
        d[i * 2305843009213693951] = i
        i += 1
"""
)


def _translation_bomb() -> bytes:
    """``UNPACK 255`` / ``BUILD_LIST 255`` pairs: ~10 KB of bytecode, megabytes of Python."""
    cb = CodeBuilder()
    cb.emit(op.LOAD, 0)
    for _ in range(2_000):
        cb.emit(op.UNPACK, 255)
        cb.emit(op.BUILD_LIST, 255)
    cb.emit(op.RET)
    code = cb.finish(0)
    return assemble([], [FunctionEntry("main", True, False, ("x",), ("any",), 1, 0, len(code))],
                    code)  # fmt: skip


@pytest.fixture(scope="module")
def four(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    params = ConsensusParams(block_interval_ms=100).with_gas_limits()
    c = Cluster(tmp_path_factory.mktemp("limits"), 4, consensus=params)
    try:
        c.start_all()
        c.wait_height(1, timeout=60)
        yield c
    finally:
        c.close()


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _send(c: Cluster, acct: Account, method: str, args: list[object], gas: int,
          contract: str = "attacks") -> tuple[dict[str, object], float]:  # fmt: skip
    st = c.status(0)
    tx = acct.sign(st["chain_id"], contract, method, args, block_limit=st["height"] + 100,
                   gas_limit=gas)  # fmt: skip
    start = time.monotonic()
    (h,) = c.clients[0].submit([tx]).hashes
    (receipt,) = c.clients[0].wait_receipts([h], timeout=30, poll=0.05)
    return receipt, time.monotonic() - start


def test_maximal_attack_transactions_are_contained(four: Cluster) -> None:
    acct = Account.generate()
    st = four.status(0)
    deploy = acct.sign(st["chain_id"], "deployment", "deploy", [ATTACKS, "attacks"],
                       block_limit=st["height"] + 100, gas_limit=1_000_000)  # fmt: skip
    (h,) = four.clients[0].submit([deploy]).hashes
    (r,) = four.clients[0].wait_receipts([h], timeout=30)
    assert r["status"] == "ok", r

    outcomes = {}
    for method, args in [("bomb", []), ("search", ["x" * 65_000]), ("collide", [])]:
        receipt, took = _send(four, acct, method, args, DEFAULT_MAX_TX_GAS)
        assert receipt["status"] == "failed"
        assert took < 10, (method, took, receipt)
        outcomes[method] = receipt["error"]
        ordinary, took = _send(four, acct, "put", [f"after-{method}", 1], 100_000, "records")
        assert ordinary["status"] == "ok" and took < 10, (method, took, ordinary)
    assert "memory limit" in str(outcomes["bomb"])
    assert "out of gas" in str(outcomes["search"])
    assert "map int key" in str(outcomes["collide"])

    # a gas limit above max_tx_gas is refused at admission with a typed 4xx
    with pytest.raises(Exception) as refused:
        _send(four, acct, "bomb", [], DEFAULT_MAX_TX_GAS + 1)
    assert "GAS_LIMIT" in str(refused.value)

    # the translation bomb: refused at deployment, quickly, from its bytes
    bomb = _translation_bomb()
    assert len(bomb) < 11_000
    receipt, took = _send(four, acct, "deploy", [bomb, "tbomb"], 1_000_000, "deployment")
    assert receipt["status"] == "failed" and "larger than" in str(receipt["error"])
    assert took < 10

    for i, proc in four.procs.items():
        assert proc.poll() is None, f"node{i} exited:\n{four.log(i)[-3000:]}"
        assert _peak_rss(proc.pid) < MAX_RSS, (i, _peak_rss(proc.pid))
