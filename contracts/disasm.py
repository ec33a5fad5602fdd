"""Human-readable listing of bytecode (for debugging contracts and the compiler)."""

from __future__ import annotations

from contracts import opcodes as op
from contracts.verifier import verify


def disassemble(code: bytes) -> str:
    """One line per instruction, grouped by function; verifies the bytecode first."""
    module = verify(code).module
    lines: list[str] = []
    for fn in module.functions:
        kind = "view" if fn.view else "public" if fn.public else "internal"
        lines.append(f"{kind} {fn.name}({', '.join(fn.params)})  locals={fn.n_locals}")
        pos, end = fn.start, fn.start + fn.length
        while pos < end:
            info = op.BY_CODE[module.code[pos]]
            arg = int.from_bytes(module.code[pos + 1 : pos + 1 + info.operand], "big")
            note = ""
            if info.code == op.CONST:
                note = f"  ; {module.consts[arg]!r}"
            elif info.code == op.BUILTIN:
                note = f"  ; {op.BUILTINS[arg].name}"
            elif info.code == op.CALL:
                note = f"  ; {module.functions[arg].name}"
            elif info.code == op.CTX:
                note = f"  ; {op.CTX_FIELDS[arg]}"
            operand = f" {arg}" if info.operand else ""
            lines.append(f"  {pos:6d}  {info.name}{operand}{note}")
            pos += 1 + info.operand
    return "\n".join(lines)
