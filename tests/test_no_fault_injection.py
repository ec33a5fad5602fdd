"""A production node carries no fault-injection code (issue 17): the Byzantine transport, the
partition and their routes live in bench/chaos, reached only through the node's Seams."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("chainnode", "consensus", "p2p", "storage", "contracts", "crypto")
MARKERS = ("/v1/_test/", "BYZANTINE", "CHAINNODE_TEST_HOOKS", "set_cut", "fault injection")


def test_no_fault_injection_markers_in_production_packages() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {marker}"
        for package in PRODUCTION
        for path in sorted((ROOT / package).rglob("*.py"))
        for marker in MARKERS
        if marker in path.read_text(encoding="utf-8")
    ]
    assert not found, found


def test_the_chaos_launcher_still_has_them() -> None:
    """The markers above are real: the launcher that should hold them does."""
    text = "".join(p.read_text() for p in sorted((ROOT / "bench" / "chaos").glob("*.py")))
    assert "/v1/_test/partition" in text and "BYZANTINE" in text and "set_cut" in text
