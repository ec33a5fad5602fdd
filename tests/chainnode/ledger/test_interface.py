"""Contract interfaces: the admission check of a call's arguments refuses exactly the calls
the VM would refuse on their arguments (pinned against the VM), and the specs the API lists."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import contracts
from chainnode.ledger.executor import SYSTEM_METHODS
from chainnode.ledger.interface import source_docs, system_specs, vm_specs

TYPED = """
@public
def f(a: int, b: str, c, d: bytes, e: list, g: dict, h: bool) -> int:
    return 1
"""
CODE = contracts.compile_source(TYPED)
SPEC = vm_specs(contracts.abi(CODE), {})["f"]

values = st.one_of(
    st.integers(-(2**70), 2**70),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=9))
def test_the_check_refuses_what_the_vm_refuses(args: list[Any]) -> None:
    res = contracts.execute(CODE, "f", args, contracts.MemoryHost(), 1_000_000)
    problem = SPEC.check(args)
    assert (problem is None) == res.ok, (args, problem, res.error)


def test_messages_name_the_argument_and_what_was_expected() -> None:
    assert SPEC.signature == "f(a: int, b: str, c: any, d: bytes, e: list, g: map, h: bool)"
    p = SPEC.check(["1", "s", None, b"", [], {}, True])
    assert p is not None and p.field == "args[0]"
    assert "args[0] (a): expected int, got str" in p.message
    p = SPEC.check([1])
    assert p is not None and p.field == "args[1]" and "(b: str) is missing" in p.message
    p = SPEC.check([1, "s", None, b"", [], {}, True, 8])
    assert p is not None and p.field == "args[7]" and "takes 7 arguments, got 8" in p.message


def test_system_methods_declare_every_parameter_and_optional_tail() -> None:
    for methods in SYSTEM_METHODS.values():
        for name, spec in system_specs(methods).items():
            assert len(spec.params) == len(methods[name].params) and spec.doc
    deploy = system_specs(SYSTEM_METHODS["deployment"])["deploy"]
    assert deploy.signature == "deploy(code: bytes, name: str = ...)"
    assert deploy.check([b"\x00"]) is None and deploy.check([b"\x00", "n"]) is None
    assert deploy.check([]) is not None and deploy.check(["code"]) is not None


def test_docs_come_from_the_standard_contracts_source() -> None:
    summary, docs = source_docs(contracts.stdlib.source("records"))
    assert summary is not None and summary.startswith("Records:")
    assert docs["put"].startswith("put(key: str, value) -> version")
    assert "(view)" in docs["get"] and set(docs) >= {"put", "delete", "get", "history"}
    assert source_docs("def f(:") == (None, {})
