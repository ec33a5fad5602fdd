"""Joining by snapshot vs by replay (issue 21): ``python -m bench.snapshot_sync``.

    python -m bench.snapshot_sync [--txs 200000] [--validators 4] [--interval 25] [--lag 4]
                                  [--repeat 3]
                             [--json bench/results/snapshot.json] [--keep]

Starts a local network through the CLI (``bench.harness.cluster.LocalNetwork``) whose genesis
checkpoints the state every ``--interval`` blocks, commits ``--txs`` presigned transactions
(``bench.harness.presign``, cached in ``.bench-cache/``), then times two new nodes, one after
the other on the same idle network, from process start until ready at the validators' head
(``/readyz`` 200 and the height reached): one started with ``--sync replay`` (every block from
genesis, executed), one with ``--sync snapshot``, ``--repeat`` times each, alternated, from an
empty data directory each time. Both are observers admitted by the validators' config. Prints
a table and writes JSON; the figure is the ratio of the two median times.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import msgpack
import tomli_w

from bench.harness import presign
from bench.harness.cluster import REPO_ROOT, ClusterError, LocalNetwork, child_env, free_port_base
from bench.harness.machine import machine_info
from bench.harness.report import table, write_json

DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "snapshot_sync.json"
DEFAULT_CACHE = REPO_ROOT / ".bench-cache"
BATCH = 2000
MAX_MEMPOOL = 20_000  # submit only while every node's mempool is below this


def _get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return 0, None


def _status(url: str) -> dict[str, Any]:
    code, st = _get(url + "/v1/status")
    if code != 200 or not isinstance(st, dict):
        raise ClusterError(f"{url}: no status ({code})")
    return st


def _submit(url: str, raws: list[bytes]) -> None:
    body = msgpack.packb(raws, use_bin_type=True)
    req = urllib.request.Request(
        url + "/v1/transactions", body, {"Content-Type": "application/msgpack"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        resp.read()


def add_observer(net: LocalNetwork, name: str) -> tuple[Path, str]:
    """A node directory with its own key and ports (not yet admitted); (config, API URL)."""
    from chainnode.deploy.layout import CONFIG, GENESIS, NODE_KEY
    from chainnode.model.keys import save_private_key
    from chainnode.node.config import NodeConfig, write_config
    from crypto import sm2

    base = free_port_base(2)
    ndir = net.workdir / name
    key = sm2.PrivateKey.generate()
    save_private_key(ndir / NODE_KEY, "sm", key.to_bytes())
    cfg = NodeConfig(node_id=name, genesis=Path("..") / GENESIS, api_port=base, p2p_port=base + 1)
    write_config(ndir / CONFIG, cfg)
    for i in range(net.validators):  # the validators admit it
        path = net.config_path(i)
        data = tomllib.loads(path.read_text())
        data["observers"] = [*data.get("observers", []), key.public_key().to_bytes().hex()]
        path.write_text(tomli_w.dumps(data))
    return ndir / CONFIG, f"http://127.0.0.1:{base}"


def load(net: LocalNetwork, txs: presign.SignedTxs) -> float:
    """Submit every tx (round robin, bounded mempools) and wait until all are committed;
    returns the seconds it took."""
    started = time.monotonic()
    n = len(txs.raws)
    sent = 0
    turn = 0
    while sent < n:
        url = net.urls[turn % len(net.urls)]
        turn += 1
        if _status(url)["mempool"] > MAX_MEMPOOL:
            time.sleep(0.05)
            continue
        try:
            _submit(url, txs.raws[sent : sent + BATCH])
        except urllib.error.HTTPError as e:
            if e.code != 503:  # 503 BUSY: the node sheds load; the same batch again later
                raise
            time.sleep(0.2)
            continue
        sent += BATCH
        print(f"\r  submitted {min(sent, n)}/{n}", end="", flush=True)
    print()
    while any(_status(u)["mempool"] for u in net.urls):
        net.check_alive()
        time.sleep(0.2)
    return time.monotonic() - started


def advance(net: LocalNetwork, chain_id: str, to_height: int) -> None:
    """Single-tx blocks until the head reaches ``to_height`` (the chain idles otherwise)."""
    from chainnode.client.sdk import Account, Client

    user = Account.generate()
    with Client(net.urls[0], timeout=30) as c:
        n = 0
        while int(c.status()["height"]) < to_height:
            n += 1
            out = c.send(user, "records", "put", [f"bench-tick-{n}", n], wait=30)
            if not out.committed:
                raise ClusterError(f"tick tx not committed: {out}")


def time_join(config: Path, url: str, mode: str, head: int, log: Path) -> dict[str, Any]:
    """Start a node with ``--sync mode``; seconds until it is ready at ``head``."""
    import subprocess

    with log.open("ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "chainnode", "start", "--config", str(config), "--sync", mode],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
    try:
        while True:
            if proc.poll() is not None:
                raise ClusterError(f"the {mode} node exited; see {log}")
            code, st = _get(url + "/v1/status", 1.0)
            if code == 200 and int(st["height"]) >= head and _get(url + "/readyz", 1.0)[0] == 200:
                took = time.monotonic() - started
                break
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    return {"sync": mode, "ready_s": took, "height": head}


# long: the command's one linear script: options, network, load, timed joins, report
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.snapshot_sync", description=__doc__)
    ap.add_argument("--txs", type=int, default=200_000)
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--interval", type=int, default=25, help="genesis snapshot_interval")
    ap.add_argument("--lag", type=int, default=4, help="genesis snapshot_lag")
    ap.add_argument("--workload", default="evidence")
    ap.add_argument("--repeat", type=int, default=3, help="timed joins of each kind")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--keep", action="store_true", help="keep the network directory")
    args = ap.parse_args(argv)
    net = LocalNetwork(args.validators, keep=args.keep)
    try:
        net.init()
        net.set_consensus({"snapshot_interval": args.interval, "snapshot_lag": args.lag})
        replay_cfg, replay_url = add_observer(net, "replay")
        snap_cfg, snap_url = add_observer(net, "snap")
        chain_id = str(net.genesis()["chain_id"])
        window = net.block_limit_window()
        params = presign.SignParams(args.workload, "load", args.txs, chain_id, block_limit=window)
        txs, cached = presign.presign(params, DEFAULT_CACHE)
        net.start()
        net.wait_ready()
        print(f"committing {args.txs} {args.workload} txs on {args.validators} validators")
        load_s = load(net, txs)
        head = int(_status(net.urls[0])["height"])
        advance(net, chain_id, head + args.lag + 1)  # the newest checkpoint is carried
        head = min(int(_status(u)["height"]) for u in net.urls)
        print(f"chain at height {head}; timing the joiners")
        runs: list[dict[str, Any]] = []
        for k in range(args.repeat):  # alternated: a busy spell of the machine hits both
            for name, cfg, url in (
                ("replay", replay_cfg, replay_url),
                ("snap", snap_cfg, snap_url),
            ):
                shutil.rmtree(net.workdir / name / "data", ignore_errors=True)
                mode = "replay" if name == "replay" else "snapshot"
                run = time_join(cfg, url, mode, head, net.workdir / name / "node.log")
                runs.append({**run, "run": k + 1})
                print(f"  {mode}: {run['ready_s']:.2f} s")
    finally:
        net.cleanup()
    rows = [
        {
            "sync": mode,
            "runs": len(times),
            "median_ready_s": statistics.median(times),
            "min_ready_s": min(times),
            "max_ready_s": max(times),
            "height": head,
        }
        for mode in ("replay", "snapshot")
        for times in [[r["ready_s"] for r in runs if r["sync"] == mode]]
    ]
    ratio = rows[0]["median_ready_s"] / rows[1]["median_ready_s"]
    doc = {
        "txs": args.txs,
        "workload": args.workload,
        "validators": args.validators,
        "snapshot_interval": args.interval,
        "snapshot_lag": args.lag,
        "presigned_from_cache": cached,
        "load_s": load_s,
        "height": head,
        "joins": rows,
        "runs": runs,
        "replay_over_snapshot": ratio,
        "target": 10.0,
        "machine": machine_info(),
    }
    print(table(rows))
    verdict = "meets" if ratio >= 10 else "BELOW"
    print(f"replay / snapshot (medians): {ratio:.1f}x ({verdict} the 10x target)")
    write_json(args.json, doc)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
