"""The dependency rules: imports only go downwards, between the top-level packages of DESIGN.md
and between the sub-packages of ``chainnode/`` (ARCHITECTURE.md), and no module imports itself
back through others (no import cycles anywhere, deferred imports inside functions included)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

ALLOWED: dict[str, set[str]] = {
    "crypto": set(),
    "storage": set(),
    "contracts": set(),
    "p2p": {"crypto"},
    "consensus": {"crypto"},
    "chainnode": {"consensus", "p2p", "storage", "contracts", "crypto"},
    "bench": {"chainnode", "crypto", "consensus", "storage", "contracts", "p2p"},
}
OURS = set(ALLOWED)

# The rooms of chainnode/, each with the rooms below it that it may import (ARCHITECTURE.md).
NODE_LAYERS: dict[str, set[str]] = {
    "model": set(),
    "ledger": {"model"},
    "proofs": {"model"},
    "client": {"model"},
    "backup": {"model", "ledger", "proofs"},
    "api": {"model", "ledger", "proofs"},
    "node": {"model", "ledger", "proofs", "api"},
    "deploy": {"model", "node", "client"},
    "cli": {"model", "ledger", "proofs", "client", "api", "node", "deploy", "backup"},
}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted module) of every absolute import in a file, deferred ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from pkg import x`: x is a module of pkg or a name pkg defines; the caller tells
            yield from ((node.lineno, f"{node.module}:{a.name}") for a in node.names)


def imported_roots(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_only_go_downwards(package: str) -> None:
    bad = []
    for path in sorted((REPO_ROOT / package).rglob("*.py")):
        for lineno, root in imported_roots(path):
            if root in OURS and root != package and root not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO_ROOT)}:{lineno} imports {root}")
    assert not bad, "imports against DESIGN.md's layer rule:\n" + "\n".join(bad)


def test_chainnode_rooms_import_only_downwards() -> None:
    rooms = {p.name for p in (REPO_ROOT / "chainnode").iterdir() if (p / "__init__.py").is_file()}
    assert rooms == set(NODE_LAYERS), "a room of chainnode/ is missing from NODE_LAYERS"
    bad = []
    for room, ok in NODE_LAYERS.items():
        for path in sorted((REPO_ROOT / "chainnode" / room).rglob("*.py")):
            for lineno, mod in _imports(path):
                parts = mod.replace(":", ".").split(".")
                target = parts[1] if parts[0] == "chainnode" and len(parts) > 1 else ""
                if target in NODE_LAYERS and target != room and target not in ok:
                    bad.append(f"{path.relative_to(REPO_ROOT)}:{lineno} imports {mod}")
    assert not bad, "imports against ARCHITECTURE.md's order of rooms:\n" + "\n".join(bad)


def module_graph() -> dict[str, set[str]]:
    """Every module of ours -> the modules of ours it imports (packages resolved to __init__)."""
    modules: dict[str, Path] = {}
    for package in sorted(OURS):
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    # C extensions (crypto/_sm4gcm.c, …) are modules too, importing nothing of ours
    natives = {
        ".".join(c.relative_to(REPO_ROOT).with_suffix("").parts)
        for package in sorted(OURS)
        for c in (REPO_ROOT / package).rglob("*.c")
    }
    graph: dict[str, set[str]] = {name: set() for name in natives}
    for name, path in modules.items():
        deps = set()
        for _, mod in _imports(path):
            package, _, attr = mod.partition(":")
            # `from a.b import c` depends on module a.b.c if there is one, else on a.b; the
            # parents' __init__ that any import runs first are not edges (they are not chosen)
            known = modules.keys() | natives
            target = f"{package}.{attr}" if f"{package}.{attr}" in known else package
            if target in known and target != name:
                deps.add(target)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None (iterative DFS)."""
    state: dict[str, int] = {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


#: Cycles that exist today, each to be cut (none left since issue 17). The test fails when a
#: listed edge is gone (shrink the list) or when any other cycle appears.
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


def test_no_import_cycles() -> None:
    graph = module_graph()
    for a, b in KNOWN_CYCLE_EDGES:
        assert b in graph[a], f"{a} no longer imports {b}: drop it from KNOWN_CYCLE_EDGES"
        graph[a].discard(b)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import chainnode.cli\nfrom storage import Store\n")
    assert [r for _, r in imported_roots(bad)] == ["chainnode", "storage"]
