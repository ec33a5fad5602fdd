"""Code generation for one function body: statements and expressions to instructions."""

from __future__ import annotations

import ast
from collections.abc import Callable

from contracts import opcodes as op
from contracts.bytecode import MAX_LOCALS, CodeBuilder
from contracts.lang import (
    BINOPS,
    BUILTIN_CALLS,
    CMPOPS,
    MAX_LITERAL,
    METHODS,
    RESERVED,
    FuncInfo,
    Loop,
    Symbols,
    err,
    literal,
    not_allowed,
)
from contracts.values import Value


class FunctionCompiler:
    def __init__(self, module: Symbols, info: FuncInfo) -> None:
        self.m = module
        self.info = info
        self.b = CodeBuilder()
        self.locals: dict[str, int] = {name: i for i, name in enumerate(info.params)}
        self.n_locals = len(info.params)
        self.loops: list[Loop] = []

    # -- helpers ---------------------------------------------------------------------------

    def temp(self, node: ast.AST) -> int:
        slot = self.n_locals
        self.n_locals += 1
        if self.n_locals > MAX_LOCALS:
            raise err(node, f"more than {MAX_LOCALS} local variables")
        return slot

    def loader(self, slot: int) -> Callable[[], None]:
        """An emitter of ``LOAD slot`` (a value source for ``assign``)."""
        return lambda: self.emit(op.LOAD, slot)

    def emit(self, opcode: int, arg: int = 0) -> None:
        self.b.emit(opcode, arg)

    def const(self, value: Value) -> None:
        self.emit(op.CONST, self.m.const(value))

    def builtin(self, name: str) -> None:
        self.emit(op.BUILTIN, op.BUILTIN_BY_NAME[name].id)

    def check_name(self, node: ast.AST, name: str) -> None:
        if name in RESERVED or name in self.m.functions or name in self.m.constants:
            raise err(node, f"cannot assign to {name!a}")

    def discover_locals(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    self.check_name(node, node.id)
                    if node.id not in self.locals:
                        self.locals[node.id] = self.n_locals
                        self.n_locals += 1
        if self.n_locals > MAX_LOCALS:
            raise err(self.info.node, f"more than {MAX_LOCALS} local variables")

    def modifies_state(self, node: ast.AST) -> None:
        if self.info.view:
            raise err(node, f"view method {self.info.name!a} cannot modify state")

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

    def stmt(self, node: ast.stmt) -> None:  # noqa: PLR0912  # a dispatch over the AST's statement kinds
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
                    self.assign(target, self.loader(tmp))
        elif isinstance(node, ast.AnnAssign):
            if node.value is None:
                raise err(node, "annotation without a value")
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
                raise err(node, "break/continue outside a loop")
            loop = self.loops[-1]
            self.b.jump(op.JUMP, loop.exit if isinstance(node, ast.Break) else loop.cont)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target)
        elif isinstance(node, ast.FunctionDef):
            raise err(node, "nested functions are not allowed")
        else:
            raise not_allowed(node)

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
                raise err(target, "slice assignment is not allowed")
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
                raise err(target, "unpack 1 to 255 values")
            value()
            self.emit(op.UNPACK, len(target.elts))
            for elt in target.elts:
                if isinstance(elt, ast.Name):
                    self.emit(op.STORE, self.locals[elt.id])
                else:
                    tmp = self.temp(elt)
                    self.emit(op.STORE, tmp)
                    self.assign(elt, self.loader(tmp))
        elif isinstance(target, ast.Attribute):
            raise err(target, "cannot assign to an attribute")
        else:
            raise not_allowed(target)

    def binop(self, node: ast.AST, operator: ast.operator) -> None:
        opcode = BINOPS.get(type(operator))
        if opcode is None:
            if isinstance(operator, ast.Div):
                raise err(node, "/ is not allowed (use // for integer division)")
            raise err(node, f"operator {type(operator).__name__} is not allowed")
        self.emit(opcode)

    def aug_assign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            if target.id not in self.locals:
                raise err(target, f"unknown name {target.id!a}")
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
            raise err(target, "augmented assignment to a name or subscript only")

    def delete(self, target: ast.expr) -> None:
        if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
            raise err(target, "del only deletes storage[key], map[key] or list[index]")
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
            raise err(node, "while/else is not allowed")
        top, end = self.b.label(), self.b.label()
        self.b.place(top)
        self.cond_jump(node.test, end, False)
        self.loops.append(Loop(end, top))
        self.block(node.body)
        self.loops.pop()
        self.b.jump(op.JUMP, top)
        self.b.place(end)

    # long: range loops (1-3 args, constant step) and list loops share labels
    def for_stmt(self, node: ast.For) -> None:
        if node.orelse:
            raise err(node, "for/else is not allowed")
        it = node.iter
        top, cont, end = self.b.label(), self.b.label(), self.b.label()
        target = node.target
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range":
            if it.keywords or not 1 <= len(it.args) <= 3:
                raise err(it, "range() takes 1 to 3 positional arguments")
            step = 1
            if len(it.args) == 3:
                step_value = literal(it.args[2])
                if type(step_value) is not int or step_value == 0:
                    raise err(it.args[2], "range() step must be a non-zero int constant")
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
            self.assign(target, self.loader(cur))
            self.loops.append(Loop(end, cont))
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
        self.loops.append(Loop(end, cont))
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
            raise err(call, "require(cond, message) takes 1 or 2 arguments")
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

    def expr(self, node: ast.expr) -> None:  # noqa: C901, PLR0912  # a dispatch over the AST's expression kinds
        if isinstance(node, ast.Constant):
            self.const(literal(node))
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
                raise err(node, f"more than {MAX_LITERAL} items in one literal")
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    raise not_allowed(elt)
                self.expr(elt)
            self.emit(op.BUILD_LIST, len(node.elts))
        elif isinstance(node, ast.Dict):
            if len(node.keys) > MAX_LITERAL:
                raise err(node, f"more than {MAX_LITERAL} items in one literal")
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise err(value, "** in a dict literal is not allowed")
                self.expr(key)
                self.expr(value)
            self.emit(op.BUILD_MAP, len(node.keys))
        elif isinstance(node, ast.JoinedStr):
            self.fstring(node)
        else:
            raise not_allowed(node)

    def name(self, node: ast.Name) -> None:
        name = node.id
        slot = self.locals.get(name)
        if slot is not None:
            self.emit(op.LOAD, slot)
        elif name in self.m.constants:
            self.const(self.m.constants[name])
        elif name in ("storage", "ctx"):
            raise err(node, f"{name!a} is only usable through its operations")
        elif name in self.m.functions or name in RESERVED:
            raise err(node, f"{name!a} can only be called")
        else:
            raise err(node, f"unknown name {name!a}")

    def unary(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.USub):
            if isinstance(node.operand, ast.Constant) and type(node.operand.value) is int:
                self.const(literal(node))
                return
            self.expr(node.operand)
            self.emit(op.NEG)
        elif isinstance(node.op, ast.Not):
            self.expr(node.operand)
            self.emit(op.NOT)
        else:
            raise err(node, f"operator {type(node.op).__name__} is not allowed")

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
                raise err(node, "'is' only compares with None")
            self.expr(node.left)
            self.const(None)
            self.emit(op.EQ if isinstance(cmp, ast.Is) else op.NE)
            return
        self.expr(node.left)
        self.expr(right)
        self.emit(CMPOPS[type(cmp)])

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
            opcode = CMPOPS.get(type(cmp))
            if opcode is None:
                raise err(node, "chained comparisons use == != < <= > >= only")
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
                self.const(literal(value))
            elif isinstance(value, ast.FormattedValue):
                if value.format_spec is not None or value.conversion not in (-1, ord("s")):
                    raise err(value, "f-string format specs and conversions are not allowed")
                self.expr(value.value)
                self.builtin("str")
            else:
                raise not_allowed(value)
            parts += 1
            if parts > 1:
                self.emit(op.ADD)
        if parts == 0:
            self.const("")

    def attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "ctx":
            if node.attr not in op.CTX_FIELDS:
                raise err(node, f"ctx has no attribute {node.attr!a}")
            self.emit(op.CTX, op.CTX_FIELDS.index(node.attr))
            return
        raise err(node, f"attribute {node.attr!a} is not allowed")

    def subscript(self, node: ast.Subscript) -> None:
        if self.is_storage(node.value):
            if isinstance(node.slice, ast.Slice):
                raise err(node, "storage cannot be sliced")
            self.expr(node.slice)
            self.emit(op.SLOAD)
            return
        self.expr(node.value)
        if isinstance(node.slice, ast.Slice):
            if node.slice.step is not None:
                raise err(node, "slice steps are not allowed")
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
            raise err(node, "only named functions and allowed methods can be called")

    def positional(self, node: ast.Call, name: str, counts: tuple[int, ...]) -> None:
        if node.keywords:
            raise err(node, f"{name}() takes no keyword arguments")
        if len(node.args) not in counts:
            want = " or ".join(str(c) for c in counts)
            raise err(node, f"{name}() takes {want} argument(s), got {len(node.args)}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise not_allowed(arg)

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
                raise err(node, f"more than {MAX_LITERAL} event fields")
            if not node.args or len(node.args) > 2 or (len(node.args) == 2 and node.keywords):
                raise err(node, "emit(name, field=value, ...) or emit(name, fields_map)")
            self.expr(node.args[0])
            if len(node.args) == 2:
                self.expr(node.args[1])
            else:
                for kw in node.keywords:
                    if kw.arg is None:
                        raise err(kw.value, "** in emit() is not allowed")
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
        elif name in BUILTIN_CALLS:
            self.positional(node, name, (1,))
            self.expr(node.args[0])
            self.builtin(name)
        elif name == "range":
            raise err(node, "range() is only allowed as the iterable of a for loop")
        elif name in self.m.functions:
            callee = self.m.functions[name]
            self.positional(node, name, (len(callee.params),))
            for arg in node.args:
                self.expr(arg)
            self.emit(op.CALL, callee.index)
        elif name in RESERVED:
            raise err(node, f"{name}() cannot be called like this")
        else:
            raise err(node, f"unknown function {name!a}")

    def call_method(self, node: ast.Call, func: ast.Attribute) -> None:
        receiver, method = func.value, func.attr
        if self.is_storage(receiver):
            if method != "get":
                raise err(node, f"storage has no method {method!a}")
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
        if isinstance(receiver, ast.Name) and receiver.id in RESERVED:
            raise err(node, f"{receiver.id}.{method}() is not allowed")
        spec = METHODS.get(method)
        if spec is None:
            raise err(func, f"method {method!a} is not allowed")
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
