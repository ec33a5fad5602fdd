"""Deterministic contract VM: instruction set, verifier, interpreter, compiler, standard contracts.

The library knows nothing of the node. Storage, caller, block data and SM3 come through the
``Host`` protocol the embedder implements; see ``ISA.md`` for the instruction set, the
bytecode format, gas and limits.

Public API::

    compile_source(source) -> bytes                 # CompileError with .line/.col
    execute(code, method, args, host, gas_limit, readonly=False) -> ExecutionResult
        # (ok, gas_used, return_value, events[Event(name, fields, data)], error, return_data)
    abi(code) -> dict[name, MethodInfo(view, params, types)]  # VerifyError if malformed
    encode_value(value) -> bytes / decode_value(bytes) -> value
    stdlib.source(name), stdlib.compiled(name), stdlib.NAMES
    MemoryHost                                      # a dict-backed Host for tests and tools

README.md explains the contract language; ``python -m contracts`` compiles and inspects.
"""

from __future__ import annotations

from contracts import stdlib
from contracts.bytecode import FORMAT_VERSION, MAGIC
from contracts.compiler import compile_source
from contracts.errors import (
    CompileError,
    ContractError,
    EncodingError,
    ExecutionError,
    LimitExceeded,
    OutOfGas,
    Revert,
    VerifyError,
)
from contracts.host import Host, MemoryHost
from contracts.machine import Event
from contracts.opcodes import ISA_VERSION
from contracts.values import Value, decode_value, encode_value
from contracts.vm import ExecutionResult, MethodInfo, abi, execute

__all__ = [
    "FORMAT_VERSION",
    "ISA_VERSION",
    "MAGIC",
    "CompileError",
    "ContractError",
    "EncodingError",
    "Event",
    "ExecutionError",
    "ExecutionResult",
    "Host",
    "LimitExceeded",
    "MemoryHost",
    "MethodInfo",
    "OutOfGas",
    "Revert",
    "Value",
    "VerifyError",
    "abi",
    "compile_source",
    "decode_value",
    "encode_value",
    "execute",
    "stdlib",
]
