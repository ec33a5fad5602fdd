"""The instruction set (version 1): opcodes, operands, static gas, builtins and context fields.

ISA.md next to this file is the human-readable reference; this module is the one the
verifier, interpreter, assembler and compiler read, so the two are kept in step by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

ISA_VERSION = 1


@dataclass(frozen=True, slots=True)
class OpInfo:
    """One instruction: its byte, operand width in bytes (0, 1, 2 or 4) and static gas."""

    name: str
    code: int
    operand: int
    gas: int


NOP = 0x00
CONST = 0x01
POP = 0x02
DUP = 0x03
LOAD = 0x04
STORE = 0x05
ADD = 0x10
SUB = 0x11
MUL = 0x12
FLOORDIV = 0x13
MOD = 0x14
NEG = 0x15
NOT = 0x16
EQ = 0x20
NE = 0x21
LT = 0x22
LE = 0x23
GT = 0x24
GE = 0x25
IN = 0x26
JUMP = 0x30
JUMP_IF_FALSE = 0x31
JUMP_IF_TRUE = 0x32
JUMP_IF_FALSE_OR_POP = 0x33
JUMP_IF_TRUE_OR_POP = 0x34
CALL = 0x38
RET = 0x39
REVERT = 0x3A
BUILD_LIST = 0x40
BUILD_MAP = 0x41
INDEX = 0x42
SET_INDEX = 0x43
DEL_INDEX = 0x44
SLICE = 0x45
UNPACK = 0x46
SLOAD = 0x50
SGET = 0x51
SSTORE = 0x52
SDEL = 0x53
SHAS = 0x54
EMIT = 0x58
CTX = 0x59
BUILTIN = 0x60

CHARGE = 0xFF
"""Not an instruction: the verifier inserts it at the start of every basic block of the
decoded program to charge the block's static gas at once."""

OPS: tuple[OpInfo, ...] = (
    OpInfo("NOP", NOP, 0, 2),
    OpInfo("CONST", CONST, 2, 2),
    OpInfo("POP", POP, 0, 2),
    OpInfo("DUP", DUP, 0, 2),
    OpInfo("LOAD", LOAD, 2, 2),
    OpInfo("STORE", STORE, 2, 2),
    OpInfo("ADD", ADD, 0, 6),
    OpInfo("SUB", SUB, 0, 6),
    OpInfo("MUL", MUL, 0, 10),
    OpInfo("FLOORDIV", FLOORDIV, 0, 16),
    OpInfo("MOD", MOD, 0, 16),
    OpInfo("NEG", NEG, 0, 6),
    OpInfo("NOT", NOT, 0, 2),
    OpInfo("EQ", EQ, 0, 4),
    OpInfo("NE", NE, 0, 4),
    OpInfo("LT", LT, 0, 4),
    OpInfo("LE", LE, 0, 4),
    OpInfo("GT", GT, 0, 4),
    OpInfo("GE", GE, 0, 4),
    OpInfo("IN", IN, 0, 20),
    OpInfo("JUMP", JUMP, 4, 4),
    OpInfo("JUMP_IF_FALSE", JUMP_IF_FALSE, 4, 4),
    OpInfo("JUMP_IF_TRUE", JUMP_IF_TRUE, 4, 4),
    OpInfo("JUMP_IF_FALSE_OR_POP", JUMP_IF_FALSE_OR_POP, 4, 4),
    OpInfo("JUMP_IF_TRUE_OR_POP", JUMP_IF_TRUE_OR_POP, 4, 4),
    OpInfo("CALL", CALL, 2, 40),
    OpInfo("RET", RET, 0, 4),
    OpInfo("REVERT", REVERT, 0, 10),
    OpInfo("BUILD_LIST", BUILD_LIST, 2, 6),
    OpInfo("BUILD_MAP", BUILD_MAP, 2, 10),
    OpInfo("INDEX", INDEX, 0, 24),
    OpInfo("SET_INDEX", SET_INDEX, 0, 30),
    OpInfo("DEL_INDEX", DEL_INDEX, 0, 20),
    OpInfo("SLICE", SLICE, 0, 20),
    OpInfo("UNPACK", UNPACK, 1, 16),
    OpInfo("SLOAD", SLOAD, 0, 200),
    OpInfo("SGET", SGET, 0, 200),
    OpInfo("SSTORE", SSTORE, 0, 500),
    OpInfo("SDEL", SDEL, 0, 200),
    OpInfo("SHAS", SHAS, 0, 100),
    OpInfo("EMIT", EMIT, 0, 200),
    OpInfo("CTX", CTX, 1, 16),
    OpInfo("BUILTIN", BUILTIN, 1, 16),
)
BY_CODE: dict[int, OpInfo] = {op.code: op for op in OPS}
BY_NAME: dict[str, OpInfo] = {op.name: op for op in OPS}

JUMPS = frozenset({JUMP, JUMP_IF_FALSE, JUMP_IF_TRUE, JUMP_IF_FALSE_OR_POP, JUMP_IF_TRUE_OR_POP})
TERMINATORS = frozenset({JUMP, RET, REVERT})


@dataclass(frozen=True, slots=True)
class BuiltinInfo:
    """A builtin function called by ``BUILTIN id``: pops ``argc`` values, pushes one."""

    name: str
    id: int
    argc: int
    gas: int


BUILTINS: tuple[BuiltinInfo, ...] = (
    BuiltinInfo("len", 0, 1, 4),
    BuiltinInfo("str", 1, 1, 30),
    BuiltinInfo("int", 2, 1, 80),
    BuiltinInfo("bool", 3, 1, 4),
    BuiltinInfo("bytes", 4, 1, 10),
    BuiltinInfo("hex", 5, 1, 10),
    BuiltinInfo("unhex", 6, 1, 10),
    BuiltinInfo("sm3", 7, 1, 120),
    BuiltinInfo("abs", 8, 1, 10),
    BuiltinInfo("min", 9, 2, 6),
    BuiltinInfo("max", 10, 2, 6),
    BuiltinInfo("append", 11, 2, 6),
    BuiltinInfo("get", 12, 3, 6),
    BuiltinInfo("keys", 13, 1, 10),
    BuiltinInfo("values", 14, 1, 10),
    BuiltinInfo("items", 15, 1, 10),
    BuiltinInfo("pop", 16, 1, 6),
    BuiltinInfo("pop_at", 17, 2, 10),
    BuiltinInfo("encode", 18, 1, 10),
    BuiltinInfo("decode", 19, 1, 10),
    BuiltinInfo("startswith", 20, 2, 6),
    BuiltinInfo("endswith", 21, 2, 6),
    BuiltinInfo("lower", 22, 1, 10),
    BuiltinInfo("upper", 23, 1, 10),
    BuiltinInfo("split", 24, 2, 10),
    BuiltinInfo("join", 25, 2, 10),
    BuiltinInfo("list", 26, 1, 10),
    BuiltinInfo("sorted", 27, 1, 20),
    BuiltinInfo("iter", 28, 1, 10),
    BuiltinInfo("extend", 29, 2, 10),
)
BUILTIN_BY_NAME: dict[str, BuiltinInfo] = {b.name: b for b in BUILTINS}

CTX_FIELDS: tuple[str, ...] = ("caller", "tx_hash", "block_height", "timestamp")
"""``CTX i`` pushes field ``i`` of the host's block/transaction context."""

# Dynamic gas, charged on top of the static cost of the instruction.
GAS_PER_ITEM = 1
"""Per list/map item created, copied, scanned or sorted (per log2 step for sorted)."""
GAS_PER_BYTE_WORD = 1
"""Per 32 bytes (or characters) of str/bytes created, copied or scanned."""
GAS_SREAD_BYTE = 1
"""Per byte of key and value read from storage."""
GAS_SWRITE_BYTE = 10
"""Per byte of key and value written to storage."""
GAS_EMIT_BYTE = 10
"""Per byte of an emitted event (encoded name and fields)."""
GAS_HASH_WORD = 16
"""Per 32 bytes hashed by sm3."""
GAS_ENTRY = 200
"""Charged once per execution, before the first instruction."""
GAS_ARG_BYTE = 1
"""Per byte of the encoded arguments and return value."""

# Memory: every object the VM creates is charged by its size in bytes under a fixed model
# (an upper bound of CPython's own size for it, whatever the Python build), so that no
# execution can hold more than ``MEM_BYTES_PER_GAS`` bytes per gas; the total is also capped.
MEM_BYTES_PER_GAS = 8
"""Bytes of memory (under the size model below) that one gas pays for."""
MEM_STR = 64
"""Size of a str: this plus 1 byte per character (ASCII) or 4 (any other character)."""
MEM_BYTES = 48
"""Size of a bytes: this plus 1 byte per byte."""
MEM_INT = 32
"""An int held by a list or map (64 when it needs more than 60 bits)."""
MEM_LIST = 96
"""A list object, plus ``MEM_LIST_SLOT`` per item (CPython over-allocates when growing)."""
MEM_LIST_SLOT = 16
MEM_MAP = 256
"""A map object with its first hash table, plus ``MEM_MAP_ENTRY`` per key."""
MEM_MAP_ENTRY = 80
MEM_FRAME = 256
"""A call frame, plus ``MEM_LIST_SLOT`` per local and per operand stack slot."""
MAX_MEMORY = 64 * 1024 * 1024
"""Most bytes one execution may allocate (never refunded: an upper bound of what is live)."""
GAS_CMP_WORD = 1
"""Per 32 bytes (8 characters of non-ASCII str) compared, searched or hashed by a native."""
GAS_VISIT = 30
"""Per container visited by deep equality (a Python-level step: ~10x a C-level item)."""
GAS_PY_ITEM = 8
"""Per item of a container walked item by item in Python (deep equality, list membership of
non-text values, sizing a decoded value)."""

PARAM_TYPES: tuple[str, ...] = ("any", "int", "bool", "bytes", "str", "list", "map")
"""Parameter type codes in the method table (index = code)."""
