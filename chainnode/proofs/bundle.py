"""Evidence certificates that need no node to check: proof bundles and their offline verifier.

A bundle (``GET /v1/proofs/{tx_hash}``, ``chainnode verify-proof``) proves that a transaction
was committed with a given receipt. It holds the canonical bytes of everything it relies on:

- ``record``: the tx, its receipt, the Merkle paths of both to the block's tx and receipts
  roots, the block header and the block's commit certificate;
- ``validators``: the validator set in force at that height;
- ``governance``: every applied validator-set change (``add_validator``/``remove_validator``
  of the governance system contract whose receipt returned ``True``) between genesis and that
  height, each proven the same way as the record, by the set in force at its own height.

The verifier trusts only ``genesis.json``. It starts from the genesis validators, applies the
proven changes in chain order (a change committed in block h applies from h + 1, exactly as
the governance contract does), checks each certificate against the set it derived, and finally
requires the bundle's ``validators`` to equal the derived set. A bundle that leaves a change
out cannot make a block look signed: its certificate must then carry a quorum of the older set.

Every byte is checked: hex must be lowercase, keys exact, encodings canonical; whatever is
altered, verification fails with a :class:`ProofError` whose message names the part.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chainnode.model.addresses import address_hex, contract_display
from chainnode.model.chain import ChainReader
from chainnode.model.codes import LedgerError
from chainnode.model.encoding import pack
from chainnode.model.genesis import Genesis, ValidatorInfo
from chainnode.model.layout import GOVERNANCE, well_known_address
from chainnode.model.types import BlockHeader, Receipt, Transaction, decoded_json
from chainnode.model.validator_set import VALIDATOR_METHODS, apply_validator_change, parse_change
from consensus.certificate import CommitCertificate, decode_certificate
from consensus.errors import ConsensusError
from consensus.messages import commit_signing_bytes
from consensus.validators import quorum_size
from crypto.merkle import MerkleProof, verify_proof
from crypto.suite import Suite, get_suite

FORMAT = "chainnode-proof/1"
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
MAX_GOVERNANCE = 4096
MAX_VALIDATORS = 1024
VSET_METHODS = tuple(VALIDATOR_METHODS)
_TRUE = b"\xc3"  # contracts.encode_value(True): msgpack true
_HEX = set("0123456789abcdef")


class ProofError(Exception):
    """The bundle does not prove what it claims; the message names the part and why."""


# ---------------------------------------------------------------------------------------------
# the bundle


@dataclass(frozen=True, slots=True)
class Inclusion:
    """One transaction proven committed: canonical bytes plus its Merkle paths."""

    tx: bytes
    receipt: bytes
    tx_path: MerkleProof
    receipt_path: MerkleProof
    header: bytes
    certificate: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "tx": self.tx.hex(),
            "receipt": self.receipt.hex(),
            "tx_path": _path_json(self.tx_path),
            "receipt_path": _path_json(self.receipt_path),
            "header": self.header.hex(),
            "certificate": self.certificate.hex(),
        }


@dataclass(frozen=True, slots=True)
class Bundle:
    chain_id: str
    genesis_hash: bytes
    record: Inclusion
    validators: tuple[bytes, ...]  # canonical ValidatorInfo encodings
    governance: tuple[Inclusion, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash.hex(),
            "record": self.record.to_json(),
            "validators": [v.hex() for v in self.validators],
            "governance": [g.to_json() for g in self.governance],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1) + "\n"


def _path_json(p: MerkleProof) -> dict[str, Any]:
    return {"index": p.index, "leaf_count": p.leaf_count, "siblings": [s.hex() for s in p.siblings]}


# ---------------------------------------------------------------------------------------------
# building (node side)


def _encode_validator(v: ValidatorInfo) -> bytes:
    return pack(v.to_list())


def _is_governance(contract: str, suite: Suite) -> bool:
    return contract in (GOVERNANCE, well_known_address(suite.hash, GOVERNANCE).hex())


def _inclusion(ledger: ChainReader, tx_hash: bytes) -> Inclusion | None:
    tp = ledger.tx_proof(tx_hash)
    found = ledger.tx(tx_hash)
    receipt = ledger.receipt(tx_hash)
    cert = ledger.certificate(tp.height) if tp is not None else None
    if tp is None or found is None or receipt is None or cert is None:
        return None
    return Inclusion(
        tx=found[0].raw,
        receipt=receipt.encode(),
        tx_path=tp.tx_proof,
        receipt_path=tp.receipt_proof,
        header=tp.header.encode(),
        certificate=bytes(cert),
    )


def vset_history(ledger: ChainReader) -> list[tuple[int, list[ValidatorInfo]]]:
    """(effective height, validator set) of every set the chain has had, oldest first."""
    return ledger.validator_history()


def governance_proofs(ledger: ChainReader, height: int) -> tuple[Inclusion, ...]:
    """Inclusions of every validator-set change in force at ``height`` (the decisive votes),
    in chain order: what a verifier needs to derive the set that signed ``height``."""
    suite: Suite = ledger.suite
    gov: list[Inclusion] = []
    kept = _kept_governance(ledger)
    for eff, _ in vset_history(ledger):
        if eff == 0 or eff > height:
            continue
        block = ledger.block(eff - 1)
        if block is None and eff - 1 in kept:  # joined from a snapshot above that block
            gov += kept[eff - 1]
            continue
        if block is None:
            raise ProofError(f"block {eff - 1} (a validator-set change) is missing")
        for tx in block.txs:
            if not (_is_governance(tx.contract, suite) and tx.method in VSET_METHODS):
                continue
            r = ledger.receipt(tx.hash)
            if r is None or not r.ok or r.return_value != _TRUE:
                continue
            inc = _inclusion(ledger, tx.hash)
            if inc is None:
                raise ProofError(f"cannot prove governance tx {tx.hash.hex()}")
            gov.append(inc)
    return tuple(gov)


def _kept_governance(ledger: ChainReader) -> dict[int, list[Inclusion]]:
    """The proofs a node that joined from a snapshot keeps, by block height."""
    raw = ledger.snapshot_governance()
    out: dict[int, list[Inclusion]] = {}
    for inc in parse_inclusions(raw) if raw else ():
        out.setdefault(_peek_height(inc, "kept governance proof"), []).append(inc)
    return out


def build_bundle(ledger: ChainReader, tx_hash: bytes) -> Bundle | None:
    """The proof bundle of a committed tx (None when the tx is not committed here)."""
    record = _inclusion(ledger, tx_hash)
    if record is None:
        return None
    height = BlockHeader.from_list(_unpack(record.header)).height
    gov = governance_proofs(ledger, height)
    validators = tuple(_encode_validator(v) for v in ledger.validators_at(height))
    return Bundle(ledger.chain_id, ledger.genesis.hash, record, validators, gov)


# ---------------------------------------------------------------------------------------------
# parsing (untrusted JSON)


def _unpack(data: bytes) -> object:
    from chainnode.model.encoding import unpack

    return unpack(data)


def _hex(v: object, what: str, size: int | None = None, max_len: int = MAX_BUNDLE_BYTES) -> bytes:
    if not isinstance(v, str) or len(v) % 2 or len(v) > 2 * max_len or not set(v) <= _HEX:
        raise ProofError(f"{what}: expected lowercase hex")
    b = bytes.fromhex(v)
    if size is not None and len(b) != size:
        raise ProofError(f"{what}: expected {size} bytes, got {len(b)}")
    return b


def _keys(obj: object, keys: Sequence[str], what: str) -> dict[str, object]:
    if not isinstance(obj, dict):
        raise ProofError(f"{what}: expected an object")
    if set(obj) != set(keys):
        extra = sorted(set(obj) - set(keys))
        missing = sorted(set(keys) - set(obj))
        raise ProofError(f"{what}: unexpected fields {extra}, missing {missing}")
    return obj


def _int(v: object, what: str) -> int:
    if type(v) is not int or not 0 <= v < 1 << 63:
        raise ProofError(f"{what}: expected a non-negative integer")
    return v


def _path(obj: object, what: str) -> MerkleProof:
    o = _keys(obj, ("index", "leaf_count", "siblings"), what)
    sibs = o["siblings"]
    if not isinstance(sibs, list) or len(sibs) > 64:
        raise ProofError(f"{what}: siblings must be a list of at most 64 hashes")
    index, count = _int(o["index"], f"{what}.index"), _int(o["leaf_count"], f"{what}.leaf_count")
    if index >= count:
        raise ProofError(f"{what}: index {index} outside a tree of {count} leaves")
    return MerkleProof(
        index, count, tuple(_hex(s, f"{what}.siblings[{i}]", 32) for i, s in enumerate(sibs))
    )


_INCLUSION_KEYS = ("tx", "receipt", "tx_path", "receipt_path", "header", "certificate")


def _inclusion_from(obj: object, what: str) -> Inclusion:
    o = _keys(obj, _INCLUSION_KEYS, what)
    return Inclusion(
        tx=_hex(o["tx"], f"{what}: tx"),
        receipt=_hex(o["receipt"], f"{what}: receipt"),
        tx_path=_path(o["tx_path"], f"{what}: tx path"),
        receipt_path=_path(o["receipt_path"], f"{what}: receipt path"),
        header=_hex(o["header"], f"{what}: header", max_len=4096),
        certificate=_hex(o["certificate"], f"{what}: certificate", max_len=1 << 20),
    )


def parse_inclusions(data: bytes | str) -> tuple[Inclusion, ...]:
    """Strictly parse a JSON list of inclusions, as a bundle's ``governance`` (raises
    ProofError): the validator-set history a joining node fetches with a snapshot."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ProofError(f"governance: larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProofError(f"governance: not valid JSON ({e})") from None
    if not isinstance(obj, list) or len(obj) > MAX_GOVERNANCE:
        raise ProofError(f"governance: expected a list of at most {MAX_GOVERNANCE} proofs")
    return tuple(_inclusion_from(g, f"governance proof #{i}") for i, g in enumerate(obj))


def parse_bundle(data: bytes | str) -> Bundle:
    """Strictly parse a bundle's JSON text (raises ProofError)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ProofError(f"bundle: larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ProofError(f"bundle: not valid JSON ({e})") from None
    o = _keys(
        obj,
        ("format", "chain_id", "genesis_hash", "record", "validators", "governance"),
        "bundle",
    )
    if o["format"] != FORMAT:
        raise ProofError(f"bundle: format {o['format']!r}, this verifier reads {FORMAT!r}")
    if not isinstance(o["chain_id"], str) or len(o["chain_id"]) > 64:
        raise ProofError("bundle: chain_id must be a string")
    vals, gov = o["validators"], o["governance"]
    if not isinstance(vals, list) or not 0 < len(vals) <= MAX_VALIDATORS:
        raise ProofError("validator set: expected a non-empty list")
    if not isinstance(gov, list) or len(gov) > MAX_GOVERNANCE:
        raise ProofError(f"governance: expected a list of at most {MAX_GOVERNANCE} proofs")
    return Bundle(
        chain_id=o["chain_id"],
        genesis_hash=_hex(o["genesis_hash"], "bundle: genesis_hash", 32),
        record=_inclusion_from(o["record"], "record"),
        validators=tuple(_hex(v, f"validator set[{i}]", max_len=2048) for i, v in enumerate(vals)),
        governance=tuple(_inclusion_from(g, f"governance proof #{i}") for i, g in enumerate(gov)),
    )


# ---------------------------------------------------------------------------------------------
# verifying


@dataclass(frozen=True, slots=True)
class ProvenTx:
    """What a verified inclusion establishes."""

    tx: Transaction
    receipt: Receipt
    header: BlockHeader
    index: int
    block_hash: bytes
    certificate: CommitCertificate
    signers: tuple[ValidatorInfo, ...]
    validators: tuple[ValidatorInfo, ...]


@dataclass(frozen=True, slots=True)
class Proven:
    record: ProvenTx
    changes: tuple[ProvenTx, ...]
    chain_id: str


def _verify_certificate(
    what: str,
    chain_id: bytes,
    header: BlockHeader,
    block_hash: bytes,
    cert: CommitCertificate,
    validators: Sequence[ValidatorInfo],
    sm_verify: Callable[[bytes, bytes, bytes], bool],
) -> tuple[ValidatorInfo, ...]:
    """Check the certificate signs this header with a quorum of ``validators``.

    When it does not, tell apart an altered header (the signatures hold over the
    certificate's own fields), an altered certificate field (they hold over the header) and
    bad signatures (neither).
    """
    over_header = commit_signing_bytes(chain_id, header.height, cert.view, block_hash)
    good = [k for k, s in cert.signatures if sm_verify(k, over_header, s)]
    if len(good) < len(cert.signatures):
        own = commit_signing_bytes(chain_id, cert.height, cert.view, cert.block_hash)
        if (cert.height, cert.block_hash) != (header.height, block_hash) and all(
            sm_verify(k, own, s) for k, s in cert.signatures
        ):
            raise ProofError(
                f"{what}: header: block {block_hash.hex()[:16]} at height {header.height} is "
                f"not the block the certificate signs ({cert.block_hash.hex()[:16]} at height "
                f"{cert.height}): the header was altered"
            )
        bad = next(k for k, s in cert.signatures if k not in good)
        if good and (cert.height, cert.block_hash) != (header.height, block_hash):
            raise ProofError(f"{what}: certificate: its height or block hash field was altered")
        raise ProofError(
            f"{what}: certificate: the signature of {bad.hex()[:18]}… does not verify "
            "(the certificate was altered)"
        )
    if (cert.height, cert.block_hash) != (header.height, block_hash):
        raise ProofError(f"{what}: certificate: its height or block hash field was altered")
    members = {v.public_key: v for v in validators}
    for k in good:
        if k not in members:
            raise ProofError(
                f"{what}: certificate: signer {k.hex()[:18]}… is not a validator at height "
                f"{header.height}"
            )
    need = quorum_size(len(members))
    if len(good) < need:
        raise ProofError(
            f"{what}: certificate: {len(good)} signatures, a quorum of the {len(members)} "
            f"validators at height {header.height} is {need}"
        )
    return tuple(members[k] for k in good)


def verify_block_certificate(
    what: str,
    chain_id: str,
    header: BlockHeader,
    block_hash: bytes,
    certificate: bytes,
    validators: Sequence[ValidatorInfo],
) -> tuple[ValidatorInfo, ...]:
    """The signers of ``certificate`` if it is a quorum of ``validators`` signing this block;
    :class:`ProofError` saying what is wrong otherwise. The proof verifier's own check, for
    whoever else must trust a block only through its certificate (restoring a backup)."""
    try:
        cert = decode_certificate(certificate)
    except ConsensusError as e:
        raise ProofError(f"{what}: certificate: malformed ({e})") from None
    sm = get_suite("sm")  # validator (consensus) keys are SM2 whatever the chain's suite
    return _verify_certificate(
        what, chain_id.encode(), header, block_hash, cert, validators, sm.verify
    )


# long: the offline checks of one inclusion, each with its own error
def _verify_inclusion(
    what: str,
    inc: Inclusion,
    chain_id: str,
    suite: Suite,
    validators_at: Callable[[int], list[ValidatorInfo]],
) -> ProvenTx:
    sm = get_suite("sm")  # validator (consensus) keys are SM2 whatever the chain's suite
    try:
        tx = Transaction.decode(inc.tx, suite)
    except LedgerError as e:
        raise ProofError(f"{what}: tx: malformed ({e.message})") from None
    if tx.chain_id != chain_id:
        raise ProofError(f"{what}: tx: signed for chain {tx.chain_id!r}, not {chain_id!r}")
    if not tx.verify(suite):
        raise ProofError(f"{what}: tx: the sender's signature does not verify (tx altered)")
    try:
        receipt = Receipt.decode(inc.receipt)
    except LedgerError as e:
        raise ProofError(f"{what}: receipt: malformed ({e.message})") from None
    if receipt.encode() != inc.receipt:
        raise ProofError(f"{what}: receipt: not in canonical encoding (receipt altered)")
    if receipt.tx_hash != tx.hash:
        raise ProofError(f"{what}: receipt: it is the receipt of another transaction")
    try:
        header = BlockHeader.from_list(_unpack(inc.header))
    except LedgerError as e:
        raise ProofError(f"{what}: header: malformed ({e.message})") from None
    if header.encode() != inc.header:
        raise ProofError(f"{what}: header: not in canonical encoding (header altered)")
    try:
        cert = decode_certificate(inc.certificate)
    except ConsensusError as e:
        raise ProofError(f"{what}: certificate: malformed ({e})") from None
    block_hash = suite.hash(inc.header)
    validators = validators_at(header.height)
    signers = _verify_certificate(
        what, chain_id.encode(), header, block_hash, cert, validators, sm.verify
    )
    # The header is now authentic: its roots decide what is in the block.
    if (inc.tx_path.index, inc.tx_path.leaf_count) != (
        inc.receipt_path.index,
        inc.receipt_path.leaf_count,
    ):
        raise ProofError(
            f"{what}: receipt path: position {inc.receipt_path.index}/"
            f"{inc.receipt_path.leaf_count} differs from the tx's "
            f"{inc.tx_path.index}/{inc.tx_path.leaf_count} (path altered)"
        )
    if not verify_proof(header.tx_root, tx.hash, inc.tx_path, suite.hash):
        raise ProofError(
            f"{what}: tx path: the Merkle path does not lead from the tx to the block's tx "
            "root (path altered, or the tx is not in this block)"
        )
    if not verify_proof(header.receipts_root, inc.receipt, inc.receipt_path, suite.hash):
        raise ProofError(
            f"{what}: receipt path: the Merkle path does not lead from the receipt to the "
            "block's receipts root (the receipt or its path was altered)"
        )
    return ProvenTx(
        tx, receipt, header, inc.tx_path.index, block_hash, cert, signers, tuple(validators)
    )


def _apply_change(vs: list[ValidatorInfo], tx: Transaction, what: str) -> list[ValidatorInfo]:
    """Governance's own rule (:func:`chainnode.model.validator_set.apply_validator_change`)."""
    try:
        change = parse_change(tx.method, tx.decoded_args())
    except LedgerError as e:
        raise ProofError(f"{what}: tx: arguments of {tx.method} do not decode ({e})") from None
    return apply_validator_change(vs, change)


def derive_validators(
    governance: Sequence[Inclusion], genesis: Genesis, before: int
) -> tuple[Callable[[int], list[ValidatorInfo]], list[ProvenTx]]:
    """The validator set at any height, derived from genesis and the proven ``governance``
    changes (each below height ``before``, in chain order, each certified by the set of its
    own time); ProofError on any fault. Shared by bundles and block archives."""
    suite = get_suite(genesis.suite)
    history: list[tuple[int, list[ValidatorInfo]]] = [(0, list(genesis.validators))]

    def validators_at(height: int) -> list[ValidatorInfo]:
        return next(vs for eff, vs in reversed(history) if eff <= height)

    changes: list[ProvenTx] = []
    last = (-1, -1)
    for i, inc in enumerate(governance):
        what = f"governance proof #{i}"
        p = _verify_inclusion(what, inc, genesis.chain_id, suite, validators_at)
        pos = (p.header.height, inc.tx_path.index)
        if pos <= last:
            raise ProofError(f"{what}: out of chain order (or repeated)")
        last = pos
        if p.header.height >= before:
            raise ProofError(f"{what}: at height {p.header.height}, not before the record")
        if not (_is_governance(p.tx.contract, suite) and p.tx.method in VSET_METHODS):
            raise ProofError(f"{what}: tx: {p.tx.contract}.{p.tx.method} is no validator change")
        if not p.receipt.ok or p.receipt.return_value != _TRUE:
            raise ProofError(f"{what}: receipt: the change did not apply (vote not decisive)")
        eff = p.header.height + 1
        base = history[-1][1]
        new = _apply_change(list(base), p.tx, what)
        if history[-1][0] == eff:
            history[-1] = (eff, new)
        else:
            history.append((eff, new))
        changes.append(p)
    return validators_at, changes


def verify_bundle(bundle: Bundle | bytes | str, genesis: Genesis) -> Proven:
    """Check a bundle against genesis only; raise ProofError with the exact reason."""
    b = bundle if isinstance(bundle, Bundle) else parse_bundle(bundle)
    if b.chain_id != genesis.chain_id:
        raise ProofError(f"bundle: for chain {b.chain_id!r}, the genesis is {genesis.chain_id!r}")
    if b.genesis_hash != genesis.hash:
        raise ProofError("bundle: made for another genesis of this chain (genesis hash differs)")
    suite = get_suite(genesis.suite)
    record_height = _peek_height(b.record, "record")
    validators_at, changes = derive_validators(b.governance, genesis, record_height)
    record = _verify_inclusion("record", b.record, genesis.chain_id, suite, validators_at)
    derived = [_encode_validator(v) for v in validators_at(record.header.height)]
    if list(b.validators) != derived:
        raise ProofError(
            f"validator set: the bundle's set at height {record.header.height} is not the one "
            "derived from genesis and the proven governance changes"
        )
    return Proven(record, tuple(changes), genesis.chain_id)


def _peek_height(inc: Inclusion, what: str) -> int:
    try:
        return BlockHeader.from_list(_unpack(inc.header)).height
    except LedgerError as e:
        raise ProofError(f"{what}: header: malformed ({e.message})") from None


# ---------------------------------------------------------------------------------------------
# presenting


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d} UTC"


def _names(vs: Sequence[ValidatorInfo]) -> str:
    return ", ".join(v.node_id or v.public_key.hex()[:16] for v in vs)


def describe(p: Proven, suite_name: str = "sm") -> str:
    """Human-readable statement of what the bundle proves."""
    suite = get_suite(suite_name)
    r = p.record
    tx, rc = r.tx, r.receipt
    lines = [
        f"VALID: proven on chain {p.chain_id!r} from its genesis alone.",
        f"  transaction   {tx.hash.hex()}",
        f"  sender        {address_hex(suite.address(tx.sender))} "
        f"(public key {tx.sender.hex()[:24]}…)",
        f"  call          {contract_display(tx.contract)}.{tx.method}"
        f"({json.dumps(decoded_json(tx.args))[1:-1]})",
        f"  committed in  block {r.header.height} ({r.block_hash.hex()}) "
        f"at {_when(r.header.timestamp)}, position {r.index}",
        f"  result        {'ok' if rc.ok else 'failed: ' + rc.error}"
        + (f", returned {json.dumps(decoded_json(rc.return_value))}" if rc.return_value else ""),
    ]
    for ev in rc.events:
        lines.append(f"  event         {ev.name} {json.dumps(decoded_json(ev.fields))}")
    lines.append(
        f"  signed by     {len(r.signers)} of {len(r.validators)} validators "
        f"(view {r.certificate.view}): {_names(r.signers)}"
    )
    if p.changes:
        lines.append(
            f"  validator set derived through {len(p.changes)} proven governance change(s):"
        )
        for c in p.changes:
            args = c.tx.decoded_args()
            who = (
                args[1] if c.tx.method == "add_validator" and len(args) > 1 else args[0].hex()[:16]
            )
            lines.append(
                f"    block {c.header.height}: {c.tx.method} {who}, voted by admin "
                f"{address_hex(suite.address(c.tx.sender))}, certified by {len(c.signers)} "
                f"validators: {_names(c.signers)}"
            )
    else:
        lines.append("  validator set: the genesis set (no change before this block)")
    return "\n".join(lines)


def _tx_summary(p: ProvenTx, suite: Suite) -> dict[str, Any]:
    tx, rc, hd = p.tx, p.receipt, p.header
    return {
        "tx_hash": tx.hash.hex(),
        "sender": address_hex(suite.address(tx.sender)),  # as the API shows a tx (issue 15)
        "sender_public_key": tx.sender.hex(),
        "contract": contract_display(tx.contract),
        "method": tx.method,
        "args": decoded_json(tx.args),
        "height": hd.height,
        "block_hash": p.block_hash.hex(),
        "timestamp_ms": hd.timestamp,
        "index": p.index,
        "status": "ok" if rc.ok else "failed",
        "error": rc.error or None,
        "return_value": decoded_json(rc.return_value),
        "events": [{"name": e.name, "fields": decoded_json(e.fields)} for e in rc.events],
        "view": p.certificate.view,
        "signers": [{"node_id": v.node_id, "public_key": v.public_key.hex()} for v in p.signers],
        "validators": len(p.validators),
    }


def summary(p: Proven, suite_name: str = "sm") -> dict[str, Any]:
    """What the bundle proves, as JSON (``verify-proof --json``)."""
    suite = get_suite(suite_name)
    return {
        "valid": True,
        "chain_id": p.chain_id,
        "record": _tx_summary(p.record, suite),
        "validator_changes": [_tx_summary(c, suite) for c in p.changes],
    }
