"""`P2PConfig`: who we are, whom we dial, whom we admit, and every bound the network keeps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from crypto import sm3
from crypto.sm2 import PrivateKey
from p2p.errors import P2PError

PUBKEY_SIZE = 65
MAX_CHAIN_ID = 64
MiB = 1 << 20


def check_pubkey(key: bytes, what: str = "public key") -> bytes:
    """A peer id is a 65-byte uncompressed SM2 public key (04||x||y)."""
    if not isinstance(key, bytes) or len(key) != PUBKEY_SIZE or key[0] != 4:
        raise P2PError(f"{what} must be 65 bytes 04||x||y")
    return key


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """Network configuration. `peers` are dialed; `allowed` plus the peers' keys are admitted.

    Time values are seconds; sizes are bytes. The defaults suit a consortium of a few dozen
    validators on a LAN or WAN; tests shrink the timers.
    """

    chain_id: bytes
    node_key: PrivateKey
    host: str = "127.0.0.1"
    port: int = 0
    peers: Sequence[tuple[bytes, str, int]] = ()
    allowed: AbstractSet[bytes] = frozenset()
    max_frame_size: int = 8 * MiB
    handshake_timeout: float = 5.0
    keepalive_interval: float = 2.0
    keepalive_timeout: float = 10.0
    send_queue_bytes: int = 16 * MiB
    gossip_queue_bytes: int = 4 * MiB
    reconnect_min: float = 0.1
    reconnect_max: float = 10.0
    seen_cache_size: int = 100_000
    max_txs_per_frame: int = 512
    max_tx_batch_bytes: int = 1 * MiB
    # Gossip-only sends wait this long so several share one sealed record and one socket write;
    # a consensus or request frame flushes at once and takes queued gossip along.
    gossip_flush_delay: float = 0.005
    request_timeout: float = 10.0
    max_inflight_requests: int = 32
    max_pending_handshakes: int = 64
    ban_threshold: int = 100
    ban_seconds: float = 60.0
    tx_hash: Callable[[bytes], bytes] = field(default=sm3.digest)

    def __post_init__(self) -> None:
        if not isinstance(self.chain_id, bytes) or not 0 < len(self.chain_id) <= MAX_CHAIN_ID:
            raise P2PError(f"chain_id must be 1..{MAX_CHAIN_ID} bytes")
        if not isinstance(self.node_key, PrivateKey):
            raise P2PError("node_key must be a crypto.sm2.PrivateKey")
        if not 0 <= self.port <= 65535:
            raise P2PError("port out of range")
        peers = tuple((check_pubkey(k, "peer key"), str(h), int(p)) for k, h, p in self.peers)
        allowed = frozenset(check_pubkey(k, "allowed key") for k in self.allowed)
        object.__setattr__(self, "peers", peers)
        object.__setattr__(self, "allowed", allowed | {k for k, _, _ in peers})
        if not 1024 <= self.max_frame_size <= 256 * MiB:
            raise P2PError("max_frame_size must be 1 KiB..256 MiB")
        if self.send_queue_bytes < self.gossip_queue_bytes:
            raise P2PError("send_queue_bytes must be >= gossip_queue_bytes")
        positive = (
            self.handshake_timeout,
            self.keepalive_interval,
            self.keepalive_timeout,
            self.reconnect_min,
            self.reconnect_max,
            self.request_timeout,
            self.ban_seconds,
        )
        if min(positive) <= 0:
            raise P2PError("timers must be positive")
        if not 0 <= self.gossip_flush_delay <= 1:
            raise P2PError("gossip_flush_delay must be 0..1 seconds")
        if self.keepalive_timeout <= self.keepalive_interval:
            raise P2PError("keepalive_timeout must exceed keepalive_interval")
        counts = (
            self.seen_cache_size,
            self.max_txs_per_frame,
            self.max_inflight_requests,
            self.max_pending_handshakes,
        )
        if min(counts) < 1:
            raise P2PError("counts must be >= 1")
