"""Block sync over p2p request/response: serve committed blocks, fetch them for consensus.

The core decides what to fetch (``RequestBlocks``) and verifies what arrives (certificates
against the validator set of each height, inside ``BlocksFetched``); this module only moves
bytes, bounded in count and size, and never trusts the peer's framing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgpack

from chainnode.model.codes import LedgerError
from chainnode.model.encoding import ArrayBudget
from chainnode.model.types import Block
from consensus.certificate import CommitCertificate, decode_certificate
from consensus.errors import ConsensusError
from consensus.types import Proposal

if TYPE_CHECKING:
    from chainnode.ledger.ledger import Ledger

log = logging.getLogger("chainnode.sync")

KIND = "blocks"
MAX_BLOCKS_PER_REQUEST = 64
MAX_RESPONSE_BYTES = 6 << 20


class SyncError(Exception):
    """A peer's block-sync request or response that does not parse."""


def encode_request(from_height: int, to_height: int) -> bytes:
    return msgpack.packb([from_height, to_height])  # type: ignore[no-any-return]


def serve(ledger: Ledger, payload: bytes) -> bytes:
    """Answer ``[from, to]`` with ``[[block_bytes, certificate_bytes], ...]`` we have."""
    try:
        req = msgpack.unpackb(payload, max_array_len=2, max_bin_len=0, max_str_len=0)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise SyncError("malformed request") from None
    if (
        not isinstance(req, list)
        or len(req) != 2
        or not all(type(x) is int and x >= 0 for x in req)
    ):
        raise SyncError("request is [from_height, to_height]")
    lo, hi = req
    hi = min(hi, ledger.height, lo + MAX_BLOCKS_PER_REQUEST - 1)
    out: list[list[bytes]] = []
    size = 0
    for h in range(max(lo, 1), hi + 1):
        raw = ledger.block_bytes(h)
        cert = ledger.certificate(h)
        if raw is None or cert is None:
            break
        size += len(raw) + len(cert)
        if out and size > MAX_RESPONSE_BYTES:
            break
        out.append([raw, cert])
    return msgpack.packb(out, use_bin_type=True)  # type: ignore[no-any-return]


def decode_response(
    payload: bytes, decode_block: Callable[[bytes], Block], from_height: int, to_height: int
) -> list[tuple[Proposal, CommitCertificate, Block]]:
    """(proposal, certificate, block) per returned height, contiguous from ``from_height``."""
    try:
        items = msgpack.unpackb(
            payload,
            raw=False,
            max_array_len=MAX_BLOCKS_PER_REQUEST,
            list_hook=ArrayBudget(1 + MAX_BLOCKS_PER_REQUEST),  # [[block, cert], ...]
        )
    except (ValueError, TypeError, msgpack.UnpackException):
        raise SyncError("malformed response") from None
    if not isinstance(items, list):
        raise SyncError("response is a list")
    out: list[tuple[Proposal, CommitCertificate, Block]] = []
    expect = from_height
    for item in items:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, bytes) for x in item)
        ):
            raise SyncError("each item is [block, certificate]")
        try:
            block = decode_block(item[0])
            cert = decode_certificate(item[1])
        except (LedgerError, ConsensusError, ValueError, TypeError) as e:
            raise SyncError(f"undecodable block or certificate: {e}") from None
        if block.height != expect or expect > to_height:
            raise SyncError("blocks out of the requested range")
        proposal = Proposal(block.height, block.header.prev_hash, block.hash, block.encode())
        out.append((proposal, cert, block))
        expect += 1
    return out
