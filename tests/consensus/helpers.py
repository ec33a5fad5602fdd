"""Shared builders for consensus tests (fake keys, signed messages)."""

from __future__ import annotations

import dataclasses
from typing import Any

from consensus.sim.app import GENESIS_HASH, make_proposal
from consensus.sim.signer import FakeSuite

CHAIN = b"test-chain"


class Keys:
    def __init__(self, n: int) -> None:
        self.suite = FakeSuite()
        self.pubs = sorted(self.suite.keypair(f"k{i}")[0] for i in range(n))
        self.signers = {p: self.suite.signer(p) for p in self.pubs}

    def sign(self, msg: Any, chain: bytes = CHAIN) -> Any:
        sig = self.signers[msg.sender](msg.signing_bytes(chain))
        return dataclasses.replace(msg, signature=sig)


def proposal(height: int = 1, txs: tuple[int, ...] = (1, 2), parent: bytes = GENESIS_HASH):
    return make_proposal(height, parent, list(txs))
