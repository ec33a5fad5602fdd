"""The machine a run was measured on, and the bound B the result is compared with.

B = cores x single-core SM2 verify/s / validators on this machine: each validator verifies each
transaction once and they share the cores. The verify rate is measured in the same run with
``crypto.sm2`` (in a child process when another SM2 backend is asked for, since the backend is
chosen from the environment at import).
"""

from __future__ import annotations

import json
import os
import platform
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BACKEND_ENV = "CHAINNODE_SM2_BACKEND"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def openssl_versions() -> dict[str, str]:
    out = {"python_ssl": ssl.OPENSSL_VERSION}
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        out["cryptography"] = backend.openssl_version_text()
    except Exception:  # noqa: BLE001  # report what we can
        pass
    return out


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def sm2_backend() -> str | None:
    try:
        from crypto.sm2 import backend_name

        return str(backend_name())
    except Exception:  # noqa: BLE001  # report what we can
        return None


def machine_info() -> dict[str, Any]:
    return {
        "cores": cores(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "openssl": openssl_versions(),
        "sm2_backend_default": sm2_backend(),
        "loadavg_at_start": load_average(),
    }


def sm2_verify_rate(seconds: float = 1.0) -> float:
    """Single-core SM2 verifications per (wall-clock) second through ``crypto.sm2``."""
    return sm2_verify_rates(seconds)[0]


def sm2_verify_rates(seconds: float = 1.0) -> tuple[float, float]:
    """SM2 verifications per wall-clock second and per CPU-second of this thread.

    On an idle core the two agree; on a shared machine the first is what this thread got,
    the second what a core can do."""
    from crypto.sm2 import PrivateKey

    priv = PrivateKey.generate()
    pub = priv.public_key()
    msgs = [os.urandom(200) for _ in range(16)]
    sigs = [priv.sign(m) for m in msgs]
    if not all(pub.verify(m, s) for m, s in zip(msgs, sigs, strict=True)):
        raise RuntimeError("SM2 self-check failed: a fresh signature does not verify")
    done = 0
    start, cpu0 = time.perf_counter(), time.thread_time()
    deadline = start + seconds
    while True:
        for m, s in zip(msgs, sigs, strict=True):
            pub.verify(m, s)
        done += len(msgs)
        now = time.perf_counter()
        if now >= deadline:
            cpu = max(time.thread_time() - cpu0, 1e-9)
            return done / (now - start), done / cpu


def sm2_verify_rates_with(backend: str | None, seconds: float = 1.0) -> tuple[float, float]:
    """``sm2_verify_rates`` under ``CHAINNODE_SM2_BACKEND=backend`` (None: this process's)."""
    if backend is None:
        return sm2_verify_rates(seconds)
    env = dict(os.environ)
    env[BACKEND_ENV] = backend
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    code = f"import json, bench.harness.machine as m; print(json.dumps(m.sm2_verify_rates({seconds!r})))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120 + 10 * seconds,
    )
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return float(wall), float(cpu)


#: Recorded results: regenerating the table rewrites them run by run, and they are not the code
#: being measured, so changes there do not make a checkout ``+dirty``.
RESULTS_DIR = "bench/results"


def source_commit(root: Path) -> str | None:
    """The checkout's commit (with ``+dirty`` if its code has local changes: the recorded
    results, RESULTS_DIR, aside), if it is a git one."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                f":(exclude){RESULTS_DIR}",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def bound(n_cores: int, verify_per_s: float, validators: int) -> float:
    if validators < 1:
        raise ValueError("at least one validator")
    return n_cores * verify_per_s / validators
