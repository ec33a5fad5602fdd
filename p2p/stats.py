"""Read-only snapshots of traffic counters for metrics (the node exports them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerStats:
    peer_id: bytes
    address: str
    local_address: str
    initiator: bool
    connected_seconds: float
    bytes_in: int
    bytes_out: int
    frames_in: int
    frames_out: int
    records_in: int
    records_out: int
    queued_bytes: int
    dropped_frames: int
    score: float


@dataclass(frozen=True, slots=True)
class NetworkStats:
    """Totals since start, including connections already closed."""

    peers: int
    bytes_in: int
    bytes_out: int
    frames_in: int
    frames_out: int
    records_in: int
    records_out: int
    dropped_frames: int
    handshakes_ok: int
    handshakes_failed: int
    violations: int
    txs_received: int
    txs_new: int
    requests_sent: int
    requests_served: int
    request_timeouts: int
