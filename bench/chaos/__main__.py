"""``python -m bench.chaos [--duration S] [--seed N] [--json FILE]``: see bench/chaos/__init__.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.chaos.nemesis import KINDS
from bench.chaos.run import Options, Runner, max_recovery, summary_counts, write_json
from bench.harness.cluster import REPO_ROOT

DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "chaos.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description="Run a real local network under load and a seeded schedule of faults, then "
        "check agreement, durability, no duplicates, liveness, crashes, memory and "
        "Byzantine detection.",
    )
    p.add_argument(
        "--duration", type=float, default=1200.0, help="seconds of faults (default 1200)"
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--rate", type=float, default=20.0, help="client txs per second")
    p.add_argument(
        "--faults",
        default=",".join(KINDS),
        help=f"kinds to inject (default all: {','.join(KINDS)})",
    )
    p.add_argument("--hold", default="2,5", help="min,max seconds a fault lasts (default 2,5)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="result document")
    p.add_argument("--keep", action="store_true", help="keep the network directory (logs)")
    return p.parse_args(argv)


def render(result: dict[str, Any]) -> str:
    lines = []
    counts = summary_counts(result["faults"])
    lines.append(f"{'fault':<14}{'injected':>9}{'max recovery s':>16}")
    for kind, n in sorted(counts.items()):
        mine = [f for f in result["faults"] if f["kind"] == kind]
        lines.append(f"{kind:<14}{n:>9}{max_recovery(mine) or '-':>16}")
    for kind, why in result["skipped"].items():
        lines.append(f"{kind:<14}{'skipped':>9}  {why}")
    t = result["txs"]
    lines.append("")
    lines.append(
        f"txs: submitted {t['submitted']}, acknowledged {t['acknowledged']}, committed "
        f"{t['committed']}, lost {t['lost']}, duplicated {t['duplicated']}, "
        f"rejected {dict(t['rejected'])}"
    )
    lines.append(
        f"height {result['height']}, max recovery {max_recovery(result['faults'])}s, "
        f"elapsed {result.get('elapsed_s')}s"
    )
    lines.append("")
    lines.append(f"{'invariant':<18}{'result':<8}detail")
    for name, r in result["invariants"].items():
        lines.append(f"{name:<18}{'PASS' if r['ok'] else 'FAIL':<8}{r['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
    unknown = set(kinds) - set(KINDS)
    if unknown:
        print(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}", file=sys.stderr)
        return 2
    lo, hi = (float(x) for x in args.hold.split(","))
    opts = Options(
        validators=args.validators,
        duration_s=args.duration,
        seed=args.seed,
        rate=args.rate,
        kinds=kinds,
        hold=(lo, hi),
        keep=args.keep,
    )
    result = Runner(opts).run()
    result["options"] = {k: str(v) for k, v in vars(args).items()}
    print(render(result))
    write_json(result, args.json)
    print(f"\nwrote {args.json}")
    return 0 if all(r["ok"] for r in result["invariants"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
