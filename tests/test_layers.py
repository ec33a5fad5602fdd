"""The dependency rule of DESIGN.md: imports only go downwards."""

from __future__ import annotations

import ast
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


def imported_roots(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
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


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("import chainnode.cli\nfrom storage import Store\n")
    assert [r for _, r in imported_roots(bad)] == ["chainnode", "storage"]
