"""Every signed consensus message a chaos node's core hands out, collected for invariant E.

The chaos launcher (``python -m bench.chaos.node``) passes :class:`SentLog` as the node's
``on_send`` seam: each message is appended to ``consensus.sent`` in the data dir with one
unbuffered write, so a kill -9 right after keeps it. A Byzantine node's lies are made later, in
its transport, so this log holds only what the honest core produced: two different messages
from one sender for one (type, height, view) are a real self-equivocation.

A file named ``KILL_FILE`` in the data dir makes the node kill itself (SIGKILL) right after it
next sends a COMMIT for a block it proposed (the file is removed first): a persist point where
its PRE-PREPARE has reached the peers (they prepared it) and both records are in its WAL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from consensus.errors import ConsensusError
from consensus.messages import CommitVote, PrePrepare, decode_message, encode_message

log = logging.getLogger("bench.chaos.sentlog")

SENT_LOG = "consensus.sent"
KILL_FILE = "kill-after-commit-as-primary"


class SentLog:
    def __init__(self, data_dir: Path, me: bytes) -> None:
        self._fd = os.open(data_dir / SENT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._me = me
        self._kill = data_dir / KILL_FILE
        self._proposed: set[bytes] = set()

    def __call__(self, msg: Any) -> None:
        if getattr(msg, "sender", None) != self._me:
            return  # e.g. another primary's NEW-VIEW we forward
        data = encode_message(msg)
        os.write(self._fd, len(data).to_bytes(4, "big") + data)
        if isinstance(msg, PrePrepare):
            self._proposed.add(msg.digest)
        elif isinstance(msg, CommitVote) and msg.digest in self._proposed and self._kill.exists():
            self._kill.unlink()
            log.warning("TEST kill -9 after sending COMMIT at height %d", msg.height)
            os.kill(os.getpid(), signal.SIGKILL)


def read_sent_log(path: Path) -> list[Any]:
    """The messages of a ``SentLog`` file (a torn last entry is ignored)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out, pos = [], 0
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos : pos + 4], "big")
        if pos + 4 + n > len(data):
            break
        with contextlib.suppress(ConsensusError):
            out.append(decode_message(data[pos + 4 : pos + 4 + n]))
        pos += 4 + n
    return out


def conflicting_pairs(messages: Iterable[Any]) -> list[tuple[Any, Any]]:
    """Pairs of different signed messages from one sender for one (type, height, view)."""
    first: dict[tuple[bytes, int, int, int], Any] = {}
    pairs = []
    for m in messages:
        key = (m.sender, m.TAG, m.height, m.view)
        prev = first.setdefault(key, m)
        if encode_message(prev) != encode_message(m):
            pairs.append((prev, m))
    return pairs
