"""Commit certificates: a quorum of COMMIT signatures over (chain id, height, view, hash).

Stored with each block as bytes (``encode_certificate``) and checked by anyone holding the
validator set of that height (``verify_commit_certificate``): block sync, light clients, the
offline proof verifier. Nothing here needs a replica.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from consensus.errors import DecodeError, InvalidMessage
from consensus.messages import commit_signing_bytes, pack, unpack_canonical
from consensus.types import (
    HASH_LEN,
    MAX_VALIDATORS,
    check_bytes,
    check_height,
    check_pubkey,
    check_signature,
    check_view,
)
from consensus.validators import quorum_size

Verify = Callable[[bytes, bytes, bytes], bool]
MAX_CERTIFICATE = 64 + MAX_VALIDATORS * 256


@dataclass(frozen=True, slots=True)
class CommitCertificate:
    """``signatures`` are (validator public key, signature) pairs sorted by key, no repeats."""

    height: int
    view: int
    block_hash: bytes
    signatures: tuple[tuple[bytes, bytes], ...]

    def __post_init__(self) -> None:
        check_height(self.height)
        check_view(self.view)
        check_bytes(self.block_hash, "block hash", exact=HASH_LEN)
        if not isinstance(self.signatures, tuple) or not 0 < len(self.signatures) <= (
            MAX_VALIDATORS
        ):
            raise InvalidMessage("certificate needs 1..MAX_VALIDATORS signatures")
        last = b""
        for entry in self.signatures:
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise InvalidMessage("certificate entry must be (key, signature)")
            key = check_pubkey(entry[0], "signer")
            check_signature(entry[1])
            if key <= last:
                raise InvalidMessage("certificate signers must be distinct and sorted")
            last = key

    def signers(self) -> tuple[bytes, ...]:
        return tuple(k for k, _ in self.signatures)

    def to_list(self) -> list[Any]:
        sigs = [[k, s] for k, s in self.signatures]
        return [self.height, self.view, self.block_hash, sigs]

    @classmethod
    def from_list(cls, item: object) -> CommitCertificate:
        if not isinstance(item, list) or len(item) != 4 or not isinstance(item[3], list):
            raise InvalidMessage("certificate must be [height, view, hash, [[key, sig]...]]")
        entries = []
        for e in item[3]:
            if not isinstance(e, list) or len(e) != 2:
                raise InvalidMessage("certificate entry must be [key, signature]")
            entries.append((e[0], e[1]))
        return cls(item[0], item[1], item[2], tuple(entries))


def make_certificate(
    height: int, view: int, block_hash: bytes, signatures: Iterable[tuple[bytes, bytes]]
) -> CommitCertificate:
    return CommitCertificate(height, view, block_hash, tuple(sorted(dict(signatures).items())))


def encode_certificate(cert: CommitCertificate) -> bytes:
    return pack(cert.to_list())


def decode_certificate(data: bytes) -> CommitCertificate:
    """Raises only ``DecodeError``."""
    item = unpack_canonical(data, MAX_CERTIFICATE)
    try:
        cert = CommitCertificate.from_list(item)
    except InvalidMessage as exc:
        raise DecodeError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # belt and braces, as decode_message
        raise DecodeError(f"malformed certificate: {exc}") from None
    if encode_certificate(cert) != bytes(data):
        raise DecodeError("non-canonical certificate encoding")
    return cert


def verify_commit_certificate(
    validators: Iterable[bytes],
    height: int,
    block_hash: bytes,
    certificate: CommitCertificate | bytes,
    chain_id: bytes,
    verify: Verify,
) -> bool:
    """True iff ``certificate`` holds a quorum of valid COMMIT signatures for this block.

    ``validators`` is the set in force at ``height``; ``verify(pubkey65, message, sig)`` is the
    suite's verifier (e.g. ``crypto.sm2`` via the node). Never raises on bad input.
    """
    try:
        cert = (
            decode_certificate(bytes(certificate))
            if isinstance(certificate, bytes | bytearray)
            else certificate
        )
        members = set(validators)
        if cert.height != height or cert.block_hash != block_hash or not members:
            return False
        if any(k not in members for k, _ in cert.signatures):
            return False
        if len(cert.signatures) < quorum_size(len(members)):
            return False
        message = commit_signing_bytes(chain_id, cert.height, cert.view, cert.block_hash)
        return all(verify(k, message, s) for k, s in cert.signatures)
    except Exception:  # noqa: BLE001  # trust boundary: a verifier callback or odd input must not crash a syncing node
        return False
