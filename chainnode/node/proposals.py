"""Proposals seen by this node: the block cache and the validity check consensus calls.

The one node-local proposal rule lives here: a block stamped more than
:data:`MAX_CLOCK_AHEAD_MS` ahead of our clock is refused (a primary must not push the chain's
time, and every later block's lower bound, into the future), unless it came by block sync with
a commit certificate: a quorum took its time already, our clock has no say. Every other rule is
the ledger's (``Ledger.validate_block``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chainnode.ledger.ledger import Ledger
from chainnode.model.codes import InvalidBlock, MalformedError
from chainnode.model.types import Block
from chainnode.node.compact import is_compact, rebuild
from consensus.types import Proposal

log = logging.getLogger("chainnode.node")

MAX_CACHED_BLOCKS = 64
#: A proposal stamped further than this ahead of our clock is refused: a primary must not push
#: the chain's time (and every later block's lower bound) into the future.
MAX_CLOCK_AHEAD_MS = 15_000


def timestamp_acceptable(timestamp_ms: int, now_ms: int) -> bool:
    return timestamp_ms <= now_ms + MAX_CLOCK_AHEAD_MS


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class BlockCache:
    """Decoded blocks by hash (ours, validated, fetched), so commit need not decode twice;
    and which of them came by block sync. Both bounded to the newest ``MAX_CACHED_BLOCKS``."""

    def __init__(self) -> None:
        self._blocks: dict[bytes, Block] = {}
        self._fetched: dict[bytes, None] = {}

    def remember(self, block: Block, *, fetched: bool = False) -> None:
        self._blocks[block.hash] = block
        if fetched:
            self._fetched[block.hash] = None
        while len(self._blocks) > MAX_CACHED_BLOCKS:
            del self._blocks[next(iter(self._blocks))]
        while len(self._fetched) > MAX_CACHED_BLOCKS:
            del self._fetched[next(iter(self._fetched))]

    def get(self, digest: bytes) -> Block | None:
        return self._blocks.get(digest)

    def pop(self, digest: bytes) -> Block | None:
        return self._blocks.pop(digest, None)

    def was_fetched(self, digest: bytes) -> bool:
        return digest in self._fetched


class ProposalCheck:
    """``Replica``'s validate callback: is this proposal a valid next block for our chain?

    False only when the *proposal* is at fault: it does not decode (``MalformedError``), does
    not match its digest, height or parent, is stamped too far ahead, or the ledger finds the
    block invalid (``InvalidBlock``). Anything else raised while checking it (a
    ``StorageError``, ``MemoryError``, an EXECUTION_FAULT, a bug) is this node's failure: it is
    logged at ERROR and re-raised, so the replica blames no one and starts no view change
    (``Replica`` turns it into ``LocalError``; the node stops on it).
    """

    def __init__(
        self, ledger: Ledger, cache: BlockCache, clock_ms: Callable[[], int] = wall_clock_ms
    ) -> None:
        self.ledger = ledger
        self.cache = cache
        self.clock_ms = clock_ms

    def __call__(self, proposal: Proposal) -> bool:
        try:
            block = self.cache.get(proposal.digest)
            if block is None:
                block = self._decode(proposal)
                if block is None:
                    return False
            if (
                block.hash != proposal.digest
                or block.height != proposal.height
                or block.header.prev_hash != proposal.parent
            ):
                return False
            fetched = self.cache.was_fetched(proposal.digest)
            if not fetched and not timestamp_acceptable(block.header.timestamp, self.clock_ms()):
                log.warning(
                    "rejected proposal at height %d: timestamp %d is more than %d ms ahead of ours",
                    proposal.height,
                    block.header.timestamp,
                    MAX_CLOCK_AHEAD_MS,
                )
                return False
            self.ledger.validate_block(block)
        except (InvalidBlock, MalformedError) as e:
            log.warning("rejected proposal at height %d: %s", proposal.height, e)
            return False
        except Exception as e:
            log.error(
                "cannot validate the proposal at height %d (this node's failure, not the"
                " primary's; stopping): %s: %s",
                proposal.height,
                type(e).__name__,
                e,
            )
            raise
        self.cache.remember(block)
        return True

    def _decode(self, proposal: Proposal) -> Block | None:
        """The proposed block, or None when its bytes are not one: decoding is a pure function
        of bytes the primary chose, so whatever it raises (short of running out of memory) is
        the same on every node and the primary's fault. A compact payload (tx hashes,
        :mod:`chainnode.node.compact`) that reaches us still compact is rebuilt from the
        mempool; when txs are still missing the primary did not supply them in time: None."""
        try:
            if is_compact(proposal.payload):
                mempool = self.ledger.mempool
                block, missing = rebuild(
                    proposal.payload, mempool.get, self.ledger.suite, None, mempool.lookup_raw
                )
                if block is None:
                    log.warning(
                        "rejected proposal at height %d: %d of its txs are unknown here and"
                        " its primary did not supply them",
                        proposal.height,
                        len(missing),
                    )
                return block
            return self.ledger.decode_block(proposal.payload)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001  # see above
            log.warning("rejected proposal at height %d: undecodable: %s", proposal.height, e)
            return None
