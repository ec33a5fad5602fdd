"""How much a junk flood from one validator slows the others: ``python -m bench.chaos.flood``.

A 4-validator chaos network under a steady load; blocks/s and committed tx/s over a window
with every node honest, then over a window of the same length while one backup floods
(``flood_forged``: ~6,000 junk PREPAREs a second for the next heights, half naming honest
validators as senders, half random keys), alternating a few times; prints the ratio. Issue
18's bound: the flood must not slow the others by more than 10% (ratio >= 0.9).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.chaos.cluster import ChaosNetwork
from bench.chaos.load import Load


def window(net: ChaosNetwork, seconds: float) -> tuple[float, float]:
    """(blocks/s, committed tx/s) over ``seconds``, seen from the highest node."""
    h0 = max(net.heights().values())
    t0 = time.monotonic()
    time.sleep(seconds)
    h1 = max(net.heights().values())
    spent = time.monotonic() - t0
    i = max(net.heights().items(), key=lambda kv: kv[1])[0]
    txs = sum(
        len(net.get(i, f"/v1/blocks/{x}?txs=false")["block"]["tx_hashes"])
        for x in range(h0 + 1, h1 + 1)
    )
    return (h1 - h0) / spent, txs / spent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.chaos.flood", description=__doc__)
    ap.add_argument("--rate", type=float, default=200.0, help="offered tx/s")
    ap.add_argument("--window", type=float, default=15.0, help="seconds per window")
    ap.add_argument("--rounds", type=int, default=2, help="honest/flooded window pairs")
    ap.add_argument("--flooder", type=int, default=2, help="the flooding validator")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    net = ChaosNetwork(4)
    net.init()
    net.set_consensus({"view_change_timeout_ms": 1000, "request_timeout_ms": 1500})
    net.start()
    rows = []
    try:
        net.wait_ready(timeout=120)
        load = Load(net, args.rate, 1)
        load.start()
        window(net, 3.0)  # warm-up
        for _ in range(args.rounds):
            honest = window(net, args.window)
            acts = net.byzantine(args.flooder, ["flood_forged"])
            flooded = window(net, args.window)
            acts = net.byzantine(args.flooder, [])
            rows.append({"honest": honest, "flooded": flooded, "acts": acts.get("acts", {})})
            print(
                f"honest {honest[0]:.2f} blocks/s {honest[1]:.0f} tx/s | flooded "
                f"{flooded[0]:.2f} blocks/s {flooded[1]:.0f} tx/s | {acts.get('acts')}",
                flush=True,
            )
        load.stop()
    finally:
        net.cleanup()
    hb = sum(r["honest"][0] for r in rows)
    fb = sum(r["flooded"][0] for r in rows)
    ht = sum(r["honest"][1] for r in rows)
    ft = sum(r["flooded"][1] for r in rows)
    out = {
        "rate": args.rate,
        "rounds": rows,
        "blocks_ratio": fb / hb if hb else None,
        "tx_ratio": ft / ht if ht else None,
    }
    print(
        f"flooded/honest: blocks/s {out['blocks_ratio']:.3f}, committed tx/s {out['tx_ratio']:.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
