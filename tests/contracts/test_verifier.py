"""The verifier rejects malformed bytecode before anything runs."""

from __future__ import annotations

import struct

import pytest

from contracts import VerifyError, abi, stdlib
from contracts.bytecode import MAGIC, FunctionEntry, assemble, parse
from contracts.verifier import MAX_STACK, verify
from tests.contracts.helpers import build, run_code

GOOD = build([("CONST", 0), "RET"], [1])


def entry(name: str = "main", start: int = 0, length: int = 1, **kw: object) -> FunctionEntry:
    fields: dict[str, object] = dict(
        name=name, public=True, view=False, params=(), types=(), n_locals=0,
        start=start, length=length,
    )  # fmt: skip
    fields.update(kw)
    return FunctionEntry(**fields)  # type: ignore[arg-type]


def raw(code: bytes, consts: list[object] | None = None, **kw: object) -> bytes:
    return assemble(consts or [], [entry(length=len(code), **kw)], code)


def test_good_bytecode_and_stdlib_verify() -> None:
    verify(GOOD)
    for name in stdlib.NAMES:
        verify(stdlib.compiled(name))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"XXXX" + GOOD[4:], "bad magic"),
        (GOOD[:4] + b"\x02" + GOOD[5:], "unsupported bytecode version"),
        (GOOD + b"\x00", "trailing bytes"),
        (b"", "truncated"),
        (raw(b"\xee"), "unknown opcode 0xee"),
        (raw(b"\x01\x00"), "truncated CONST operand"),
        (raw(b"\x01\x00\x05\x39", [1]), "constant 5 out of range"),
        (raw(b"\x04\x00\x00\x39"), "local 0 out of range"),
        (raw(b"\x05\x00\x00\x39"), "local 0 out of range"),
        (raw(b"\x38\x00\x07\x39"), "call to function 7 out of range"),
        (raw(b"\x60\xff\x39"), "builtin 255 out of range"),
        (raw(b"\x59\x09\x39"), "context field 9 out of range"),
        (raw(b"\x30\x00\x00\x00\x63"), "jump outside the function"),
        (raw(b"\x30\x00\x00\x00\x02\x01\x00\x00\x39", [1]), "jump into an operand"),
        (raw(b"\x02\x39"), "stack underflow"),
        (raw(b"\x01\x00\x00\x10\x39", [1]), "stack underflow"),
        (raw(b"\x39"), "stack underflow"),
        (raw(b"\x01\x00\x00", [1]), "fall off the end"),
        (raw(b"\x01\x00\x00\x01\x00\x00\x31\x00\x00\x00\x00\x39", [1]), "height differs"),
        (raw(b"\x01\x00\x00" * (MAX_STACK + 1) + b"\x39", [1]), "stack depth limit"),
        (raw(b"\x01\x00\x00\x39", [1], n_locals=2000), "bad local count"),
        (raw(b"\x01\x00\x00\x39", [1], params=("a",), types=("int",)), "bad local count"),
        (raw(b"\x39", public=False, view=True), "bad flags"),
    ],
)
def test_rejects(data: bytes, why: str) -> None:
    with pytest.raises(VerifyError, match=why):
        verify(data)
    result = run_code(data)
    assert not result.ok and (result.error or "").startswith("invalid bytecode")


def test_container_in_constant_pool_rejected() -> None:
    with pytest.raises(VerifyError, match="container"):
        verify(assemble([[1]], [entry(length=4)], b"\x01\x00\x00\x39"))


def test_function_table_problems() -> None:
    code = b"\x01\x00\x00\x39"
    both = [entry("a", 0, 4), entry("b", 2, 2)]
    with pytest.raises(VerifyError, match="overlap"):
        verify(assemble([1], both, code))
    with pytest.raises(VerifyError, match="duplicate function"):
        verify(assemble([1], [entry("a", 0, 4), entry("a", 0, 4)], code + code))
    with pytest.raises(VerifyError, match="outside the code section"):
        verify(assemble([1], [entry("a", 0, 9)], code))
    with pytest.raises(VerifyError, match="bad name"):
        assemble([1], [entry("not an identifier", 0, 4)], code)
    no_funcs = MAGIC + b"\x01" + struct.pack(">I", 2) + b"\x91\x00" + b"\x00\x00"
    with pytest.raises(VerifyError, match="function count"):
        parse(no_funcs + struct.pack(">I", 0))


def test_jump_into_another_function_rejected() -> None:
    f1 = b"\x30\x00\x00\x00\x04"  # JUMP 4: the first byte of function b
    f2 = b"\x01\x00\x00\x39"
    data = assemble([1], [entry("a", 0, 5), entry("b", 5, 4)], f1 + f2)
    with pytest.raises(VerifyError, match="jump"):
        verify(data)


def test_every_prefix_of_valid_bytecode_is_rejected_cleanly() -> None:
    code = stdlib.compiled("evidence")
    for cut in range(0, len(code), 7):
        with pytest.raises(VerifyError):
            verify(code[:cut])


def test_unreachable_code_is_allowed_but_still_decoded() -> None:
    verify(raw(b"\x01\x00\x00\x39\x02", [1]))  # POP after RET: never runs
    with pytest.raises(VerifyError, match="unknown opcode"):
        verify(raw(b"\x01\x00\x00\x39\xee", [1]))


def test_abi_lists_public_methods_only() -> None:
    methods = abi(stdlib.compiled("evidence"))
    assert "register" in methods and "norm_hex" not in methods
    assert methods["register"].view is False
    assert methods["get"].view is True
    assert methods["register"].params == ("doc_hash", "doc_type", "title")
    assert methods["register"].types == ("str", "str", "str")
    with pytest.raises(VerifyError):
        abi(b"junk")


def test_disassembly_lists_functions_and_instructions() -> None:
    from contracts.disasm import disassemble

    text = disassemble(stdlib.compiled("evidence"))
    assert "public register(doc_hash, doc_type, title)" in text
    assert "internal norm_hex(value, nchars, what)" in text
    assert "view get(doc_hash)" in text
    assert "SSTORE" in text and "; 'document already registered'" in text
    with pytest.raises(VerifyError):
        disassemble(b"CNVM")
