"""Channel ids (one per message family) and their send priority.

The priority decides what a full per-peer send queue drops first: transaction gossip before
anything else, consensus and keepalive last.
"""

from __future__ import annotations

from enum import IntEnum


class Channel(IntEnum):
    """Channel ids on the wire (one byte). Ids from `APP_MIN` up are free for the node."""

    KEEPALIVE = 0
    CONSENSUS = 1
    TXS = 2
    REQUEST = 3
    RESPONSE = 4
    BLOCKS = 5


APP_MIN = 16
MAX_CHANNEL = 255

# Channels the network itself speaks: `send`/`broadcast` refuse them.
INTERNAL = frozenset({Channel.KEEPALIVE, Channel.TXS, Channel.REQUEST, Channel.RESPONSE})


class Priority(IntEnum):
    """Lower value is sent first and dropped last."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


def priority_of(channel: int) -> Priority:
    if channel in (Channel.KEEPALIVE, Channel.CONSENSUS):
        return Priority.HIGH
    if channel == Channel.TXS:
        return Priority.LOW
    return Priority.NORMAL
