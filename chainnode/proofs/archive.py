"""Block archives: a range of blocks with their certificates and receipts, checkable offline
against genesis alone, and proof bundles of the records they hold.

Written before pruning (``chainnode archive export``), an archive keeps what a pruned node
drops. It carries the proofs of every validator-set change in force at its last height (as a
proof bundle does), so ``verify_archive`` derives the signing set of each height from genesis
and checks every block: its certificate, the hash chain inside the range, its tx root over its
transactions (each signature verified), its receipts root over the receipts.

Encoding: one canonical msgpack array ``[format, chain_id, genesis_hash, first, last,
[governance inclusion (bundle JSON form)...], [[block, certificate, [receipt...]]...]]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgpack

from chainnode.model.chain import ChainReader
from chainnode.model.codes import LedgerError
from chainnode.model.encoding import unpack
from chainnode.model.genesis import Genesis, ValidatorInfo
from chainnode.model.types import Block, BlockHeader, Receipt
from chainnode.proofs.bundle import (
    Bundle,
    Inclusion,
    ProofError,
    _encode_validator,
    _inclusion_from,
    derive_validators,
    governance_proofs,
    verify_block_certificate,
)
from crypto.merkle import merkle_proof, merkle_root
from crypto.suite import get_suite

FORMAT = "chainnode-archive/1"
MAX_ARCHIVE_BLOCKS = 100_000
MAX_ARCHIVE_BYTES = 4 << 30


@dataclass(frozen=True, slots=True)
class BlockArchive:
    chain_id: str
    genesis_hash: bytes
    first: int
    last: int
    governance: tuple[Inclusion, ...]
    #: (block bytes, certificate bytes, receipt bytes in block order) per height first..last
    blocks: tuple[tuple[bytes, bytes, tuple[bytes, ...]], ...]

    def encode(self) -> bytes:
        out: bytes = msgpack.packb(
            [
                FORMAT,
                self.chain_id,
                self.genesis_hash,
                self.first,
                self.last,
                [g.to_json() for g in self.governance],
                [[b, c, list(rs)] for b, c, rs in self.blocks],
            ],
            use_bin_type=True,
        )
        return out


def build_archive(ledger: ChainReader, first: int, last: int) -> BlockArchive:
    """The archive of blocks ``first..last`` of a node (ProofError when one is not here)."""
    if not 1 <= first <= last or last - first + 1 > MAX_ARCHIVE_BLOCKS:
        raise ProofError(f"archive: heights 1 <= from <= to, at most {MAX_ARCHIVE_BLOCKS} blocks")
    if last > ledger.height:
        raise ProofError(f"archive: the chain is at height {ledger.height}, not {last}")
    blocks = []
    for h in range(first, last + 1):
        block = ledger.block(h)
        cert = ledger.certificate(h)
        if block is None or cert is None:
            raise ProofError(f"archive: block {h} is not on this node (pruned?)")
        receipts = []
        for tx in block.txs:
            r = ledger.receipt(tx.hash)
            if r is None:
                raise ProofError(f"archive: the receipt of {tx.hash.hex()} is missing")
            receipts.append(r.encode())
        blocks.append((block.raw, bytes(cert), tuple(receipts)))
    return BlockArchive(
        ledger.chain_id,
        ledger.genesis.hash,
        first,
        last,
        governance_proofs(ledger, last),
        tuple(blocks),
    )


def parse_archive(data: bytes) -> BlockArchive:
    """Strictly parse an archive's bytes (ProofError saying what is wrong)."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ProofError(f"archive: larger than {MAX_ARCHIVE_BYTES} bytes")
    try:
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, TypeError, msgpack.UnpackException) as e:
        raise ProofError(f"archive: not a chainnode archive ({type(e).__name__})") from None
    if not isinstance(obj, list) or len(obj) != 7 or obj[0] != FORMAT:
        raise ProofError(f"archive: not a {FORMAT} file")
    _, chain_id, genesis_hash, first, last, gov, blocks = obj
    if not (
        isinstance(chain_id, str)
        and isinstance(genesis_hash, bytes)
        and type(first) is int
        and type(last) is int
        and isinstance(gov, list)
        and isinstance(blocks, list)
        and 1 <= first <= last
        and len(blocks) == last - first + 1
    ):
        raise ProofError("archive: malformed header fields")
    out = []
    for i, item in enumerate(blocks):
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], bytes)
            and isinstance(item[1], bytes)
            and isinstance(item[2], list)
            and all(isinstance(r, bytes) for r in item[2])
        ):
            raise ProofError(f"archive: block {first + i}: malformed entry")
        out.append((item[0], item[1], tuple(item[2])))
    return BlockArchive(
        chain_id,
        genesis_hash,
        first,
        last,
        tuple(_inclusion_from(g, f"governance proof #{i}") for i, g in enumerate(gov)),
        tuple(out),
    )


@dataclass(frozen=True, slots=True)
class VerifiedArchive:
    archive: BlockArchive
    blocks: tuple[Block, ...]
    receipts: tuple[tuple[Receipt, ...], ...]
    validators_at: Callable[[int], list[ValidatorInfo]]
    hash_fn: Callable[[bytes], bytes]

    def find(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(position in the archive, index in its block) of a tx."""
        for i, b in enumerate(self.blocks):
            for j, tx in enumerate(b.txs):
                if tx.hash == tx_hash:
                    return i, j
        return None


# long: every check of every block, one ProofError each, in chain order
def verify_archive(archive: BlockArchive | bytes, genesis: Genesis) -> VerifiedArchive:
    """Check every block of an archive against genesis alone (ProofError naming the block
    and the check that failed)."""
    a = archive if isinstance(archive, BlockArchive) else parse_archive(archive)
    if a.chain_id != genesis.chain_id:
        raise ProofError(f"archive: of chain {a.chain_id!r}, the genesis is {genesis.chain_id!r}")
    if a.genesis_hash != genesis.hash:
        raise ProofError("archive: of another genesis of this chain (genesis hash differs)")
    suite = get_suite(genesis.suite)
    validators_at, _ = derive_validators(a.governance, genesis, a.last + 1)
    blocks: list[Block] = []
    all_receipts: list[tuple[Receipt, ...]] = []
    prev: bytes | None = None
    for i, (raw, cert, receipts) in enumerate(a.blocks):
        h = a.first + i
        what = f"block {h}"
        try:
            block = Block.decode(raw, suite)
        except LedgerError as e:
            raise ProofError(f"{what}: does not decode ({e.message})") from None
        hd = block.header
        if hd.height != h:
            raise ProofError(f"{what}: the block inside says height {hd.height}")
        if prev is not None and hd.prev_hash != prev:
            raise ProofError(f"{what}: its parent is not block {h - 1} of the archive")
        verify_block_certificate(what, genesis.chain_id, hd, block.hash, cert, validators_at(h))
        if merkle_root([tx.hash for tx in block.txs], hash_fn=suite.hash) != hd.tx_root:
            raise ProofError(f"{what}: its transactions do not make its tx root")
        if not all(tx.verify(suite) for tx in block.txs):
            raise ProofError(f"{what}: a transaction's signature does not verify")
        if len(receipts) != len(block.txs):
            raise ProofError(f"{what}: {len(receipts)} receipts for {len(block.txs)} txs")
        if merkle_root(list(receipts), hash_fn=suite.hash) != hd.receipts_root:
            raise ProofError(f"{what}: its receipts do not make its receipts root")
        decoded = []
        for tx, rb in zip(block.txs, receipts, strict=True):
            try:
                r = Receipt.decode(rb)
            except LedgerError as e:
                raise ProofError(f"{what}: a receipt does not decode ({e.message})") from None
            if r.tx_hash != tx.hash:
                raise ProofError(f"{what}: a receipt of another transaction")
            decoded.append(r)
        blocks.append(block)
        all_receipts.append(tuple(decoded))
        prev = block.hash
    return VerifiedArchive(a, tuple(blocks), tuple(all_receipts), validators_at, suite.hash)


def bundle_from_archive(v: VerifiedArchive, tx_hash: bytes) -> Bundle | None:
    """The proof bundle of a tx held in a verified archive (None: not in it); the same bundle
    a node builds, checkable with ``verify-proof``."""
    found = v.find(tx_hash)
    if found is None:
        return None
    i, j = found
    a = v.archive
    block = v.blocks[i]
    raw_receipts = list(a.blocks[i][2])
    hash_fn = v.hash_fn
    record = Inclusion(
        tx=block.txs[j].raw,
        receipt=raw_receipts[j],
        tx_path=merkle_proof([tx.hash for tx in block.txs], j, hash_fn),
        receipt_path=merkle_proof(raw_receipts, j, hash_fn),
        header=block.header.encode(),
        certificate=a.blocks[i][1],
    )
    h = block.height
    gov = tuple(g for g in a.governance if _header_height(g) < h)
    validators = tuple(_encode_validator(x) for x in v.validators_at(h))
    return Bundle(a.chain_id, a.genesis_hash, record, validators, gov)


def _header_height(inc: Inclusion) -> int:
    return BlockHeader.from_list(unpack(inc.header)).height


__all__: Sequence[str] = (
    "FORMAT",
    "BlockArchive",
    "VerifiedArchive",
    "build_archive",
    "bundle_from_archive",
    "parse_archive",
    "verify_archive",
)
