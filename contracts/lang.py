"""The contract language's vocabulary: allowed names, operators, literals and refusals.

Shared by ``compiler`` (module level) and ``codegen`` (function bodies).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from contracts import opcodes as op
from contracts.bytecode import MAX_CONSTS
from contracts.errors import CompileError
from contracts.values import INT_MAX, INT_MIN, MAX_BYTES_LEN, Value

MAX_SOURCE = 262_144
MAX_LITERAL = 512
"""Most items in one list/dict literal (each is on the stack before BUILD_LIST/BUILD_MAP)."""

BUILTIN_CALLS = {
    "len", "str", "int", "bool", "bytes", "hex", "unhex", "sm3", "abs", "min", "max",
    "list", "sorted",
}  # fmt: skip
METHODS: dict[str, tuple[str, tuple[int, ...]]] = {
    # method name -> (builtin, allowed argument counts not counting the receiver)
    "append": ("append", (1,)),
    "extend": ("extend", (1,)),
    "get": ("get", (1, 2)),
    "keys": ("keys", (0,)),
    "values": ("values", (0,)),
    "items": ("items", (0,)),
    "pop": ("pop", (0, 1)),
    "encode": ("encode", (0,)),
    "decode": ("decode", (0,)),
    "startswith": ("startswith", (1,)),
    "endswith": ("endswith", (1,)),
    "lower": ("lower", (0,)),
    "upper": ("upper", (0,)),
    "split": ("split", (1,)),
    "join": ("join", (1,)),
    "hex": ("hex", (0,)),
}
SPECIAL = {"storage", "ctx", "require", "revert", "emit", "range", "public", "view", "dict"}
RESERVED = SPECIAL | BUILTIN_CALLS
BINOPS: dict[type, int] = {
    ast.Add: op.ADD,
    ast.Sub: op.SUB,
    ast.Mult: op.MUL,
    ast.FloorDiv: op.FLOORDIV,
    ast.Mod: op.MOD,
}
CMPOPS: dict[type, int] = {
    ast.Eq: op.EQ,
    ast.NotEq: op.NE,
    ast.Lt: op.LT,
    ast.LtE: op.LE,
    ast.Gt: op.GT,
    ast.GtE: op.GE,
}
ANNOTATIONS = {"int": "int", "bool": "bool", "bytes": "bytes", "str": "str", "list": "list",
                "dict": "map", "Any": "any"}  # fmt: skip
FRIENDLY: dict[type, str] = {
    ast.Import: "import is not allowed",
    ast.ImportFrom: "import is not allowed",
    ast.ClassDef: "class definitions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.Try: "try/except is not allowed",
    ast.With: "with is not allowed",
    ast.AsyncWith: "with is not allowed",
    ast.AsyncFunctionDef: "async functions are not allowed",
    ast.AsyncFor: "async for is not allowed",
    ast.Await: "await is not allowed",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.Raise: "raise is not allowed (use revert(msg))",
    ast.Assert: "assert is not allowed (use require(cond, msg))",
    ast.Yield: "generators are not allowed",
    ast.YieldFrom: "generators are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Set: "sets are not allowed",
    ast.NamedExpr: "the walrus operator is not allowed",
    ast.Starred: "star expressions are not allowed",
    ast.Match: "match is not allowed",
}
if hasattr(ast, "TryStar"):
    FRIENDLY[ast.TryStar] = "try/except is not allowed"


def err(node: ast.AST, reason: str) -> CompileError:
    return CompileError(reason, getattr(node, "lineno", 0), getattr(node, "col_offset", -1) + 1)


def not_allowed(node: ast.AST) -> CompileError:
    reason = FRIENDLY.get(type(node), f"{type(node).__name__} is not allowed")
    return err(node, reason)


def literal(node: ast.expr) -> Value:
    """The value of a constant expression (possibly negated), or raise CompileError."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = literal(node.operand)
        if type(inner) is not int:
            raise err(node, "unary - applies to int only")
        return check_int_literal(node, -inner)
    if not isinstance(node, ast.Constant):
        raise err(node, "a constant value is required here")
    v = node.value
    if isinstance(v, float):
        raise err(node, "float literals are not allowed")
    if v is None or type(v) in (bool, str, bytes):
        if isinstance(v, str | bytes) and len(v) > MAX_BYTES_LEN:
            raise err(node, "literal too long")
        if type(v) is str:
            try:
                v.encode()
            except UnicodeEncodeError:
                raise err(node, "string literal is not valid UTF-8") from None
        return v
    if type(v) is int:
        return check_int_literal(node, v)
    raise err(node, f"{type(v).__name__} literals are not allowed")


def check_int_literal(node: ast.AST, v: int) -> int:
    if not INT_MIN <= v <= INT_MAX:
        raise err(node, "int literal outside the signed 256-bit range")
    return v


@dataclass(slots=True)
class FuncInfo:
    name: str
    node: ast.FunctionDef
    index: int
    params: tuple[str, ...]
    types: tuple[str, ...]
    public: bool
    view: bool


class Loop:
    __slots__ = ("exit", "cont")

    def __init__(self, exit_label: int, cont_label: int) -> None:
        self.exit = exit_label
        self.cont = cont_label


class Symbols:
    def __init__(self) -> None:
        self.consts: list[Value] = []
        self.const_index: dict[tuple[type, Value], int] = {}
        self.functions: dict[str, FuncInfo] = {}
        self.constants: dict[str, Value] = {}

    def const(self, value: Value) -> int:
        key = (type(value), value)
        idx = self.const_index.get(key)
        if idx is None:
            idx = len(self.consts)
            if idx >= MAX_CONSTS:
                raise CompileError(f"more than {MAX_CONSTS} distinct constants", 1, 1)
            self.consts.append(value)
            self.const_index[key] = idx
        return idx
