"""Compile the contract language, a small subset of Python, to bytecode.

A contract is a module of functions. ``@public`` marks an entry point, ``@view`` a read-only
one; undecorated functions are internal helpers. Module level may also hold docstrings and
constants (``NAME = <literal>``). Inside functions: locals, int/str/bytes/bool/None/list/dict
literals, f-strings, ``+ - * // %``, comparisons, ``and/or/not``, ``x if c else y``,
``if/elif/else``, ``while``, ``for`` over ``range()``/lists/map keys, ``break``/``continue``,
``return``, tuple unpacking, subscripts and slices, and:

* ``storage[key]`` get/set, ``del storage[key]``, ``key in storage``, ``storage.get(k, d)``
* ``emit("Name", field=value, ...)`` (or ``emit("Name", a_map)``)
* ``require(cond, "message")``, ``revert("message")``
* ``ctx.caller`` / ``ctx.tx_hash`` (bytes), ``ctx.block_height`` / ``ctx.timestamp`` (int)
* builtins ``len str int bool bytes hex unhex sm3 abs min max list sorted`` and methods
  ``append extend get keys values items pop encode decode startswith endswith lower upper
  split join hex`` and ``bytes.fromhex``.

Everything else is a ``CompileError`` naming the line and (1-based) column. Output is a pure
function of the source text: same source, same bytes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from contracts import opcodes as op
from contracts.bytecode import (
    MAX_CONSTS,
    MAX_LOCALS,
    MAX_NAME,
    CodeBuilder,
    FunctionEntry,
    assemble,
)
from contracts.errors import CompileError, EncodingError, VerifyError
from contracts.values import INT_MAX, INT_MIN, MAX_BYTES_LEN, Value
from contracts.verifier import verify

MAX_SOURCE = 262_144
MAX_LITERAL = 512
"""Most items in one list/dict literal (each is on the stack before BUILD_LIST/BUILD_MAP)."""

_BUILTIN_CALLS = {
    "len", "str", "int", "bool", "bytes", "hex", "unhex", "sm3", "abs", "min", "max",
    "list", "sorted",
}  # fmt: skip
_METHODS: dict[str, tuple[str, tuple[int, ...]]] = {
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
_SPECIAL = {"storage", "ctx", "require", "revert", "emit", "range", "public", "view", "dict"}
_RESERVED = _SPECIAL | _BUILTIN_CALLS
_BINOPS: dict[type, int] = {
    ast.Add: op.ADD,
    ast.Sub: op.SUB,
    ast.Mult: op.MUL,
    ast.FloorDiv: op.FLOORDIV,
    ast.Mod: op.MOD,
}
_CMPOPS: dict[type, int] = {
    ast.Eq: op.EQ,
    ast.NotEq: op.NE,
    ast.Lt: op.LT,
    ast.LtE: op.LE,
    ast.Gt: op.GT,
    ast.GtE: op.GE,
}
_ANNOTATIONS = {"int": "int", "bool": "bool", "bytes": "bytes", "str": "str", "list": "list",
                "dict": "map", "Any": "any"}  # fmt: skip
_FRIENDLY: dict[type, str] = {
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
    _FRIENDLY[ast.TryStar] = "try/except is not allowed"


def _err(node: ast.AST, reason: str) -> CompileError:
    return CompileError(reason, getattr(node, "lineno", 0), getattr(node, "col_offset", -1) + 1)


def _not_allowed(node: ast.AST) -> CompileError:
    reason = _FRIENDLY.get(type(node), f"{type(node).__name__} is not allowed")
    return _err(node, reason)


def _literal(node: ast.expr) -> Value:
    """The value of a constant expression (possibly negated), or raise CompileError."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _literal(node.operand)
        if type(inner) is not int:
            raise _err(node, "unary - applies to int only")
        return _check_int_literal(node, -inner)
    if not isinstance(node, ast.Constant):
        raise _err(node, "a constant value is required here")
    v = node.value
    if isinstance(v, float):
        raise _err(node, "float literals are not allowed")
    if v is None or type(v) in (bool, str, bytes):
        if isinstance(v, str | bytes) and len(v) > MAX_BYTES_LEN:
            raise _err(node, "literal too long")
        if type(v) is str:
            try:
                v.encode()
            except UnicodeEncodeError:
                raise _err(node, "string literal is not valid UTF-8") from None
        return v
    if type(v) is int:
        return _check_int_literal(node, v)
    raise _err(node, f"{type(v).__name__} literals are not allowed")


def _check_int_literal(node: ast.AST, v: int) -> int:
    if not INT_MIN <= v <= INT_MAX:
        raise _err(node, "int literal outside the signed 256-bit range")
    return v


@dataclass(slots=True)
class _FuncInfo:
    name: str
    node: ast.FunctionDef
    index: int
    params: tuple[str, ...]
    types: tuple[str, ...]
    public: bool
    view: bool


class _Loop:
    __slots__ = ("exit", "cont")

    def __init__(self, exit_label: int, cont_label: int) -> None:
        self.exit = exit_label
        self.cont = cont_label


class _Module:
    def __init__(self) -> None:
        self.consts: list[Value] = []
        self.const_index: dict[tuple[type, Value], int] = {}
        self.functions: dict[str, _FuncInfo] = {}
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


class _FunctionCompiler:
    def __init__(self, module: _Module, info: _FuncInfo) -> None:
        self.m = module
        self.info = info
        self.b = CodeBuilder()
        self.locals: dict[str, int] = {name: i for i, name in enumerate(info.params)}
        self.n_locals = len(info.params)
        self.loops: list[_Loop] = []

    # -- helpers ---------------------------------------------------------------------------

    def temp(self, node: ast.AST) -> int:
        slot = self.n_locals
        self.n_locals += 1
        if self.n_locals > MAX_LOCALS:
            raise _err(node, f"more than {MAX_LOCALS} local variables")
        return slot

    def emit(self, opcode: int, arg: int = 0) -> None:
        self.b.emit(opcode, arg)

    def const(self, value: Value) -> None:
        self.emit(op.CONST, self.m.const(value))

    def builtin(self, name: str) -> None:
        self.emit(op.BUILTIN, op.BUILTIN_BY_NAME[name].id)

    def check_name(self, node: ast.AST, name: str) -> None:
        if name in _RESERVED or name in self.m.functions or name in self.m.constants:
            raise _err(node, f"cannot assign to {name!r}")

    def discover_locals(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self.check_name(node, node.id)
                    if node.id not in self.locals:
                        self.locals[node.id] = self.n_locals
                        self.n_locals += 1
        if self.n_locals > MAX_LOCALS:
            raise _err(self.info.node, f"more than {MAX_LOCALS} local variables")

    def modifies_state(self, node: ast.AST) -> None:
        if self.info.view:
            raise _err(node, f"view method {self.info.name!r} cannot modify state")

    # -- functions and statements ----------------------------------------------------------

    def compile(self) -> bytes:
        body = self.info.node.body
        self.discover_locals(body)
        self.block(body)
        self.const(None)
        self.emit(op.RET)
        return bytes(self.b.code)

    def block(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Expr):
            self.expr_stmt(node)
        elif isinstance(node, ast.Assign):
            if len(node.targets) == 1:
                target = node.targets[0]
                self.assign(target, lambda: self.expr(node.value))
            else:
                tmp = self.temp(node)
                self.expr(node.value)
                self.emit(op.STORE, tmp)
                for target in node.targets:
                    self.assign(target, lambda: self.emit(op.LOAD, tmp))
        elif isinstance(node, ast.AnnAssign):
            if node.value is None:
                raise _err(node, "annotation without a value")
            value = node.value
            self.assign(node.target, lambda: self.expr(value))
        elif isinstance(node, ast.AugAssign):
            self.aug_assign(node)
        elif isinstance(node, ast.If):
            self.if_stmt(node)
        elif isinstance(node, ast.While):
            self.while_stmt(node)
        elif isinstance(node, ast.For):
            self.for_stmt(node)
        elif isinstance(node, ast.Return):
            if node.value is None:
                self.const(None)
            else:
                self.expr(node.value)
            self.emit(op.RET)
        elif isinstance(node, ast.Pass):
            pass
        elif isinstance(node, ast.Break | ast.Continue):
            if not self.loops:
                raise _err(node, "break/continue outside a loop")
            loop = self.loops[-1]
            self.b.jump(op.JUMP, loop.exit if isinstance(node, ast.Break) else loop.cont)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target)
        elif isinstance(node, ast.FunctionDef):
            raise _err(node, "nested functions are not allowed")
        else:
            raise _not_allowed(node)

    def expr_stmt(self, node: ast.Expr) -> None:
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return  # a docstring or comment string
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "require"
        ):
            self.require(value)
            return
        self.expr(value)
        self.emit(op.POP)

    def assign(self, target: ast.expr, value: Callable[[], None]) -> None:
        if isinstance(target, ast.Name):
            value()
            self.emit(op.STORE, self.locals[target.id])
        elif isinstance(target, ast.Subscript):
            if isinstance(target.slice, ast.Slice):
                raise _err(target, "slice assignment is not allowed")
            if self.is_storage(target.value):
                self.modifies_state(target)
                self.expr(target.slice)
                value()
                self.emit(op.SSTORE)
            else:
                self.expr(target.value)
                self.expr(target.slice)
                value()
                self.emit(op.SET_INDEX)
        elif isinstance(target, ast.Tuple | ast.List):
            if not 0 < len(target.elts) <= 255:
                raise _err(target, "unpack 1 to 255 values")
            value()
            self.emit(op.UNPACK, len(target.elts))
            for elt in target.elts:
                if isinstance(elt, ast.Name):
                    self.emit(op.STORE, self.locals[elt.id])
                else:
                    tmp = self.temp(elt)
                    self.emit(op.STORE, tmp)
                    self.assign(elt, lambda tmp=tmp: self.emit(op.LOAD, tmp))  # type: ignore[misc]
        elif isinstance(target, ast.Attribute):
            raise _err(target, "cannot assign to an attribute")
        else:
            raise _not_allowed(target)

    def binop(self, node: ast.AST, operator: ast.operator) -> None:
        opcode = _BINOPS.get(type(operator))
        if opcode is None:
            if isinstance(operator, ast.Div):
                raise _err(node, "/ is not allowed (use // for integer division)")
            raise _err(node, f"operator {type(operator).__name__} is not allowed")
        self.emit(opcode)

    def aug_assign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            if target.id not in self.locals:
                raise _err(target, f"unknown name {target.id!r}")
            slot = self.locals[target.id]
            self.emit(op.LOAD, slot)
            self.expr(node.value)
            self.binop(node, node.op)
            self.emit(op.STORE, slot)
        elif isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Slice):
            key = self.temp(node)
            if self.is_storage(target.value):
                self.modifies_state(node)
                self.expr(target.slice)
                self.emit(op.STORE, key)
                self.emit(op.LOAD, key)
                self.emit(op.LOAD, key)
                self.emit(op.SLOAD)
                self.expr(node.value)
                self.binop(node, node.op)
                self.emit(op.SSTORE)
            else:
                obj = self.temp(node)
                self.expr(target.value)
                self.emit(op.STORE, obj)
                self.expr(target.slice)
                self.emit(op.STORE, key)
                for slot in (obj, key, obj, key):
                    self.emit(op.LOAD, slot)
                self.emit(op.INDEX)
                self.expr(node.value)
                self.binop(node, node.op)
                self.emit(op.SET_INDEX)
        else:
            raise _err(target, "augmented assignment to a name or subscript only")

    def delete(self, target: ast.expr) -> None:
        if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
            raise _err(target, "del only deletes storage[key], map[key] or list[index]")
        if self.is_storage(target.value):
            self.modifies_state(target)
            self.expr(target.slice)
            self.emit(op.SDEL)
        else:
            self.expr(target.value)
            self.expr(target.slice)
            self.emit(op.DEL_INDEX)

    def cond_jump(self, node: ast.expr, label: int, when: bool) -> None:
        """Jump to ``label`` if the truthiness of ``node`` is ``when``, without keeping a value.

        ``not``, ``not in``, ``and`` and ``or`` become jumps instead of values.
        """
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.cond_jump(node.operand, label, not when)
        elif isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            if is_and != when:  # and/false or or/true: any operand decides
                for value in node.values:
                    self.cond_jump(value, label, when)
            else:
                skip = self.b.label()
                for value in node.values[:-1]:
                    self.cond_jump(value, skip, not when)
                self.cond_jump(node.values[-1], label, when)
                self.b.place(skip)
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.NotIn)
        ):
            self.membership(node.left, node.comparators[0])
            self.b.jump(op.JUMP_IF_TRUE if not when else op.JUMP_IF_FALSE, label)
        else:
            self.expr(node)
            self.b.jump(op.JUMP_IF_TRUE if when else op.JUMP_IF_FALSE, label)

    def if_stmt(self, node: ast.If) -> None:
        else_label, end = self.b.label(), self.b.label()
        self.cond_jump(node.test, else_label, False)
        self.block(node.body)
        if node.orelse:
            self.b.jump(op.JUMP, end)
        self.b.place(else_label)
        if node.orelse:
            self.block(node.orelse)
            self.b.place(end)

    def while_stmt(self, node: ast.While) -> None:
        if node.orelse:
            raise _err(node, "while/else is not allowed")
        top, end = self.b.label(), self.b.label()
        self.b.place(top)
        self.cond_jump(node.test, end, False)
        self.loops.append(_Loop(end, top))
        self.block(node.body)
        self.loops.pop()
        self.b.jump(op.JUMP, top)
        self.b.place(end)

    def for_stmt(self, node: ast.For) -> None:
        if node.orelse:
            raise _err(node, "for/else is not allowed")
        it = node.iter
        top, cont, end = self.b.label(), self.b.label(), self.b.label()
        target = node.target
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                raise _err(it, "range() takes 1 to 3 positional arguments")
            step = 1
            if len(it.args) == 3:
                step_value = _literal(it.args[2])
                if type(step_value) is not int or step_value == 0:
                    raise _err(it.args[2], "range() step must be a non-zero int constant")
                step = step_value
            cur, stop = self.temp(node), self.temp(node)
            if len(it.args) == 1:
                self.const(0)
                self.expr(it.args[0])
            else:
                self.expr(it.args[0])
                self.expr(it.args[1])
            self.emit(op.STORE, stop)
            self.emit(op.STORE, cur)
            self.b.place(top)
            self.emit(op.LOAD, cur)
            self.emit(op.LOAD, stop)
            self.emit(op.LT if step > 0 else op.GT)
            self.b.jump(op.JUMP_IF_FALSE, end)
            self.assign(target, lambda: self.emit(op.LOAD, cur))
            self.loops.append(_Loop(end, cont))
            self.block(node.body)
            self.loops.pop()
            self.b.place(cont)
            self.emit(op.LOAD, cur)
            self.const(step)
            self.emit(op.ADD)
            self.emit(op.STORE, cur)
            self.b.jump(op.JUMP, top)
            self.b.place(end)
            return
        seq, idx = self.temp(node), self.temp(node)
        self.expr(it)
        self.builtin("iter")
        self.emit(op.STORE, seq)
        self.const(0)
        self.emit(op.STORE, idx)
        self.b.place(top)
        self.emit(op.LOAD, idx)
        self.emit(op.LOAD, seq)
        self.builtin("len")
        self.emit(op.LT)
        self.b.jump(op.JUMP_IF_FALSE, end)

        def item() -> None:
            self.emit(op.LOAD, seq)
            self.emit(op.LOAD, idx)
            self.emit(op.INDEX)

        self.assign(target, item)
        self.loops.append(_Loop(end, cont))
        self.block(node.body)
        self.loops.pop()
        self.b.place(cont)
        self.emit(op.LOAD, idx)
        self.const(1)
        self.emit(op.ADD)
        self.emit(op.STORE, idx)
        self.b.jump(op.JUMP, top)
        self.b.place(end)

    def require(self, call: ast.Call) -> None:
        if call.keywords or not 1 <= len(call.args) <= 2:
            raise _err(call, "require(cond, message) takes 1 or 2 arguments")
        ok = self.b.label()
        self.cond_jump(call.args[0], ok, True)
        if len(call.args) == 2:
            self.expr(call.args[1])
        else:
            self.const("requirement failed")
        self.emit(op.REVERT)
        self.b.place(ok)

    # -- expressions -----------------------------------------------------------------------

    def is_storage(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id == "storage"

    def expr(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant):
            self.const(_literal(node))
        elif isinstance(node, ast.Name):
            self.name(node)
        elif isinstance(node, ast.BinOp):
            self.expr(node.left)
            self.expr(node.right)
            self.binop(node, node.op)
        elif isinstance(node, ast.UnaryOp):
            self.unary(node)
        elif isinstance(node, ast.BoolOp):
            end = self.b.label()
            jump = (
                op.JUMP_IF_FALSE_OR_POP if isinstance(node.op, ast.And) else op.JUMP_IF_TRUE_OR_POP
            )
            for value in node.values[:-1]:
                self.expr(value)
                self.b.jump(jump, end)
            self.expr(node.values[-1])
            self.b.place(end)
        elif isinstance(node, ast.Compare):
            self.compare(node)
        elif isinstance(node, ast.IfExp):
            other, end = self.b.label(), self.b.label()
            self.cond_jump(node.test, other, False)
            self.expr(node.body)
            self.b.jump(op.JUMP, end)
            self.b.place(other)
            self.expr(node.orelse)
            self.b.place(end)
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, ast.Subscript):
            self.subscript(node)
        elif isinstance(node, ast.List | ast.Tuple):
            if len(node.elts) > MAX_LITERAL:
                raise _err(node, f"more than {MAX_LITERAL} items in one literal")
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    raise _not_allowed(elt)
                self.expr(elt)
            self.emit(op.BUILD_LIST, len(node.elts))
        elif isinstance(node, ast.Dict):
            if len(node.keys) > MAX_LITERAL:
                raise _err(node, f"more than {MAX_LITERAL} items in one literal")
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise _err(value, "** in a dict literal is not allowed")
                self.expr(key)
                self.expr(value)
            self.emit(op.BUILD_MAP, len(node.keys))
        elif isinstance(node, ast.JoinedStr):
            self.fstring(node)
        else:
            raise _not_allowed(node)

    def name(self, node: ast.Name) -> None:
        name = node.id
        slot = self.locals.get(name)
        if slot is not None:
            self.emit(op.LOAD, slot)
        elif name in self.m.constants:
            self.const(self.m.constants[name])
        elif name in ("storage", "ctx"):
            raise _err(node, f"{name!r} is only usable through its operations")
        elif name in self.m.functions or name in _RESERVED:
            raise _err(node, f"{name!r} can only be called")
        else:
            raise _err(node, f"unknown name {name!r}")

    def unary(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant) and type(node.operand.value) is int:
                self.const(_literal(node))
                return
            self.expr(node.operand)
            self.emit(op.NEG)
        elif isinstance(node.op, ast.Not):
            self.expr(node.operand)
            self.emit(op.NOT)
        else:
            raise _err(node, f"operator {type(node.op).__name__} is not allowed")

    def compare(self, node: ast.Compare) -> None:
        if len(node.ops) > 1:
            self.chained(node)
            return
        cmp, right = node.ops[0], node.comparators[0]
        if isinstance(cmp, ast.In | ast.NotIn):
            self.membership(node.left, right)
            if isinstance(cmp, ast.NotIn):
                self.emit(op.NOT)
            return
        if isinstance(cmp, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise _err(node, "'is' only compares with None")
            self.expr(node.left)
            self.const(None)
            self.emit(op.EQ if isinstance(cmp, ast.Is) else op.NE)
            return
        self.expr(node.left)
        self.expr(right)
        self.emit(_CMPOPS[type(cmp)])

    def membership(self, item: ast.expr, container: ast.expr) -> None:
        self.expr(item)
        if self.is_storage(container):
            self.emit(op.SHAS)
        else:
            self.expr(container)
            self.emit(op.IN)

    def chained(self, node: ast.Compare) -> None:
        """``a < b <= c`` as ``a < b and b <= c`` with ``b`` evaluated once."""
        end = self.b.label()
        self.expr(node.left)
        last = len(node.ops) - 1
        for i, (cmp, right) in enumerate(zip(node.ops, node.comparators, strict=True)):
            opcode = _CMPOPS.get(type(cmp))
            if opcode is None:
                raise _err(node, "chained comparisons use == != < <= > >= only")
            self.expr(right)
            if i < last:
                tmp = self.temp(node)
                self.emit(op.STORE, tmp)
                self.emit(op.LOAD, tmp)
                self.emit(opcode)
                self.b.jump(op.JUMP_IF_FALSE_OR_POP, end)
                self.emit(op.LOAD, tmp)
            else:
                self.emit(opcode)
        self.b.place(end)

    def fstring(self, node: ast.JoinedStr) -> None:
        parts = 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                self.const(_literal(value))
            elif isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion not in (-1, ord("s")):
                    raise _err(value, "f-string format specs and conversions are not allowed")
                self.expr(value.value)
                self.builtin("str")
            else:
                raise _not_allowed(value)
            parts += 1
            if parts > 1:
                self.emit(op.ADD)
        if parts == 0:
            self.const("")

    def attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "ctx":
            if node.attr not in op.CTX_FIELDS:
                raise _err(node, f"ctx has no attribute {node.attr!r}")
            self.emit(op.CTX, op.CTX_FIELDS.index(node.attr))
            return
        raise _err(node, f"attribute {node.attr!r} is not allowed")

    def subscript(self, node: ast.Subscript) -> None:
        if self.is_storage(node.value):
            if isinstance(node.slice, ast.Slice):
                raise _err(node, "storage cannot be sliced")
            self.expr(node.slice)
            self.emit(op.SLOAD)
            return
        self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            if node.slice.step is not None:
                raise _err(node, "slice steps are not allowed")
            for bound in (node.slice.lower, node.slice.upper):
                if bound is None:
                    self.const(None)
                else:
                    self.expr(bound)
            self.emit(op.SLICE)
        else:
            self.expr(node.slice)
            self.emit(op.INDEX)

    def call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            self.call_name(node, func.id)
        elif isinstance(func, ast.Attribute):
            self.call_method(node, func)
        else:
            raise _err(node, "only named functions and allowed methods can be called")

    def positional(self, node: ast.Call, name: str, counts: tuple[int, ...]) -> None:
        if node.keywords:
            raise _err(node, f"{name}() takes no keyword arguments")
        if len(node.args) not in counts:
            want = " or ".join(str(c) for c in counts)
            raise _err(node, f"{name}() takes {want} argument(s), got {len(node.args)}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _not_allowed(arg)

    def call_name(self, node: ast.Call, name: str) -> None:
        if name == "require":
            self.require(node)
            self.const(None)
        elif name == "revert":
            self.positional(node, name, (1,))
            self.expr(node.args[0])
            self.emit(op.REVERT)
            self.const(None)  # unreachable; keeps the expression's stack shape
        elif name == "emit":
            self.modifies_state(node)
            if len(node.keywords) > MAX_LITERAL:
                raise _err(node, f"more than {MAX_LITERAL} event fields")
            if not node.args or len(node.args) > 2 or (len(node.args) == 2 and node.keywords):
                raise _err(node, "emit(name, field=value, ...) or emit(name, fields_map)")
            self.expr(node.args[0])
            if len(node.args) == 2:
                self.expr(node.args[1])
            else:
                for kw in node.keywords:
                    if kw.arg is None:
                        raise _err(kw.value, "** in emit() is not allowed")
                    self.const(kw.arg)
                    self.expr(kw.value)
                self.emit(op.BUILD_MAP, len(node.keywords))
            self.emit(op.EMIT)
        elif name in ("list", "dict") and not node.args and not node.keywords:
            self.emit(op.BUILD_LIST if name == "list" else op.BUILD_MAP, 0)
        elif name in ("min", "max"):
            self.positional(node, name, (2,))
            self.expr(node.args[0])
            self.expr(node.args[1])
            self.builtin(name)
        elif name in _BUILTIN_CALLS:
            self.positional(node, name, (1,))
            self.expr(node.args[0])
            self.builtin(name)
        elif name == "range":
            raise _err(node, "range() is only allowed as the iterable of a for loop")
        elif name in self.m.functions:
            callee = self.m.functions[name]
            self.positional(node, name, (len(callee.params),))
            for arg in node.args:
                self.expr(arg)
            self.emit(op.CALL, callee.index)
        elif name in _RESERVED:
            raise _err(node, f"{name}() cannot be called like this")
        else:
            raise _err(node, f"unknown function {name!r}")

    def call_method(self, node: ast.Call, func: ast.Attribute) -> None:
        receiver, method = func.value, func.attr
        if self.is_storage(receiver):
            if method != "get":
                raise _err(node, f"storage has no method {method!r}")
            self.positional(node, "storage.get", (1, 2))
            self.expr(node.args[0])
            if len(node.args) == 2:
                self.expr(node.args[1])
            else:
                self.const(None)
            self.emit(op.SGET)
            return
        if isinstance(receiver, ast.Name) and receiver.id == "bytes" and method == "fromhex":
            self.positional(node, "bytes.fromhex", (1,))
            self.expr(node.args[0])
            self.builtin("unhex")
            return
        if isinstance(receiver, ast.Name) and receiver.id in _RESERVED:
            raise _err(node, f"{receiver.id}.{method}() is not allowed")
        spec = _METHODS.get(method)
        if spec is None:
            raise _err(func, f"method {method!r} is not allowed")
        builtin, counts = spec
        self.positional(node, method, counts)
        self.expr(receiver)
        for arg in node.args:
            self.expr(arg)
        if method == "get" and len(node.args) == 1:
            self.const(None)
        if method == "pop" and node.args:
            builtin = "pop_at"
        self.builtin(builtin)


def _annotation(node: ast.expr | None) -> str:
    if node is None:
        return "any"
    base = node.value if isinstance(node, ast.Subscript) else node
    if isinstance(base, ast.Name) and base.id in _ANNOTATIONS:
        return _ANNOTATIONS[base.id]
    raise _err(node, "parameter annotation must be one of int, bool, bytes, str, list, dict")


def _function_info(node: ast.FunctionDef, index: int) -> _FuncInfo:
    public = view = False
    for deco in node.decorator_list:
        if isinstance(deco, ast.Name) and deco.id == "public":
            public = True
        elif isinstance(deco, ast.Name) and deco.id == "view":
            public = view = True
        else:
            raise _err(deco, "only @public and @view decorators are allowed")
    args = node.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.kw_defaults:
        raise _err(node, "only plain positional parameters are allowed")
    params = [*args.posonlyargs, *args.args]
    if len(params) > 16:
        raise _err(node, "more than 16 parameters")
    names: list[str] = []
    types: list[str] = []
    for a in params:
        if a.arg in _RESERVED:
            raise _err(a, f"parameter cannot be named {a.arg!r}")
        if not a.arg.isascii():
            raise _err(a, "parameter names must be ASCII identifiers")
        if len(a.arg.encode()) > MAX_NAME:
            raise _err(a, "parameter name too long")
        names.append(a.arg)
        types.append(_annotation(a.annotation))
    if node.name in _RESERVED:
        raise _err(node, f"function cannot be named {node.name!r}")
    if not node.name.isascii():
        raise _err(node, "function names must be ASCII identifiers")
    if len(node.name.encode()) > MAX_NAME:
        raise _err(node, "function name too long")
    return _FuncInfo(node.name, node, index, tuple(names), tuple(types), public, view)


def compile_source(source: str) -> bytes:
    """Compile contract source to bytecode; ``CompileError`` (with line/col) if not allowed."""
    if not isinstance(source, str):
        raise CompileError("source must be a str")
    if len(source) > MAX_SOURCE:
        raise CompileError(f"source longer than {MAX_SOURCE} characters", 1, 1)
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise CompileError(f"syntax error: {exc.msg}", exc.lineno or 0, exc.offset or 0) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CompileError(f"cannot parse source: {type(exc).__name__}", 1, 1) from None
    try:
        return _compile_module(tree)
    except RecursionError:
        raise CompileError("source nests too deeply", 1, 1) from None


def _compile_module(tree: ast.Module) -> bytes:
    module = _Module()
    defs: list[ast.FunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            if node.name in module.functions or node.name in module.constants:
                raise _err(node, f"{node.name!r} is defined twice")
            module.functions[node.name] = _function_info(node, len(defs))
            defs.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            if not isinstance(node.value.value, str):
                raise _err(node, "only docstrings, constants and functions at module level")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
                raise _err(node, "module level assignments must be NAME = constant")
            name = targets[0].id
            if name in _RESERVED or name in module.constants or name in module.functions:
                raise _err(node, f"cannot define {name!r} here")
            module.constants[name] = _literal(node.value)
        else:
            raise _not_allowed(node)
    if not any(f.public for f in module.functions.values()):
        raise CompileError("a contract needs at least one @public or @view function", 1, 1)
    if len(defs) > 256:
        raise CompileError("more than 256 functions", 1, 1)
    entries: list[FunctionEntry] = []
    code = bytearray()
    for info in module.functions.values():
        fc = _FunctionCompiler(module, info)
        fc.compile()
        body = fc.b.finish(len(code))
        entries.append(
            FunctionEntry(
                info.name, info.public, info.view, info.params, info.types,
                fc.n_locals, len(code), len(body),
            )
        )  # fmt: skip
        code += body
    try:
        data = assemble(module.consts, entries, bytes(code))
        verify(data)
    except (VerifyError, EncodingError) as exc:
        line = 1
        for info in module.functions.values():
            if f"'{info.name}'" in str(exc):
                line = info.node.lineno
        raise CompileError(f"program too large or deep: {exc}", line, 1) from None
    return data
