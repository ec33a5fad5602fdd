"""The one exception family of the consensus package.

Two kinds of fault, as in h11: a peer sent us something wrong (``RemoteError`` and its
subclasses: reject the input, score the peer) versus our own caller broke the contract
(``LocalError``: a bug in the driver, halt loudly).
"""

from __future__ import annotations


class ConsensusError(Exception):
    """Base class of every error the consensus package raises."""


class RemoteError(ConsensusError):
    """Input from outside (a peer, a fetched block) is malformed or invalid."""


class DecodeError(RemoteError):
    """Bytes are not a canonical encoding of one of our messages, records or certificates."""


class InvalidMessage(RemoteError):
    """A value violates a field constraint (size, range, relation between fields)."""


class LocalError(ConsensusError):
    """The driver misused the core (e.g. an event before Start): a bug, not a peer fault."""
