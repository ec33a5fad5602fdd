"""Reason codes and the errors of the ledger side of chainnode.

The one home of every machine-readable error code the node or the SDK shows: a rejection (a
transaction at admission, a block at validation, a read-only call) and every HTTP API error
carry one of these, in one style (UPPER_SNAKE), so clients match on stable names.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Why something was rejected (stable strings, shown to clients)."""

    OK = "OK"
    MALFORMED = "MALFORMED"
    TOO_LARGE = "TOO_LARGE"
    WRONG_CHAIN = "WRONG_CHAIN"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    DUPLICATE = "DUPLICATE"
    EXPIRED = "EXPIRED"
    FUTURE_BLOCK_LIMIT = "FUTURE_BLOCK_LIMIT"
    MEMPOOL_FULL = "MEMPOOL_FULL"
    UNKNOWN_CONTRACT = "UNKNOWN_CONTRACT"
    UNKNOWN_METHOD = "UNKNOWN_METHOD"
    INVALID_ARGS = "INVALID_ARGS"  # arguments that do not fit the method's parameters
    WRONG_SUITE = "WRONG_SUITE"  # a key of another crypto suite (e.g. P-256 on an SM chain)
    NOT_VIEW = "NOT_VIEW"
    NO_PERMISSION = "NO_PERMISSION"
    GAS_LIMIT = "GAS_LIMIT"
    # block validation only
    BAD_HEIGHT = "BAD_HEIGHT"
    BAD_PARENT = "BAD_PARENT"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    BAD_PROPOSER = "BAD_PROPOSER"
    BAD_TX_ROOT = "BAD_TX_ROOT"
    BAD_RECEIPTS_ROOT = "BAD_RECEIPTS_ROOT"
    BAD_STATE_ROOT = "BAD_STATE_ROOT"
    BAD_CHECKPOINT = "BAD_CHECKPOINT"  # a wrong, missing or extra state checkpoint
    TOO_MANY_TXS = "TOO_MANY_TXS"
    EXECUTION_FAULT = "EXECUTION_FAULT"  # this node could not execute (memory, recursion)
    # the HTTP API (request shape, routing, node condition)
    INVALID_FIELD = "INVALID_FIELD"
    INVALID_BODY = "INVALID_BODY"
    EMPTY_BODY = "EMPTY_BODY"
    MALFORMED_JSON = "MALFORMED_JSON"
    MALFORMED_MSGPACK = "MALFORMED_MSGPACK"
    TOO_DEEP = "TOO_DEEP"
    EMPTY_BATCH = "EMPTY_BATCH"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    TOO_MANY_VALUES = "TOO_MANY_VALUES"  # a JSON body that would build too many objects
    BODY_TIMEOUT = "BODY_TIMEOUT"  # the body did not arrive within the body read timeout
    RATE_LIMITED = "RATE_LIMITED"  # this client sent more than its share; retry later
    BUSY = "BUSY"  # every worker for this kind of request is taken; retry later
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    NOT_FOUND = "NOT_FOUND"
    PRUNED = "PRUNED"  # 410: this node dropped the body; an archive has it
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    BAD_REQUEST = "BAD_REQUEST"
    HTTP_ERROR = "HTTP_ERROR"
    TOO_MANY_SUBSCRIBERS = "TOO_MANY_SUBSCRIBERS"
    PROOF_UNAVAILABLE = "PROOF_UNAVAILABLE"
    CLIENT_CERT_REQUIRED = "CLIENT_CERT_REQUIRED"  # a write without a client certificate
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    # the SDK's own (no answer from the node)
    UNREACHABLE = "UNREACHABLE"
    TIMEOUT = "TIMEOUT"


class LedgerError(Exception):
    """Base of every error raised by the ledger side of chainnode."""

    def __init__(self, code: Code, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field  # the input at fault, when one is (e.g. "args[0]")


class MalformedError(LedgerError):
    """Bytes or JSON from outside that do not decode to a valid object."""

    def __init__(self, message: str, code: Code = Code.MALFORMED) -> None:
        super().__init__(code, message)


class InvalidBlock(LedgerError):
    """A proposed or fetched block that this node must not commit."""


class CallError(LedgerError):
    """A read-only call that cannot run (unknown contract/method, not a view, bad args)."""


class GenesisError(LedgerError):
    """A genesis file that is invalid or does not match the stored chain."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.MALFORMED, message)
