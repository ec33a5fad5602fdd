"""Node logs: the rate-limited commit line, and log files rotated by size and at each start."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from chainnode.node.config import load_config
from chainnode.node.logs import file_handler
from chainnode.node.progress import CommitLog


@dataclass
class _Header:
    height: int
    timestamp: int


@dataclass
class _Block:
    header: _Header
    hash: bytes


@dataclass
class _Receipt:
    ok: bool


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.written: asyncio.Event | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if self.written is not None:
            self.written.set()


def _logger(name: str) -> tuple[logging.Logger, _Lines]:
    logger = logging.getLogger(f"test.progress.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = _Lines()
    logger.handlers[:] = [handler]
    return logger, handler


def _block(height: int, ts: int) -> _Block:
    return _Block(_Header(height, ts), bytes([height]) * 32)


def test_one_line_a_second_summarising_the_blocks_since_the_last() -> None:
    now = [100.0]
    logger, out = _logger("rate")
    c = CommitLog(interval=1.0, clock=lambda: now[0], logger=logger)
    c.committed(_block(1, 10_000), [])  # the first block: a line at once
    assert out.lines == ["committed height 1 (010101010101…), 1 block, 0 txs"]
    for h in range(2, 12):  # ten blocks within the second: no line yet
        now[0] += 0.05
        c.committed(_block(h, 10_000 + (h - 1) * 250), [_Receipt(True)] * 3 + [_Receipt(False)])
    assert len(out.lines) == 1
    now[0] = 101.0
    c.committed(_block(12, 10_000 + 11 * 250), [_Receipt(True)])
    assert out.lines[1] == (
        "committed height 12 (0c0c0c0c0c0c…), 11 blocks, 41 txs, 10 failed, block time 0.25s"
    )
    c.close()  # nothing pending: no line
    assert len(out.lines) == 2


def test_the_last_blocks_of_a_burst_are_reported_by_the_timer() -> None:
    logger, out = _logger("timer")

    async def main() -> None:
        c = CommitLog(interval=0.05, logger=logger)
        c.committed(_block(1, 1_000), [])
        c.committed(_block(2, 2_000), [_Receipt(True)])  # within the interval: pending
        assert len(out.lines) == 1
        out.written = asyncio.Event()
        await asyncio.wait_for(out.written.wait(), 5)  # the timer writes it, no further block
        assert out.lines[1] == "committed height 2 (020202020202…), 1 block, 1 tx, block time 1.00s"

    asyncio.run(main())


def test_log_file_starts_fresh_and_rotates_by_size(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "node.log"
    path.parent.mkdir()
    path.write_text("the previous run\n")
    handler = file_handler(path, max_bytes=4096, backups=2)
    logger = logging.getLogger("test.logfile")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    try:
        assert path.read_text() == ""
        assert (tmp_path / "logs" / "node.log.1").read_text() == "the previous run\n"
        for i in range(200):  # ~10 KB: two rotations by size, the oldest falls off
            logger.info("line %03d %s", i, "x" * 40)
        handler.flush()
        files = sorted(p.name for p in path.parent.iterdir())
        assert files == ["node.log", "node.log.1", "node.log.2"]
        assert all(p.stat().st_size <= 4096 for p in path.parent.iterdir())
        assert "line 199" in path.read_text()
        assert "the previous run" not in "".join(p.read_text() for p in path.parent.iterdir())
    finally:
        handler.close()
        logger.handlers[:] = []


def test_log_file_settings_resolve_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('log_file = "logs/node.log"\nlog_max_bytes = 65536\n')
    cfg = load_config(tmp_path / "config.toml", env={})
    assert cfg.log_file == tmp_path / "logs" / "node.log"
    assert (cfg.log_max_bytes, cfg.log_backups) == (65536, 5)
    assert load_config(
        tmp_path / "config.toml", env={"CHAINNODE_LOG_FILE": "/var/log/n.log"}
    ).log_file == Path("/var/log/n.log")
    default = tmp_path / "d.toml"
    default.write_text("")
    assert load_config(default, env={}).log_file is None  # stderr, as in containers
