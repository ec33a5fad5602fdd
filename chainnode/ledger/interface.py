"""Contract interfaces: each public method's parameters, their types, ``@view`` or not, docs.

The node checks a call's arguments against its method here *before* the call costs anything:
at admission (a transaction that would fail on its arguments is refused with INVALID_ARGS,
naming the argument, instead of being committed as a failure that used gas) and for read-only
calls. The check mirrors what execution enforces (the VM's exact-type test of each declared
parameter and its argument count; a system method's argument count and types), so it refuses
only calls that would fail anyway. It depends on committed code alone (deterministic), and it
is an admission rule only: block validity never depends on it.

The same specs are what ``GET /v1/contracts/{name}`` lists. Bytecode keeps no docstrings, so a
VM contract's docs come from its source when the chain runs a standard contract unchanged
(its module docstring's ``Methods:`` section); a deployed contract's methods carry none.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chainnode.ledger.system import ADDRESS, Method, address_arg
from contracts import MethodInfo
from contracts.values import type_name

#: The VM's parameter types and the exact Python type each demands ("any": no check); the same
#: table the VM applies to a call's arguments (contracts.vm._TYPE_CHECK).
VM_TYPES: dict[str, type | None] = {
    "any": None,
    "int": int,
    "bool": bool,
    "bytes": bytes,
    "str": str,
    "list": list,
    "map": dict,
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class ArgsProblem:
    """Why arguments do not fit: the argument at fault (``args[i]``) and what was expected."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class MethodSpec:
    name: str
    params: tuple[Param, ...]
    view: bool
    required: int  # how many leading parameters must be given
    doc: str | None

    @property
    def signature(self) -> str:
        parts = [
            f"{p.name}: {p.type}" + ("" if i < self.required else " = ...")
            for i, p in enumerate(self.params)
        ]
        return f"{self.name}({', '.join(parts)})"

    # fast path: plain=contracts.execute test=tests/chainnode/ledger/test_interface.py::test_the_check_refuses_what_the_vm_refuses
    def check(self, args: Sequence[Any]) -> ArgsProblem | None:
        """None when ``args`` fit; else the first argument at fault."""
        n, top = len(args), len(self.params)
        if n < self.required:
            p = self.params[n]
            return ArgsProblem(
                f"args[{n}]",
                f"args[{n}] ({p.name}: {p.type}) is missing: {self.signature} takes "
                f"{_count(self.required, top)}, got {n}",
            )
        if n > top:
            return ArgsProblem(
                f"args[{top}]",
                f"args[{top}] is one too many: {self.signature} takes {_count(self.required, top)}"
                f", got {n}",
            )
        for i, (value, p) in enumerate(zip(args, self.params, strict=False)):
            want = VM_TYPES.get(p.type)
            if want is not None and type(value) is not want:
                return ArgsProblem(
                    f"args[{i}]",
                    f"args[{i}] ({p.name}): expected {p.type}, got {type_name(value)}"
                    f" ({self.signature})",
                )
            if p.type == ADDRESS and address_arg(value, keys=True) is None:
                return ArgsProblem(
                    f"args[{i}]",
                    f'args[{i}] ({p.name}): expected an address ("0x" + 40 hex digits, 0x '
                    f"optional; or 20 bytes), got {_shown(value)} ({self.signature})",
                )
        return None


def _shown(value: Any) -> str:
    return f"{len(value)} bytes" if isinstance(value, bytes) else type_name(value)


def _count(required: int, top: int) -> str:
    if required == top:
        return f"{top} argument{'s' if top != 1 else ''}"
    return f"{required} to {top} arguments"


def system_spec(name: str, m: Method) -> MethodSpec:
    params = tuple(Param(n, t) for n, t in zip(m.params, m.types, strict=True))
    required = len(params) if m.required is None else m.required
    return MethodSpec(name, params, m.view, required, m.doc or None)


def vm_spec(name: str, info: MethodInfo, doc: str | None = None) -> MethodSpec:
    params = tuple(Param(n, t) for n, t in zip(info.params, info.types, strict=True))
    return MethodSpec(name, params, info.view, len(params), doc)


def system_specs(methods: Mapping[str, Method]) -> dict[str, MethodSpec]:
    return {name: system_spec(name, m) for name, m in sorted(methods.items())}


def vm_specs(abi: Mapping[str, MethodInfo], docs: Mapping[str, str]) -> dict[str, MethodSpec]:
    return {name: vm_spec(name, info, docs.get(name)) for name, info in sorted(abi.items())}


_METHOD_LINE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*)\(")


def source_docs(source: str) -> tuple[str | None, dict[str, str]]:
    """(the contract's summary, each method's doc) from contract source: a function's own
    docstring, else its entry in the module docstring's ``Methods:`` section (the convention
    of the standard contracts: ``  name(args) -> result`` then more-indented lines)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None, {}
    module_doc = ast.get_docstring(tree) or ""
    summary = module_doc.split("\n\n", 1)[0].strip() or None
    docs: dict[str, str] = {}
    current: str | None = None
    in_methods = False
    for line in module_doc.splitlines():
        if line.strip() == "Methods:":
            in_methods = True
            continue
        if not in_methods:
            continue
        if line and not line.startswith(" "):
            break  # the section ended
        m = _METHOD_LINE.match(line)
        if m:
            current = m.group(1)
            docs[current] = line.strip()
        elif current is not None and line.strip():
            docs[current] += "\n" + line.strip()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            own = ast.get_docstring(node)
            if own:
                docs[node.name] = own
    return summary, docs
