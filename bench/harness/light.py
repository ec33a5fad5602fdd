"""Light-load latency and a dead validator: the two scenarios of issue 18 for ``bench.run``.

``light_load``: one transaction at a time, each submitted with ``?wait`` and timed from the
submit to its receipt (the client's view of latency when nothing else is going on); the
block rate over the same window. ``kill_validator``: SIGKILL one validator (an index, or the
current primary) of a local network, then one warm-up transaction absorbs the view change it
causes, so what is measured next is the steady state with that validator dead.
"""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Sequence
from typing import Any

from bench.harness.figures import latency_quantiles
from bench.harness.stats import LatencySummary

WAIT_S = 30.0


def _height(urls: Sequence[str]) -> int:
    from chainnode.client.sdk import Client, ClientError

    best = -1
    for url in urls:
        try:
            with Client(url, timeout=5) as c:
                best = max(best, int(c.status()["height"]))
        except (ClientError, OSError):
            continue
    return best


def timed_tx(url: str, account: Any, chain_id: str, key: str, block_limit: int) -> float:
    """Seconds from submitting one ``records.put`` with ``?wait`` to holding its receipt."""
    from chainnode.client.sdk import Client

    tx = account.sign(chain_id, "records", "put", [key, 1], block_limit=block_limit)
    with Client(url, timeout=WAIT_S + 10) as c:
        t0 = time.perf_counter()
        res = c.submit([tx], wait=WAIT_S)
        took = time.perf_counter() - t0
    if not res.receipts or res.receipts[0] is None:
        raise RuntimeError(f"no receipt within {WAIT_S} s from {url}")
    return took


def light_load(urls: Sequence[str], chain_id: str, count: int, window: int) -> dict[str, Any]:
    """``count`` transactions one after another, round-robin over ``urls``."""
    from chainnode.client.sdk import Account

    acct = Account.generate()
    h0 = _height(urls)
    t0 = time.monotonic()
    lat: list[float] = []
    for i, url in zip(range(count), itertools.cycle(urls), strict=False):
        # each tx waited for its block, so the chain is at h0 + i or above: the window moves
        # with it (a fixed limit expired the run's txs after `window` of them)
        lat.append(timed_tx(url, acct, chain_id, f"light-{i}", h0 + i + window - 1))
    elapsed = time.monotonic() - t0
    h1 = _height(urls)
    s = LatencySummary.of(lat)
    return {
        "mode": "light_load",
        "txs": count,
        "latency_p50_s": s.p50,
        "latency_p95_s": s.p95,
        "latency_p99_s": s.p99,
        "latency_max_s": s.max,
        "latency_mean_s": s.mean,
        "blocks": h1 - h0,
        "blocks_per_s": (h1 - h0) / elapsed if elapsed > 0 else None,
        "elapsed_s": elapsed,
        "series": {"latency_quantiles": latency_quantiles(lat)},
    }


def primary_index(urls: Sequence[str]) -> int:
    from chainnode.client.sdk import Client

    with Client(urls[0], timeout=5) as c:
        st = c.status()
    return int(str(st["primary_node_id"]).removeprefix("node"))


def kill_validator(net: Any, which: str, chain_id: str, window: int) -> dict[str, Any]:
    """SIGKILL validator ``which`` (an index or ``primary``) of a ``LocalNetwork``; then one
    warm-up transaction to a live node, whose latency (the view change) is reported apart."""
    from chainnode.client.sdk import Account

    idx = primary_index(net.urls) if which == "primary" else int(which)
    was_primary = idx == primary_index(net.urls)
    proc = net.procs[idx]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    net.killed.add(idx)
    live = [u for i, u in enumerate(net.urls) if i != idx]
    h = _height(live)
    warm = timed_tx(live[0], Account.generate(), chain_id, "warm-up-after-kill", h + window - 1)
    return {"killed": idx, "was_primary": was_primary, "first_tx_after_kill_s": warm}
