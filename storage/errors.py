"""Typed errors of the storage package: one base class, one subclass per thing an operator fixes."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by :mod:`storage`."""


class InvalidInput(StorageError, ValueError):
    """A caller passed a value of the wrong type or size; nothing was written."""


class HeightMismatch(InvalidInput):
    """A commit's height is not head + 1 (or 0 for an empty store); nothing was written."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"commit height {got} is not the next height {expected}")
        self.expected = expected
        self.got = got


class DuplicateEntry(InvalidInput):
    """A block hash or transaction hash is already stored; nothing was written."""


class ChainMismatch(StorageError):
    """The database belongs to another chain."""

    def __init__(self, path: str, expected: bytes, found: bytes) -> None:
        super().__init__(
            f"database at {path} belongs to chain {found.hex()}, not {expected.hex()}; "
            "point the node at its own data directory"
        )
        self.path = path
        self.expected = expected
        self.found = found


class NotADatabase(StorageError):
    """The path is missing, is not a directory, or is not a chainnode LevelDB store."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path} is not a chainnode database: {reason}")
        self.path = path
        self.reason = reason


class DatabaseLocked(StorageError):
    """Another process (or another open Store in this process) holds the database lock."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"database at {path} is locked by another process ({detail}); "
            "stop the other node using this directory or choose another one"
        )
        self.path = path


class Corruption(StorageError):
    """LevelDB reports corrupt files; the message names the path and how to repair it."""

    HINT = (
        "stop the node and move its data directory aside (keep it for inspection), then "
        "`chainnode restore --config CONFIG ARCHIVE` from a backup, or start the node with "
        "the empty data directory to sync the chain from its peers"
    )

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"database at {path} is corrupted: {detail}; hint: {self.HINT}")
        self.path = path
        self.detail = detail
