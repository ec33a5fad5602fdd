"""The Byzantine validator's lies: a consensus transport that forges what an honest core sends.

A Byzantine node keeps running the honest core and lies on the way out: the consensus driver
sends through :class:`ByzantineTransport` (the node's ``transport`` seam), and block-sync
answers pass through :meth:`ByzantineTransport.forge_sync` (its ``sync_filter`` seam). Every
lie is logged at WARNING with the prefix ``BYZANTINE`` so a run can be audited against what the
honest nodes detected. Only ``bench.chaos.node`` builds one; a production node cannot.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from consensus.errors import ConsensusError
from consensus.messages import (
    CommitVote,
    Prepare,
    PrePrepare,
    ViewChange,
    decode_message,
    encode_message,
)
from consensus.types import MAX_VIEW, Proposal
from p2p import Network

log = logging.getLogger("bench.chaos.byzantine")

MODES = (
    "equivocate",  # as primary: a different valid block to half of the peers
    "future_block",  # as primary: a block stamped an hour ahead, to everyone
    "double_vote",  # PREPARE/COMMIT for a made-up digest to half of the peers
    "bad_signature",  # every vote goes out with a corrupted signature
    "view_bomb",  # VIEW-CHANGEs for views near the top of the range
    "replay",  # old messages of ours sent again
    "flood",  # bursts of messages for far-future heights
    "flood_forged",  # bursts of junk for the next heights naming honest validators as senders
    "forged_sync",  # blocks served to syncing peers are altered
    "withhold_txs",  # as primary: proposals name every tx by hash, peers' fetches of them are
    # answered with none, and txs waiting here are not offered to peers that connect
    "no_gossip",  # its clients' txs are flooded and offered to no peer (still served on request)
)
FLOOD_BURST = 300
FORGED_BURST = 3000  # every BURST_INTERVAL: ~6,000 junk messages a second, as in issue 18
FUTURE_MS = 3_600_000
BURST_INTERVAL = 0.5  # seconds between view bombs / floods


class ByzantineTransport:
    """The consensus driver's transport: honest pass-through until modes are set."""

    def __init__(
        self,
        net: Network,
        chain_id: bytes,
        public_key: bytes,
        sign: Callable[[bytes], bytes],
        alternative_block: Callable[[PrePrepare, int], Proposal | None],
        channel: int,
        hashes_only: Callable[[PrePrepare], Proposal | None] = lambda pp: None,
    ) -> None:
        self.net = net
        self.chain_id = chain_id
        self.public_key = public_key
        self.sign = sign
        self.alternative_block = alternative_block
        self.hashes_only = hashes_only
        self.channel = channel
        self.modes: frozenset[str] = frozenset()
        self.acts: Counter[str] = Counter()
        self._sent: deque[bytes] = deque(maxlen=512)
        self._rng = random.Random()
        self._last_burst = 0.0

    def set_modes(self, modes: Iterable[str]) -> None:
        wanted = frozenset(modes)
        unknown = wanted - set(MODES)
        if unknown:
            raise ValueError(f"unknown Byzantine modes {sorted(unknown)}; known: {list(MODES)}")
        self.modes = wanted
        log.warning("BYZANTINE modes now %s", sorted(wanted) or "none (honest)")

    # -- the Transport protocol of chainnode.node.driver -------------------------------------

    def send(self, peer_id: bytes, channel: int, payload: bytes) -> Any:
        if not self.modes or channel != self.channel:
            return self.net.send(peer_id, channel, payload)
        for data in self._lie(peer_id, payload):
            self.net.send(peer_id, channel, data)
        return True

    def broadcast(self, channel: int, payload: bytes) -> Any:
        if not self.modes or channel != self.channel:
            return self.net.broadcast(channel, payload)
        for peer in self.net.connected_peers():
            self.send(peer, channel, payload)
        return True

    # -- lies ---------------------------------------------------------------------------------

    def _act(self, mode: str, detail: str) -> None:
        self.acts[mode] += 1
        n = self.acts[mode]
        if n & (n - 1) == 0:  # 1st, 2nd, 4th, ... act of each kind
            log.warning("BYZANTINE %s (%d acts): %s", mode, n, detail)

    def _second_half(self, peer_id: bytes) -> bool:
        peers = sorted(self.net.connected_peers())
        return peer_id in peers[len(peers) // 2 :]

    def _by_hash_only(self, msg: PrePrepare, out: list[bytes]) -> list[bytes]:
        """An honest proposal carries the bodies of our clients' newest txs; a withholding
        primary names every tx by hash, so that backups must ask for what it withholds."""
        alt = self.hashes_only(msg)
        return out if alt is None else [encode_message(self._resign(msg, proposal=alt))]

    def _lie(self, peer_id: bytes, payload: bytes) -> list[bytes]:
        try:
            msg = decode_message(payload)
        except ConsensusError:
            return [payload]
        out = [payload]
        modes = self.modes
        if "equivocate" in modes and isinstance(msg, PrePrepare) and self._second_half(peer_id):
            alt = self.alternative_block(msg, 1)
            if alt is not None:
                out = [encode_message(self._resign(msg, proposal=alt))]
                self._act(
                    "equivocate", f"height {msg.height}: a second block for {peer_id.hex()[:16]}"
                )
        if "future_block" in modes and isinstance(msg, PrePrepare):
            alt = self.alternative_block(msg, FUTURE_MS)
            if alt is not None:
                out = [encode_message(self._resign(msg, proposal=alt))]
                self._act("future_block", f"height {msg.height}: stamped {FUTURE_MS} ms ahead")
        if "withhold_txs" in modes and isinstance(msg, PrePrepare):
            out = self._by_hash_only(msg, out)
        if isinstance(msg, Prepare | CommitVote):
            if "double_vote" in modes and self._second_half(peer_id):
                out = [encode_message(self._resign(msg, digest=self._rng.randbytes(32)))]
                self._act("double_vote", f"height {msg.height}: a second {type(msg).__name__}")
            if "bad_signature" in modes:
                bad = bytearray(msg.signature)
                bad[self._rng.randrange(len(bad))] ^= 0x01
                out = [encode_message(dataclasses.replace(msg, signature=bytes(bad)))]
                self._act("bad_signature", f"height {msg.height}: corrupted {type(msg).__name__}")
        if "replay" in modes and self._sent:
            out.append(self._rng.choice(self._sent))
            self._act("replay", "an old message sent again")
        self._sent.append(payload)
        now = time.monotonic()
        height = getattr(msg, "height", 1)
        if now - self._last_burst >= BURST_INTERVAL:
            if "view_bomb" in modes:
                self._last_burst = now
                bomb = ViewChange(
                    height, MAX_VIEW - self._rng.randrange(16), None, self.public_key, b"\0" * 64
                )
                out.append(encode_message(self._resign(bomb)))
                self._act("view_bomb", f"height {height}: VIEW-CHANGE to view {bomb.view}")
            if "flood" in modes:
                self._last_burst = now
                template = self._resign(
                    Prepare(height + 1000, 0, self._rng.randbytes(32), self.public_key, b"\0" * 64)
                )
                for i in range(FLOOD_BURST):
                    fake = dataclasses.replace(template, height=height + 2 + i, view=i % 7)
                    out.append(encode_message(fake))
                self._act("flood", f"{FLOOD_BURST} messages for heights above {height + 1}")
            if "flood_forged" in modes:
                self._last_burst = now
                out += self._forged_burst(height)
                self._act("flood_forged", f"{FORGED_BURST} junk messages naming other senders")
        return out

    def _forged_burst(self, height: int) -> list[bytes]:
        """Junk PREPAREs for the next few heights: half name a connected (honest) validator as
        their sender, half a random key; the signatures are made up."""
        peers = list(self.net.connected_peers()) or [self.public_key]
        rng = self._rng
        out = []
        for i in range(FORGED_BURST):
            sender = rng.choice(peers) if i % 2 else b"\x04" + rng.randbytes(64)
            vote = Prepare(height + 1 + i % 8, i % 4, rng.randbytes(32), sender, rng.randbytes(64))
            out.append(encode_message(vote))
        return out

    def _resign(self, msg: Any, **changes: Any) -> Any:
        draft = dataclasses.replace(msg, **changes)
        return dataclasses.replace(draft, signature=self.sign(draft.signing_bytes(self.chain_id)))

    def forge_txs(self, response: bytes) -> bytes:
        """Tx-fetch answer: none of the txs asked for (a primary that cannot supply them)."""
        if "withhold_txs" not in self.modes:
            return response
        self._act("withhold_txs", "a peer's tx fetch answered with no txs")
        return msgpack.packb([], use_bin_type=True)  # type: ignore[no-any-return]

    def forge_sync(self, response: bytes, alter: Callable[[bytes], bytes]) -> bytes:
        """Block-sync answer with every block altered (its certificate kept)."""
        if "forged_sync" not in self.modes:
            return response
        items = msgpack.unpackb(response, raw=False)
        forged = [[alter(block), cert] for block, cert in items]
        if forged:
            self._act("forged_sync", f"{len(forged)} altered blocks served")
        return msgpack.packb(forged, use_bin_type=True)  # type: ignore[no-any-return]
