"""``python -m consensus.soak --seeds N``: run N random fault schedules and summarise.

Each seed expands to a fault script (``consensus.sim.schedules.random_script``); a failing
seed prints its script so it can be pinned under tests/testdata/consensus/regressions/ and
replayed with ``--script PATH``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter

from consensus.sim.schedules import run_script, run_seed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m consensus.soak", description=__doc__)
    ap.add_argument("--seeds", type=int, default=1000, help="how many schedules")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--json", help="also write the summary as JSON here")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--script", help="run one fault script (e.g. a pinned regression) instead")
    args = ap.parse_args(argv)

    if args.script:
        with open(args.script, encoding="utf-8") as fh:
            out = run_script(fh.read())
        print(f"{args.script}: {'ok' if out.ok else 'FAIL ' + out.error}")
        print(f"  heights {out.heights}, steps {out.steps}, live {out.live_after} after heal")
        return 0 if out.ok else 1

    began = time.perf_counter()
    failures: list[tuple[int, str, str]] = []
    by_n: Counter[int] = Counter()
    steps = 0
    live_times: list[int] = []
    for i, seed in enumerate(range(args.start, args.start + args.seeds)):
        out = run_seed(seed)
        by_n[out.n] += 1
        steps += out.steps
        if out.ok:
            live_times.append(out.live_after)
        else:
            failures.append((seed, out.error, out.script))
            print(f"FAIL seed {seed}: {out.error}", file=sys.stderr)
        if not args.quiet and (i + 1) % 500 == 0:
            rate = (i + 1) / (time.perf_counter() - began)
            print(f"  {i + 1}/{args.seeds} schedules, {len(failures)} failed, {rate:.0f}/s")
    elapsed = time.perf_counter() - began
    live_times.sort()
    summary = {
        "seeds": args.seeds,
        "first_seed": args.start,
        "passed": args.seeds - len(failures),
        "failed": len(failures),
        "failed_seeds": [s for s, _, _ in failures],
        "by_n": {str(k): v for k, v in sorted(by_n.items())},
        "steps": steps,
        "seconds": round(elapsed, 2),
        "liveness_after_heal_p50": live_times[len(live_times) // 2] if live_times else None,
        "liveness_after_heal_max": live_times[-1] if live_times else None,
    }
    print("consensus soak")
    for key, value in summary.items():
        print(f"  {key:<26} {value}")
    for seed, error, script in failures[:10]:
        print(f"\n# seed {seed}: {error}\n{script}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
