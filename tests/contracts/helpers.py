"""Shared helpers: hand-assembled bytecode and a one-call runner."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import ExecutionResult, MemoryHost, compile_source, execute
from contracts import opcodes as op
from contracts.bytecode import CodeBuilder, FunctionEntry, assemble
from contracts.values import Value

Instr = str | tuple[str, int | str]


def build(
    instrs: Sequence[Instr],
    consts: Sequence[Value] = (),
    *,
    n_locals: int = 4,
    params: tuple[str, ...] = (),
    extra: Sequence[tuple[str, Sequence[Instr], int]] = (),
) -> bytes:
    """Bytecode of a public ``main`` (plus ``extra`` internal functions: name, code, arity).

    Instructions are names (``"ADD"``) or ``(name, operand)``; a ``(name, "label")`` jump
    goes to a ``"label:"`` entry.
    """
    entries: list[FunctionEntry] = []
    code = bytearray()
    for name, body, arity, public in [("main", instrs, len(params), True)] + [
        (n, b, a, False) for n, b, a in extra
    ]:
        cb = CodeBuilder()
        labels: dict[str, int] = {}

        def lab(name: str, cb: CodeBuilder = cb, labels: dict[str, int] = labels) -> int:
            if name not in labels:
                labels[name] = cb.label()
            return labels[name]

        for ins in body:
            if isinstance(ins, str) and ins.endswith(":"):
                cb.place(lab(ins[:-1]))
            elif isinstance(ins, str):
                cb.emit(op.BY_NAME[ins].code)
            else:
                opname, arg = ins
                code_ = op.BY_NAME[opname].code
                if isinstance(arg, str):
                    cb.jump(code_, lab(arg))
                else:
                    cb.emit(code_, arg)
        body_bytes = cb.finish(len(code))
        pnames = params if public else tuple(f"p{i}" for i in range(arity))
        entries.append(
            FunctionEntry(
                name, public, False, pnames, ("any",) * len(pnames),
                max(n_locals, len(pnames)), len(code), len(body_bytes),
            )
        )  # fmt: skip
        code += body_bytes
    return assemble(list(consts), entries, bytes(code))


def run_code(
    code: bytes,
    args: Sequence[Value] = (),
    *,
    method: str = "main",
    host: MemoryHost | None = None,
    gas: int = 1_000_000,
    readonly: bool = False,
) -> ExecutionResult:
    return execute(code, method, list(args), host or MemoryHost(), gas, readonly)


def run_src(
    source: str,
    method: str = "main",
    args: Sequence[Value] = (),
    *,
    host: MemoryHost | None = None,
    gas: int = 1_000_000,
) -> ExecutionResult:
    return run_code(compile_source(source), args, method=method, host=host, gas=gas)


def value_of(source: str, method: str = "main", args: Sequence[Value] = ()) -> Value:
    """Run and return the value, failing the test with the VM's error if not ok."""
    result = run_src(source, method, args)
    assert result.ok, result.error
    return result.return_value
