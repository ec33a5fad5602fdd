"""Keys, genesis and block-making helpers shared by the ledger tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import Code
from chainnode.model.genesis import (
    STANDARD_CONTRACTS,
    ConsensusParams,
    Genesis,
    ValidatorInfo,
    make_genesis,
)
from chainnode.model.types import Block, Receipt, Transaction
from crypto.suite import Suite, get_suite

CHAIN = "test-chain"


@dataclass(frozen=True)
class Key:
    priv: bytes
    pub: bytes
    address: bytes


@cache
def keys(suite_name: str = "sm", n: int = 12) -> tuple[Key, ...]:
    """Deterministic keys (fixed scalars) so test runs are reproducible and fast."""
    suite = get_suite(suite_name)
    out = []
    for i in range(n):
        priv = (0x1000 + 7919 * (i + 1)).to_bytes(32, "big")
        pub = suite.public_key(priv)
        out.append(Key(priv, pub, suite.address(pub)))
    return tuple(out)


def validators(suite_name: str = "sm", n: int = 4) -> list[ValidatorInfo]:
    ks = keys(suite_name)
    return [
        ValidatorInfo(ks[i].pub, f"node{i}", f"127.0.0.1:{8800 + i}", f"127.0.0.1:{8700 + i}")
        for i in range(n)
    ]


def genesis(
    suite_name: str = "sm",
    admins: int = 1,
    permissions: str = "open",
    window: int = 1000,
    max_block_txs: int = 2000,
    std: bool = False,
) -> Genesis:
    """A 4-validator genesis; `std` pre-deploys the standard contracts (compiling costs time)."""
    ks = keys(suite_name)
    return make_genesis(
        CHAIN,
        validators(suite_name),
        [ks[4 + i].pub for i in range(admins)],
        suite=suite_name,
        permissions=permissions,
        consensus=ConsensusParams(block_limit_window=window, max_block_txs=max_block_txs),
        timestamp=1_700_000_000_000,
        contracts=STANDARD_CONTRACTS if std else (),
    )


_nonce = [0]


def tx(
    ledger: Ledger | Suite,
    key: Key,
    contract: str,
    method: str,
    args: Sequence[Any] = (),
    *,
    block_limit: int | None = None,
    chain_id: str = CHAIN,
    gas_limit: int = 1_000_000,
    nonce: int | None = None,
) -> Transaction:
    if isinstance(ledger, Ledger):
        suite = ledger.suite
        limit = ledger.height + 10 if block_limit is None else block_limit
    else:
        suite, limit = ledger, 100 if block_limit is None else block_limit
    if nonce is None:
        _nonce[0] += 1
        nonce = _nonce[0]
    return Transaction.create(
        suite, key.priv, chain_id, nonce, limit, contract, method, list(args), gas_limit
    )


def make_block(ledger: Ledger, view: int = 0, proposer: int = 0) -> Block:
    ts = ledger.head.timestamp + 1000
    return ledger.build_block(
        ledger.height + 1, view, validators(ledger.suite.name)[proposer].public_key, ts, 10_000
    )


def commit(ledger: Ledger, txs: Sequence[Transaction] = (), *others: Ledger) -> list[Receipt]:
    """Admit txs, build the next block on `ledger`, validate+commit it on the others too."""
    new = [t for t in txs if not ledger.mempool.has(t.hash)]
    if new:
        adm = ledger.mempool.submit(new)
        assert all(a.accepted for a in adm), [a for a in adm if not a.accepted]
    block = make_block(ledger)
    assert [t.hash for t in block.txs] == [t.hash for t in txs]
    for other in others:
        peer_block = other.decode_block(block.encode())
        other.validate_block(peer_block)
        other.commit_block(peer_block, b"cert-%d" % block.height)
    return ledger.commit_block(block, b"cert-%d" % block.height)


def open_ledger(path: Any, g: Genesis | None = None, **kw: Any) -> Ledger:
    return Ledger.open(path, g or genesis(), **kw)


def admit_bad_args(ledger: Ledger) -> None:
    """Make `ledger` admit txs whose arguments do not fit their method, as a node before that
    admission rule did (or a Byzantine proposer would), so a test can pin how execution fails
    them; every other admission check stays. Validation never used the rule."""
    strict = ledger.check_target

    def lenient(t: Transaction) -> tuple[Code, str, str | None] | None:
        bad = strict(t)
        return None if bad is not None and bad[0] == Code.INVALID_ARGS else bad

    ledger.check_target = lenient  # type: ignore[method-assign]
