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

from contracts.bytecode import MAX_NAME, FunctionEntry, assemble
from contracts.codegen import FunctionCompiler
from contracts.errors import CompileError, EncodingError, VerifyError
from contracts.lang import (
    ANNOTATIONS,
    MAX_SOURCE,
    RESERVED,
    FuncInfo,
    Symbols,
    err,
    literal,
    not_allowed,
)
from contracts.verifier import verify


def _annotation(node: ast.expr | None) -> str:
    if node is None:
        return "any"
    base = node.value if isinstance(node, ast.Subscript) else node
    if isinstance(base, ast.Name) and base.id in ANNOTATIONS:
        return ANNOTATIONS[base.id]
    raise err(node, "parameter annotation must be one of int, bool, bytes, str, list, dict")


def _function_info(node: ast.FunctionDef, index: int) -> FuncInfo:
    public = view = False
    for deco in node.decorator_list:
        if isinstance(deco, ast.Name) and deco.id == "public":
            public = True
        elif isinstance(deco, ast.Name) and deco.id == "view":
            public = view = True
        else:
            raise err(deco, "only @public and @view decorators are allowed")
    args = node.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.kw_defaults:
        raise err(node, "only plain positional parameters are allowed")
    params = [*args.posonlyargs, *args.args]
    if len(params) > 16:
        raise err(node, "more than 16 parameters")
    names: list[str] = []
    types: list[str] = []
    for a in params:
        if a.arg in RESERVED:
            raise err(a, f"parameter cannot be named {a.arg!a}")
        if not a.arg.isascii():
            raise err(a, "parameter names must be ASCII identifiers")
        if len(a.arg.encode()) > MAX_NAME:
            raise err(a, "parameter name too long")
        names.append(a.arg)
        types.append(_annotation(a.annotation))
    if node.name in RESERVED:
        raise err(node, f"function cannot be named {node.name!a}")
    if not node.name.isascii():
        raise err(node, "function names must be ASCII identifiers")
    if len(node.name.encode()) > MAX_NAME:
        raise err(node, "function name too long")
    return FuncInfo(node.name, node, index, tuple(names), tuple(types), public, view)


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
    module = Symbols()
    defs: list[ast.FunctionDef] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            if node.name in module.functions or node.name in module.constants:
                raise err(node, f"{node.name!a} is defined twice")
            module.functions[node.name] = _function_info(node, len(defs))
            defs.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            if not isinstance(node.value.value, str):
                raise err(node, "only docstrings, constants and functions at module level")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) != 1 or not isinstance(targets[0], ast.Name) or node.value is None:
                raise err(node, "module level assignments must be NAME = constant")
            name = targets[0].id
            if name in RESERVED or name in module.constants or name in module.functions:
                raise err(node, f"cannot define {name!a} here")
            module.constants[name] = literal(node.value)
        else:
            raise not_allowed(node)
    if not any(f.public for f in module.functions.values()):
        raise CompileError("a contract needs at least one @public or @view function", 1, 1)
    if len(defs) > 256:
        raise CompileError("more than 256 functions", 1, 1)
    entries: list[FunctionEntry] = []
    code = bytearray()
    for info in module.functions.values():
        fc = FunctionCompiler(module, info)
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
