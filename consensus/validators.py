"""The validator set in force at one height: membership, quorum and primary rotation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from consensus.errors import InvalidMessage
from consensus.types import MAX_VALIDATORS, check_pubkey


def max_faulty(n: int) -> int:
    """f = floor((n - 1) / 3): how many Byzantine validators n tolerates."""
    return (n - 1) // 3


def quorum_size(n: int) -> int:
    """q = n - f. Any two quorums share >= f + 1 validators, so >= 1 honest one, for any n."""
    return n - max_faulty(n)


@dataclass(frozen=True, slots=True)
class ValidatorSet:
    """Validators as 65-byte public keys in canonical (sorted) order.

    Every replica sorts the same keys the same way, so ``primary(height, view)`` and the
    quorum agree everywhere without any extra coordination.
    """

    keys: tuple[bytes, ...]
    _index: dict[bytes, int] = field(init=False, repr=False, compare=False, hash=False)

    def __init__(self, keys: Iterable[bytes]) -> None:
        ordered = tuple(sorted({check_pubkey(k, "validator key") for k in keys}))
        if not ordered:
            raise InvalidMessage("validator set is empty")
        if len(ordered) > MAX_VALIDATORS:
            raise InvalidMessage(f"more than {MAX_VALIDATORS} validators")
        object.__setattr__(self, "keys", ordered)
        object.__setattr__(self, "_index", {k: i for i, k in enumerate(ordered)})

    @property
    def n(self) -> int:
        return len(self.keys)

    @property
    def f(self) -> int:
        return max_faulty(len(self.keys))

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.keys))

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def index(self, key: bytes) -> int:
        return self._index[key]

    def primary(self, height: int, view: int) -> bytes:
        """PBFT's stable leader: ``keys[view % n]``; the view carries across heights, so a
        primary leads until a view change replaces it and a dead one costs one view change.
        ``height`` is not used (kept so the rule can change without touching callers)."""
        return self.keys[view % len(self.keys)]
