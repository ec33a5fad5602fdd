"""Where the ledger keeps things in the storage key spaces, and the well-known addresses.

Contract state lives in namespace = the contract's 20-byte address. System data lives in
namespaces whose length is never 20 bytes, so no contract can reach them:

- `sys.code`  address -> bytecode of a deployed contract
- `sys.names` name (utf-8) -> address (standard, system and optionally named contracts)
- `sys.gov`   governance: admins, current validators, `vset/<u64 height>` history, proposals
- `sys.perm`  permissions: `mode`, `role/<address>`
- `sys.chain` chain facts fixed at genesis (genesis hash, chain id, consensus params)
- `sys.nonce` sender address + u64 nonce -> tx hash: each (sender, nonce) is used once, ever
  (written for every included tx, failed or not), so a client that rebuilds and resends a tx
  with the same nonce gets it executed exactly once

Meta keys (storage meta, outside the state root): `cert/<u64 height>` commit certificates.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

NS_CODE = b"sys.code"
NS_NAMES = b"sys.names"
NS_GOV = b"sys.gov"
NS_PERM = b"sys.perm"
NS_CHAIN = b"sys.chain"
NS_NONCE = b"sys.nonce"
SYSTEM_NAMESPACES = (NS_CODE, NS_NAMES, NS_GOV, NS_PERM, NS_CHAIN)  # small, rarely written


def nonce_key(sender_address: bytes, nonce: int) -> bytes:
    return sender_address + struct.pack(">Q", nonce)


GOVERNANCE = "governance"
PERMISSIONS = "permissions"
DEPLOYMENT = "deployment"
SYSTEM_CONTRACTS = (GOVERNANCE, PERMISSIONS, DEPLOYMENT)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def from_u64(b: bytes) -> int:
    return int(struct.unpack(">Q", b)[0])


def cert_key(height: int) -> bytes:
    return b"cert/" + u64(height)


def well_known_address(hash_fn: Callable[[bytes], bytes], name: str) -> bytes:
    """Fixed address of a system or standard contract: last 20 bytes of H("chainnode:" name)."""
    return hash_fn(b"chainnode:" + name.encode())[-20:]
