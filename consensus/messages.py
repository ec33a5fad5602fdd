"""Consensus wire messages: frozen, validated on construction, canonically encoded.

Every message is a msgpack array ``[tag, field, ...]`` of ints and bytes only. Decoding
re-encodes and compares, so one value has exactly one accepted encoding.

Signatures cover ``signing_bytes(chain_id)`` = msgpack ``[DOMAIN, chain_id, tag, ...]`` over
the fields that matter, never the payload: a PRE-PREPARE signs the proposal header
(height, parent, digest) and the node's ``validate_proposal`` binds digest to payload. A COMMIT
signs exactly ``(chain id, height, view, block hash)``, so the COMMITs of a quorum are the
block's commit certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgpack

from consensus.errors import DecodeError, InvalidMessage
from consensus.types import (
    HASH_LEN,
    MAX_CHAIN_ID_LEN,
    MAX_PAYLOAD,
    MAX_VALIDATORS,
    Proposal,
    check_bytes,
    check_height,
    check_pubkey,
    check_signature,
    check_view,
)

DOMAIN = b"chainnode/consensus/v1"
#: Largest encoded message accepted: a NEW-VIEW may carry one proposal per view change.
MAX_MESSAGE = 4 * MAX_PAYLOAD + 1024 * 1024

TAG_PRE_PREPARE = 1
TAG_PREPARE = 2
TAG_COMMIT = 3
TAG_VIEW_CHANGE = 4
TAG_NEW_VIEW = 5
TAG_STATUS = 6


def pack(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def _signing(chain_id: bytes, tag: int, *fields: Any) -> bytes:
    check_bytes(chain_id, "chain id", limit=MAX_CHAIN_ID_LEN)
    return pack([DOMAIN, chain_id, tag, *fields])


def commit_signing_bytes(chain_id: bytes, height: int, view: int, block_hash: bytes) -> bytes:
    """What a COMMIT (and so each commit-certificate entry) signs."""
    return _signing(chain_id, TAG_COMMIT, height, view, block_hash)


def _expect_list(item: object, length: int, what: str) -> list[Any]:
    if not isinstance(item, list) or len(item) != length:
        raise InvalidMessage(f"{what} must be a {length}-element array")
    return item


@dataclass(frozen=True, slots=True)
class PrePrepare:
    """The primary of (height, view) proposes a block."""

    TAG: ClassVar[int] = TAG_PRE_PREPARE
    view: int
    proposal: Proposal
    sender: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_view(self.view)
        if not isinstance(self.proposal, Proposal):
            raise InvalidMessage("proposal must be a Proposal")
        check_pubkey(self.sender, "sender")
        check_signature(self.signature)

    @property
    def height(self) -> int:
        return self.proposal.height

    @property
    def digest(self) -> bytes:
        return self.proposal.digest

    def signing_bytes(self, chain_id: bytes) -> bytes:
        p = self.proposal
        return _signing(chain_id, self.TAG, p.height, self.view, p.parent, p.digest)

    def to_list(self) -> list[Any]:
        return [self.TAG, self.view, self.proposal.to_list(), self.sender, self.signature]

    @classmethod
    def from_list(cls, item: object) -> PrePrepare:
        f = _expect_list(item, 5, "PRE-PREPARE")
        if f[0] != cls.TAG:
            raise InvalidMessage("not a PRE-PREPARE")
        return cls(f[1], Proposal.from_list(f[2]), f[3], f[4])


@dataclass(frozen=True, slots=True)
class _Vote:
    height: int
    view: int
    digest: bytes
    sender: bytes
    signature: bytes
    TAG: ClassVar[int] = 0

    def __post_init__(self) -> None:
        check_height(self.height)
        check_view(self.view)
        check_bytes(self.digest, "digest", exact=HASH_LEN)
        check_pubkey(self.sender, "sender")
        check_signature(self.signature)

    def signing_bytes(self, chain_id: bytes) -> bytes:
        return _signing(chain_id, self.TAG, self.height, self.view, self.digest)

    def to_list(self) -> list[Any]:
        return [self.TAG, self.height, self.view, self.digest, self.sender, self.signature]

    @classmethod
    def _from(cls, item: object) -> Any:
        f = _expect_list(item, 6, "vote")
        if f[0] != cls.TAG:
            raise InvalidMessage("wrong vote tag")
        return cls(f[1], f[2], f[3], f[4], f[5])


@dataclass(frozen=True, slots=True)
class Prepare(_Vote):
    """A backup accepted the PRE-PREPARE with ``digest`` at (height, view)."""

    TAG: ClassVar[int] = TAG_PREPARE

    @classmethod
    def from_list(cls, item: object) -> Prepare:
        result: Prepare = cls._from(item)
        return result


@dataclass(frozen=True, slots=True)
class CommitVote(_Vote):
    """The sender is prepared on ``digest``; a quorum of these is the commit certificate."""

    TAG: ClassVar[int] = TAG_COMMIT

    def signing_bytes(self, chain_id: bytes) -> bytes:
        return commit_signing_bytes(chain_id, self.height, self.view, self.digest)

    @classmethod
    def from_list(cls, item: object) -> CommitVote:
        result: CommitVote = cls._from(item)
        return result


@dataclass(frozen=True, slots=True)
class PreparedCertificate:
    """PRE-PREPARE + PREPAREs of distinct backups (the primary's PRE-PREPARE is its vote).

    Structure only is checked here; signatures, membership and the quorum are checked by the
    replica against the validator set of the height.
    """

    pre_prepare: PrePrepare
    prepares: tuple[Prepare, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.pre_prepare, PrePrepare):
            raise InvalidMessage("prepared certificate needs a PRE-PREPARE")
        if not isinstance(self.prepares, tuple) or len(self.prepares) > MAX_VALIDATORS:
            raise InvalidMessage("prepares must be a bounded tuple")
        pp = self.pre_prepare
        last = b""
        for p in self.prepares:
            if not isinstance(p, Prepare):
                raise InvalidMessage("prepares must hold PREPAREs")
            if (p.height, p.view, p.digest) != (pp.height, pp.view, pp.digest):
                raise InvalidMessage("PREPARE does not match the PRE-PREPARE")
            if p.sender <= last or p.sender == pp.sender:
                raise InvalidMessage("PREPARE senders must be distinct backups in order")
            last = p.sender

    @property
    def height(self) -> int:
        return self.pre_prepare.height

    @property
    def view(self) -> int:
        return self.pre_prepare.view

    @property
    def digest(self) -> bytes:
        return self.pre_prepare.digest

    def to_list(self) -> list[Any]:
        return [self.pre_prepare.to_list(), [p.to_list() for p in self.prepares]]

    @classmethod
    def from_list(cls, item: object) -> PreparedCertificate:
        f = _expect_list(item, 2, "prepared certificate")
        return cls.with_prepares(PrePrepare.from_list(f[0]), f[1])

    @classmethod
    def with_prepares(cls, pre_prepare: PrePrepare, prepares: object) -> PreparedCertificate:
        """The certificate of a decoded PRE-PREPARE and its PREPAREs' encoded list (the WAL
        names a PRE-PREPARE once and builds its certificate from it)."""
        if not isinstance(prepares, list) or len(prepares) > MAX_VALIDATORS:
            raise InvalidMessage("prepares must be a bounded array")
        return cls(pre_prepare, tuple(Prepare.from_list(p) for p in prepares))


@dataclass(frozen=True, slots=True)
class ViewChange:
    """The sender gives up on views below ``view`` at ``height``; carries its best prepared."""

    TAG: ClassVar[int] = TAG_VIEW_CHANGE
    height: int
    view: int
    prepared: PreparedCertificate | None
    sender: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_height(self.height)
        check_view(self.view)
        if self.view == 0:
            raise InvalidMessage("VIEW-CHANGE must target a view above 0")
        if self.prepared is not None:
            if not isinstance(self.prepared, PreparedCertificate):
                raise InvalidMessage("prepared must be a PreparedCertificate")
            if self.prepared.height != self.height or self.prepared.view >= self.view:
                raise InvalidMessage("prepared certificate from the wrong height or view")
        check_pubkey(self.sender, "sender")
        check_signature(self.signature)

    def signing_bytes(self, chain_id: bytes) -> bytes:
        p = self.prepared
        summary = None if p is None else [p.view, p.digest, p.pre_prepare.proposal.parent]
        return _signing(chain_id, self.TAG, self.height, self.view, summary)

    def to_list(self) -> list[Any]:
        prepared = None if self.prepared is None else self.prepared.to_list()
        return [self.TAG, self.height, self.view, prepared, self.sender, self.signature]

    @classmethod
    def from_list(cls, item: object) -> ViewChange:
        f = _expect_list(item, 6, "VIEW-CHANGE")
        if f[0] != cls.TAG:
            raise InvalidMessage("not a VIEW-CHANGE")
        prepared = None if f[3] is None else PreparedCertificate.from_list(f[3])
        return cls(f[1], f[2], prepared, f[4], f[5])


@dataclass(frozen=True, slots=True)
class NewView:
    """The new primary proves ``view`` with a quorum of VIEW-CHANGEs.

    ``pre_prepare`` re-proposes the highest prepared block among them, or is None when none
    was prepared (the primary then proposes a fresh block with an ordinary PRE-PREPARE).
    """

    TAG: ClassVar[int] = TAG_NEW_VIEW
    height: int
    view: int
    view_changes: tuple[ViewChange, ...]
    pre_prepare: PrePrepare | None
    sender: bytes
    signature: bytes

    def __post_init__(self) -> None:
        check_height(self.height)
        check_view(self.view)
        if not isinstance(self.view_changes, tuple) or not 0 < len(self.view_changes) <= (
            MAX_VALIDATORS
        ):
            raise InvalidMessage("view changes must be a non-empty bounded tuple")
        last = b""
        for vc in self.view_changes:
            if not isinstance(vc, ViewChange):
                raise InvalidMessage("view changes must hold VIEW-CHANGEs")
            if (vc.height, vc.view) != (self.height, self.view):
                raise InvalidMessage("VIEW-CHANGE for another height or view")
            if vc.sender <= last:
                raise InvalidMessage("VIEW-CHANGE senders must be distinct and in order")
            last = vc.sender
        if self.pre_prepare is not None:
            pp = self.pre_prepare
            if not isinstance(pp, PrePrepare) or (pp.height, pp.view) != (self.height, self.view):
                raise InvalidMessage("NEW-VIEW PRE-PREPARE for another height or view")
            if pp.sender != self.sender:
                raise InvalidMessage("NEW-VIEW PRE-PREPARE from another sender")
        check_pubkey(self.sender, "sender")
        check_signature(self.signature)

    def signing_bytes(self, chain_id: bytes) -> bytes:
        senders = [vc.sender for vc in self.view_changes]
        digest = None if self.pre_prepare is None else self.pre_prepare.digest
        return _signing(chain_id, self.TAG, self.height, self.view, senders, digest)

    def to_list(self) -> list[Any]:
        pp = None if self.pre_prepare is None else self.pre_prepare.to_list()
        vcs = [vc.to_list() for vc in self.view_changes]
        return [self.TAG, self.height, self.view, vcs, pp, self.sender, self.signature]

    @classmethod
    def from_list(cls, item: object) -> NewView:
        f = _expect_list(item, 7, "NEW-VIEW")
        if f[0] != cls.TAG:
            raise InvalidMessage("not a NEW-VIEW")
        if not isinstance(f[3], list) or len(f[3]) > MAX_VALIDATORS:
            raise InvalidMessage("view changes must be a bounded array")
        vcs = tuple(ViewChange.from_list(v) for v in f[3])
        pp = None if f[4] is None else PrePrepare.from_list(f[4])
        return cls(f[1], f[2], vcs, pp, f[5], f[6])


@dataclass(frozen=True, slots=True)
class Status:
    """Unsigned hint "my next height is ``height``"; only ever triggers a verified block sync."""

    TAG: ClassVar[int] = TAG_STATUS
    height: int

    def __post_init__(self) -> None:
        check_height(self.height)

    def to_list(self) -> list[Any]:
        return [self.TAG, self.height]

    @classmethod
    def from_list(cls, item: object) -> Status:
        f = _expect_list(item, 2, "STATUS")
        if f[0] != cls.TAG:
            raise InvalidMessage("not a STATUS")
        return cls(f[1])


SignedMessage = PrePrepare | Prepare | CommitVote | ViewChange | NewView
Message = SignedMessage | Status

_DECODERS: dict[int, Any] = {
    TAG_PRE_PREPARE: PrePrepare.from_list,
    TAG_PREPARE: Prepare.from_list,
    TAG_COMMIT: CommitVote.from_list,
    TAG_VIEW_CHANGE: ViewChange.from_list,
    TAG_NEW_VIEW: NewView.from_list,
    TAG_STATUS: Status.from_list,
}


def encode_message(msg: Message) -> bytes:
    return pack(msg.to_list())


#: Arrays one decode may build: a NEW-VIEW holds a quorum of VIEW-CHANGEs, each with a prepared
#: certificate of a quorum of votes, so about n^2 arrays, never more than this. Without a cap
#: the byte limit alone let 8 MiB of nested empty arrays build 8 million lists (~600 MB).
MAX_ARRAYS = 4 * (MAX_VALIDATORS + 4) ** 2


class _ArrayBudget:
    """msgpack ``list_hook`` that fails the decode once it has seen ``n`` arrays (each array
    is counted as it completes, so at most ``n`` exist when it stops)."""

    __slots__ = ("left",)

    def __init__(self, n: int) -> None:
        self.left = n

    def __call__(self, value: list[Any]) -> list[Any]:
        self.left -= 1
        if self.left < 0:
            raise ValueError("too many arrays")
        return value


def unpack_canonical(data: object, limit: int) -> Any:
    """msgpack-decode untrusted bytes; any failure is a DecodeError."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError("expected bytes")
    if len(data) > limit:
        raise DecodeError(f"encoding longer than {limit} bytes")
    try:
        return msgpack.unpackb(
            data,
            use_list=True,
            raw=False,
            strict_map_key=True,
            max_bin_len=limit,
            max_str_len=1024,
            max_array_len=4 * MAX_VALIDATORS + 16,
            max_map_len=0,
            max_ext_len=0,
            list_hook=_ArrayBudget(MAX_ARRAYS),
        )
    except (
        ValueError,
        TypeError,
        msgpack.UnpackException,
    ) as exc:  # what msgpack raises on garbage
        raise DecodeError(f"not msgpack: {type(exc).__name__}") from None


def decode_message(data: bytes) -> Message:
    """Bytes from the network to a message; raises only ``DecodeError``."""
    item = unpack_canonical(data, MAX_MESSAGE)
    if not isinstance(item, list) or not item or type(item[0]) is not int:
        raise DecodeError("message must be a tagged array")
    decoder = _DECODERS.get(item[0])
    if decoder is None:
        raise DecodeError(f"unknown message tag {item[0]}")
    try:
        msg: Message = decoder(item)
    except InvalidMessage as exc:
        raise DecodeError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # pragma: no cover - belt and braces
        raise DecodeError(f"malformed message: {exc}") from None
    if encode_message(msg) != bytes(data):
        raise DecodeError("non-canonical encoding")
    return msg
