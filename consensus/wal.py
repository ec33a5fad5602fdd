"""Write-ahead records: what a replica must have on disk before its own message leaves.

The driver appends each ``Persist(record)`` durably (fsync) before carrying out any later
action of the same batch, and hands all records of the current height back in ``Start`` after a
restart. Records of heights below the stored head may be discarded.
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
        pp = None if item[1] is None else PrePrepare.from_list(item[1])
        prepared = None if item[2] is None else PreparedCertificate.from_list(item[2])
        record = WalRecord(msg, pp, prepared)
    except InvalidMessage as exc:
        raise DecodeError(str(exc)) from None
    except (TypeError, ValueError) as exc:  # belt and braces, as decode_message
        raise DecodeError(f"malformed WAL record: {exc}") from None
    if encode_record(record) != bytes(data):
        raise DecodeError("non-canonical WAL record")
    return record
