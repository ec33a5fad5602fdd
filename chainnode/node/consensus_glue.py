"""Building the consensus replica for this chain: its config, signer and verifier.

Validator identities (and so consensus signatures) are the nodes' SM2 keys, whatever suite
the chain uses for transactions: the same key authenticates the p2p channel.
"""

from __future__ import annotations

from collections.abc import Callable

from chainnode.model.genesis import Genesis
from consensus.replica import Replica, ReplicaConfig
from consensus.types import Proposal
from crypto import sm2
from crypto.suite import get_suite

_SM = get_suite("sm")


def sm2_signer(key: sm2.PrivateKey) -> Callable[[bytes], bytes]:
    return key.sign


def sm2_verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        return bool(_SM.verify(pub, msg, sig))
    except Exception:  # noqa: BLE001  # trust boundary: whatever a peer's key or signature makes the verifier raise, it is just invalid
        return False


def replica_config(genesis: Genesis) -> ReplicaConfig:
    params = genesis.consensus
    return ReplicaConfig(
        chain_id=genesis.chain_id.encode(),
        base_timeout=params.view_change_timeout_ms,
        max_timeout=max(60_000, params.view_change_timeout_ms),
        request_timeout=params.request_timeout_ms,
        sync_batch=64,
    )


def make_replica(
    genesis: Genesis,
    public_key: bytes,
    sign: Callable[[bytes], bytes],
    validate: Callable[[Proposal], bool],
) -> Replica:
    return Replica(replica_config(genesis), public_key, sign, sm2_verify, validate)
