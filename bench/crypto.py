"""Crypto micro-benchmark: `python -m bench.crypto [--seconds S] [--json PATH]`.

Measures, in one run: SM3 throughput, SM4-GCM seal/open per backend (native GFNI or AES-NI vs OpenSSL),
SM2 sign/verify per backend (native, openssl, gmssl), batch verify through
`crypto.verify_batch` on one thread and on one per core, and `openssl speed -seconds S sm2`
for the reference (`--only sm4` for the cipher alone); prints a table and writes JSON (default
bench/results/crypto.json) and a PNG beside it (ops per CPU second by primitive and backend,
the ratios). Ratios are only meaningful within one run: the machine is shared
and absolute numbers drift, so the ratio measurements alternate in rounds and each ratio is
the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import figures, machine
from crypto import CryptoError, _openssl, batch, sm2, sm3, sm4
from crypto.suite import get_suite

TARGET_VERIFY_RATIO = 6.0  # default (native) verify / `openssl speed sm2` verify, per CPU s
TARGET_OPENSSL_VERIFY_RATIO = 0.85  # the openssl backend's overhead over libcrypto itself
TARGET_BATCH_SPEEDUP = 1.8  # batch on all cores (2 here) / batch on one


def rates(fn: Callable[[], object], seconds: float, min_ops: int = 3) -> tuple[float, float]:
    """(operations per wall second, per CPU second of this process) over about `seconds`."""
    fn()  # warm caches
    ops = 0
    start, cpu0 = time.perf_counter(), time.process_time()
    deadline = start + seconds
    while True:
        fn()
        ops += 1
        if ops >= min_ops and time.perf_counter() >= deadline:
            break
    wall = time.perf_counter() - start
    cpu = max(time.process_time() - cpu0, 1e-9)
    return ops / wall, ops / cpu


def rate(fn: Callable[[], object], seconds: float, min_ops: int = 3) -> float:
    return rates(fn, seconds, min_ops)[0]


def bench_sm3(seconds: float) -> dict[str, float]:
    block = os.urandom(1 << 20)
    tx = os.urandom(200)
    mb_s, mb_cpu = rates(lambda: sm3.digest(block), seconds)
    tx_s, tx_cpu = rates(lambda: sm3.digest(tx), seconds / 2, min_ops=1000)
    return {
        "sm3_mb_per_s": mb_s,
        "sm3_mb_per_cpu_s": mb_cpu,
        "sm3_200b_per_s": tx_s,
        "sm3_200b_per_cpu_s": tx_cpu,
    }


SM4_SIZES = (1024, 65536)


def _sm4_rates(box: sm4.SM4GCM, size: int, seconds: float) -> dict[str, float]:
    nonce, aad, pt = os.urandom(12), os.urandom(4), os.urandom(size)
    ct = box.encrypt(nonce, pt, aad)
    seal, seal_cpu = rates(lambda: box.encrypt(nonce, pt, aad), seconds, min_ops=20)
    opened, open_cpu = rates(lambda: box.decrypt(nonce, ct, aad), seconds, min_ops=20)
    mb = size / 1e6
    return {
        "seal_mb_per_s": seal * mb,
        "seal_mb_per_cpu_s": seal_cpu * mb,
        "open_mb_per_s": opened * mb,
        "open_mb_per_cpu_s": open_cpu * mb,
    }


def bench_sm4_gcm(seconds: float) -> dict[str, Any]:
    """SM4-GCM MB/s per backend and size; the ratio is native/openssl seal per CPU second."""
    key = os.urandom(16)
    out: dict[str, Any] = {"active": sm4.gcm_backend_info()}
    for be in ("native", "openssl"):
        try:
            box = sm4.SM4GCM(key, backend=be)
        except CryptoError as exc:
            out[be] = {"error": str(exc)}
            continue
        out[be] = {str(size): _sm4_rates(box, size, seconds / 4) for size in SM4_SIZES}
    big = str(SM4_SIZES[-1])
    out["native_over_openssl"] = (
        out["native"][big]["seal_mb_per_cpu_s"] / out["openssl"][big]["seal_mb_per_cpu_s"]
        if "error" not in out["native"]
        else None
    )
    return out


def sm4_rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    def f(v: float) -> str:
        return f"{v:,.0f} MB/s"

    rows = [("SM4-GCM active backend", r["active"])]
    for be in ("native", "openssl"):
        if "error" in r[be]:
            rows.append((f"SM4-GCM ({be})", r[be]["error"]))
            continue
        for size, v in r[be].items():
            rows.append(
                (
                    f"SM4-GCM seal / open, {int(size) // 1024} KiB ({be})",
                    f"{f(v['seal_mb_per_s'])} / {f(v['open_mb_per_s'])} wall, "
                    f"{f(v['seal_mb_per_cpu_s'])} / {f(v['open_mb_per_cpu_s'])} CPU",
                )
            )
    ratio = r["native_over_openssl"]
    rows.append(
        (
            f"ratio SM4-GCM native/openssl, {SM4_SIZES[-1] // 1024} KiB seal per CPU s",
            "n/a" if ratio is None else f"{ratio:.1f}x",
        )
    )
    return rows


SIGNED_MESSAGES = 256


def verifier(backend: str) -> Callable[[], bool]:
    """A call that verifies the next of SIGNED_MESSAGES distinct signatures by one key, in a
    cycle: a repeated (message, signature) would let branch predictors and caches learn the
    one scalar, which flatters the native code (~30%) and no chain ever sees."""
    key = sm2.PrivateKey.generate(backend=backend)
    pub = key.public_key()
    pairs = []
    for _ in range(SIGNED_MESSAGES):
        msg = os.urandom(200)
        pairs.append((msg, key.sign(msg)))
    nxt = itertools.cycle(pairs).__next__
    verify = pub.verify

    def one() -> bool:
        msg, sig = nxt()
        return verify(msg, sig)

    return one


def bench_sm2(backend: str, seconds: float) -> dict[str, float]:
    key = sm2.PrivateKey.generate(backend=backend)
    pub = key.public_key()
    msg = os.urandom(200)
    sig = key.sign(msg)
    out: dict[str, float] = {}
    out["sign_per_s"], out["sign_per_cpu_s"] = rates(lambda: key.sign(msg), seconds)
    out["verify_per_s"], out["verify_per_cpu_s"] = rates(verifier(backend), seconds)
    if backend == "openssl":  # the textbook EVP_DigestVerify path, for comparison
        handle, uid = pub._handle, sm2.DEFAULT_ID
        out["digestverify_per_s"], out["digestverify_per_cpu_s"] = rates(
            lambda: _openssl.digest_verify(handle, msg, sig, uid), seconds
        )
    return out


def batch_runner(batch_size: int) -> Callable[[int, float], tuple[float, float]]:
    """Signed items (64 signers, as a chain's frequent senders) and a measure function:
    measure(threads, seconds) -> (verifies per wall second, per CPU second of this process)."""
    suite = get_suite("sm")
    privs = [suite.generate_private_key() for _ in range(64)]
    items = []
    for i in range(batch_size):
        p = privs[i % len(privs)]
        msg = os.urandom(200)
        items.append((suite.public_key(p), msg, suite.sign(p, msg)))
    for _ in range(16):  # past the signer-table threshold: the steady state of a busy chain
        batch.verify_batch(items, workers=1)

    def measure(threads: int, seconds: float) -> tuple[float, float]:
        cpu0 = time.process_time()  # all threads of this process
        start = time.perf_counter()
        done = 0
        while True:
            res = batch.verify_batch(items, workers=threads)
            assert all(res), "batch verify rejected a valid signature"
            done += len(items)
            if time.perf_counter() - start >= seconds:
                break
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        return done / wall, done / max(cpu, 1e-9)

    return measure


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


def sched_autogroup() -> bool:
    """Linux shares CPU between sessions (not threads) when autogroup is on: on a machine
    other sessions keep busy, a second thread then gets no extra CPU and the wall-clock batch
    ratio shows that, not our scaling."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


# long: the measurement rounds, alternated in one loop (docstring)
def run(seconds: float, batch_size: int, gmssl_seconds: float, rounds: int) -> dict[str, Any]:
    """Single-core verify (default backend and openssl), `openssl speed` and batch verify on
    one thread and on all cores are measured in alternating rounds and each ratio is taken
    within a round (median over rounds): on a shared machine the load drifts, and a ratio of
    two numbers taken a minute apart would mostly measure it."""
    cores = batch.cpu_count()
    out: dict[str, Any] = {
        "bench": "crypto",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": machine.source_commit(Path(__file__).resolve().parents[1]),
        "machine": {
            "cpu_model": machine.cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cores": cores,
            "loadavg_before": os.getloadavg(),
            "sched_autogroup": sched_autogroup(),
        },
        "seconds": seconds,
        "rounds": rounds,
        "sm2_backend": sm2.backend_info(),
    }
    out["sm3"] = bench_sm3(seconds)
    out["sm4_gcm"] = bench_sm4_gcm(seconds)
    out["sm2"] = {}
    for be in ("native", "openssl"):
        try:
            out["sm2"][be] = bench_sm2(be, seconds)
        except CryptoError as exc:
            out["sm2"][be] = {"error": str(exc)}
    out["sm2"]["gmssl"] = bench_sm2("gmssl", gmssl_seconds)
    verify_default, verify_openssl = verifier(sm2.backend_name()), verifier("openssl")
    measure_batch = batch_runner(batch_size)
    per_round: list[dict[str, Any]] = []
    for _ in range(rounds):
        ours, ours_cpu = rates(verify_default, seconds)
        ossl, ossl_cpu = rates(verify_openssl, seconds)
        speed = openssl_speed(seconds)
        one, one_cpu = measure_batch(1, seconds)
        many, many_cpu = measure_batch(cores, seconds)
        per_round.append(
            {
                "verify_per_s": ours,
                "verify_per_cpu_s": ours_cpu,
                "openssl_backend_verify_per_s": ossl,
                "openssl_backend_verify_per_cpu_s": ossl_cpu,
                "openssl_speed": speed,
                "batch_1_per_s": one,
                "batch_1_per_cpu_s": one_cpu,
                "batch_per_s": many,
                "batch_per_cpu_s": many_cpu,
            }
        )
    out["rounds_detail"] = per_round
    med = statistics.median
    ref_ok = all("verify_per_s" in r["openssl_speed"] for r in per_round)
    out["openssl_speed"] = (
        {
            "verify_per_s": med(r["openssl_speed"]["verify_per_s"] for r in per_round),
            "sign_per_s": med(r["openssl_speed"]["sign_per_s"] for r in per_round),
            "version": per_round[0]["openssl_speed"]["version"],
        }
        if ref_ok
        else per_round[0]["openssl_speed"]
    )
    out["verify_rounds"] = {
        "default_backend": sm2.backend_name(),
        "verify_per_s": med(r["verify_per_s"] for r in per_round),
        "verify_per_cpu_s": med(r["verify_per_cpu_s"] for r in per_round),
        "openssl_backend_verify_per_s": med(r["openssl_backend_verify_per_s"] for r in per_round),
        "openssl_backend_verify_per_cpu_s": med(
            r["openssl_backend_verify_per_cpu_s"] for r in per_round
        ),
    }
    out["batch"] = {
        "batch_verify_per_s": med(r["batch_per_s"] for r in per_round),
        "batch_1_verify_per_s": med(r["batch_1_per_s"] for r in per_round),
        "batch_threads": cores,
        "batch_size": batch_size,
    }

    def vs_speed(key: str) -> float | None:
        if not ref_ok:
            return None
        return float(med(r[key] / r["openssl_speed"]["verify_per_s"] for r in per_round))

    sign_cpu = out["sm2"]["openssl"].get("sign_per_cpu_s")
    out["ratios"] = {
        # `openssl speed` counts user CPU time (not wall time) unless -elapsed: compare per
        # CPU-second, which also keeps the ratio honest when other processes share the cores
        "verify_ours_over_openssl_speed": vs_speed("verify_per_cpu_s"),
        "verify_ours_wall_over_openssl_speed": vs_speed("verify_per_s"),
        "verify_openssl_backend_over_openssl_speed": vs_speed("openssl_backend_verify_per_cpu_s"),
        "sign_ours_over_openssl_speed": (
            sign_cpu / out["openssl_speed"]["sign_per_s"] if ref_ok and sign_cpu else None
        ),
        "batch_over_single_core": med(r["batch_per_s"] / r["batch_1_per_s"] for r in per_round),
        # load-independent estimate: threads x (batch verifies per CPU s on all cores / on
        # one), i.e. the speedup on otherwise idle cores
        "batch_speedup_cpu_estimate": med(
            cores * r["batch_per_cpu_s"] / r["batch_1_per_cpu_s"] for r in per_round
        ),
        "openssl_over_gmssl_verify": out["sm2"]["openssl"]["verify_per_cpu_s"]
        / out["sm2"]["gmssl"]["verify_per_cpu_s"],
    }
    out["targets"] = {
        "verify_ratio": TARGET_VERIFY_RATIO,
        "openssl_backend_verify_ratio": TARGET_OPENSSL_VERIFY_RATIO,
        "batch_speedup": TARGET_BATCH_SPEEDUP,
    }
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


# long: the report table, one row each
def table(r: dict[str, Any]) -> str:
    def f(v: float | None, unit: str = "") -> str:
        return "n/a" if v is None else f"{v:,.1f}{unit}"

    rows = [
        (
            "SM3, 1 MiB blocks",
            f"{f(r['sm3']['sm3_mb_per_s'], ' MB/s')} wall, "
            f"{f(r['sm3']['sm3_mb_per_cpu_s'], ' MB/s')} CPU",
        ),
        (
            "SM3, 200-byte messages",
            f"{f(r['sm3']['sm3_200b_per_s'], ' /s')} wall, "
            f"{f(r['sm3']['sm3_200b_per_cpu_s'], ' /s')} CPU",
        ),
    ]
    rows += sm4_rows(r["sm4_gcm"])
    rows.append(("SM2 default backend", r["sm2_backend"]))
    for be, v in r["sm2"].items():
        if "error" in v:
            rows.append((f"SM2 ({be})", v["error"]))
            continue
        for op, label in (("sign", "sign"), ("verify", "verify"), ("digestverify", "verify")):
            if f"{op}_per_s" not in v:
                continue
            how = ", EVP_DigestVerify path" if op == "digestverify" else ""
            rows.append(
                (
                    f"SM2 {label} ({be}{how})",
                    f"{f(v[op + '_per_s'], ' /s')} wall, {f(v[op + '_per_cpu_s'], ' /s')} CPU",
                )
            )
    vr_ = r["verify_rounds"]
    rows.append(
        (
            f"SM2 verify ({vr_['default_backend']}, default, alternating rounds)",
            f"{f(vr_['verify_per_s'], ' /s')} wall, {f(vr_['verify_per_cpu_s'], ' /s')} CPU",
        )
    )
    rows.append(
        (
            "SM2 verify (openssl backend, alternating rounds)",
            f"{f(vr_['openssl_backend_verify_per_s'], ' /s')} wall, "
            f"{f(vr_['openssl_backend_verify_per_cpu_s'], ' /s')} CPU",
        )
    )
    b = r["batch"]
    rows.append(
        (
            f"SM2 batch verify, 1 thread ({b['batch_size']}/batch, rounds)",
            f(b["batch_1_verify_per_s"], " /s wall"),
        )
    )
    rows.append(
        (
            f"SM2 batch verify, {b['batch_threads']} threads ({b['batch_size']}/batch, rounds)",
            f(b["batch_verify_per_s"], " /s wall"),
        )
    )
    sp = r["openssl_speed"]
    rows.append(("openssl speed sm2: sign (rounds)", f(sp.get("sign_per_s"), " /s CPU")))
    rows.append(("openssl speed sm2: verify (rounds)", f(sp.get("verify_per_s"), " /s CPU")))
    ra = r["ratios"]

    def x(v: float | None, digits: int = 2) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}x"

    rows.append(
        (
            f"ratio verify default/openssl speed, per CPU s (target >= {TARGET_VERIFY_RATIO})",
            x(ra["verify_ours_over_openssl_speed"]),
        )
    )
    rows.append(
        ("ratio verify default/openssl speed, wall", x(ra["verify_ours_wall_over_openssl_speed"]))
    )
    rows.append(
        (
            "ratio verify openssl backend/openssl speed, per CPU s "
            f"(target >= {TARGET_OPENSSL_VERIFY_RATIO})",
            x(ra["verify_openssl_backend_over_openssl_speed"], 3),
        )
    )
    rows.append(
        (
            f"ratio batch {b['batch_threads']} threads/1 thread, wall "
            f"(target >= {TARGET_BATCH_SPEEDUP})",
            x(ra["batch_over_single_core"]),
        )
    )
    rows.append(
        ("batch speedup estimate from CPU time (idle cores)", x(ra["batch_speedup_cpu_estimate"]))
    )
    m = r["machine"]
    if m.get("sched_autogroup") and m["loadavg_before"][0] > m["cores"]:
        rows.append(
            (
                "note",
                "busy machine with sched_autogroup: CPU is shared per session, so the wall "
                "batch ratio is capped by our share; use the CPU-time estimate",
            )
        )
    rows.append(("ratio verify openssl/gmssl backend", f"{ra['openssl_over_gmssl_verify']:.1f}x"))
    la, lb = r["machine"]["loadavg_before"][0], r["machine"]["loadavg_after"][0]
    rows.append(("load average (1 min) before / after", f"{la:.2f} / {lb:.2f}"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{'measure':<{width}}  value", "-" * (width + 20)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.crypto", description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0, help="per measurement (default 3)")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--gmssl-seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3, help="alternating ratio rounds")
    ap.add_argument("--only", choices=("all", "sm4"), default="all")
    ap.add_argument("--json", type=Path, default=Path("bench/results/crypto.json"))
    ap.add_argument("--png", type=Path, default=None, help="PNG report (default: beside --json)")
    ap.add_argument("--no-png", action="store_true", help="write no PNG")
    args = ap.parse_args(argv)
    if args.only == "sm4":
        gcm = bench_sm4_gcm(args.seconds)
        sm4_only = {"sm4_gcm": gcm, "loadavg": os.getloadavg()}
        width = max(len(k) for k, _ in sm4_rows(gcm))
        for k, v in sm4_rows(gcm):
            print(f"{k:<{width}}  {v}")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(sm4_only, indent=2) + "\n")
        return 0
    result = run(args.seconds, args.batch_size, args.gmssl_seconds, max(1, args.rounds))
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON written to {args.json}", file=sys.stderr)
    if not args.no_png:
        png = args.png or args.json.with_suffix(".png")
        figures.write_crypto_png(png, result)
        print(f"PNG written to {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
