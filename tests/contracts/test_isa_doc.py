"""ISA.md documents exactly the instruction set in opcodes.py (bytes, operands, gas)."""

from __future__ import annotations

import re
from pathlib import Path

import contracts
from contracts import opcodes as op

DOC = (Path(contracts.__file__).parent / "ISA.md").read_text(encoding="utf-8")
WIDTH = {0: "-", 1: "u8", 2: "u16", 4: "u32"}


def test_every_instruction_row_matches_the_table() -> None:
    rows = re.findall(r"^\| 0x([0-9A-F]{2}) \| (\w+) \| ([^|]+) \|[^|]+\| (\d+)\+? \|", DOC, re.M)
    documented = {
        int(code, 16): (name, operand.strip(), int(gas)) for code, name, operand, gas in rows
    }
    expected = {i.code: (i.name, i.operand, i.gas) for i in op.OPS}
    assert set(documented) == set(expected)
    for code, (name, operand, gas) in documented.items():
        want_name, want_width, want_gas = expected[code]
        assert name == want_name
        assert operand.split()[0] == WIDTH[want_width], name
        assert gas == want_gas, name


def test_every_builtin_row_matches_the_table() -> None:
    rows = re.findall(r"^\| (\d+) \| (\w+) \| [^|]+ \| (\d+)\+? \|", DOC, re.M)
    documented = {int(i): (name, int(gas)) for i, name, gas in rows}
    assert documented == {b.id: (b.name, b.gas) for b in op.BUILTINS}


def test_version_is_documented() -> None:
    assert f"version {op.ISA_VERSION}" in DOC.splitlines()[0]


def test_readme_example_runs() -> None:
    readme = (Path(contracts.__file__).parent / "README.md").read_text(encoding="utf-8")
    source = re.findall(r"```python\n(\"\"\"A counter.*?)```", readme, re.S)[0]
    code = contracts.compile_source(source)
    host = contracts.MemoryHost()
    bumped = contracts.execute(code, "bump", ["a", 2], host, 10**6)
    assert bumped.ok and bumped.return_value == 2 and bumped.events[0].name == "Bumped"
    assert contracts.execute(code, "value", ["a"], host, 10**6).return_value == 2
    assert not contracts.execute(code, "bump", ["a", 0], host, 10**6).ok
