"""A small write-ahead log for consensus ``Persist`` actions: synced before the next send.

Records are framed as ``len(4) | crc32(4) | bytes``. A torn or corrupt tail (a crash in the
middle of an append, or a disk that lost what it had acknowledged) is never dropped silently:
on open it is logged at WARNING with what was cut, and replaced in place by a TORN marker
record carrying the opener's note (the node's next height), so a later restart still knows the
records of that height cannot prove what was signed there. Compaction drops the markers.

``SigningMark`` is the consensus ``Reserve`` mark: a separate tiny file (two checksummed slots,
written alternately), so a torn WAL tail cannot take it along.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

HEADER = struct.Struct(">II")
MAX_RECORD = 64 * 1024 * 1024
#: Body of the record that stands where a torn tail was cut (never a msgpack array).
TORN_MAGIC = b"\x00chainnode/wal/torn\x00"

log = logging.getLogger("chainnode.node.wal")


class WalError(Exception):
    """The log file cannot be opened or written."""


def _frame(record: bytes) -> bytes:
    return HEADER.pack(len(record), zlib.crc32(record)) + record


class WriteAheadLog:
    """``torn_note``: stored in the TORN marker if a torn tail is cut now; ``torn_notes``
    lists the notes of every marker in the log (a repair at this open or an earlier one)."""

    def __init__(self, path: Path, torn_note: bytes = b"") -> None:
        self.path = path
        self.torn_notes: list[bytes] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._records = self._read_and_repair(torn_note)
        self._f = path.open("ab")
        self.appended_since_compaction = 0
        self.mark = SigningMark(path.with_name(path.name + ".mark"))

    @property
    def reserved(self) -> tuple[int, int] | None:
        """The consensus ``Reserve`` mark (``Start.reserved``), kept beside the log."""
        return self.mark.value

    def reserve(self, height: int, view: int) -> None:
        self.mark.write(height, view)

    def _read_and_repair(self, torn_note: bytes) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise WalError(f"cannot read {self.path}: {e.strerror}") from None
        records: list[bytes] = []
        pos = 0
        while pos + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if length > MAX_RECORD or end > len(data):
                break
            body = data[pos + HEADER.size : end]
            if zlib.crc32(body) != crc:
                break
            if body.startswith(TORN_MAGIC):
                self.torn_notes.append(body[len(TORN_MAGIC) :])
            else:
                records.append(body)
            pos = end
        if pos != len(data):
            cut = len(data) - pos
            declared = "unknown"
            if pos + HEADER.size <= len(data):
                declared = str(HEADER.unpack_from(data, pos)[0])
            log.warning(
                "consensus WAL %s: cut a torn tail of %d bytes at offset %d (a record of %s "
                "bytes, %d intact records before it); what it held may have been signed and "
                "sent, so consensus will not sign again where it cannot prove what it signed",
                self.path,
                cut,
                pos,
                declared,
                len(records),
            )
            marker = _frame(TORN_MAGIC + torn_note)
            with self.path.open("r+b") as f:
                # The marker overwrites the tail in place: a crash in the middle of this
                # leaves a torn tail again, never a clean log that forgot the loss.
                f.seek(pos)
                f.write(marker)
                f.truncate(pos + len(marker))
                f.flush()
                os.fsync(f.fileno())
            self.torn_notes.append(torn_note)
        return records

    def records(self) -> list[bytes]:
        """Every record in the log, oldest first (read back on open, plus appends since)."""
        return list(self._records)

    def append(self, record: bytes) -> None:
        self.append_many([record])

    def append_many(self, records: Sequence[bytes]) -> None:
        """Append ``records`` in order, durable together: one write and one fsync (a crash
        in the middle leaves a prefix of them, the rest a torn tail)."""
        for record in records:
            if len(record) > MAX_RECORD:
                raise WalError(f"record larger than {MAX_RECORD} bytes")
        self._f.write(b"".join([_frame(r) for r in records]))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._records += records
        self.appended_since_compaction += len(records)

    def rewrite(self, records: Iterable[bytes]) -> None:
        """Atomically replace the log with ``records`` (compaction)."""
        keep = list(records)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            for r in keep:
                f.write(_frame(r))
            f.flush()
            os.fsync(f.fileno())
        self._f.close()
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._f = self.path.open("ab")
        self._records = keep
        self.torn_notes = []
        self.appended_since_compaction = 0

    def close(self) -> None:
        self._f.close()
        self.mark.close()


_SLOT = struct.Struct(">QQII")  # sequence, height, view, crc32 of the first 20 bytes


class SigningMark:
    """The durable "I may have signed up to (height, view)" mark of consensus ``Reserve``.

    Two fixed slots written alternately and fsynced; the valid slot with the higher sequence
    wins, so a crash in the middle of a write leaves the previous mark intact.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seq = 0
        self.value: tuple[int, int] | None = None
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as e:
            raise WalError(f"cannot read {path}: {e.strerror}") from None
        for i in range(2):
            chunk = data[i * _SLOT.size : (i + 1) * _SLOT.size]
            if len(chunk) != _SLOT.size:
                continue
            seq, height, view, crc = _SLOT.unpack(chunk)
            if zlib.crc32(chunk[:20]) == crc and seq >= self._seq and seq > 0:
                self._seq, self.value = seq, (height, view)
        self._fd: int | None = None

    def write(self, height: int, view: int) -> None:
        if self._fd is None:
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            if created:
                _fsync_dir(self.path.parent)
        self._seq += 1
        head = struct.pack(">QQI", self._seq, height, view)
        slot = head + struct.pack(">I", zlib.crc32(head))
        os.pwrite(self._fd, slot, (self._seq % 2) * _SLOT.size)
        os.fsync(self._fd)
        self.value = (height, view)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _fsync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
