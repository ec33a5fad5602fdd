"""Sampling profiles of the node processes during the measured phase (py-spy), summarised.

Samples are wall-clock: on a shared machine a thread waiting for a core inside a call that
released the GIL (libcrypto through ctypes, LevelDB) is still sampled there, which inflates
those calls. ``gil_only`` keeps the samples of threads holding the GIL: the Python work. A
thread waiting on a disk sync is sampled too: at 300 tx/s on 4 validators the consensus
WAL's appends and the store's synced writes held 40% of the samples, while an fsync costs
~80 us of CPU (four at once on this machine: 69-87 us, 334-368 us of wall time) and a block
takes four of them: ~0.3 ms of a validator's ~8 ms of CPU a block. Threads started by C
code (the native batch verify's helpers) are not seen at all. For the CPU by library,
``perf record -g -p PID`` beside a run tells them apart.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``). The summary
gives, per process, the share of samples whose innermost frame is a function (self) and the
share whose stack holds it anywhere (inclusive): enough to name the hot path of a run.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else None


class Profiler:
    """One ``py-spy record`` per pid, stopped (and flushed) with SIGINT."""

    def __init__(
        self, out_dir: Path, pids: dict[str, int], rate: int = 50, gil_only: bool = False
    ) -> None:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy not found: pip install py-spy")
        out_dir.mkdir(parents=True, exist_ok=True)
        self.paths: dict[str, Path] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        for name, pid in pids.items():
            path = out_dir / f"{name}.collapsed"
            self.paths[name] = path
            cmd = [
                exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(path),
                "--rate", str(rate), "--nonblocking", "--subprocesses", "--threads",
            ] + (["--gil"] if gil_only else [])  # fmt: skip
            self.procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    def stop(self, timeout: float = 30.0) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


_FRAME = re.compile(r"^(?P<name>.+) \((?P<file>[^()]*?):\d+\)$")


def _frame_name(frame: str) -> str | None:
    """``func (path/to/mod.py:123)`` -> ``func (mod.py)``: lines merged per function; None for
    the process and thread frames py-spy puts first."""
    if frame.startswith(("process ", "thread ")):
        return None
    m = _FRAME.match(frame)
    if m is None:
        return None
    return f"{m['name']} ({m['file'].rsplit('/', 1)[-1]})"


# Where a sample's time goes, by the first category whose marker is on its stack (markers are
# function names of the node; the order settles stacks that hold several).
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "sm2 verify",
        (
            "verify_digest",
            "verify_default",  # calls the native verify directly: no deeper Python frame
            "verify (sm2.py)",
            "_verify_chunk",
            "Mempool.verify",
            "verify_batch",
        ),
    ),
    ("execute txs", ("Executor.execute_block", "Executor.execute_tx")),
    ("commit block", ("Ledger.commit_block",)),
    ("tx admission", ("Node._admit", "Mempool.submit", "_on_gossip_txs")),
    ("consensus", ("Replica.step", "Driver.step")),
    ("http api", ("RequestHandler", "web_protocol")),
    ("p2p", ("PeerConnection", "Network.", "SM4GCM")),
    ("process pool plumbing", ("_write_to_self", "(connection.py)", "(process.py)", "(queues.py)")),
    ("imports", ("<frozen importlib",)),
    ("waiting", ("select (selectors.py)", "Condition.wait", "SemLock", "_recv")),
)


def categorise(frames: list[str]) -> str:
    for name, markers in CATEGORIES:
        if any(m in f for f in frames for m in markers):
            return name
    return "other"


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares of the hottest functions in a collapsed-stack file,
    and the share of each category of node work."""
    cats: Counter[str] = Counter()
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0, "categories": {}, "self": [], "inclusive": []}
    for line in lines:
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        # A process frame may hold ";" (its command line): frames that do not parse are dropped.
        frames = [f for f in map(_frame_name, stack.split(";")) if f is not None]
        if not frames:
            continue
        total += n
        cats[categorise(frames)] += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
    if total == 0:
        return {"samples": 0, "categories": {}, "self": [], "inclusive": []}
    return {
        "samples": total,
        "categories": {c: round(n / total, 4) for c, n in cats.most_common()},
        "self": [(f, round(c / total, 4)) for f, c in self_c.most_common(top)],
        "inclusive": [(f, round(c / total, 4)) for f, c in incl_c.most_common(top)],
    }
