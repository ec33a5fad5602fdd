"""Every fast path is listed in ARCHITECTURE.md with its plain reference and its test (issue 17).

A fast path carries ``# fast path: plain=<reference> test=<file>::<test>`` on the line above it.
This test finds every such comment in the packages and checks that the named test exists and
that ARCHITECTURE.md's "Fast paths" table lists exactly these tests: a new fast path without a
row, or a row whose comment is gone, fails here.
"""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT

PACKAGES = ("crypto", "storage", "contracts", "consensus", "p2p", "chainnode", "bench")
MARKER = re.compile(r"#\s*fast path:\s*plain=(\S+)\s+test=(\S+)::(\w+)")
TEST_ID = re.compile(r"`(tests/\S+\.py)::(\w+)`")


def markers() -> list[tuple[str, str, str, str]]:
    """(where, plain reference, test file, test name) of every marker comment."""
    out = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if m := MARKER.search(line):
                    where = f"{path.relative_to(REPO_ROOT).as_posix()}:{n}"
                    out.append((where, m.group(1), m.group(2), m.group(3)))
    return out


def listed() -> set[tuple[str, str]]:
    text = (REPO_ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## Fast paths", 1)[1].split("\n## ", 1)[0]
    return set(TEST_ID.findall(section))


def test_every_marked_fast_path_has_an_existing_test() -> None:
    found = markers()
    assert len(found) >= 10, found  # the markers are really there
    missing = []
    for where, _plain, file, name in found:
        path = REPO_ROOT / file
        if not path.is_file() or not re.search(rf"def {name}\(", path.read_text()):
            missing.append(f"{where}: {file}::{name}")
    assert not missing, "fast-path tests that do not exist:\n" + "\n".join(missing)


def test_architecture_lists_exactly_the_marked_fast_paths() -> None:
    marked = {(file, name) for _, _, file, name in markers()}
    rows = listed()
    assert marked - rows == set(), "marked in code, not in ARCHITECTURE.md"
    assert rows - marked == set(), "in ARCHITECTURE.md, no `# fast path:` comment in code"
