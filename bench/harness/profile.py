"""Sampling profiles of the node processes during the measured phase (py-spy), summarised.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;... count``). The summary
gives, per process, the share of samples whose innermost frame is a function (self) and the
share whose stack holds it anywhere (inclusive): enough to name the hot path of a run.
"""

from __future__ import annotations

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

    def __init__(self, out_dir: Path, pids: dict[str, int], rate: int = 50) -> None:
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
            ]  # fmt: skip
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


def _frame_name(frame: str) -> str:
    """``func (path/to/mod.py:123)`` -> ``func (mod.py)``: lines merged per function."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1].rstrip(")")
    return f"{name} ({file})" if file else name


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive sample shares of the hottest functions in a collapsed-stack file."""
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    total = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"samples": 0, "self": [], "inclusive": []}
    for line in lines:
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [_frame_name(f) for f in stack.split(";") if f]
        # The first frame(s) name the process and thread: skip them for function shares.
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        total += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
    if total == 0:
        return {"samples": 0, "self": [], "inclusive": []}
    return {
        "samples": total,
        "self": [(f, round(c / total, 4)) for f, c in self_c.most_common(top)],
        "inclusive": [(f, round(c / total, 4)) for f, c in incl_c.most_common(top)],
    }
