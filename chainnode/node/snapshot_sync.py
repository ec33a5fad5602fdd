"""Joining from a snapshot (``chainnode start --sync snapshot``): fetch the state at a recent
certified checkpoint from peers instead of replaying every block since genesis.

On a data directory without a chain, before the node itself starts, :func:`join` runs its own p2p
network under the node's key and:

1. asks every connected peer which checkpoints it keeps (``snap.list``) and picks the newest
   one offered by ``f + 1`` of them (at least one honest peer then holds all of it), an older
   one when no peer proves it (steps 2 and 3);
2. fetches the checkpoint's anchor (:func:`verify_anchor`): the header of ``c + lag`` carrying
   the checkpoint, whose certificate must be a quorum of the validator set derived from genesis
   and the proven governance changes (the proof bundle's rule,
   :func:`chainnode.proofs.bundle.derive_validators`), and the headers down to ``c`` linked by
   their hashes;
3. fetches the manifest and checks it against the certified checkpoint
   (:func:`chainnode.model.snapshot.verify_manifest`);
4. fetches the chunks in parallel from every offering peer, each checked against the manifest
   (its hash; :func:`chunk_matches`). A peer whose answer does not verify is
   Byzantine: logged with its id, disconnected, avoided for the rest of the sync; its chunk is
   fetched from another;
5. installs the state (:meth:`Ledger.install_snapshot`, which checks every chunk again and
   their order across chunks) on a worker thread as the chunks arrive, into a fresh directory
   renamed into place (a failure or a crash leaves the data directory without a chain, never
   half a one).

The node then starts as usual and follows the chain by block sync from ``c + 1``; the blocks
above ``c`` are validated and executed like any other, the checkpoint-carrying one included.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chainnode.ledger.executor import roots_of
from chainnode.ledger.ledger import STORE_DIR, Ledger
from chainnode.model.codes import LedgerError
from chainnode.model.encoding import unpack
from chainnode.model.genesis import Genesis
from chainnode.model.snapshot import (
    HashedChunk,
    Manifest,
    SnapshotError,
    hash_checked,
    verify_manifest,
)
from chainnode.model.types import BlockHeader, StateCheckpoint
from chainnode.node.snapshot_wire import (
    KIND_ANCHOR,
    KIND_CHUNK,
    KIND_LIST,
    KIND_MANIFEST,
    KIND_RECENT,
    MAX_RECENT_BLOCKS,
    Anchor,
    SnapshotWireError,
    decode_anchor,
    decode_offers,
    decode_recent,
    encode_chunk_request,
    encode_height,
    encode_recent_request,
)
from chainnode.proofs.bundle import (
    Inclusion,
    ProofError,
    derive_validators,
    verify_block_certificate,
)
from crypto.suite import get_suite
from p2p import Network, P2PError
from p2p.network import short
from storage import StorageError

log = logging.getLogger("chainnode.snapshot")

REQUEST_TIMEOUT = 30.0  # one chunk (<= 1 MiB) or anchor from one peer
PER_PEER = 2  # chunk requests in flight to one peer
PROGRESS_EVERY = 1.0  # seconds between progress lines


class SnapshotSyncError(Exception):
    """The join cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified anchor establishes: the checkpoint of height c, certified from genesis,
    block c's header (hash-linked to the certified one) with its certificate, and the proven
    validator-set changes up to c + lag (kept: their blocks will not be on this node)."""

    checkpoint: StateCheckpoint
    header: BlockHeader
    certificate: bytes
    governance: tuple[Inclusion, ...] = ()


def _header(raw: bytes, what: str) -> BlockHeader:
    try:
        header = BlockHeader.from_list(unpack(raw))
    except LedgerError as e:
        raise ProofError(f"{what}: malformed ({e.message})") from None
    if header.encode() != raw:
        raise ProofError(f"{what}: not in canonical encoding")
    return header


def verify_anchor(genesis: Genesis, c: int, anchor: Anchor) -> Verified:
    """Check the anchor of checkpoint ``c`` against genesis alone; ProofError saying what is
    wrong. The certified header is ``c + lag`` (genesis's lag); it must carry the checkpoint
    of ``c``; the headers below it must chain to it by ``prev_hash``."""
    lag = genesis.consensus.checkpoint_lag
    suite = get_suite(genesis.suite)
    if len(anchor.headers) != lag + 1:
        raise ProofError(f"anchor: {len(anchor.headers)} headers, expected c .. c + {lag}")
    headers = [_header(raw, f"header {c + k}") for k, raw in enumerate(anchor.headers)]
    for k, header in enumerate(headers):
        if header.height != c + k:
            raise ProofError(f"header {c + k}: has height {header.height}")
        if k and header.prev_hash != suite.hash(anchor.headers[k - 1]):
            raise ProofError(f"header {c + k}: prev_hash does not link to header {c + k - 1}")
    top = headers[-1]
    cp = top.checkpoint
    if cp is None or cp.height != c:
        raise ProofError(f"header {top.height}: carries no checkpoint of height {c}")
    validators_at, _ = derive_validators(anchor.governance, genesis, top.height)
    verify_block_certificate(
        f"block {top.height}",
        genesis.chain_id,
        top,
        suite.hash(anchor.headers[-1]),
        anchor.top_certificate,
        validators_at(top.height),
    )
    verify_block_certificate(
        f"block {c}",
        genesis.chain_id,
        headers[0],
        suite.hash(anchor.headers[0]),
        anchor.certificate,
        validators_at(c),
    )
    return Verified(cp, headers[0], anchor.certificate, anchor.governance)


def verify_recent(
    hash_fn: Callable[[bytes], bytes],
    want: bytes,
    top: int,
    blocks: list[tuple[bytes, list[bytes]]],
) -> tuple[list[tuple[int, list[bytes]]], bytes]:
    """Blocks ``top``, ``top - 1``, ... as a peer sent them (header encoding, tx hashes) checked
    against ``want``, the hash block ``top`` must have (a verified header's, or the
    ``prev_hash`` of the block above): each header hash-links down and its tx root is the
    Merkle root of the hashes. Returns (height, hashes) for each and the hash the block below
    the last must have; ProofError saying what is wrong."""
    out = []
    for k, (raw, hashes) in enumerate(blocks):
        h = top - k
        header = _header(raw, f"header {h}")
        if header.height != h or hash_fn(raw) != want:
            raise ProofError(f"header {h}: does not link to the block above it")
        if roots_of(hash_fn, hashes) != header.tx_root:
            raise ProofError(f"block {h}: its tx hashes do not make its tx root")
        out.append((h, hashes))
        want = header.prev_hash
    return out, want


def faults_needed(genesis: Genesis) -> int:
    """f + 1 of the genesis set: peers that must offer a checkpoint before we pick it."""
    return (len(genesis.validators) - 1) // 3 + 1


def offered(offers: dict[bytes, list[int]], need: int) -> list[int]:
    """The heights at least ``need`` peers offer, newest first."""
    counts = Counter(h for heights in offers.values() for h in set(heights))
    return sorted((h for h, n in counts.items() if n >= need), reverse=True)


def newest_offered(offers: dict[bytes, list[int]], need: int) -> int | None:
    """The newest height at least ``need`` peers offer (None if none is)."""
    return next(iter(offered(offers, need)), None)


class Fetcher:
    """One sync's peers: asks them, and keeps the Byzantine ones away for the rest of it."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.byzantine: set[bytes] = set()
        self.peers_changed = asyncio.Event()
        net.on_peer(lambda _peer, _up: self.peers_changed.set())

    def usable(self, peers: Sequence[bytes] | None = None) -> list[bytes]:
        """Connected, not blamed, in a fixed order (by id)."""
        live = self.net.connected_peers() if peers is None else peers
        return sorted(p for p in live if p not in self.byzantine and self.net.is_connected(p))

    def blame(self, peer: bytes, what: str) -> None:
        """A peer answered with bytes that do not verify: it lies (or serves corrupt files).
        Once per peer (its other requests in flight may fail the same way)."""
        if peer in self.byzantine:
            return
        self.byzantine.add(peer)
        log.warning(
            "Byzantine snapshot peer %s (%s): %s; disconnected and avoided for this sync",
            short(peer),
            peer.hex(),
            what,
        )
        self.net.punish(peer, f"snapshot sync: {what}")

    async def ask(self, peer: bytes, kind: str, body: bytes) -> bytes | None:
        """The peer's answer, or None when it is unreachable or has nothing (not a lie)."""
        try:
            return await self.net.request(peer, kind, body, timeout=REQUEST_TIMEOUT)
        except P2PError as e:
            log.info("snapshot %s from %s: %s", kind, short(peer), e)
            return None

    async def offers(self) -> dict[bytes, list[int]]:
        peers = self.usable()
        answers = await asyncio.gather(*(self.ask(p, KIND_LIST, b"") for p in peers))
        out: dict[bytes, list[int]] = {}
        for peer, raw in zip(peers, answers, strict=True):
            if raw is None:
                continue
            try:
                out[peer] = decode_offers(raw)
            except SnapshotWireError as e:
                self.blame(peer, str(e))
        return out

    async def anchor(self, genesis: Genesis, c: int, peers: list[bytes]) -> Verified:
        for peer in self.usable(peers):
            raw = await self.ask(peer, KIND_ANCHOR, encode_height(c))
            if raw is None:
                continue
            try:
                return verify_anchor(genesis, c, decode_anchor(raw))
            except (SnapshotWireError, ProofError) as e:
                self.blame(peer, f"anchor of checkpoint {c}: {e}")
        raise SnapshotSyncError(f"no peer gave a valid proof of checkpoint {c}")

    async def recent(
        self, genesis: Genesis, verified: Verified, peers: list[bytes]
    ) -> list[tuple[int, list[bytes]]]:
        """The tx hashes of the ``block_limit_window`` blocks up to checkpoint c, each block
        checked down the hash links from block c's verified header: a tx committed there
        may not be included again, and a joined node must see it as committed."""
        suite = get_suite(genesis.suite)
        c = verified.header.height
        lo = max(1, c - genesis.consensus.block_limit_window + 1)
        top, want = c, suite.hash(verified.header.encode())
        out: list[tuple[int, list[bytes]]] = []
        while top >= lo:
            n = min(MAX_RECENT_BLOCKS, top - lo + 1)
            for peer in self.usable(peers):
                raw = await self.ask(peer, KIND_RECENT, encode_recent_request(top, n))
                if raw is None:
                    continue
                try:
                    got, below = verify_recent(suite.hash, want, top, decode_recent(raw)[:n])
                except (SnapshotWireError, ProofError) as e:
                    self.blame(peer, f"blocks {top} down: {e}")
                    continue
                out += got
                top, want = top - len(got), below
                break
            else:
                raise SnapshotSyncError(f"no peer gave the tx hashes of blocks {lo} .. {top}")
        return out

    async def manifest(self, checkpoint: StateCheckpoint, peers: list[bytes]) -> Manifest:
        for peer in self.usable(peers):
            raw = await self.ask(peer, KIND_MANIFEST, encode_height(checkpoint.height))
            if raw is None:
                continue
            try:
                manifest = Manifest.decode(raw)
                verify_manifest(manifest, checkpoint)
            except SnapshotError as e:
                self.blame(peer, f"manifest of checkpoint {checkpoint.height}: {e}")
                continue
            return manifest
        raise SnapshotSyncError(f"no peer gave a valid manifest of checkpoint {checkpoint.height}")


def chunk_matches(manifest: Manifest, index: int, data: bytes) -> HashedChunk | None:
    """``data`` as chunk ``index`` of the (certified) manifest if its size and hash are the
    manifest's, else None. That alone decides whether the peer lied; the installer then
    decodes and checks every chunk once (:func:`chainnode.model.snapshot.verify_chunk`,
    which does not hash a :class:`HashedChunk` again). Hashing runs on a worker thread
    (hashlib releases the GIL), so chunks hash in parallel off the event loop."""
    try:
        return hash_checked(manifest, index, data)
    except SnapshotError:
        return None


class ChunkFetch:
    """Every chunk of one manifest, fetched in parallel from the offering peers.

    ``PER_PEER`` workers per peer take chunk indices from one queue; the workers start
    interleaved (one of each peer, then the second of each), so with at least as many chunks
    as peers every peer is asked for one. A chunk whose answer does not verify goes back to
    the queue, its peer is blamed and its workers stop; a peer that does not answer (timeout,
    disconnected) stops for this round. Workers with nothing to take wait while chunks are in
    flight elsewhere, to take one that comes back."""

    def __init__(
        self,
        fetcher: Fetcher,
        manifest: Manifest,
        peers: list[bytes],
        on_chunk: Callable[[int, HashedChunk], None] = lambda i, chunk: None,
    ) -> None:
        self.fetcher = fetcher
        self.on_chunk = on_chunk
        self.manifest = manifest
        self.peers = peers
        self.total = len(manifest.chunk_hashes)
        self.todo: deque[int] = deque(range(self.total))
        self.chunks: set[int] = set()  # verified chunks (their bytes go on to on_chunk)
        self.bytes = 0
        self.started = time.monotonic()
        self._logged = 0.0
        self._changed = asyncio.Event()

    async def run(self) -> None:
        """Fetch every chunk, each handed to ``on_chunk`` as it is verified (not kept here:
        the installer drops each once written)."""
        while len(self.chunks) < self.total:
            peers = self.fetcher.usable(self.peers)
            if not peers:
                raise SnapshotSyncError(
                    f"checkpoint {self.manifest.height}: {self.total - len(self.chunks)} chunks "
                    "left and no usable peer offers them (restart to try again)"
                )
            before = (len(self.chunks), len(self.fetcher.byzantine))
            await asyncio.gather(*(self._worker(p) for _ in range(PER_PEER) for p in peers))
            if (len(self.chunks), len(self.fetcher.byzantine)) == before:
                raise SnapshotSyncError(
                    f"checkpoint {self.manifest.height}: no peer answered a chunk (restart to "
                    "try again)"
                )
        self._progress(force=True)

    def _put_back(self, i: int) -> None:
        self.todo.append(i)
        self._changed.set()

    async def _worker(self, peer: bytes) -> None:
        c = self.manifest.height
        while len(self.chunks) < self.total and peer not in self.fetcher.byzantine:
            if not self.todo:
                self._changed.clear()
                await self._changed.wait()
                continue
            i = self.todo.popleft()
            raw = await self.fetcher.ask(peer, KIND_CHUNK, encode_chunk_request(c, i))
            if raw is None:
                self._put_back(i)  # another peer takes it; this one is done for the round
                return
            checked = await asyncio.to_thread(chunk_matches, self.manifest, i, raw)
            if checked is None:
                self._put_back(i)
                self.fetcher.blame(peer, f"chunk {i} of checkpoint {c}: not the manifest's hash")
                return
            self.chunks.add(i)
            self.on_chunk(i, checked)
            self.bytes += len(raw)
            self._changed.set()
            self._progress()

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._logged < PROGRESS_EVERY:
            return
        self._logged = now
        took = max(now - self.started, 1e-6)
        log.info(
            "snapshot %d: chunks %d/%d, %.1f MB, %.1f MB/s",
            self.manifest.height,
            len(self.chunks),
            self.total,
            self.bytes / 1e6,
            self.bytes / 1e6 / took,
        )


def holds_chain(data_dir: Path) -> bool:
    """A chain is here already (the ledger's store exists; a scratch directory left by an
    install cut short does not count: the next install replaces it)."""
    return (data_dir / STORE_DIR).exists()


async def wait_for_peers(fetcher: Fetcher, need: int, deadline: float) -> None:
    """Until every peer we dial is connected, or ``need`` are and a second more has passed
    (more peers, more chunks in parallel), or the deadline."""
    targets = max(need, len(fetcher.net.config.peers))
    settle: float | None = None
    while True:
        n, now = len(fetcher.usable()), time.monotonic()
        if n >= need and settle is None:
            settle = now + 1.0
        if n >= targets or now >= deadline or (settle is not None and now >= settle):
            return
        fetcher.peers_changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                fetcher.peers_changed.wait(), min(deadline, settle or deadline) - now
            )


async def wait_for_offers(fetcher: Fetcher, need: int, timeout: float) -> dict[bytes, list[int]]:
    """The peers' offers once some checkpoint is offered by ``need`` of them, asking again
    when peers come and go, or every second (a checkpoint completes), until ``timeout``."""
    deadline = time.monotonic() + timeout
    offers: dict[bytes, list[int]] = {}
    while True:
        await wait_for_peers(fetcher, need, deadline)
        fetcher.peers_changed.clear()
        if len(fetcher.usable()) >= need:
            offers = await fetcher.offers()
            if offered(offers, need):
                return offers
        left = deadline - time.monotonic()
        if left <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fetcher.peers_changed.wait(), min(1.0, left))
    connected = len(fetcher.usable())
    raise SnapshotSyncError(
        f"no snapshot offered by {need} peers within {timeout:g}s ({connected} connected, "
        f"offers: {sorted({h for hs in offers.values() for h in hs}) or 'none'}). Peers serve "
        "snapshots when the genesis sets consensus.snapshot_interval and the chain has passed "
        "its first checkpoint plus snapshot_lag; the validators must admit this node (its key "
        "in their config's observers). Or start without --sync snapshot to replay the chain "
        "from genesis."
    )


class InOrder:
    """The verified chunks in index order, for the installing thread while the fetch goes on:
    its iterator blocks until the next chunk is in, and raises once the fetch has failed (the
    install then leaves nothing behind)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._cond = threading.Condition()
        self._chunks: dict[int, bytes | HashedChunk] = {}
        self._failed: BaseException | None = None

    def put(self, index: int, data: bytes | HashedChunk) -> None:
        with self._cond:
            self._chunks[index] = data
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            self._failed = error
            self._cond.notify_all()

    def __iter__(self) -> Iterator[bytes | HashedChunk]:
        for i in range(self.total):
            with self._cond:
                while i not in self._chunks and self._failed is None:
                    self._cond.wait()
                if self._failed is not None:
                    raise SnapshotSyncError(f"the fetch stopped: {self._failed}")
                data = self._chunks.pop(i)
            yield data


async def anchor_and_manifest(
    fetcher: Fetcher, genesis: Genesis, timeout: float
) -> tuple[Verified, Manifest, list[bytes]]:
    """The newest checkpoint f + 1 peers offer, certified from genesis, its manifest checked
    against it, and the peers that offer it."""
    if not genesis.consensus.snapshot_every:
        raise SnapshotSyncError(
            "this chain's genesis sets no consensus.snapshot_interval: its nodes serve no "
            "snapshots; start without --sync snapshot to replay the chain from genesis"
        )
    need = faults_needed(genesis)
    offers = await wait_for_offers(fetcher, need, timeout)
    failures = []
    for c in offered(offers, need):  # an older one when no peer proves the newest
        peers = [p for p, hs in offers.items() if c in hs]
        log.info("snapshot: checkpoint %d offered by %d peers; verifying its proof", c, len(peers))
        try:
            verified = await fetcher.anchor(genesis, c, peers)
            manifest = await fetcher.manifest(verified.checkpoint, peers)
        except SnapshotSyncError as e:
            log.warning("snapshot: %s; trying an older checkpoint", e)
            failures.append(str(e))
            continue
        log.info(
            "snapshot %d certified (root %s): fetching %d chunks, %d entries from %d peers",
            c,
            manifest.root.hex()[:16],
            len(manifest.chunk_hashes),
            manifest.entries,
            len(fetcher.usable(peers)),
        )
        return verified, manifest, peers
    raise SnapshotSyncError("; ".join(failures) + " (restart to try again)")


async def join(net: Network, data_dir: Path, genesis: Genesis, timeout: float) -> int:
    """Fetch, verify and install a snapshot through ``net`` (started here, stopped after);
    returns the checkpoint height installed. The install runs on a worker thread while the
    chunks arrive (in index order, each checked), into a scratch directory renamed into place
    at the end (:meth:`Ledger.install_snapshot`): a failure or a crash leaves no chain."""
    started = time.monotonic()
    await net.start()
    try:
        fetcher = Fetcher(net)
        verified, manifest, peers = await anchor_and_manifest(fetcher, genesis, timeout)
        recent = await fetcher.recent(genesis, verified, peers)
        feed = InOrder(len(manifest.chunk_hashes))
        fetch = ChunkFetch(fetcher, manifest, peers, feed.put)
        installing = asyncio.ensure_future(
            asyncio.to_thread(
                Ledger.install_snapshot,
                data_dir,
                genesis,
                verified.header,
                verified.certificate,
                manifest,
                iter(feed),
                json.dumps([g.to_json() for g in verified.governance]).encode(),
                recent,
            )
        )
        try:
            await fetch.run()
        except BaseException as e:
            feed.fail(e)
            with contextlib.suppress(Exception):
                await asyncio.shield(installing)
            raise
    finally:
        await net.stop()
    c = verified.checkpoint.height
    try:
        entries = await installing
    except (LedgerError, StorageError) as e:  # e.g. a certified snapshot that does not decode
        raise SnapshotSyncError(f"installing checkpoint {c}: {e}") from None
    log.info(
        "snapshot %d installed (%d entries, %.1f MB) in %.1fs; following the chain from block %d",
        c,
        entries,
        fetch.bytes / 1e6,
        time.monotonic() - started,
        c + 1,
    )
    return c
