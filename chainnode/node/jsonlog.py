"""Structured logs: one JSON object a line, with the node id and its current height and view.

The runtime sets up logging (``chainnode.node.logs``); when ``log_json`` is on, :func:`install`
swaps the formatter for this one, which reads height and view from the live node at the moment
each record is written (no per-call argument needed anywhere in the code base).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable


class NodeJsonFormatter(logging.Formatter):
    def __init__(self, node_id: str, position: Callable[[], tuple[int, int]]) -> None:
        super().__init__()
        self.node_id = node_id
        self.position = position

    def format(self, record: logging.LogRecord) -> str:
        try:
            height, view = self.position()
        except Exception:  # noqa: BLE001  # logging must never fail (e.g. during shutdown)
            height, view = -1, -1
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "node": self.node_id,
            "height": height,
            "view": view,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def install(node_id: str, position: Callable[[], tuple[int, int]]) -> None:
    """Use the node-aware JSON formatter on every handler of the root logger."""
    fmt = NodeJsonFormatter(node_id, position)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(fmt)
