"""A small write-ahead log for consensus ``Persist`` actions: synced before the next send.

Records are framed as ``len(4) | crc32(4) | bytes``. A torn or corrupt tail (a crash in the
middle of an append) is cut off on open; everything before it is intact because each append is
fsynced before the runtime carries out the actions that follow it.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

HEADER = struct.Struct(">II")
MAX_RECORD = 64 * 1024 * 1024


class WalError(Exception):
    """The log file cannot be opened or written."""


class WriteAheadLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._records = self._read_and_repair()
        self._f = path.open("ab")
        self.appended_since_compaction = 0

    def _read_and_repair(self) -> list[bytes]:
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
            records.append(body)
            pos = end
        if pos != len(data):
            with self.path.open("r+b") as f:
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())
        return records

    def records(self) -> list[bytes]:
        """Every record in the log, oldest first (read back on open, plus appends since)."""
        return list(self._records)

    def append(self, record: bytes) -> None:
        if len(record) > MAX_RECORD:
            raise WalError(f"record larger than {MAX_RECORD} bytes")
        self._f.write(HEADER.pack(len(record), zlib.crc32(record)) + record)
        self._f.flush()
        os.fsync(self._f.fileno())
        self._records.append(record)
        self.appended_since_compaction += 1

    def rewrite(self, records: Iterable[bytes]) -> None:
        """Atomically replace the log with ``records`` (compaction)."""
        keep = list(records)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            for r in keep:
                f.write(HEADER.pack(len(r), zlib.crc32(r)) + r)
            f.flush()
            os.fsync(f.fileno())
        self._f.close()
        os.replace(tmp, self.path)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._f = self.path.open("ab")
        self._records = keep
        self.appended_since_compaction = 0

    def close(self) -> None:
        self._f.close()
