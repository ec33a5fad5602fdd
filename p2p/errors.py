"""Typed errors of the p2p package: callers catch `P2PError`.

Two families, as in h11: a remote peer breaking the protocol (`ProtocolViolation`, the
connection is closed and the peer scored down) and failures a caller sees on its own calls
(`PeerNotConnected`, `RequestTimeout`, `RequestFailed`).
"""

from __future__ import annotations


class P2PError(Exception):
    """Base of every error raised by `p2p`."""


class ProtocolViolation(P2PError):
    """The remote peer sent something the protocol forbids (malformed, tampered, oversized)."""


class FrameTooLarge(ProtocolViolation):
    """A length prefix announced more than the configured maximum (refused before reading)."""


class HandshakeError(P2PError):
    """The secure handshake was refused; the message says why (logged by the network)."""


class PeerNotConnected(P2PError):
    """No established connection to the given peer id."""


class ConnectionClosed(P2PError):
    """The connection closed while a request was waiting for its response."""


class RequestTimeout(P2PError, TimeoutError):
    """No response arrived within the request's timeout."""


class RequestFailed(P2PError):
    """The remote peer answered a request with an error (unknown kind, busy, handler failed)."""
