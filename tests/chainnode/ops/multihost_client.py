"""Client side of the multi-host test, run inside the test's private network namespace:
wait for the validators, send N transactions spread over them, wait until every validator
has committed all of them, compare the chains, print a JSON summary."""

from __future__ import annotations

import argparse
import json
import sys
import time

from chainnode.client.sdk import Account, Client, ClientError


def _wait(cond, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (ClientError, OSError) as e:
            last = e
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what} ({last})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--txs", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=90)
    a = ap.parse_args()
    urls = a.nodes.split(",")
    clients = [Client(u, timeout=30) for u in urls]
    t0 = time.monotonic()
    for c in clients:
        _wait(lambda c=c: c.status()["height"] >= 1, a.timeout, f"first block on {c.url}")
    started = time.monotonic() - t0
    acct = Account.generate()
    hashes: list[str] = []
    batch = 50
    for k in range(0, a.txs, batch):
        c = clients[(k // batch) % len(clients)]
        txs = [
            c.build(acct, "records", "put", [f"mh-{i}", i]) for i in range(k, min(a.txs, k + batch))
        ]
        hashes += c.submit(txs).hashes
    t1 = time.monotonic()
    want = set(hashes)
    seen: list[set[str]] = [set() for _ in clients]
    next_h = [1 for _ in clients]

    def all_committed() -> bool:
        for i, c in enumerate(clients):
            top = c.status()["height"]
            while next_h[i] <= top:
                b = c.request("GET", f"/v1/blocks/{next_h[i]}?txs=false")["block"]
                seen[i].update(b["tx_hashes"])
                next_h[i] += 1
        return all(want <= s for s in seen)

    _wait(all_committed, a.timeout, "all txs committed on every node")
    elapsed = time.monotonic() - t1
    top = min(c.status()["height"] for c in clients)
    chains = [[c.block(h)["block"]["hash"] for h in range(1, top + 1)] for c in clients]
    peers = [len(c.status()["peers"]) for c in clients]
    json.dump(
        {
            "committed_on_all": len(want),
            "same_chain": all(ch == chains[0] for ch in chains),
            "height": top,
            "peers": peers,
            "startup_s": round(started, 2),
            "commit_s": round(elapsed, 2),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
