"""The interpreter and the public entry points ``execute`` and ``abi``.

Bytecode is verified, decoded and translated into Python functions (``translate``) once,
when it is loaded, and kept in an LRU cache by its bytes. Translation is a pure function of
the bytes, so every node runs every program on the same engine whatever its history (a
program whose translation would exceed ``translate.MAX_SOURCE`` is refused like malformed
bytecode, at deployment; a translator failure is raised, never hidden by a fallback).

The interpreter is the reference the translator is tested against (``TRANSLATE = False``,
for tests and benchmarks only): the decoded code of a function is a tuple of ``(opcode,
operand)`` pairs whose operands are already resolved (constant values, callee objects,
builtin functions), and adjacent pushes are fused into superinstructions, so the loop does
one tuple unpack per step, runs the hottest opcodes inline and sends the rest through a
dispatch table.
Gas: static costs are paid per basic block (see ``verifier``), dynamic costs (bytes stored,
emitted, hashed, copied) by the handlers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contracts import opcodes as op
from contracts.errors import ContractError, ExecutionError, LimitExceeded, OutOfGas, Revert
from contracts.host import Host
from contracts.machine import MAX_CALL_DEPTH, Event, HostFault, Machine
from contracts.natives import BUILTIN_IMPLS, HANDLERS, add, equal, frame_size
from contracts.translate import MAX_SOURCE, Compiler, Translated, compile_module, translate
from contracts.values import (
    INT_MAX,
    INT_MIN,
    MAX_BYTES_LEN,
    Value,
    encode_value,
    type_name,
)
from contracts.verifier import VerifiedModule, verify

_CACHE_SIZE = 512
"""Most programs kept loaded (the least recently used is evicted first)."""
_CACHE_SOURCE = 24 * 1024 * 1024
"""Most generated source (``Program.source_size``) of the programs kept loaded: they keep
~3.5 bytes per byte of it (~85 MB), and ~190 programs of the largest translation fit."""


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """A public entry point: read-only or not, parameter names and declared types."""

    view: bool
    params: tuple[str, ...]
    types: tuple[str, ...]


@dataclass(slots=True)
class ExecutionResult:
    """The outcome of one call; on ``ok=False`` events are empty and no write was made.

    Not frozen (read-only by convention): one is made per call, and a frozen dataclass's
    ``__init__`` costs ~4x a plain one's (~2 us, measured). Not a wire type: the node makes
    its receipt from it."""

    ok: bool
    gas_used: int
    return_value: Value
    events: list[Event]
    error: str | None
    return_data: bytes = b""
    """``encode_value(return_value)`` (made anyway for gas), ``b""`` on failure."""


class _Function:
    __slots__ = (
        "name", "public", "view", "params", "types", "checks", "n_params", "n_locals", "code", "py",
        "frame",
    )  # fmt: skip

    def __init__(self, name: str, public: bool, view: bool, params: tuple[str, ...],
                 types: tuple[str, ...], n_locals: int) -> None:  # fmt: skip
        self.name = name
        self.public = public
        self.view = view
        self.params = params
        self.types = types
        self.checks = tuple(_TYPE_CHECK[t] for t in types)
        self.n_params = len(params)
        self.n_locals = n_locals
        self.code: tuple[tuple[int, Any], ...] = ()
        self.py: Translated | None = None
        """The translated function (``translate``); None: interpret ``code``."""
        self.frame = 0
        """Bytes a call of it allocates (``frame_size``), charged at each call."""


class Program:
    """Verified, decoded and (unless ``TRANSLATE`` is off) translated bytecode."""

    __slots__ = ("functions", "public", "abi", "source_size")

    def __init__(
        self,
        verified: VerifiedModule,
        translated: bool,
        code: bytes = b"",
        compiler: Compiler = compile_module,
    ) -> None:
        module = verified.module
        funcs = [
            _Function(e.name, e.public, e.view, e.params, e.types, e.n_locals)
            for e in module.functions
        ]
        for fn, vf in zip(funcs, verified.functions, strict=True):
            fn.frame = frame_size(vf)
            fn.code = _fuse(
                [_resolve(opcode, arg, module.consts, funcs) for opcode, arg in vf.code]
            )
        self.functions = tuple(funcs)
        self.public = {f.name: f for f in funcs if f.public}
        self.abi = {f.name: MethodInfo(f.view, f.params, f.types) for f in funcs if f.public}
        done = translate(
            verified, code, compiler
        )  # raises: too large (VerifyError), or a translator bug
        self.source_size = done.source_size
        if translated:
            for fn, py in zip(self.functions, done.functions, strict=True):
                fn.py = py


TRANSLATE = True
"""Run programs translated (the node never changes this). False: on the interpreter, for
the tests that compare both engines and for benchmarks; programs are still translated at
load (so the same programs are refused), their functions just not used."""


def _resolve(opcode: int, arg: int, consts: tuple[Value, ...], funcs: list[_Function]) -> Any:
    if opcode == op.CONST:
        return (opcode, consts[arg])
    if opcode == op.CALL:
        return (opcode, funcs[arg])
    if opcode == op.BUILTIN:
        info = op.BUILTINS[arg]
        return (opcode, (BUILTIN_IMPLS[info.name], info.argc))
    return (opcode, arg)


# Superinstructions of the decoded form only (never in bytecode): two adjacent pushes, or a
# store followed by a load of the same local, run as one step of the loop. Gas is unchanged
# (it is charged per block from the original instructions), and no pair spans a block start,
# so no jump ever lands inside one.
_LOAD_LOAD = 0x100
_LOAD_CONST = 0x101
_CONST_LOAD = 0x102
_CONST_CONST = 0x103
_STORE_LOAD = 0x104
_PAIRS = {
    (op.LOAD, op.LOAD): _LOAD_LOAD,
    (op.LOAD, op.CONST): _LOAD_CONST,
    (op.CONST, op.LOAD): _CONST_LOAD,
    (op.CONST, op.CONST): _CONST_CONST,
    (op.STORE, op.LOAD): _STORE_LOAD,
}


def _fuse(code: list[tuple[int, Any]]) -> tuple[tuple[int, Any], ...]:
    out: list[tuple[int, Any]] = []
    new_index = [0] * len(code)
    i, n = 0, len(code)
    while i < n:
        new_index[i] = len(out)
        first, a = code[i]
        if i + 1 < n:
            second, b = code[i + 1]
            kind = _PAIRS.get((first, second))
            if kind == _STORE_LOAD and a != b:
                kind = None
            if kind is not None:
                new_index[i + 1] = len(out)
                out.append((kind, a if kind == _STORE_LOAD else (a, b)))
                i += 2
                continue
        out.append((first, a))
        i += 1
    return tuple((o, new_index[a]) if o in op.JUMPS else (o, a) for o, a in out)


_programs: OrderedDict[tuple[bytes, bool], Program | ContractError] = OrderedDict()
"""Loaded programs, and the refusals of code that cannot load (a refusal is as much a pure
function of the bytes; kept so that sending the same bad code again costs no new work)."""
_last: tuple[bytes, bool, Program] | None = None
"""The program loaded last (its bytes object, TRANSLATE, the program): the next load of the
same bytes object returns it at once. It is the LRU's most recent entry, or was: a program is
a pure function of its bytes, so one evicted meanwhile is still the right one."""
_cached_source = 0
_lock = threading.Lock()


def load_program(code: bytes, compiler: Compiler = compile_module) -> Program:
    """Verify, decode and translate bytecode, or take it from the LRU cache; ``VerifyError``
    if it is malformed or its translation too large. Thread-safe: a node may load in a
    worker thread (``prepare``) what its event loop runs later. ``compiler``: where its
    translation is made (``translate.Compiler``: here, or in a helper process; the same)."""
    global _last
    last = _last
    if last is not None and last[0] is code and last[1] is TRANSLATE:
        return last[2]  # a block's txs call one program: no lock, no LRU move
    key = (code, TRANSLATE)
    with _lock:
        found = _programs.get(key) if type(code) is bytes else None
        if found is not None:
            _programs.move_to_end(key)
    if found is None:
        try:  # outside the lock: may take milliseconds
            found = Program(verify(code), TRANSLATE, code, compiler)
        except ContractError as exc:
            if type(code) is not bytes:
                raise
            # kept without its traceback and causes: they hold the translator's frames
            # (up to MAX_SOURCE of generated lines), and a re-raise would extend them
            exc.__cause__ = exc.__context__ = None
            found = exc.with_traceback(None)
        _remember(key, found)
    if isinstance(found, ContractError):
        raise found.with_traceback(None)
    _last = (code, TRANSLATE, found)
    return found


def _size(entry: Program | ContractError) -> int:
    return entry.source_size if isinstance(entry, Program) else 0


def _remember(key: tuple[bytes, bool], entry: Program | ContractError) -> None:
    global _cached_source
    with _lock:
        old = _programs.pop(key, None)  # another thread loaded it meanwhile
        if old is not None:
            _cached_source -= _size(old)
        _programs[key] = entry
        _cached_source += _size(entry)
        while len(_programs) > _CACHE_SIZE or _cached_source > _CACHE_SOURCE:
            _, evicted = _programs.popitem(last=False)
            _cached_source -= _size(evicted)


def load_cost(code: bytes, compiler: Compiler = compile_module) -> int:
    """What loading ``code`` costs a node, in bytes of generated source: its program's
    ``source_size``, or ``MAX_SOURCE`` when it is refused (its translation was generated up
    to the bound, or it failed). A pure function of the bytes; loads ``code`` (cached)."""
    try:
        return load_program(code, compiler).source_size
    except ContractError:
        return MAX_SOURCE


def is_loaded(code: bytes) -> bool:
    """``code`` is in the cache (loading it again costs nothing)."""
    with _lock:
        return (code, TRANSLATE) in _programs


def clear_cache() -> None:
    """Forget every loaded program (tests and benchmarks: a fresh VM)."""
    global _cached_source, _last
    with _lock:
        _programs.clear()
        _cached_source = 0
        _last = None


def prepare(code: bytes, compiler: Compiler = compile_module) -> None:
    """Load ``code`` into the cache now (e.g. in a worker thread, off an event loop), so
    that running it later does not translate it; errors are the ones execution would give."""
    load_program(code, compiler)


def interface(code: bytes) -> dict[str, MethodInfo]:
    """The public methods of bytecode already accepted (stored on chain): ``abi`` without
    translating it when it is not loaded (a node resolving a call on its event loop; the
    program is loaded off the loop, or when it runs). ``VerifyError`` if malformed."""
    key = (code, TRANSLATE)
    with _lock:
        program = _programs.get(key)
    if isinstance(program, Program):
        return dict(program.abi)
    entries = verify(code).module.functions
    return {e.name: MethodInfo(e.view, e.params, e.types) for e in entries if e.public}


def abi(code: bytes) -> dict[str, MethodInfo]:
    """The public methods of verified bytecode; raises ``VerifyError`` if it is malformed
    (or too large to translate: ``translate.TranslationTooLarge``)."""
    return dict(load_program(code).abi)


_LOAD, _CONST, _STORE, _CHARGE = op.LOAD, op.CONST, op.STORE, op.CHARGE
_JIF, _JIT, _JUMP = op.JUMP_IF_FALSE, op.JUMP_IF_TRUE, op.JUMP
_JIFP, _JITP = op.JUMP_IF_FALSE_OR_POP, op.JUMP_IF_TRUE_OR_POP
_BUILTIN, _CALL, _RET, _POP = op.BUILTIN, op.CALL, op.RET, op.POP
_ADD, _EQ, _INDEX = op.ADD, op.EQ, op.INDEX


# long: the interpreter hot loop: its state lives in locals (no attribute lookups per op)
def _run(  # noqa: C901, PLR0912, PLR0913, PLR0915, PLR0917  # the interpreter hot loop: its state in locals
    m: Machine,
    fn: _Function,
    frame: list[Value],
    depth: int,
    # opcodes as locals: a fast local load per comparison instead of a global lookup
    LOAD: int = _LOAD,
    CONST: int = _CONST,
    STORE: int = _STORE,
    CHARGE: int = _CHARGE,
    JIF: int = _JIF,
    JIT: int = _JIT,
    JUMP: int = _JUMP,
    JIFP: int = _JIFP,
    JITP: int = _JITP,
    BUILTIN: int = _BUILTIN,
    CALL: int = _CALL,
    RET: int = _RET,
    POP: int = _POP,
    ADD: int = _ADD,
    EQ: int = _EQ,
    LT: int = op.LT,
    LL: int = _LOAD_LOAD,
    LC: int = _LOAD_CONST,
    CL: int = _CONST_LOAD,
    CC: int = _CONST_CONST,
    SL: int = _STORE_LOAD,
) -> Value:
    code = fn.code
    stack: list[Value] = []
    push = stack.append
    pop = stack.pop
    handlers = HANDLERS
    pc = 0
    while True:
        opcode, arg = code[pc]
        pc += 1
        if opcode == LOAD:
            push(frame[arg])
        elif opcode == CONST:
            push(arg)
        elif opcode == STORE:
            frame[arg] = pop()
        elif opcode == CHARGE:
            gas = m.gas - arg
            m.gas = gas
            if gas < 0:
                raise OutOfGas("out of gas")
        elif opcode == CL:
            push(arg[0])
            push(frame[arg[1]])
        elif opcode == LL:
            push(frame[arg[0]])
            push(frame[arg[1]])
        elif opcode == LC:
            push(frame[arg[0]])
            push(arg[1])
        elif opcode == SL:
            frame[arg] = stack[-1]
        elif opcode == CC:
            push(arg[0])
            push(arg[1])
        elif opcode == JIF:
            if not pop():
                pc = arg
        elif opcode == JUMP:
            pc = arg
        elif opcode == BUILTIN:
            impl, argc = arg
            if argc == 1:
                stack[-1] = impl(m, stack[-1])
            elif argc == 2:
                b = pop()
                stack[-1] = impl(m, stack[-1], b)
            else:
                c = pop()
                b = pop()
                stack[-1] = impl(m, stack[-1], b, c)
        elif opcode == ADD:
            b = pop()
            a = stack[-1]
            if type(a) is int and type(b) is int:
                r = a + b
                if r > INT_MAX or r < INT_MIN:
                    raise ExecutionError("int overflow in +")
                stack[-1] = r
            else:
                stack[-1] = add(m, a, b)
        elif opcode == EQ:
            b = pop()
            a = stack[-1]
            ta = type(a)
            if ta is type(b) and (
                ta is int or ta is bool or a is None
                or (ta is str and (len(a) < 32 or len(a) != len(b)))  # no charge (eq_words)
            ):  # fmt: skip
                stack[-1] = a == b
            else:
                stack[-1] = equal(m, a, b)
        elif opcode == LT:
            b = stack[-1]
            a = stack[-2]
            if type(a) is int and type(b) is int:
                pop()
                stack[-1] = a < b
            else:
                handlers[opcode](m, stack, arg)
        elif opcode == CALL:
            if depth >= MAX_CALL_DEPTH:
                raise LimitExceeded(f"call depth limit {MAX_CALL_DEPTH} exceeded")
            n = arg.n_params
            if n:
                args = stack[-n:]
                del stack[-n:]
            else:
                args = []
            extra = arg.n_locals - n
            if extra:
                args.extend([None] * extra)
            m.alloc(arg.frame)
            push(_run(m, arg, args, depth + 1))
        elif opcode == RET:
            return pop()
        elif opcode == POP:
            pop()
        elif opcode == JIT:
            if pop():
                pc = arg
        elif opcode == JIFP:
            if stack[-1]:
                pop()
            else:
                pc = arg
        elif opcode == JITP:
            if stack[-1]:
                pc = arg
            else:
                pop()
        else:
            handlers[opcode](m, stack, arg)


_TYPE_CHECK: dict[str, type | None] = {
    "any": None,
    "int": int,
    "bool": bool,
    "bytes": bytes,
    "str": str,
    "list": list,
    "map": dict,
}


def _copy(value: Value) -> Value:
    """A deep copy of a valid value (what decoding its encoding gives, only faster)."""
    if type(value) is list:
        return [_copy(x) if type(x) is list or type(x) is dict else x for x in value]
    if type(value) is dict:
        return {k: _copy(x) if type(x) is list or type(x) is dict else x for k, x in value.items()}
    return value


def _prepare_args(m: Machine, fn: _Function, args: Sequence[Value]) -> list[Value]:
    """Validate, copy and charge the arguments; returns their values."""
    if type(args) is not list and type(args) is not tuple:
        raise ExecutionError("arguments must be a list")
    if len(args) != fn.n_params:
        raise ExecutionError(f"{fn.name}() takes {fn.n_params} arguments, got {len(args)}")
    frame = list(args)
    size = 0
    checks = fn.checks
    for i, value in enumerate(frame):
        t = type(value)
        expected = checks[i]
        if expected is not None and t is not expected:
            raise ExecutionError(
                f"argument {i} ({fn.params[i]}) must be {fn.types[i]}, got {type_name(value)}"
            )
        if t is str:  # the common case inline; ASCII (no surrogate) is a byte a character
            try:
                n = len(value) if value.isascii() else len(value.encode())
            except UnicodeEncodeError:
                raise ExecutionError(f"argument {i} is not valid UTF-8") from None
            if len(value) > MAX_BYTES_LEN:
                raise LimitExceeded(f"argument {i} longer than {MAX_BYTES_LEN}")
            size += n
        else:
            n, frame[i] = _arg(i, value)
            size += n
            if type(value) is list or type(value) is dict:
                m.alloc(_copy_size(value))
    m.charge(size * op.GAS_ARG_BYTE)
    return frame


def _arg(i: int, value: Value) -> tuple[int, Value]:
    """(charged size, the VM's own copy) of argument ``i``, not a str."""
    t = type(value)
    if t is bytes:
        if len(value) > MAX_BYTES_LEN:
            raise LimitExceeded(f"argument {i} longer than {MAX_BYTES_LEN}")
        return len(value), value
    if t is bool or value is None:
        return 1, value
    if t is int:
        if not INT_MIN <= value <= INT_MAX:
            raise ExecutionError(f"argument {i} outside the signed 256-bit range")
        return 8, value
    try:
        data = encode_value(value)
    except ContractError as exc:
        raise ExecutionError(f"argument {i}: {exc}") from None
    return len(data), _copy(value)


def _copy_size(value: Value) -> int:
    """Bytes of the VM's own copy of a container argument (its containers; the scalars in
    it are the caller's objects, shared)."""
    if type(value) is list:
        return op.MEM_LIST + sum(
            op.MEM_LIST_SLOT + (_copy_size(x) if type(x) is list or type(x) is dict else 0)
            for x in value
        )
    return op.MEM_MAP + sum(
        op.MEM_MAP_ENTRY + (_copy_size(x) if type(x) is list or type(x) is dict else 0)
        for x in value.values()
    )


def _failure(gas_used: int, error: str) -> ExecutionResult:
    return ExecutionResult(False, gas_used, None, [], error)


def execute(
    code: bytes,
    method: str,
    args: Sequence[Value],
    host: Host,
    gas_limit: int,
    readonly: bool = False,
) -> ExecutionResult:
    """Run public ``method`` of ``code`` with ``args`` against ``host``.

    Never raises for anything the contract, its bytecode or its arguments do: failures are
    ``ok=False`` results with the gas charged (all of ``gas_limit`` when it ran out). Writes
    reach the host only on success. ``@view`` methods always run read-only; ``readonly=True``
    makes any method fail on a storage write or emit. Exceptions raised by the host itself
    propagate unchanged.
    """
    if type(gas_limit) is not int or gas_limit <= 0:
        return _failure(0, "gas limit must be a positive int")
    entry = min(op.GAS_ENTRY, gas_limit)
    try:
        program = load_program(code)
    except ContractError as exc:
        return _failure(entry, f"invalid bytecode: {exc}")
    fn = program.public.get(method) if type(method) is str else None
    if fn is None:
        return _failure(entry, f"no public method {method!a}")
    m = Machine(host, gas_limit, readonly or fn.view)
    try:
        m.charge(op.GAS_ENTRY)
        m.alloc(fn.frame)
        frame = _prepare_args(m, fn, args)
        if fn.py is not None:
            result = fn.py(m, 1, *frame)
        else:
            if fn.n_locals > fn.n_params:
                frame.extend([None] * (fn.n_locals - fn.n_params))
            result = _run(m, fn, frame, 1)
        try:
            return_data = encode_value(result)
        except ContractError as exc:
            raise LimitExceeded(f"return value: {exc}") from None
        m.charge(len(return_data) * op.GAS_ARG_BYTE)
    except OutOfGas:
        return _failure(gas_limit, "out of gas")
    except Revert as exc:
        return _failure(min(gas_limit - m.gas, gas_limit), f"revert: {exc}")
    except ContractError as exc:
        return _failure(min(gas_limit - m.gas, gas_limit), str(exc))
    except HostFault as fault:
        raise fault.exc from None
    except (MemoryError, RecursionError):
        raise  # the machine's state, not the contract's: may differ between nodes
    except Exception as exc:  # noqa: BLE001  # a VM bug: deterministic on every node, so fail the call
        name = type(exc).__name__  # never the message: it must be the same on every node
        return _failure(min(gas_limit - m.gas, gas_limit), f"internal VM error: {name}")
    m.flush()
    return ExecutionResult(True, gas_limit - m.gas, result, m.events, None, return_data)
