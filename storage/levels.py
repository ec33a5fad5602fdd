"""LevelDB's own account of its levels: files, bytes and compaction work per level.

A loaded node's slowest blocks are the ones whose synced write waits behind LevelDB's memtable
flushes and compactions on a shared disk: every validator writes the same data, so they flush
within the same second. These figures (LevelDB's ``leveldb.stats`` property, read when asked)
let an operator line the tail latency up with that work: how many files each level holds
(level 0 past 8 makes LevelDB delay every write, past 12 stop them), and what compactions have
read, written and taken since the store was opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class LevelStats:
    """One level of the LevelDB tree, as ``leveldb.stats`` reports it (sizes in whole MiB and
    times in whole seconds there: finer figures are not kept by LevelDB)."""

    level: int
    files: int
    size_bytes: int
    #: Time, bytes read and bytes written by the flushes and compactions that wrote into this
    #: level since the store was opened (level 0: memtable flushes).
    compaction_seconds: float
    read_bytes: int
    written_bytes: int


def parse_stats(text: str) -> tuple[LevelStats, ...]:
    """The rows of LevelDB's ``leveldb.stats`` text (``Level Files Size(MB) Time(sec)
    Read(MB) Write(MB)``; levels with nothing to show are left out by LevelDB)."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6 or not parts[0].isdigit() or not parts[1].isdigit():
            continue  # the title, the column names, the rule
        try:
            size, seconds, read, written = (float(p) for p in parts[2:])
        except ValueError:
            continue
        rows.append(
            LevelStats(
                level=int(parts[0]),
                files=int(parts[1]),
                size_bytes=round(size * MIB),
                compaction_seconds=seconds,
                read_bytes=round(read * MIB),
                written_bytes=round(written * MIB),
            )
        )
    return tuple(rows)


def merge_levels(tables: Sequence[Sequence[LevelStats]]) -> tuple[LevelStats, ...]:
    """Several databases' levels as one table: each level's figures summed (a store keeps
    its bodies in a database of its own)."""
    by_level: dict[int, LevelStats] = {}
    for table in tables:
        for row in table:
            got = by_level.get(row.level)
            by_level[row.level] = (
                row
                if got is None
                else LevelStats(
                    level=row.level,
                    files=got.files + row.files,
                    size_bytes=got.size_bytes + row.size_bytes,
                    compaction_seconds=got.compaction_seconds + row.compaction_seconds,
                    read_bytes=got.read_bytes + row.read_bytes,
                    written_bytes=got.written_bytes + row.written_bytes,
                )
            )
    return tuple(by_level[level] for level in sorted(by_level))
