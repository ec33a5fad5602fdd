"""A real node runs LevelDB's flushes and compactions at the configured nice value, and says so
(config ``storage_background_nice``; the mechanism is tested in tests/storage/test_background.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chainnode.node.single import SingleNode


def process_nice() -> int:
    """This test's own nice value: the node inherits it (a CI run may be niced)."""
    text = Path("/proc/self/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[16])


def thread_nices(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        out.append(int(text[text.rindex(")") + 2 :].split()[16]))
    return out


@pytest.mark.parametrize(("nice", "lowered"), [(None, 19), (12, 12), (0, None)])
def test_a_node_lowers_leveldb_background_work(
    tmp_path: Path, nice: int | None, lowered: int | None
) -> None:
    overrides = {} if nice is None else {"storage_background_nice": nice}
    node = SingleNode(tmp_path, **overrides)
    try:
        nices = thread_nices(node.proc.pid)
        log = node.log()
    finally:
        node.close()
    base = process_nice()
    if lowered is None:
        assert set(nices) == {base}
        assert "LevelDB flushes and compactions" not in log
    else:
        lowered = max(lowered, base)
        assert nices.count(lowered) == 1 or lowered == base, nices
        assert set(nices) == {base, lowered}
        assert f"LevelDB flushes and compactions run at nice {lowered} (thread " in log
