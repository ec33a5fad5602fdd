"""The error family of the contract package: every failure is a ``ContractError``."""

from __future__ import annotations


class ContractError(Exception):
    """Base class of every error this package raises."""


class EncodingError(ContractError):
    """A value cannot be encoded, or bytes are not a canonical encoding of a value."""


class CompileError(ContractError):
    """Source outside the accepted Python subset; carries the line and column."""

    def __init__(self, reason: str, line: int = 0, col: int = 0) -> None:
        super().__init__(f"line {line}, col {col}: {reason}")
        self.reason = reason
        self.line = line
        self.col = col


class VerifyError(ContractError):
    """Bytecode rejected before it runs (bad header, opcode, jump, stack shape...)."""


class ExecutionError(ContractError):
    """A contract failed while running; the transaction's writes are discarded."""


class OutOfGas(ExecutionError):
    """The gas limit was reached."""


class Revert(ExecutionError):
    """The contract reverted on purpose (``require`` failed or ``revert`` called)."""


class LimitExceeded(ExecutionError):
    """A size or depth limit (stack, value, call depth, event...) was exceeded."""
