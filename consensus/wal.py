"""Write-ahead records: what a replica must have on disk before its own message leaves.

The driver appends each ``Persist(record)`` durably (fsync) before carrying out any later
action of the same batch (the records of several may share one fsync, the actions between them
waiting for it), and hands all records of the current height back in ``Start`` after a
restart. Records of heights below the stored head may be discarded.

A record names each PRE-PREPARE once: the proposal is the bulk of it (a 2,000-tx block is
~0.5 MB), and a proposer's own record (its PRE-PREPARE, kept as ``pre_prepare`` too) or a COMMIT's
(``pre_prepare`` and the prepared certificate's) would otherwise hold it twice, each copy
written and fsynced on the block's path. In the encoding, ``SAME`` stands for the PRE-PREPARE
given before it: in the ``pre_prepare`` slot, the message itself; in the certificate's, the
record's ``pre_prepare``. A record written before this (both copies in full) still decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consensus.errors import DecodeError, InvalidMessage
from consensus.messages import (
    MAX_MESSAGE,
    CommitVote,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    SignedMessage,
    ViewChange,
    pack,
    unpack_canonical,
)

#: In a record's encoding: the PRE-PREPARE given before, in the same record (module docstring).
SAME = 0

_KINDS: dict[int, Any] = {
    PrePrepare.TAG: PrePrepare,
    Prepare.TAG: Prepare,
    CommitVote.TAG: CommitVote,
    ViewChange.TAG: ViewChange,
    NewView.TAG: NewView,
}


@dataclass(frozen=True, slots=True)
class WalRecord:
    """Our own signed ``message`` (or a NEW-VIEW we entered, so our view survives a restart)
    plus the context needed to act on it after a restart.

    ``pre_prepare``: the proposal we voted for (PREPARE/COMMIT); ``prepared``: our prepared
    certificate (COMMIT, and VIEW-CHANGE carries its own).
    """

    message: SignedMessage
    pre_prepare: PrePrepare | None = None
    prepared: PreparedCertificate | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.message, PrePrepare | Prepare | CommitVote | ViewChange | NewView):
            raise InvalidMessage("WAL record must hold a signed message")
        if self.pre_prepare is not None and not isinstance(self.pre_prepare, PrePrepare):
            raise InvalidMessage("WAL pre_prepare must be a PRE-PREPARE")
        if self.prepared is not None and not isinstance(self.prepared, PreparedCertificate):
            raise InvalidMessage("WAL prepared must be a prepared certificate")

    @property
    def height(self) -> int:
        return self.message.height

    def to_list(self) -> list[Any]:
        """The encoded form: a PRE-PREPARE repeated in the record is ``SAME`` after its first."""
        msg, pp, cert = self.message, self.pre_prepare, self.prepared
        pp_item: Any = None
        if pp is not None:
            pp_item = SAME if pp is msg or pp == msg else pp.to_list()
        cert_item: Any = None
        if cert is not None:
            prepares = [p.to_list() for p in cert.prepares]
            same = pp is not None and (cert.pre_prepare is pp or cert.pre_prepare == pp)
            cert_item = [SAME, prepares] if same else cert.to_list()
        return [msg.to_list(), pp_item, cert_item]

    def to_full_list(self) -> list[Any]:
        """The encoding before ``SAME`` (each PRE-PREPARE in full): still accepted."""
        pp = None if self.pre_prepare is None else self.pre_prepare.to_list()
        prepared = None if self.prepared is None else self.prepared.to_list()
        return [self.message.to_list(), pp, prepared]


def encode_record(record: WalRecord) -> bytes:
    return pack(record.to_list())


def decode_record(data: bytes) -> WalRecord:
    """Raises only ``DecodeError`` (a torn or foreign WAL entry)."""
    item = unpack_canonical(data, 2 * MAX_MESSAGE)
    try:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], list):
            raise InvalidMessage("WAL record must be [message, pre_prepare, prepared]")
        tag = item[0][0] if item[0] else None
        kind = _KINDS.get(tag) if type(tag) is int else None
        if kind is None:
            raise InvalidMessage("WAL record holds no signed message")
        msg = kind.from_list(item[0])
        pp = _pre_prepare(item[1], msg)
        record = WalRecord(msg, pp, _prepared(item[2], pp))
    except InvalidMessage as exc:
        raise DecodeError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # belt and braces, as decode_message
        raise DecodeError(f"malformed WAL record: {exc}") from None
    data = bytes(data)
    if encode_record(record) != data and pack(record.to_full_list()) != data:
        raise DecodeError("non-canonical WAL record")
    return record


def _pre_prepare(item: object, msg: SignedMessage) -> PrePrepare | None:
    if item is None:
        return None
    if type(item) is int and item == SAME:
        if not isinstance(msg, PrePrepare):
            raise InvalidMessage("WAL pre_prepare refers to a message that is no PRE-PREPARE")
        return msg
    return PrePrepare.from_list(item)


def _prepared(item: object, pp: PrePrepare | None) -> PreparedCertificate | None:
    if item is None:
        return None
    if isinstance(item, list) and len(item) == 2 and type(item[0]) is int and item[0] == SAME:
        if pp is None:
            raise InvalidMessage("WAL prepared certificate refers to a missing PRE-PREPARE")
        return PreparedCertificate.with_prepares(pp, item[1])
    return PreparedCertificate.from_list(item)
