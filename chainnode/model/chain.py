"""What readers of the chain may ask: the :class:`ChainReader` protocol and its answer types.

The HTTP API, the event stream and the proof builder only read committed data. They take a
``ChainReader`` rather than the ledger, so they cannot admit, build, validate or commit, and
the ledger may change its insides without touching them. ``chainnode.ledger.Ledger``
implements it (mypy checks that where a ledger is passed as one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chainnode.model.genesis import Genesis, ValidatorInfo
from chainnode.model.types import Block, BlockHeader, Receipt, Transaction
from crypto.merkle import MerkleProof, verify_proof
from crypto.suite import Suite


@dataclass(frozen=True, slots=True)
class TxProof:
    """Inclusion of a tx (and of its receipt) in a committed block, checkable by anyone
    holding the header: verify_proof(header.tx_root, tx_hash, tx_proof)."""

    tx_hash: bytes
    height: int
    index: int
    block_hash: bytes
    header: BlockHeader
    tx_proof: MerkleProof
    receipt: bytes  # the receipt's canonical encoding (its Merkle leaf)
    receipt_proof: MerkleProof

    def verify(self, hash_fn: Callable[[bytes], bytes]) -> bool:
        h = self.header
        return verify_proof(h.tx_root, self.tx_hash, self.tx_proof, hash_fn) and verify_proof(
            h.receipts_root, self.receipt, self.receipt_proof, hash_fn
        )

    def to_json(self) -> dict[str, Any]:
        def proof(p: MerkleProof) -> dict[str, Any]:
            return {
                "index": p.index,
                "leaf_count": p.leaf_count,
                "siblings": [x.hex() for x in p.siblings],
            }

        return {
            "tx_hash": self.tx_hash.hex(),
            "height": self.height,
            "index": self.index,
            "block_hash": self.block_hash.hex(),
            "header": self.header.to_json(),
            "tx_proof": proof(self.tx_proof),
            "receipt": self.receipt.hex(),
            "receipt_proof": proof(self.receipt_proof),
        }


@dataclass(frozen=True, slots=True)
class CallResult:
    """Outcome of a read-only call (mirrors contracts.ExecutionResult)."""

    ok: bool
    return_value: Any
    gas_used: int
    error: str | None


CommitListener = Callable[[Block, list[Receipt]], None]


class ChainReader(Protocol):
    """Read-only access to the committed chain (and a commit notification)."""

    genesis: Genesis
    chain_id: str
    suite: Suite

    @property
    def height(self) -> int: ...

    @property
    def head_hash(self) -> bytes: ...

    def block(self, height: int) -> Block | None: ...

    def block_by_hash(self, block_hash: bytes) -> Block | None: ...

    def certificate(self, height: int) -> bytes | None: ...

    def tx(self, tx_hash: bytes) -> tuple[Transaction, int, int] | None:
        """The committed tx with its height and index in the block."""
        ...

    def tx_proof(self, tx_hash: bytes) -> TxProof | None: ...

    def receipt(self, tx_hash: bytes) -> Receipt | None: ...

    def validators_at(self, height: int) -> list[ValidatorInfo]: ...

    @property
    def prune_floor(self) -> int:
        """Bodies below this height may have been dropped here (0: none were)."""
        ...

    def height_of(self, block_hash: bytes) -> int | None: ...

    def is_pruned(self, height: int) -> bool:
        """Block ``height`` was committed and its body dropped here (an archive has it)."""
        ...

    def tx_pruned_at(self, tx_hash: bytes) -> int | None:
        """The height of a committed tx whose body was dropped here."""
        ...

    def validator_history(self) -> list[tuple[int, list[ValidatorInfo]]]: ...

    def snapshot_governance(self) -> bytes | None:
        """A node that joined from a snapshot: the proofs (a JSON list, as a bundle's
        ``governance``) of the validator-set changes up to its checkpoint, verified when it
        joined; their blocks are not here (None: not joined that way)."""
        ...

    def address(self, public_key: bytes) -> bytes: ...

    def contract_address(self, contract: str) -> bytes | None: ...

    def state_get(self, contract: str, key: bytes) -> bytes | None: ...

    def call_view(
        self,
        contract: str,
        method: str,
        args: Sequence[Any] | bytes = (),
        caller: bytes | None = None,
        gas_limit: int = 10_000_000,
    ) -> CallResult: ...

    def on_commit(self, cb: CommitListener) -> None:
        """Call ``cb(block, receipts)`` after each commit, on the committing thread."""
        ...
