"""Logging set-up for a node process: plain lines, or one JSON object a line; to stderr, or to
a file rotated by size (``log_file``, ``log_max_bytes``, ``log_backups``)."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path


class _JsonFormatter(logging.Formatter):
    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "node": self.node_id,
            "height": -1,  # the node's position is not known yet (jsonlog takes over)
            "view": -1,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out)


def file_handler(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A size-rotated log file that starts empty: a previous run's log becomes ``path.1``
    (and so on), so the file shows this run only, as `network up` prints its tail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    if path.stat().st_size > 0:
        handler.doRollover()
    return handler


def setup_logging(
    level: str,
    as_json: bool,
    node_id: str,
    log_file: Path | None = None,
    max_bytes: int = 10 << 20,
    backups: int = 5,
) -> None:
    handler = (
        logging.StreamHandler(sys.stderr)
        if log_file is None
        else file_handler(log_file, max_bytes, backups)
    )
    if as_json:
        handler.setFormatter(_JsonFormatter(node_id))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {node_id} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
