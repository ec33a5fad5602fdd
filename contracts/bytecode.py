"""The bytecode container: header, constant pool, method table and code section.

Layout (all integers big-endian)::

    magic      4 bytes  b"CNVM"
    version    u8       FORMAT_VERSION
    consts     u32 n, then n bytes: the canonical encoding of a list of scalar constants
    functions  u16 n, then n entries:
                 name      u8 len + UTF-8 identifier
                 flags     u8 (bit 0 public, bit 1 view; other bits zero)
                 params    u8 n, then n x (u8 len + UTF-8 identifier, u8 type code)
                 locals    u16 (>= params; parameters are the first locals)
                 start     u32 offset of the function's first instruction in the code section
                 length    u32 bytes of code that belong to the function
    code       u32 n, then n bytes of instructions: opcode byte + 0/1/2/4-byte operand

Nothing may follow the code section. ``parse`` checks only the container; ``verifier``
checks the instructions.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from contracts import opcodes as op
from contracts.errors import EncodingError, VerifyError
from contracts.values import Value, decode_value, encode_value

MAGIC = b"CNVM"
FORMAT_VERSION = 1
MAX_BYTECODE = 262_144
MAX_FUNCTIONS = 256
MAX_PARAMS = 16
MAX_LOCALS = 1_024
MAX_CONSTS = 65_535
MAX_NAME = 64
FLAG_PUBLIC = 1
FLAG_VIEW = 2

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class FunctionEntry:
    """One row of the method table."""

    name: str
    public: bool
    view: bool
    params: tuple[str, ...]
    types: tuple[str, ...]
    n_locals: int
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class Module:
    """A parsed (not yet verified) bytecode container."""

    consts: tuple[Value, ...]
    functions: tuple[FunctionEntry, ...]
    code: bytes


def _name_bytes(name: str) -> bytes:
    raw = name.encode()
    if not _IDENT.fullmatch(name) or len(raw) > MAX_NAME:
        raise VerifyError(f"bad name {name!a}")
    return bytes([len(raw)]) + raw


def assemble(consts: Sequence[Value], functions: Sequence[FunctionEntry], code: bytes) -> bytes:
    """Serialise a module; the inverse of ``parse``."""
    try:
        pool = encode_value(list(consts), limit=MAX_BYTECODE)
    except EncodingError as exc:
        raise VerifyError(f"constant pool: {exc}") from None
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out += struct.pack(">I", len(pool)) + pool
    out += struct.pack(">H", len(functions))
    for fn in functions:
        out += _name_bytes(fn.name)
        out.append((FLAG_PUBLIC if fn.public else 0) | (FLAG_VIEW if fn.view else 0))
        out.append(len(fn.params))
        for pname, ptype in zip(fn.params, fn.types, strict=True):
            out += _name_bytes(pname)
            out.append(op.PARAM_TYPES.index(ptype))
        out += struct.pack(">HII", fn.n_locals, fn.start, fn.length)
    out += struct.pack(">I", len(code)) + code
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise VerifyError(f"truncated bytecode while reading {what}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")

    def name(self, what: str) -> str:
        raw = self.take(self.u8(what), what)
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise VerifyError(f"{what} is not UTF-8") from None
        if not _IDENT.fullmatch(text) or len(raw) > MAX_NAME:
            raise VerifyError(f"bad {what} {text!a}")
        return text


# long: one pass over the module's sections, in file order
def parse(data: bytes) -> Module:  # noqa: C901, PLR0912  # one pass over the sections, a branch per kind
    """Split bytecode into constants, method table and code; ``VerifyError`` if malformed."""
    if not isinstance(data, bytes):
        raise VerifyError("bytecode must be bytes")
    if len(data) > MAX_BYTECODE:
        raise VerifyError(f"bytecode of {len(data)} bytes exceeds {MAX_BYTECODE}")
    r = _Reader(data)
    if r.take(4, "magic") != MAGIC:
        raise VerifyError("not contract bytecode (bad magic)")
    version = r.u8("version")
    if version != FORMAT_VERSION:
        raise VerifyError(f"unsupported bytecode version {version}")
    pool_len = r.u32("constant pool length")
    pool = r.take(pool_len, "constant pool")
    try:
        consts = decode_value(pool, limit=MAX_BYTECODE)
    except EncodingError as exc:
        raise VerifyError(f"constant pool: {exc}") from None
    if type(consts) is not list or len(consts) > MAX_CONSTS:
        raise VerifyError("constant pool is not a list")
    for c in consts:
        if type(c) in (list, dict):
            raise VerifyError("constant pool holds a container (only scalars allowed)")
    n_funcs = r.u16("function count")
    if n_funcs == 0 or n_funcs > MAX_FUNCTIONS:
        raise VerifyError(f"function count {n_funcs} outside 1..{MAX_FUNCTIONS}")
    functions: list[FunctionEntry] = []
    seen: set[str] = set()
    for _ in range(n_funcs):
        name = r.name("function name")
        if name in seen:
            raise VerifyError(f"duplicate function {name!a}")
        seen.add(name)
        flags = r.u8("function flags")
        if flags & ~(FLAG_PUBLIC | FLAG_VIEW) or flags == FLAG_VIEW:
            raise VerifyError(f"bad flags {flags} on {name!a}")
        n_params = r.u8("parameter count")
        if n_params > MAX_PARAMS:
            raise VerifyError(f"{name!a} has more than {MAX_PARAMS} parameters")
        params: list[str] = []
        types: list[str] = []
        for _ in range(n_params):
            params.append(r.name("parameter name"))
            code = r.u8("parameter type")
            if code >= len(op.PARAM_TYPES):
                raise VerifyError(f"unknown parameter type {code} in {name!a}")
            types.append(op.PARAM_TYPES[code])
        if len(set(params)) != len(params):
            raise VerifyError(f"duplicate parameter name in {name!a}")
        n_locals = r.u16("local count")
        start = r.u32("code start")
        length = r.u32("code length")
        if n_locals < n_params or n_locals > MAX_LOCALS:
            raise VerifyError(f"bad local count {n_locals} in {name!a}")
        functions.append(
            FunctionEntry(
                name, bool(flags & FLAG_PUBLIC), bool(flags & FLAG_VIEW), tuple(params),
                tuple(types), n_locals, start, length,
            )
        )  # fmt: skip
    code_len = r.u32("code length")
    code_bytes = r.take(code_len, "code")
    if r.pos != len(data):
        raise VerifyError("trailing bytes after the code section")
    spans = sorted((f.start, f.start + f.length) for f in functions)
    prev_end = 0
    for start, end in spans:
        if end > len(code_bytes) or start == end:
            raise VerifyError("function code outside the code section or empty")
        if start < prev_end:
            raise VerifyError("function code ranges overlap")
        prev_end = end
    return Module(tuple(consts), tuple(functions), code_bytes)


class CodeBuilder:
    """Emits instructions with symbolic jump labels; used by the compiler and by tests."""

    def __init__(self) -> None:
        self.code = bytearray()
        self._labels: dict[int, int] = {}
        self._fixups: list[tuple[int, int]] = []
        self._next_label = 0

    def label(self) -> int:
        self._next_label += 1
        return self._next_label

    def place(self, label: int) -> None:
        self._labels[label] = len(self.code)

    def emit(self, opcode: int, arg: int = 0) -> None:
        info = op.BY_CODE[opcode]
        self.code.append(opcode)
        if info.operand:
            self.code += arg.to_bytes(info.operand, "big")

    def jump(self, opcode: int, label: int) -> None:
        self.code.append(opcode)
        self._fixups.append((len(self.code), label))
        self.code += b"\0\0\0\0"

    def finish(self, base: int) -> bytes:
        """The code with every label resolved, as if placed at ``base`` in the code section."""
        out = bytearray(self.code)
        for pos, label in self._fixups:
            out[pos : pos + 4] = (self._labels[label] + base).to_bytes(4, "big")
        return bytes(out)
