"""Each instruction on hand-assembled bytecode: its result and its typed failures."""

from __future__ import annotations

import pytest

from contracts import MemoryHost, decode_value, encode_value
from contracts import opcodes as op
from contracts.values import INT_MAX, INT_MIN
from tests.contracts.helpers import Instr, build, run_code

C0, C1, C2 = ("CONST", 0), ("CONST", 1), ("CONST", 2)

OK_CASES: list[tuple[str, list[Instr], list[object], object]] = [
    ("NOP", ["NOP", C0, "RET"], [7], 7),
    ("CONST", [C0, "RET"], ["x"], "x"),
    ("POP", [C0, C1, "POP", "RET"], [1, 2], 1),
    ("DUP", [C0, "DUP", "ADD", "RET"], [21], 42),
    ("LOAD/STORE", [C0, ("STORE", 2), ("LOAD", 2), "RET"], [b"v"], b"v"),
    ("LOAD unset local is None", [("LOAD", 3), "RET"], [], None),
    ("ADD int", [C0, C1, "ADD", "RET"], [2, 3], 5),
    ("ADD str", [C0, C1, "ADD", "RET"], ["ab", "cd"], "abcd"),
    ("ADD bytes", [C0, C1, "ADD", "RET"], [b"a", b"b"], b"ab"),
    ("ADD list", [C0, ("BUILD_LIST", 1), C1, ("BUILD_LIST", 1), "ADD", "RET"], [1, 2], [1, 2]),
    ("SUB", [C0, C1, "SUB", "RET"], [2, 5], -3),
    ("MUL", [C0, C1, "MUL", "RET"], [-4, 5], -20),
    ("FLOORDIV floors", [C0, C1, "FLOORDIV", "RET"], [-7, 2], -4),
    ("MOD python sign", [C0, C1, "MOD", "RET"], [-7, 2], 1),
    ("NEG", [C0, "NEG", "RET"], [5], -5),
    ("NOT", [C0, "NOT", "RET"], [""], True),
    ("EQ same", [C0, C1, "EQ", "RET"], ["a", "a"], True),
    ("EQ int vs bool", [C0, C1, "EQ", "RET"], [1, True], False),
    ("EQ lists", [C0, ("BUILD_LIST", 1), C0, ("BUILD_LIST", 1), "EQ", "RET"], [3], True),
    ("NE", [C0, C1, "NE", "RET"], [1, 2], True),
    ("LT", [C0, C1, "LT", "RET"], [1, 2], True),
    ("LE", [C0, C1, "LE", "RET"], [2, 2], True),
    ("GT str", [C0, C1, "GT", "RET"], ["b", "a"], True),
    ("GE bytes", [C0, C1, "GE", "RET"], [b"a", b"b"], False),
    ("IN str", [C0, C1, "IN", "RET"], ["b", "abc"], True),
    ("IN list", [C0, C0, C1, ("BUILD_LIST", 2), "IN", "RET"], [1, 2], True),
    ("IN map", [C0, C0, C1, ("BUILD_MAP", 1), "IN", "RET"], ["k", 2], True),
    ("IN list bool is not int", [C0, C1, ("BUILD_LIST", 1), "IN", "RET"], [True, 1], False),
    ("JUMP", [("JUMP", "x"), C0, "RET", "x:", C1, "RET"], [1, 2], 2),
    (
        "JUMP_IF_FALSE taken",
        [C0, ("JUMP_IF_FALSE", "x"), C1, "RET", "x:", C2, "RET"],
        [0, "no", "yes"],
        "yes",
    ),
    (
        "JUMP_IF_FALSE not taken",
        [C0, ("JUMP_IF_FALSE", "x"), C1, "RET", "x:", C2, "RET"],
        [1, "no", "yes"],
        "no",
    ),
    (
        "JUMP_IF_TRUE",
        [C0, ("JUMP_IF_TRUE", "x"), C1, "RET", "x:", C2, "RET"],
        [b"", "no", "yes"],
        "no",
    ),
    ("JUMP_IF_FALSE_OR_POP keeps", [C0, ("JUMP_IF_FALSE_OR_POP", "x"), C1, "x:", "RET"], [0, 9], 0),
    ("JUMP_IF_FALSE_OR_POP pops", [C0, ("JUMP_IF_FALSE_OR_POP", "x"), C1, "x:", "RET"], [5, 9], 9),
    ("JUMP_IF_TRUE_OR_POP keeps", [C0, ("JUMP_IF_TRUE_OR_POP", "x"), C1, "x:", "RET"], [5, 9], 5),
    ("JUMP_IF_TRUE_OR_POP pops", [C0, ("JUMP_IF_TRUE_OR_POP", "x"), C1, "x:", "RET"], [None, 9], 9),
    ("BUILD_LIST", [C0, C1, ("BUILD_LIST", 2), "RET"], [1, "a"], [1, "a"]),
    ("BUILD_LIST empty", [("BUILD_LIST", 0), "RET"], [], []),
    (
        "BUILD_MAP keeps order",
        [C1, C0, C0, C1, ("BUILD_MAP", 2), "RET"],
        ["a", "b"],
        {"b": "a", "a": "b"},
    ),
    ("INDEX list negative", [C0, C1, ("BUILD_LIST", 2), C2, "INDEX", "RET"], [1, 2, -1], 2),
    ("INDEX map", [C0, C1, ("BUILD_MAP", 1), C0, "INDEX", "RET"], ["k", 5], 5),
    ("INDEX bytes gives int", [C0, C1, "INDEX", "RET"], [b"AB", 1], 66),
    (
        "SET_INDEX map",
        [("BUILD_MAP", 0), ("STORE", 0), ("LOAD", 0), C0, C1, "SET_INDEX", ("LOAD", 0), "RET"],
        ["k", 1],
        {"k": 1},
    ),
    (
        "SET_INDEX list",
        [C0, ("BUILD_LIST", 1), ("STORE", 0), ("LOAD", 0), C1, C1, "SET_INDEX", ("LOAD", 0), "RET"],
        [7, 0],
        [0],
    ),
    (
        "DEL_INDEX map",
        [C0, C1, ("BUILD_MAP", 1), ("STORE", 0), ("LOAD", 0), C0, "DEL_INDEX", ("LOAD", 0), "RET"],
        ["k", 1],
        {},
    ),
    (
        "DEL_INDEX list",
        [C0, C1, ("BUILD_LIST", 2), ("STORE", 0), ("LOAD", 0), C0, "DEL_INDEX", ("LOAD", 0), "RET"],
        [0, 1],
        [1],
    ),
    ("SLICE str", [C0, C1, C2, "SLICE", "RET"], ["hello", 1, 3], "el"),
    ("SLICE open end", [C0, C1, C2, "SLICE", "RET"], [b"hello", -2, None], b"lo"),
    ("UNPACK", [C0, C1, ("BUILD_LIST", 2), ("UNPACK", 2), "SUB", "RET"], [10, 3], -7),
    ("CALL", [C0, C1, ("CALL", 1), "RET"], [10, 3], 7),
    ("CTX block_height", [("CTX", 2), "RET"], [], 1),
    ("CTX timestamp", [("CTX", 3), "RET"], [], 1_700_000_000),
    ("CTX caller", [("CTX", 0), "RET"], [], b"\x01" * 20),
    ("CTX tx_hash", [("CTX", 1), "RET"], [], b"\x00" * 32),
    ("BUILTIN len", [C0, ("BUILTIN", op.BUILTIN_BY_NAME["len"].id), "RET"], ["abc"], 3),
]

SUB_FN = [("sub", [("LOAD", 0), ("LOAD", 1), "SUB", "RET"], 2)]


@pytest.mark.parametrize(("name", "instrs", "consts", "expected"), OK_CASES,
                         ids=[c[0] for c in OK_CASES])  # fmt: skip
def test_instruction_result(name: str, instrs: list[Instr], consts: list[object],
                            expected: object) -> None:  # fmt: skip
    code = build(instrs, consts, extra=SUB_FN if name == "CALL" else ())
    result = run_code(code)
    assert result.ok, result.error
    assert result.return_value == expected
    assert type(result.return_value) is type(expected)


ERR_CASES: list[tuple[str, list[Instr], list[object], str]] = [
    ("ADD overflow", [C0, C1, "ADD", "RET"], [INT_MAX, 1], "int overflow"),
    ("SUB overflow", [C0, C1, "SUB", "RET"], [INT_MIN, 1], "int overflow"),
    ("MUL overflow", [C0, C0, "MUL", "RET"], [2**200], "int overflow"),
    ("NEG overflow", [C0, "NEG", "RET"], [INT_MIN], "int overflow"),
    ("FLOORDIV overflow", [C0, C1, "FLOORDIV", "RET"], [INT_MIN, -1], "int overflow"),
    ("ADD mixed", [C0, C1, "ADD", "RET"], [1, "a"], "unsupported operand"),
    ("MUL str", [C0, C1, "MUL", "RET"], ["a", 3], "unsupported operand"),
    ("FLOORDIV by zero", [C0, C1, "FLOORDIV", "RET"], [1, 0], "division by zero"),
    ("MOD by zero", [C0, C1, "MOD", "RET"], [1, 0], "modulo by zero"),
    ("NEG str", [C0, "NEG", "RET"], ["a"], "unary -"),
    ("LT mixed", [C0, C1, "LT", "RET"], [1, "a"], "cannot compare"),
    ("LT bool", [C0, C0, "LT", "RET"], [True], "cannot compare"),
    ("IN int", [C0, C0, "IN", "RET"], [1], "not a container"),
    ("IN str with int", [C0, C1, "IN", "RET"], [1, "abc"], "needs a str"),
    ("INDEX out of range", [C0, ("BUILD_LIST", 1), C1, "INDEX", "RET"], [1, 5], "out of range"),
    ("INDEX missing key", [("BUILD_MAP", 0), C0, "INDEX", "RET"], ["k"], "key not found"),
    ("INDEX int", [C0, C0, "INDEX", "RET"], [1], "not subscriptable"),
    ("INDEX list by str", [("BUILD_LIST", 0), C0, "INDEX", "RET"], ["k"], "must be int"),
    ("SET_INDEX str", [C0, C1, C1, "SET_INDEX", C1, "RET"], ["abc", 0], "item assignment"),
    (
        "SET_INDEX list range",
        [("BUILD_LIST", 0), C0, C0, "SET_INDEX", C0, "RET"],
        [0],
        "out of range",
    ),
    ("map key type", [("BUILD_LIST", 0), C0, ("BUILD_MAP", 1), "RET"], [1], "map key"),
    ("map key bool", [C0, C0, ("BUILD_MAP", 1), "RET"], [True], "map key"),
    ("DEL_INDEX missing", [("BUILD_MAP", 0), C0, "DEL_INDEX", C0, "RET"], ["k"], "key not found"),
    ("SLICE int", [C0, C1, C1, "SLICE", "RET"], [5, None], "cannot be sliced"),
    ("SLICE bad bound", [C0, C0, C1, "SLICE", "RET"], ["s", None], "slice bounds"),
    ("UNPACK wrong count", [C0, ("BUILD_LIST", 1), ("UNPACK", 2), "RET"], [1], "expected 2 values"),
    ("UNPACK non-list", [C0, ("UNPACK", 1), "RET"], [1], "cannot unpack"),
    ("REVERT", [C0, "REVERT"], ["nope"], "revert: nope"),
    ("SLOAD missing", [C0, "SLOAD", "RET"], ["k"], "storage key not found"),
    ("EMIT bad name", [C0, ("BUILD_MAP", 0), "EMIT", "RET"], [""], "event name"),
    ("EMIT bad fields", [C0, C0, "EMIT", "RET"], ["E"], "event fields"),
]


@pytest.mark.parametrize(("name", "instrs", "consts", "message"), ERR_CASES,
                         ids=[c[0] for c in ERR_CASES])  # fmt: skip
def test_instruction_failure(name: str, instrs: list[Instr], consts: list[object],
                             message: str) -> None:  # fmt: skip
    result = run_code(build(instrs, consts))
    assert not result.ok
    assert message in (result.error or ""), result.error
    assert result.gas_used > 0
    assert result.events == []


def test_storage_instructions_round_trip() -> None:
    host = MemoryHost()
    code = build(
        [
            C0, C1, "SSTORE",  # storage["k"] = 5
            C0, "SHAS", ("STORE", 0),
            C0, "SLOAD", ("STORE", 1),
            C2, C2, "SGET", ("STORE", 2),  # missing key -> default
            C0, "SDEL",
            C0, "SHAS", ("STORE", 3),
            ("LOAD", 0), ("LOAD", 1), ("LOAD", 2), ("LOAD", 3), ("BUILD_LIST", 4), "RET",
        ],
        ["k", 5, "missing"],
    )  # fmt: skip
    result = run_code(code, host=host)
    assert result.ok, result.error
    assert result.return_value == [True, 5, "missing", False]
    assert host.storage == {}  # set then deleted inside one call: the delete wins


def test_sstore_reaches_host_as_canonical_bytes() -> None:
    host = MemoryHost()
    code = build([C0, C1, "SSTORE", C1, "RET"], ["k", 5])
    assert run_code(code, host=host).ok
    assert host.storage == {encode_value("k"): encode_value(5)}
    assert decode_value(host.storage[encode_value("k")]) == 5


def test_emit_records_event() -> None:
    code = build([C0, C1, C2, ("BUILD_MAP", 1), "EMIT", "RET"], ["Done", "n", 3])
    result = run_code(code)
    assert result.ok, result.error
    assert result.return_value is None
    assert [(e.name, e.fields) for e in result.events] == [("Done", {"n": 3})]


def test_every_opcode_is_covered_here() -> None:
    used = {ins if isinstance(ins, str) else ins[0] for _, instrs, _, _ in OK_CASES + ERR_CASES
            for ins in instrs if not (isinstance(ins, str) and ins.endswith(":"))}  # fmt: skip
    used |= {"SSTORE", "SHAS", "SLOAD", "SGET", "SDEL", "EMIT"}
    assert used == set(op.BY_NAME)


def test_superinstructions_keep_jumps_and_results() -> None:
    from contracts import vm

    code = build(
        [
            C0, ("STORE", 0), ("LOAD", 0), ("LOAD", 0), "ADD", ("STORE", 1),  # 2x
            "top:", ("LOAD", 1), C1, "LT", ("JUMP_IF_FALSE", "end"),
            ("LOAD", 1), ("LOAD", 1), "ADD", ("STORE", 1), ("JUMP", "top"),
            "end:", C1, ("LOAD", 1), "ADD", C2, C2, "ADD", "ADD", ("STORE", 2), ("LOAD", 3), "POP",
            ("LOAD", 2), "RET",
        ],
        [3, 100, 1],
    )  # fmt: skip
    fused = {o for o, _ in vm.load_program(code).public["main"].code}
    assert {0x100, 0x101, 0x102, 0x103, 0x104} <= fused  # every pair kind occurs
    result = run_code(code)
    assert result.ok, result.error
    assert result.return_value == 100 + 192 + 2  # 6 doubles up to 192


def test_program_cache_is_bounded() -> None:
    from contracts import vm

    codes = [build([C0, "RET"], [i]) for i in range(vm._CACHE_SIZE + 5)]
    for i, code in enumerate(codes):
        assert run_code(code).return_value == i
    assert len(vm._programs) <= vm._CACHE_SIZE
    assert run_code(codes[0]).return_value == 0


def test_the_last_program_shortcut_is_the_cached_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_program returns the program it loaded last for the same bytes object without the
    LRU; an equal copy of the bytes, a cleared cache or another TRANSLATE take the LRU path."""
    from contracts import vm

    code = build([C0, "RET"], [7])
    first = vm.load_program(code)
    assert vm.load_program(code) is first
    assert vm.load_program(bytes(bytearray(code))) is first  # the LRU's entry, by value
    monkeypatch.setattr(vm, "TRANSLATE", False)
    interpreted = vm.load_program(code)
    assert interpreted is not first and interpreted.functions[0].py is None
    monkeypatch.setattr(vm, "TRANSLATE", True)
    assert vm.load_program(code) is first
    vm.clear_cache()
    again = vm.load_program(code)
    assert again is not first and run_code(code).return_value == 7


def test_results_carry_canonical_bytes() -> None:
    code = build([C0, C1, C2, ("BUILD_MAP", 1), "EMIT", "POP", C1, "RET"], ["E", "n", 1])
    result = run_code(code)
    assert result.ok
    assert result.return_data == encode_value("n")
    assert result.events[0].data == encode_value({"n": 1})
    failed = run_code(build([C0, "REVERT"], ["no"]))
    assert failed.return_data == b""
