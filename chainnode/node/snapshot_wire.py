"""Snapshot sync over p2p request/response: what a node serves and how answers are read.

Five request kinds, each answered from files, headers and blocks this node already has:

- ``snap.list`` (empty body): the checkpoint heights whose snapshot files we keep;
- ``snap.manifest`` ``c``: the manifest of checkpoint ``c`` (its chunk hashes);
- ``snap.chunk`` ``[c, i]``: the exact bytes of chunk ``i`` of checkpoint ``c``;
- ``snap.anchor`` ``c``: what proves checkpoint ``c`` from genesis: the headers ``c .. c + lag``
  (the last carries the checkpoint), the certificates of ``c`` and ``c + lag``, and the proofs
  of every validator-set change in force at ``c + lag`` (the proof bundle's governance part);
- ``snap.recent`` ``[h, n]``: up to ``n`` blocks from ``h`` down, each as its header and its
  txs' hashes: a joined node must know the txs committed in the ``block_limit_window``
  blocks up to ``c`` (they may not be included again, and their bodies are not in the state).

Like block sync (:mod:`chainnode.node.blocksync`) this module only moves bytes: every answer
is bounded before it is decoded (p2p caps a frame; each decode here caps its arrays and byte
strings), and an answer that does not parse raises :class:`SnapshotWireError`, which the
joining side treats as a fault of the peer. Whether an answer is *true* is decided by
:mod:`chainnode.node.snapshot_sync` against genesis.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgpack

from chainnode.model.chain import ChainReader
from chainnode.model.encoding import ArrayBudget
from chainnode.model.snapshot import Manifest
from chainnode.model.types import HASH_LEN, MAX_BLOCK_TXS, BlockHeader
from chainnode.proofs.bundle import Inclusion, ProofError, governance_proofs, parse_inclusions


class SnapshotSource(ChainReader, Protocol):
    """What serving needs of the ledger: the chain, its headers and the snapshot files."""

    def header(self, height: int) -> BlockHeader | None: ...

    def available_snapshots(self) -> list[int]: ...

    def snapshot_manifest(self, height: int) -> Manifest | None: ...

    def snapshot_chunk(self, height: int, index: int) -> bytes | None: ...

    def block_tx_hashes(self, height: int) -> list[bytes] | None: ...


KIND_LIST = "snap.list"
KIND_MANIFEST = "snap.manifest"
KIND_CHUNK = "snap.chunk"
KIND_ANCHOR = "snap.anchor"
KIND_RECENT = "snap.recent"
KINDS = (KIND_LIST, KIND_MANIFEST, KIND_CHUNK, KIND_ANCHOR, KIND_RECENT)

MAX_OFFERS = 64  # checkpoint heights in one snap.list answer
MAX_LAG = 1024  # headers c .. c + lag in one anchor: genesis bounds the lag well below
MAX_HEADER_BYTES = 4096
MAX_CERT_BYTES = 1 << 20
MAX_GOVERNANCE_BYTES = 6 << 20  # under p2p's 8 MiB frame with the rest of an anchor
MAX_RECENT_BLOCKS = 64  # blocks in one snap.recent answer
MAX_RECENT_BYTES = 6 << 20  # an answer stops growing past this (at least one block)


class SnapshotWireError(Exception):
    """A snapshot request or answer that does not parse (or is larger than allowed)."""


def _unpack(payload: bytes, what: str, arrays: int, bins: int) -> object:
    try:
        return msgpack.unpackb(
            payload,
            raw=False,
            max_array_len=arrays,
            max_map_len=0,
            max_str_len=0,
            max_bin_len=bins,
            list_hook=ArrayBudget(2 + arrays),
        )
    except (ValueError, TypeError, msgpack.UnpackException):
        raise SnapshotWireError(f"malformed {what}") from None


def _height(v: object, what: str) -> int:
    if type(v) is not int or not 0 < v < 1 << 62:
        raise SnapshotWireError(f"{what}: expected a positive height")
    return v


# ---- requests ------------------------------------------------------------------------------


def encode_height(c: int) -> bytes:
    """The body of ``snap.manifest`` and ``snap.anchor``."""
    return msgpack.packb(c)  # type: ignore[no-any-return]


def decode_height(payload: bytes) -> int:
    return _height(_unpack(payload, "request", 0, 0), "request")


def encode_chunk_request(c: int, i: int) -> bytes:
    return msgpack.packb([c, i])  # type: ignore[no-any-return]


def decode_chunk_request(payload: bytes) -> tuple[int, int]:
    req = _unpack(payload, "chunk request", 2, 0)
    if not isinstance(req, list) or len(req) != 2 or type(req[1]) is not int or req[1] < 0:
        raise SnapshotWireError("chunk request is [height, index]")
    return _height(req[0], "chunk request"), req[1]


# ---- answers ---------------------------------------------------------------------------------


def encode_offers(heights: list[int]) -> bytes:
    return msgpack.packb(sorted(heights)[-MAX_OFFERS:])  # type: ignore[no-any-return]


def decode_offers(payload: bytes) -> list[int]:
    offers = _unpack(payload, "snapshot list", MAX_OFFERS, 0)
    if not isinstance(offers, list):
        raise SnapshotWireError("snapshot list is a list of heights")
    heights = [_height(h, "snapshot list") for h in offers]
    if heights != sorted(set(heights)):
        raise SnapshotWireError("snapshot list: heights not increasing")
    return heights


@dataclass(frozen=True, slots=True)
class Anchor:
    """The certified material of checkpoint ``c`` as it came off the wire (not yet checked)."""

    headers: tuple[bytes, ...]  # canonical header encodings, heights c .. c + lag
    certificate: bytes  # of block c (stored as the installed head's)
    top_certificate: bytes  # of block c + lag, which carries the checkpoint
    governance: tuple[Inclusion, ...]


def encode_anchor(a: Anchor) -> bytes:
    gov = json.dumps([g.to_json() for g in a.governance]).encode()
    return msgpack.packb(  # type: ignore[no-any-return]
        [list(a.headers), a.certificate, a.top_certificate, gov], use_bin_type=True
    )


def decode_anchor(payload: bytes) -> Anchor:
    top = _unpack(payload, "anchor", MAX_LAG + 1, MAX_GOVERNANCE_BYTES)
    if not isinstance(top, list) or len(top) != 4:
        raise SnapshotWireError("anchor is [headers, certificate, top certificate, governance]")
    headers, cert, top_cert, gov = top
    if (
        not isinstance(headers, list)
        or not 2 <= len(headers) <= MAX_LAG + 1
        or not all(isinstance(h, bytes) and len(h) <= MAX_HEADER_BYTES for h in headers)
    ):
        raise SnapshotWireError("anchor: headers are 2 .. lag + 1 header encodings")
    for what, v in (("certificate", cert), ("top certificate", top_cert)):
        if not isinstance(v, bytes) or len(v) > MAX_CERT_BYTES:
            raise SnapshotWireError(f"anchor: {what} is bytes")
    if not isinstance(gov, bytes):
        raise SnapshotWireError("anchor: governance is a JSON list of proofs")
    try:
        inclusions = parse_inclusions(gov)
    except ProofError as e:
        raise SnapshotWireError(f"anchor: {e}") from None
    assert isinstance(cert, bytes) and isinstance(top_cert, bytes)
    return Anchor(tuple(headers), cert, top_cert, inclusions)


def encode_recent_request(top: int, n: int) -> bytes:
    return msgpack.packb([top, n])  # type: ignore[no-any-return]


def decode_recent_request(payload: bytes) -> tuple[int, int]:
    v = _unpack(payload, "recent request", 2, 0)
    if not isinstance(v, list) or len(v) != 2:
        raise SnapshotWireError("recent request is [top height, blocks]")
    top = _height(v[0], "recent request")
    n = v[1]
    if type(n) is not int or not 0 < n <= MAX_RECENT_BLOCKS:
        raise SnapshotWireError(f"recent request: 1 .. {MAX_RECENT_BLOCKS} blocks")
    return top, n


def encode_recent(blocks: list[tuple[bytes, list[bytes]]]) -> bytes:
    return msgpack.packb(  # type: ignore[no-any-return]
        [[header, hashes] for header, hashes in blocks], use_bin_type=True
    )


def decode_recent(payload: bytes) -> list[tuple[bytes, list[bytes]]]:
    """Blocks from the top height down, each (header encoding, tx hashes): shapes checked,
    whether they are true is the joining side's check."""
    if len(payload) > MAX_RECENT_BYTES + (1 << 20):
        raise SnapshotWireError("recent blocks: answer too large")
    top = _unpack(payload, "recent blocks", max(MAX_BLOCK_TXS, MAX_RECENT_BLOCKS), MAX_HEADER_BYTES)
    if not isinstance(top, list) or not 0 < len(top) <= MAX_RECENT_BLOCKS:
        raise SnapshotWireError(f"recent blocks: 1 .. {MAX_RECENT_BLOCKS} blocks")
    out = []
    for item in top:
        if not isinstance(item, list) or len(item) != 2:
            raise SnapshotWireError("recent blocks: each is [header, tx hashes]")
        header, hashes = item
        if not isinstance(header, bytes) or not isinstance(hashes, list):
            raise SnapshotWireError("recent blocks: each is [header, tx hashes]")
        if not all(isinstance(h, bytes) and len(h) == HASH_LEN for h in hashes):
            raise SnapshotWireError("recent blocks: tx hashes are 32 bytes each")
        out.append((header, hashes))
    return out


# ---- serving ---------------------------------------------------------------------------------


def serve_list(ledger: SnapshotSource) -> bytes:
    return encode_offers(ledger.available_snapshots())


def serve_manifest(ledger: SnapshotSource, payload: bytes) -> bytes:
    manifest = ledger.snapshot_manifest(decode_height(payload))
    if manifest is None:
        raise SnapshotWireError("no such snapshot here")
    return manifest.encode()


def serve_chunk(ledger: SnapshotSource, payload: bytes) -> bytes:
    c, i = decode_chunk_request(payload)
    data = ledger.snapshot_chunk(c, i)
    if data is None:
        raise SnapshotWireError("no such chunk here")
    return data


def serve_anchor(ledger: SnapshotSource, payload: bytes, lag: int) -> bytes:
    """Headers c .. c + lag, both certificates and the governance proofs up to c + lag."""
    c = decode_height(payload)
    top = c + lag
    if c not in ledger.available_snapshots() or top > ledger.height:
        raise SnapshotWireError("no such snapshot here")
    headers = []
    for h in range(c, top + 1):
        header = ledger.header(h)
        if header is None:
            raise SnapshotWireError(f"header {h} missing here")
        headers.append(header.encode())
    cert, top_cert = ledger.certificate(c), ledger.certificate(top)
    if cert is None or top_cert is None:
        raise SnapshotWireError("certificate missing here")
    anchor = Anchor(tuple(headers), bytes(cert), bytes(top_cert), governance_proofs(ledger, top))
    return encode_anchor(anchor)


def serve_recent(ledger: SnapshotSource, payload: bytes) -> bytes:
    """Up to ``n`` blocks from ``top`` down (``top`` at most our height), header and tx
    hashes each; fewer when the answer would pass MAX_RECENT_BYTES."""
    top, n = decode_recent_request(payload)
    if top > ledger.height:
        raise SnapshotWireError(f"block {top} is above this node's head")
    blocks: list[tuple[bytes, list[bytes]]] = []
    size = 0
    for h in range(top, max(0, top - n), -1):
        header, hashes = ledger.header(h), ledger.block_tx_hashes(h)
        if header is None or hashes is None:
            if blocks:
                break
            raise SnapshotWireError(f"block {h} is not here (pruned)")
        raw = header.encode()
        size += 64 + len(raw) + 33 * len(hashes)
        if blocks and size > MAX_RECENT_BYTES:
            break
        blocks.append((raw, hashes))
    return encode_recent(blocks)


#: A filter over our snapshot answers, ``(kind, answer) -> answer`` (a seam: the chaos
#: launcher corrupts chunks with it).
SnapshotFilter = Callable[[str, bytes], bytes]
Handler = Callable[[bytes, bytes], Awaitable[bytes]]


def handlers(
    ledger: SnapshotSource, lag: int, filt: SnapshotFilter | None = None
) -> dict[str, Handler]:
    """The p2p request handlers of the five kinds. Snapshot files (a manifest, a chunk of up
    to a MiB) are read off the event loop; the list and the anchor (a few headers and the
    governance proofs) read the ledger on the loop, like block sync."""

    def answer(kind: str, work: Callable[[bytes], bytes], thread: bool) -> Handler:
        async def handle(peer: bytes, payload: bytes) -> bytes:
            out = await asyncio.to_thread(work, payload) if thread else work(payload)
            return out if filt is None else filt(kind, out)

        return handle

    return {
        KIND_LIST: answer(KIND_LIST, lambda _: serve_list(ledger), False),
        KIND_MANIFEST: answer(KIND_MANIFEST, lambda p: serve_manifest(ledger, p), True),
        KIND_CHUNK: answer(KIND_CHUNK, lambda p: serve_chunk(ledger, p), True),
        KIND_ANCHOR: answer(KIND_ANCHOR, lambda p: serve_anchor(ledger, p, lag), False),
        KIND_RECENT: answer(KIND_RECENT, lambda p: serve_recent(ledger, p), True),
    }
