"""Static checks on bytecode before it runs, and its decoding into an executable form.

``verify(data)`` rejects, with ``VerifyError``: a bad container (see ``bytecode``), unknown
opcodes, truncated operands, operands out of range (constant, local, function, builtin,
context field), jumps outside their function or into the middle of an instruction, code that
can fall off the end of a function, statically detectable stack underflow, a stack height
that differs between two paths into one instruction, and a frame deeper than ``MAX_STACK``.
Because every path is checked, the interpreter needs no stack checks at run time.

The decoded form of a function is a list of ``(opcode, operand)`` pairs in which jump
operands are list indices and every basic block starts with a ``CHARGE`` pseudo-instruction
carrying the block's static gas, so the interpreter pays gas once per block.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import opcodes as op
from contracts.bytecode import FunctionEntry, Module, parse
from contracts.errors import VerifyError

MAX_STACK = 1_024
"""Deepest operand stack of one frame."""


@dataclass(frozen=True, slots=True)
class VerifiedFunction:
    entry: FunctionEntry
    code: tuple[tuple[int, int], ...]
    max_stack: int
    heights: tuple[int, ...] = ()
    """Stack height before each decoded instruction; -1 where no path reaches it."""
    effects: tuple[tuple[int, int], ...] = ()
    """(pops, pushes) of each decoded instruction (the translator's stack slots)."""


@dataclass(frozen=True, slots=True)
class VerifiedModule:
    module: Module
    functions: tuple[VerifiedFunction, ...]


def _decode(code: bytes, fn: FunctionEntry) -> list[tuple[int, int, int]]:
    """(offset, opcode, operand) for each instruction in the function's span."""
    out: list[tuple[int, int, int]] = []
    pos, end = fn.start, fn.start + fn.length
    while pos < end:
        opcode = code[pos]
        info = op.BY_CODE.get(opcode)
        if info is None:
            raise VerifyError(f"unknown opcode 0x{opcode:02x} at {pos} in {fn.name!a}")
        arg_end = pos + 1 + info.operand
        if arg_end > end:
            raise VerifyError(f"truncated {info.name} operand at {pos} in {fn.name!a}")
        arg = int.from_bytes(code[pos + 1 : arg_end], "big") if info.operand else 0
        out.append((pos, opcode, arg))
        pos = arg_end
    return out


def _check_operand(
    opcode: int, arg: int, fn: FunctionEntry, module: Module, where: str
) -> tuple[int, int]:
    """Validate the operand and return the (pops, pushes) of the instruction."""
    if opcode == op.CONST:
        if arg >= len(module.consts):
            raise VerifyError(f"constant {arg} out of range {where}")
        return 0, 1
    if opcode in (op.LOAD, op.STORE):
        if arg >= fn.n_locals:
            raise VerifyError(f"local {arg} out of range {where}")
        return (0, 1) if opcode == op.LOAD else (1, 0)
    if opcode == op.CALL:
        if arg >= len(module.functions):
            raise VerifyError(f"call to function {arg} out of range {where}")
        return len(module.functions[arg].params), 1
    if opcode == op.CTX:
        if arg >= len(op.CTX_FIELDS):
            raise VerifyError(f"context field {arg} out of range {where}")
        return 0, 1
    if opcode == op.BUILTIN:
        if arg >= len(op.BUILTINS):
            raise VerifyError(f"builtin {arg} out of range {where}")
        return op.BUILTINS[arg].argc, 1
    if opcode == op.BUILD_LIST:
        return arg, 1
    if opcode == op.BUILD_MAP:
        return 2 * arg, 1
    if opcode == op.UNPACK:
        return 1, arg
    return FIXED_EFFECTS[opcode]


FIXED_EFFECTS: dict[int, tuple[int, int]] = {
    op.NOP: (0, 0),
    op.POP: (1, 0),
    op.DUP: (1, 2),
    **{c: (2, 1) for c in (op.ADD, op.SUB, op.MUL, op.FLOORDIV, op.MOD)},
    op.NEG: (1, 1),
    op.NOT: (1, 1),
    **{c: (2, 1) for c in (op.EQ, op.NE, op.LT, op.LE, op.GT, op.GE, op.IN)},
    op.JUMP: (0, 0),
    op.JUMP_IF_FALSE: (1, 0),
    op.JUMP_IF_TRUE: (1, 0),
    op.JUMP_IF_FALSE_OR_POP: (1, 0),
    op.JUMP_IF_TRUE_OR_POP: (1, 0),
    op.RET: (1, 0),
    op.REVERT: (1, 0),
    op.INDEX: (2, 1),
    op.SET_INDEX: (3, 0),
    op.DEL_INDEX: (2, 0),
    op.SLICE: (3, 1),
    op.SLOAD: (1, 1),
    op.SGET: (2, 1),
    op.SSTORE: (2, 0),
    op.SDEL: (1, 0),
    op.SHAS: (1, 1),
    op.EMIT: (2, 1),
}


def _static_gas(opcode: int, arg: int) -> int:
    gas = op.BY_CODE[opcode].gas
    if opcode == op.BUILTIN:
        gas += op.BUILTINS[arg].gas
    return gas


# long: one abstract-interpretation pass, a case per instruction kind
def _verify_function(module: Module, fn: FunctionEntry) -> VerifiedFunction:  # noqa: C901  # one pass over the code, a check per instruction kind
    instrs = _decode(module.code, fn)
    index_of = {offset: i for i, (offset, _, _) in enumerate(instrs)}
    n = len(instrs)
    effects: list[tuple[int, int]] = []
    targets: list[int] = []
    for offset, opcode, arg in instrs:
        where = f"at {offset} in {fn.name!a}"
        effects.append(_check_operand(opcode, arg, fn, module, where))
        if opcode in op.JUMPS:
            target = index_of.get(arg)
            if target is None:
                inside = fn.start <= arg < fn.start + fn.length
                kind = "into an operand" if inside else "outside the function"
                raise VerifyError(f"jump {kind} {where}")
            targets.append(target)
        else:
            targets.append(-1)

    heights: list[int] = [-1] * n
    heights[0] = 0
    work = [0]
    max_height = 0

    def flow(i: int, h: int, where: str) -> None:
        if i >= n:
            raise VerifyError(f"execution can fall off the end of {fn.name!a}")
        if heights[i] == -1:
            heights[i] = h
            work.append(i)
        elif heights[i] != h:
            raise VerifyError(f"stack height differs between paths {where}")

    while work:
        i = work.pop()
        offset, opcode, _ = instrs[i]
        where = f"at {offset} in {fn.name!a}"
        h = heights[i]
        pops, pushes = effects[i]
        if h < pops:
            raise VerifyError(f"stack underflow {where}")
        after = h - pops + pushes
        if after > MAX_STACK:
            raise VerifyError(f"stack depth limit {MAX_STACK} exceeded {where}")
        max_height = max(max_height, after)
        if opcode in (op.JUMP_IF_FALSE_OR_POP, op.JUMP_IF_TRUE_OR_POP):
            flow(targets[i], h, where)
        elif opcode in op.JUMPS:
            flow(targets[i], after, where)
        if opcode not in op.TERMINATORS:
            flow(i + 1, after, where)

    leaders = {0}
    for i, (_, opcode, _) in enumerate(instrs):
        if opcode in op.JUMPS:
            leaders.add(targets[i])
        if opcode in op.JUMPS or opcode in op.TERMINATORS:
            leaders.add(i + 1)
    new_index: list[int] = [0] * n
    out: list[list[int]] = []
    orig: list[int] = []
    out_heights: list[int] = []
    out_effects: list[tuple[int, int]] = []
    charge = [op.CHARGE, 0]
    for i, (_, opcode, arg) in enumerate(instrs):
        if i in leaders:
            charge = [op.CHARGE, 0]
            new_index[i] = len(out)
            out.append(charge)
            orig.append(-1)
            out_heights.append(heights[i])
            out_effects.append((0, 0))
        else:
            new_index[i] = len(out)
        out.append([opcode, arg])
        orig.append(i)
        out_heights.append(heights[i])
        out_effects.append(effects[i])
        charge[1] += _static_gas(opcode, arg)
    for entry, i in zip(out, orig, strict=True):
        if entry[0] in op.JUMPS:
            entry[1] = new_index[targets[i]]
    decoded = tuple((opcode, arg) for opcode, arg in out)
    return VerifiedFunction(fn, decoded, max_height, tuple(out_heights), tuple(out_effects))


def verify(data: bytes) -> VerifiedModule:
    """Parse and check bytecode; ``VerifyError`` if anything is malformed."""
    module = parse(data)
    return VerifiedModule(module, tuple(_verify_function(module, f) for f in module.functions))
