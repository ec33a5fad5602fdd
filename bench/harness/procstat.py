"""CPU time of a process and its descendants, read from /proc (Linux).

A node may verify on a process pool, so its CPU is the whole tree's: children are found by
their parent pid at each sample. Time of children that exit between samples is lost, which a
long-lived pool does not do.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PROC = Path("/proc")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime in seconds) of one process, None if it is gone."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces.
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                kids.setdefault(st[0], []).append(int(entry.name))
    return kids


def tree_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each pid together with all its descendants."""
    kids = _children()
    out: dict[int, float] = {}
    for pid in pids:
        total = 0.0
        todo = [pid]
        while todo:
            p = todo.pop()
            st = _stat(p)
            if st is not None:
                total += st[1]
            todo += kids.get(p, [])
        out[pid] = total
    return out


def available() -> bool:
    return (_PROC / "self" / "stat").exists()
