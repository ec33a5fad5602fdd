"""Crypto micro-benchmark: `python -m bench.crypto [--seconds S] [--json PATH]`.

Measures, in one run: SM3 throughput, SM2 sign/verify per backend, batch verify on all cores
through `crypto.verify_batch`'s process pool, and `openssl speed -seconds S sm2` for the
reference; prints a table and writes JSON (default bench/results/crypto.json). Ratios are
only meaningful within one run: the machine is shared and absolute numbers drift.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crypto import batch, sm2, sm3
from crypto.suite import get_suite

TARGET_VERIFY_RATIO = 0.85
TARGET_BATCH_SPEEDUP = 1.7


def rate(fn: Callable[[], object], seconds: float, min_ops: int = 3) -> float:
    """Operations per second of `fn` over about `seconds` of wall time."""
    fn()  # warm caches
    ops = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        fn()
        ops += 1
        if ops >= min_ops and time.perf_counter() >= deadline:
            break
    return ops / (time.perf_counter() - start)


def bench_sm3(seconds: float) -> dict[str, float]:
    block = os.urandom(1 << 20)
    tx = os.urandom(200)
    mb_s = rate(lambda: sm3.digest(block), seconds)
    tx_s = rate(lambda: sm3.digest(tx), seconds / 2, min_ops=1000)
    return {"sm3_mb_per_s": mb_s, "sm3_200b_per_s": tx_s}


def bench_sm2(backend: str, seconds: float) -> dict[str, float]:
    key = sm2.PrivateKey.generate(backend=backend)
    pub = key.public_key()
    msg = os.urandom(200)
    sig = key.sign(msg)
    return {
        "sign_per_s": rate(lambda: key.sign(msg), seconds),
        "verify_per_s": rate(lambda: pub.verify(msg, sig), seconds),
    }


def bench_batch(seconds: float, n_items: int) -> dict[str, float]:
    suite = get_suite("sm")
    privs = [suite.generate_private_key() for _ in range(64)]
    items = []
    for i in range(n_items):
        p = privs[i % len(privs)]
        msg = os.urandom(200)
        items.append((suite.public_key(p), msg, suite.sign(p, msg)))
    workers = batch.cpu_count()
    batch.warm_up(workers)
    batch.verify_batch(items[: 4 * workers * 16], workers=workers)  # warm worker key caches
    start = time.perf_counter()
    done = 0
    while True:
        res = batch.verify_batch(items, workers=workers)
        assert all(res), "batch verify rejected a valid signature"
        done += len(items)
        if time.perf_counter() - start >= seconds:
            break
    per_s = done / (time.perf_counter() - start)
    return {"batch_verify_per_s": per_s, "batch_workers": workers, "batch_size": n_items}


_SPEED_RE = re.compile(
    r"^\s*256 bits SM2 \(CurveSM2\)\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)", re.MULTILINE
)


def openssl_speed(seconds: float) -> dict[str, Any]:
    exe = shutil.which("openssl")
    if exe is None:
        return {"error": "openssl command not found"}
    proc = subprocess.run(
        [exe, "speed", "-seconds", str(max(1, round(seconds))), "sm2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = _SPEED_RE.search(proc.stdout)
    if not m:
        return {"error": "could not parse `openssl speed sm2`", "output": proc.stdout[-500:]}
    version = subprocess.run([exe, "version"], capture_output=True, text=True).stdout.strip()
    return {"sign_per_s": float(m.group(3)), "verify_per_s": float(m.group(4)), "version": version}


def run(seconds: float, batch_size: int, gmssl_seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cores": batch.cpu_count(),
        },
        "seconds": seconds,
    }
    out["sm3"] = bench_sm3(seconds)
    out["sm2"] = {"openssl": bench_sm2("openssl", seconds)}
    out["sm2"]["gmssl"] = bench_sm2("gmssl", gmssl_seconds)
    out["batch"] = bench_batch(seconds, batch_size)
    out["openssl_speed"] = openssl_speed(seconds)
    ours = out["sm2"]["openssl"]["verify_per_s"]
    ref = out["openssl_speed"].get("verify_per_s")
    out["ratios"] = {
        "verify_ours_over_openssl_speed": ours / ref if ref else None,
        "sign_ours_over_openssl_speed": (
            out["sm2"]["openssl"]["sign_per_s"] / out["openssl_speed"]["sign_per_s"]
            if ref
            else None
        ),
        "batch_over_single_core": out["batch"]["batch_verify_per_s"] / ours,
        "openssl_over_gmssl_verify": ours / out["sm2"]["gmssl"]["verify_per_s"],
    }
    out["targets"] = {
        "verify_ratio": TARGET_VERIFY_RATIO,
        "batch_speedup": TARGET_BATCH_SPEEDUP,
    }
    return out


def table(r: dict[str, Any]) -> str:
    def f(v: float | None, unit: str = "") -> str:
        return "n/a" if v is None else f"{v:,.1f}{unit}"

    rows = [
        ("SM3, 1 MiB blocks", f(r["sm3"]["sm3_mb_per_s"], " MB/s")),
        ("SM3, 200-byte messages", f(r["sm3"]["sm3_200b_per_s"], " /s")),
    ]
    for be, v in r["sm2"].items():
        rows.append((f"SM2 sign ({be})", f(v["sign_per_s"], " /s")))
        rows.append((f"SM2 verify ({be})", f(v["verify_per_s"], " /s")))
    b = r["batch"]
    rows.append(
        (
            f"SM2 batch verify ({b['batch_workers']} procs, {b['batch_size']}/batch)",
            f(b["batch_verify_per_s"], " /s"),
        )
    )
    sp = r["openssl_speed"]
    rows.append(("openssl speed sm2: sign", f(sp.get("sign_per_s"), " /s")))
    rows.append(("openssl speed sm2: verify", f(sp.get("verify_per_s"), " /s")))
    ra = r["ratios"]
    vr = ra["verify_ours_over_openssl_speed"]
    rows.append(
        (
            f"ratio verify ours/openssl (target >= {TARGET_VERIFY_RATIO})",
            "n/a" if vr is None else f"{vr:.3f}",
        )
    )
    rows.append(
        (
            f"ratio batch/single core (target >= {TARGET_BATCH_SPEEDUP})",
            f"{ra['batch_over_single_core']:.2f}x",
        )
    )
    rows.append(("ratio verify openssl/gmssl backend", f"{ra['openssl_over_gmssl_verify']:.1f}x"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{'measure':<{width}}  value", "-" * (width + 20)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.crypto", description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--gmssl-seconds", type=float, default=2.0)
    ap.add_argument("--json", type=Path, default=Path("bench/results/crypto.json"))
    args = ap.parse_args(argv)
    result = run(args.seconds, args.batch_size, args.gmssl_seconds)
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON written to {args.json}", file=sys.stderr)
    batch.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
