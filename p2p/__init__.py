"""p2p: an authenticated, encrypted asyncio transport for chainnode validators.

Usage::

    net = Network(P2PConfig(chain_id, node_key, host, port, peers=[(pub, host, port)],
                            allowed={pub, ...}))
    net.on_message(Channel.CONSENSUS, lambda peer, payload: ...)
    net.on_txs(lambda peer, txs: ...)
    net.on_request("blocks", handler)          # async handler(peer, payload) -> bytes
    await net.start()
    net.send(peer, Channel.CONSENSUS, payload); net.broadcast(Channel.CONSENSUS, payload)
    net.gossip_txs([(tx_hash, tx_bytes)])
    reply = await net.request(peer, "blocks", payload, timeout=5.0)
    await net.stop()

Peer ids are 65-byte SM2 public keys (04||x||y). The wire protocol (framing, handshake,
sealing) is described in `p2p.framing`, `p2p.handshake` and `p2p.session`.
"""

from p2p.channels import APP_MIN, Channel, Priority
from p2p.config import P2PConfig
from p2p.errors import (
    ConnectionClosed,
    FrameTooLarge,
    HandshakeError,
    P2PError,
    PeerNotConnected,
    ProtocolViolation,
    RequestFailed,
    RequestTimeout,
)
from p2p.network import Network
from p2p.stats import NetworkStats, PeerStats

__all__ = [
    "APP_MIN",
    "Channel",
    "ConnectionClosed",
    "FrameTooLarge",
    "HandshakeError",
    "Network",
    "NetworkStats",
    "P2PConfig",
    "P2PError",
    "PeerNotConnected",
    "PeerStats",
    "Priority",
    "ProtocolViolation",
    "RequestFailed",
    "RequestTimeout",
]
