"""Who p2p dials and admits: the validator set at the next height, pushed on every change,
plus the observers of the config.

At start the dial list is the other validators' ``p2p_addr`` from the chain (or the config's
``peers``, which override it); after a commit that changes the set, new validators are added
and dialled and the allow-list is replaced, which drops peers no longer on it. The config's
``observers`` (read-only nodes: block sync, consensus messages they cannot sign, gossip) are
admitted whatever the set; they are not dialled, they dial us.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from chainnode.model.genesis import ValidatorInfo
from chainnode.node.config import NodeConfig
from p2p import Network

log = logging.getLogger("chainnode.node")

PeerAddress = tuple[bytes, str, int]


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def initial_peers(
    cfg: NodeConfig, validators: Sequence[ValidatorInfo], own_key: bytes
) -> list[PeerAddress]:
    if cfg.peers is not None:
        return [(bytes.fromhex(p.public_key.removeprefix("0x")), p.host, p.port) for p in cfg.peers]
    return [(v.public_key, *split_addr(v.p2p_addr)) for v in validators if v.public_key != own_key]


def allowed_keys(validators: Sequence[ValidatorInfo], observers: AbstractSet[bytes]) -> set[bytes]:
    return {v.public_key for v in validators} | set(observers)


def push_validator_set(
    net: Network,
    validators: Sequence[ValidatorInfo],
    own_key: bytes,
    observers: AbstractSet[bytes] = frozenset(),
) -> None:
    """Dial the validators we do not know yet and admit exactly the new set and observers."""
    keys = {v.public_key for v in validators}
    for v in validators:
        if v.public_key != own_key:
            host, port = split_addr(v.p2p_addr)
            net.add_peer(v.public_key, host, port)
    net.set_allowed(keys | observers)
    log.info(
        "validator set changed: %d validators; this node is %s",
        len(keys),
        "a validator" if own_key in keys else "an observer",
    )
