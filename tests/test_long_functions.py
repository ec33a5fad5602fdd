"""No function over MAX_LINES lines without a reason written next to it (issue 17).

A long function is sometimes the clearest form (an interpreter loop, a table-like dispatch, a
CLI's linear script); then its ``def`` line, or the line just above the function (above its
decorators), carries ``# long: <reason>``. Everything else stays short enough to read at once.
"""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO_ROOT

MAX_LINES = 60
PACKAGES = ("crypto", "storage", "contracts", "consensus", "p2p", "chainnode", "bench")
REASON = re.compile(r"#\s*long:\s*\S")


def long_functions() -> list[tuple[str, int, str, int, bool]]:
    """(path, def line, name, length, has a reason) of every function over MAX_LINES."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length <= MAX_LINES:
                    continue
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                marked = [lines[node.lineno - 1]] + ([lines[first - 2]] if first > 1 else [])
                reason = any(REASON.search(line) for line in marked)
                rel = path.relative_to(REPO_ROOT).as_posix()
                out.append((rel, node.lineno, node.name, length, reason))
    return out


def test_every_long_function_says_why() -> None:
    bad = [f"{p}:{ln} {name} ({n} lines)" for p, ln, name, n, ok in long_functions() if not ok]
    assert not bad, f"functions over {MAX_LINES} lines without `# long: <reason>`:\n" + "\n".join(
        bad
    )


def test_the_finder_sees_a_long_function(tmp_path: object) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    tree = ast.parse(f"def f():\n{body}\n")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef) and fn.end_lineno is not None
    assert fn.end_lineno - fn.lineno + 1 > MAX_LINES
    assert REASON.search("def f():  # long: the interpreter loop")
    assert not REASON.search("def f():  # long:")
