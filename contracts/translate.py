"""Translation of verified bytecode into Python functions: the VM's fast path.

The verifier fixed the stack height before every instruction, so each stack slot and each
local of a function can be a plain Python local (``s3``, ``l0``): pushes and pops become
assignments, and no operand stack, dispatch test or tuple unpack is left per instruction.
Every instruction performs the same checks, charges and native calls as the interpreter
(``vm._run``), in the same order, so results, errors and gas are identical; tests compare
the two on random programs. Basic blocks are the rungs of a ladder inside a loop::

    b = 0
    while True:
        if b <= 0:
            ...block 0 (it starts with its CHARGE)...
        if b <= 7:
            ...block 7...

A block falls through into the next rung; a forward jump sets ``b`` and the ladder skips to
the target; a backward jump sets ``b`` and restarts the loop. The generated source holds
only numbers derived from the bytecode (indices, counts, gas); constants, functions and
builtins are referenced by generated names bound in its namespace.
"""

from __future__ import annotations

import logging
import marshal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any

from contracts import natives, natives_c
from contracts import opcodes as op
from contracts.errors import ContractError, ExecutionError, LimitExceeded, OutOfGas, VerifyError
from contracts.machine import MAX_CALL_DEPTH
from contracts.values import INT_MAX, INT_MIN, MAX_ITEMS, Value
from contracts.verifier import VerifiedFunction, VerifiedModule, verify

MAX_SOURCE = 128 * 1024
"""Largest generated source of a program (bytes). The Python compiler's time and memory grow
with the source, not with the instructions (``UNPACK 255`` / ``BUILD_LIST 255`` pairs make
~600 bytes of source per byte of bytecode): this bounds one translation to ~80 ms and
~15 MB at its peak here, the worst source there is. The standard contracts generate
15-36 KB; a translated program keeps ~3.5 bytes per byte of source."""

Translated = Callable[..., Value]
"""``f(machine, depth, *params) -> return value``."""

log = logging.getLogger("contracts.translate")


class TranslationTooLarge(VerifyError):
    """The program's translation would exceed ``MAX_SOURCE``: it is refused, like malformed
    bytecode (decided from its bytes alone, so the same on every node)."""


class TranslationError(ContractError):
    """The translator failed on a verified program: a bug, raised (never hidden)."""


@dataclass(frozen=True, slots=True)
class TranslatedModule:
    functions: tuple[Translated, ...]
    source_size: int


_CMP = {op.LT: "<", op.LE: "<=", op.GT: ">", op.GE: ">="}
_ARITH = {op.SUB: "-", op.MUL: "*"}
_VALUE_CALLS = {  # opcode -> Python over its operand slots {0}, {1}: the natives' functions
    op.SLOAD: "{0} = sload(m, {0})",
    op.SGET: "{0} = sget(m, {0}, {1})",
    op.SSTORE: "sstore(m, {0}, {1})",
    op.SDEL: "sdel(m, {0})",
    op.SHAS: "{0} = shas(m, {0})",
    op.EMIT: "emit(m, {0}, {1})\n{0} = None",
    op.INDEX: "{0} = index(m, {0}, {1})",
}


class _Writer:
    """Source lines of one function with the translation state of the current block."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.size = 0  # bytes of the lines counted so far (the source being built)
        self.counted = 0
        self.rung = 0
        self.const_types: dict[int, type] = {}  # slot -> type of the constant it holds

    def emit(self, text: str, indent: int = 3) -> None:
        for line in text.split("\n"):
            self.lines.append("    " * indent + line)


def _slots(base: int, n: int) -> list[str]:
    return [f"s{i}" for i in range(base, base + n)]


def _jump(w: _Writer, target: int, cond: str | None) -> None:
    back = target <= w.rung
    body = f"b = {target}" + ("\ncontinue" if back else "")
    if cond is None:
        w.emit(body)
    else:
        w.emit(f"if {cond}:")
        w.emit(body, 4)


# long: a dispatch over the instruction set, one case each
def _instruction(  # noqa: C901, PLR0912  # a dispatch over the instruction set
    w: _Writer,
    opcode: int,
    arg: int,
    d: int,
    effect: tuple[int, int],
    consts: Sequence[Value],
    frames: Sequence[int],
) -> None:
    """Emit the Python of one instruction at stack height ``d`` (slots ``s0..s{d-1}``) that
    pops and pushes as the verifier found (``effect``)."""
    pops, pushes = effect
    base = d - pops
    x, y = f"s{d - 2}", f"s{d - 1}"
    if opcode == op.CHARGE:
        w.emit(f"g = m.gas - {arg}\nm.gas = g\nif g < 0:\n    raise OutOfGas('out of gas')")
    elif opcode == op.LOAD:
        w.emit(f"s{d} = l{arg}")
    elif opcode == op.CONST:
        w.emit(f"s{d} = k{arg}")
    elif opcode == op.STORE:
        w.emit(f"l{arg} = {y}")
    elif opcode == op.DUP:
        w.emit(f"s{d} = {y}")
    elif opcode in (op.POP, op.NOP):
        pass
    elif opcode == op.NOT:
        w.emit(f"{y} = not {y}")
    elif opcode == op.NEG:
        w.emit(
            f"if type({y}) is int:\n"
            f"    {y} = -{y}\n"
            f"    if {y} > INT_MAX:\n"
            f"        raise ExecutionError('int overflow in unary -')\n"
            f"else:\n"
            f"    t = [{y}]\n"
            f"    H{opcode}(m, t, 0)\n"
            f"    {y}, = t"
        )
    elif opcode in (op.FLOORDIV, op.MOD):
        # ints and a non-zero divisor inline (the handler raises the errors, in its order);
        # a floor quotient can only overflow upwards (INT_MIN // -1), a modulo never
        sym = "//" if opcode == op.FLOORDIV else "%"
        check = (
            f"    if {x} > INT_MAX:\n        raise ExecutionError('int overflow in //')\n"
            if opcode == op.FLOORDIV
            else ""
        )
        w.emit(
            f"if type({x}) is int and type({y}) is int and {y} != 0:\n"
            f"    {x} = {x} {sym} {y}\n"
            f"{check}"
            f"else:\n"
            f"    t = [{x}, {y}]\n"
            f"    H{opcode}(m, t, 0)\n"
            f"    {x}, = t"
        )
    elif opcode == op.ADD:
        w.emit(
            f"if type({x}) is int and type({y}) is int:\n"
            f"    {x} = {x} + {y}\n"
            f"    if {x} > INT_MAX or {x} < INT_MIN:\n"
            f"        raise ExecutionError('int overflow in +')\n"
            f"else:\n"
            f"    {x} = add(m, {x}, {y})"
        )
    elif opcode in _ARITH:
        sym = _ARITH[opcode]
        w.emit(
            f"if type({x}) is int and type({y}) is int:\n"
            f"    {x} = {x} {sym} {y}\n"
            f"    if {x} > INT_MAX or {x} < INT_MIN:\n"
            f"        raise ExecutionError('int overflow in {sym}')\n"
            f"else:\n"
            f"    t = [{x}, {y}]\n"
            f"    H{opcode}(m, t, 0)\n"
            f"    {x}, = t"
        )
    elif opcode in (op.EQ, op.NE):
        sym, neg = ("==", "") if opcode == op.EQ else ("!=", "not ")
        # as the interpreter: inline unless equal() would charge (eq_words) or recurse
        w.emit(
            f"t = type({x})\n"
            f"if t is type({y}) and (t is int or t is bool or {x} is None or (t is str and "
            f"(len({x}) < 32 or len({x}) != len({y})))):\n"
            f"    {x} = {x} {sym} {y}\n"
            f"else:\n"
            f"    {x} = {neg}equal(m, {x}, {y})"
        )
    elif opcode in _CMP:
        w.emit(
            f"if type({x}) is int and type({y}) is int:\n"
            f"    {x} = {x} {_CMP[opcode]} {y}\n"
            f"else:\n"
            f"    t = [{x}, {y}]\n"
            f"    H{opcode}(m, t, 0)\n"
            f"    {x}, = t"
        )
    elif opcode == op.JUMP:
        _jump(w, arg, None)
    elif opcode in (op.JUMP_IF_FALSE, op.JUMP_IF_FALSE_OR_POP):
        _jump(w, arg, f"not {y}")
    elif opcode in (op.JUMP_IF_TRUE, op.JUMP_IF_TRUE_OR_POP):
        _jump(w, arg, y)
    elif opcode == op.RET:
        w.emit(f"return {y}")
    elif opcode == op.CALL:
        args = "".join(f", {s}" for s in _slots(base, pops))
        w.emit(
            f"if depth >= {MAX_CALL_DEPTH}:\n"
            f"    raise LimitExceeded('call depth limit {MAX_CALL_DEPTH} exceeded')\n"
            f"m.alloc({frames[arg]})\n"
            f"s{base} = f{arg}(m, depth + 1{args})"
        )
    elif opcode == op.BUILTIN:
        args = "".join(f", {s}" for s in _slots(base, pops))
        w.emit(f"s{base} = B{arg}(m{args})")
    elif opcode == op.CTX:
        w.emit(f"s{d} = m.context({arg})")
    elif opcode in _VALUE_CALLS:
        w.emit(_VALUE_CALLS[opcode].format(*_slots(base, pops)))
    elif (
        opcode == op.BUILD_MAP
        and arg <= MAX_ITEMS
        and all(w.const_types.get(base + 2 * i) in (str, bytes) for i in range(arg))
    ):
        # keys are constants of key types: no key check can fail, so a dict display
        # (insertion in order, a repeated key keeps its first place and last value)
        items = ", ".join(f"s{base + 2 * i}: s{base + 2 * i + 1}" for i in range(arg))
        if arg:
            w.emit(f"g = m.gas - {2 * arg * op.GAS_PER_ITEM}\nm.gas = g")
            w.emit("if g < 0:\n    raise OutOfGas('out of gas')")
        w.emit(f"s{base} = new_map(m, {{{items}}})")
    elif opcode == op.BUILD_LIST and arg <= MAX_ITEMS:
        if arg:
            w.emit(f"g = m.gas - {arg * op.GAS_PER_ITEM}\nm.gas = g")
            w.emit("if g < 0:\n    raise OutOfGas('out of gas')")
        w.emit(f"s{base} = new_list(m, [{', '.join(_slots(base, pops))}])")
    else:  # the interpreter's own handler on a stack of just its operands
        w.emit(f"t = [{', '.join(_slots(base, pops))}]\nH{opcode}(m, t, {arg})")
        if pushes:
            w.emit(f"{', '.join(_slots(base, pushes))}, = t")
    for slot in range(base, base + pushes):  # the slots written: what they hold now
        w.const_types.pop(slot, None)
    if opcode == op.CONST:
        w.const_types[d] = type(consts[arg])


def _function_source(
    index: int,
    f: VerifiedFunction,
    consts: Sequence[Value],
    frames: Sequence[int],
    budget: int,
) -> str:
    w = _Writer()
    n_params, n_locals = len(f.entry.params), f.entry.n_locals
    params = "".join(f", l{i}" for i in range(n_params))
    w.emit(f"def f{index}(m, depth{params}):", 0)
    if n_locals > n_params:
        w.emit(" = ".join(f"l{i}" for i in range(n_params, n_locals)) + " = None", 1)
    w.emit("b = 0\nwhile True:", 1)
    for i, (opcode, arg) in enumerate(f.code):
        d = f.heights[i]
        if d < 0:
            continue  # unreachable
        if opcode == op.CHARGE:
            w.rung = i
            w.const_types.clear()
            w.emit(f"if b <= {i}:", 2)
        _instruction(w, opcode, arg, d, f.effects[i], consts, frames)
        w.size += sum(len(line) + 1 for line in w.lines[w.counted :])
        w.counted = len(w.lines)
        if w.size > budget:
            raise TranslationTooLarge(f"translated program larger than {MAX_SOURCE} bytes")
    return "\n".join(w.lines) + "\n"


def _namespace(verified: VerifiedModule) -> dict[str, Any]:
    ns: dict[str, Any] = {
        "OutOfGas": OutOfGas,
        "ExecutionError": ExecutionError,
        "LimitExceeded": LimitExceeded,
        "INT_MAX": INT_MAX,
        "INT_MIN": INT_MIN,
        "add": natives.add,
        "equal": natives.equal,
        "index": natives.index,
        "sload": natives.sload,
        "sget": natives.sget,
        "sstore": natives.sstore,
        "sdel": natives.sdel,
        "shas": natives.shas,
        "emit": natives.emit,
        "new_list": natives.new_list,
        "new_map": natives.new_map,
        **natives_c.NATIVES,  # the C versions of the hottest, when built
        "__builtins__": {
            "type": type,
            "int": int,
            "bool": bool,
            "str": str,
            "list": list,
            "dict": dict,
            "len": len,
        },  # fmt: skip
    }
    for code, handler in natives.HANDLERS.items():
        ns[f"H{code}"] = handler
    for info in op.BUILTINS:
        ns[f"B{info.id}"] = natives_c.BUILTINS.get(info.name) or natives.BUILTIN_IMPLS[info.name]
    for i, value in enumerate(verified.module.consts):
        ns[f"k{i}"] = value
    return ns


Compiler = Callable[[bytes, VerifiedModule], tuple[CodeType, int]]
"""Makes a program's translation: the code object of its generated source and the source's
size, from its bytecode and verified module. ``compile_module`` here; a node loading programs
off its event loop runs ``compiled_module`` in a helper process instead (generating the source
and the Python compiler, which holds the GIL throughout: ~70 ms for ``MAX_SOURCE``) and takes
the same code object back."""


def compile_module(code: bytes, verified: VerifiedModule) -> tuple[CodeType, int]:
    """The code object of `verified`'s translation and the size of its source (`code`, its
    bytes, unused: a ``Compiler`` in another process needs them). ``TranslationTooLarge``
    when the source would exceed ``MAX_SOURCE`` (checked while it is generated, function by
    function, so a bomb is refused before it is built whole)."""
    consts = verified.module.consts
    frames = [natives.frame_size(f) for f in verified.functions]
    parts: list[str] = []
    size = 0
    for i, f in enumerate(verified.functions):
        part = _function_source(i, f, consts, frames, MAX_SOURCE - size)
        size += len(part) + 1
        parts.append(part)
    return compile("\n".join(parts), "<contract>", "exec", dont_inherit=True), size


def compiled_module(code: bytes) -> tuple[bytes, int]:
    """``compile_module`` of verified `code`, its code object marshalled: what a helper
    process hands back (``marshal.loads`` of it is the same code object, in well under 1 ms).
    Raises what ``compile_module`` raises."""
    compiled, size = compile_module(code, verify(code))
    return marshal.dumps(compiled), size


# fast path: plain=contracts.vm._run test=tests/contracts/test_translate.py::test_random_programs
def translate(
    verified: VerifiedModule, code: bytes = b"", compiler: Compiler = compile_module
) -> TranslatedModule:
    """One Python function per function of the module (`code`: its bytes, for `compiler`).
    ``TranslationTooLarge`` when the source would exceed ``MAX_SOURCE``;
    ``TranslationError`` on a bug."""
    try:
        compiled, size = compiler(code, verified)
        ns = _namespace(verified)
        exec(compiled, ns)  # the translation of verified bytecode
        return TranslatedModule(tuple(ns[f"f{i}"] for i in range(len(verified.functions))), size)
    except (TranslationTooLarge, MemoryError):
        # too large: a pure function of the bytes, remembered as a refusal; out of memory:
        # this machine's state, never to be remembered or put in a receipt (the node treats
        # it as its own failure, not the program's). A RecursionError stays a refusal below:
        # the generated code's nesting is bounded by the verifier, so one would be a bug of
        # ours that every node meets alike, and propagating it would stop every node.
        raise
    except Exception as exc:
        # a bug: loud in the log (with the traceback); the error itself names only the
        # exception type, as receipts must be the same bytes on every node
        log.exception("translator failed on a verified program")
        raise TranslationError(f"translator failed: {type(exc).__name__}") from exc
