"""The standard contracts end to end on an in-memory host."""

from __future__ import annotations

import pytest

from contracts import ExecutionResult, MemoryHost, abi, execute, stdlib
from contracts.errors import ContractError

ALICE = b"\xaa" * 20
BOB = b"\xbb" * 20
# The one address form, written out (not computed by the contracts under test).
ALICE_ADDR = "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
BOB_ADDR = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
# Every way an address may be given: 0x, bare, 0X with upper-case digits.
FORMS = (lambda a: a, lambda a: a[2:], lambda a: "0X" + a[2:].upper())
GAS = 2_000_000


class Chain:
    """One contract's storage, called by different senders at increasing heights."""

    def __init__(self, name: str) -> None:
        self.code = stdlib.compiled(name)
        self.storage: dict[bytes, bytes] = {}
        self.height = 0

    def call(self, sender: bytes, method: str, *args: object) -> ExecutionResult:
        self.height += 1
        host = MemoryHost(
            caller=sender,
            tx_hash=self.height.to_bytes(32, "big"),
            block_height=self.height,
            timestamp=1_700_000_000 + self.height,
            storage=self.storage,
        )
        return execute(self.code, method, list(args), host, GAS)

    def ok(self, sender: bytes, method: str, *args: object) -> object:
        result = self.call(sender, method, *args)
        assert result.ok, result.error
        return result.return_value

    def fails(self, sender: bytes, method: str, *args: object) -> str:
        before = dict(self.storage)
        result = self.call(sender, method, *args)
        assert not result.ok
        assert self.storage == before  # nothing written
        return result.error or ""


def test_names_and_sources() -> None:
    assert stdlib.NAMES == ("evidence", "traceability", "records")
    for name in stdlib.NAMES:
        text = stdlib.source(name)
        assert "Methods:" in text
        for method in abi(stdlib.compiled(name)):
            assert method + "(" in text, f"{name}.{method} is not documented"
    with pytest.raises(ContractError):
        stdlib.source("nope")


DOC = "AB" * 32


def test_evidence_register_lookup_list_duplicate() -> None:
    c = Chain("evidence")
    record = c.ok(ALICE, "register", "0x" + DOC, "contract", "Lease 2026")
    assert record == {
        "hash": DOC.lower(),
        "doc_type": "contract",
        "title": "Lease 2026",
        "owner": ALICE_ADDR,
        "height": 1,
        "timestamp": 1_700_000_001,
        "tx": (1).to_bytes(32, "big").hex(),
    }
    assert c.ok(BOB, "get", DOC.lower()) == record
    assert c.ok(BOB, "exists", DOC) is True
    assert c.ok(BOB, "exists", "cd" * 32) is False
    assert c.ok(BOB, "get", "cd" * 32) is None
    assert "already registered" in c.fails(BOB, "register", DOC, "x", "y")
    c.ok(ALICE, "register", "cd" * 32, "invoice", "")
    c.ok(BOB, "register", "ef" * 32, "invoice", "")
    for form in FORMS:
        assert c.ok(BOB, "count_by_owner", form(ALICE_ADDR)) == 2
        assert c.ok(BOB, "list_by_owner", form(ALICE_ADDR), 0, 10) == [DOC.lower(), "cd" * 32]
        assert c.ok(BOB, "list_by_owner", form(ALICE_ADDR), 1, 10) == ["cd" * 32]
        assert c.ok(BOB, "list_by_owner", form(BOB_ADDR), 0, 10) == ["ef" * 32]
    assert "owner must be 40 hex" in c.fails(BOB, "count_by_owner", ALICE_ADDR + "00")


def test_evidence_register_emits_and_validates() -> None:
    c = Chain("evidence")
    result = c.call(ALICE, "register", DOC, "contract", "t")
    assert [(e.name, e.fields) for e in result.events] == [
        ("Registered", {"hash": DOC.lower(), "owner": ALICE_ADDR, "doc_type": "contract"})
    ]
    assert "64 hex" in c.fails(ALICE, "register", "abc", "contract", "t")
    assert "hex" in c.fails(ALICE, "register", "zz" * 32, "contract", "t")
    assert "doc_type" in c.fails(ALICE, "register", "cd" * 32, "", "t")
    assert "title" in c.fails(ALICE, "register", "cd" * 32, "c", "t" * 257)
    assert "must be str" in c.fails(ALICE, "register", 5, "c", "t")
    assert "takes 3 arguments" in c.fails(ALICE, "register", DOC)
    assert "limit" in c.fails(ALICE, "list_by_owner", ALICE.hex(), 0, 101)


def test_evidence_views_are_read_only() -> None:
    c = Chain("evidence")
    c.ok(ALICE, "register", DOC, "contract", "t")
    host = MemoryHost(storage=c.storage)
    result = execute(c.code, "register", ["cd" * 32, "c", "t"], host, GAS, readonly=True)
    assert not result.ok and "read-only" in (result.error or "")


def test_traceability_lifecycle() -> None:
    c = Chain("traceability")
    batch = c.ok(ALICE, "create_batch", "B-001", "apples", "Orchard Co")
    assert batch["owner"] == ALICE_ADDR and batch["events"] == 0
    assert "already exists" in c.fails(BOB, "create_batch", "B-001", "pears", "x")
    c.ok(ALICE, "add_event", "B-001", "planting", "Field 3", "", "seeded")
    assert "not an authorised actor" in c.fails(
        BOB, "add_event", "B-001", "harvest", "Field 3", "", ""
    )
    assert "only the batch owner" in c.fails(BOB, "grant", "B-001", BOB.hex())
    granted = c.call(ALICE, "grant", "B-001", "0X" + BOB_ADDR[2:].upper())
    assert granted.ok and [(e.name, e.fields) for e in granted.events] == [
        ("ActorGranted", {"batch_id": "B-001", "actor": BOB_ADDR})
    ]
    for form in FORMS:
        assert c.ok(ALICE, "is_actor", "B-001", form(BOB_ADDR)) is True
    assert "actor must be 40 hex" in c.fails(ALICE, "grant", "B-001", "0x1234")
    ev = c.ok(BOB, "add_event", "B-001", "harvest", "Field 3", "12" * 32, "")
    assert ev["seq"] == 1 and ev["actor"] == BOB_ADDR and ev["data_hash"] == "12" * 32
    for stage in ("inspection", "processing", "transport", "sale"):
        c.ok(BOB, "add_event", "B-001", stage, "Plant 1", "", "")
    assert "unknown stage" in c.fails(BOB, "add_event", "B-001", "eating", "x", "", "")
    assert "unknown batch" in c.fails(BOB, "add_event", "B-404", "sale", "x", "", "")
    c.ok(ALICE, "revoke", "B-001", BOB_ADDR[2:])
    assert c.ok(ALICE, "is_actor", "B-001", BOB_ADDR) is False
    assert "not an authorised" in c.fails(BOB, "add_event", "B-001", "sale", "x", "", "")
    assert "was not granted" in c.fails(ALICE, "revoke", "B-001", BOB.hex())
    history = c.ok(BOB, "history", "B-001")
    assert [e["stage"] for e in history] == [
        "planting", "harvest", "inspection", "processing", "transport", "sale",
    ]  # fmt: skip
    assert [e["seq"] for e in history] == list(range(6))
    assert c.ok(BOB, "history_page", "B-001", 2, 2) == history[2:4]
    assert c.ok(BOB, "get_batch", "B-001")["events"] == 6
    assert c.ok(BOB, "get_batch", "B-404") is None


def test_records_versions_and_delete_markers() -> None:
    c = Chain("records")
    assert c.ok(ALICE, "put", "color", "red") == 1
    assert c.ok(ALICE, "put", "color", {"rgb": [255, 0, 0]}) == 2
    assert "only the owner" in c.fails(BOB, "put", "color", "blue")
    assert c.ok(BOB, "owner_of", "color") == ALICE_ADDR
    assert c.ok(BOB, "get", "color")["owner"] == ALICE_ADDR
    assert c.ok(BOB, "get", "color")["value"] == {"rgb": [255, 0, 0]}
    assert "only the owner" in c.fails(BOB, "delete", "color")
    assert c.ok(ALICE, "delete", "color") == 3
    current = c.ok(BOB, "get", "color")
    assert current["deleted"] is True and current["value"] is None and current["version"] == 3
    assert "already deleted" in c.fails(ALICE, "delete", "color")
    assert "no such record" in c.fails(ALICE, "delete", "other")
    assert c.ok(ALICE, "put", "color", "green") == 4
    history = c.ok(BOB, "history", "color", 0, 100)
    assert {v["by"] for v in history} == {ALICE_ADDR}
    assert [(v["version"], v["value"], v["deleted"]) for v in history] == [
        (1, "red", False), (2, {"rgb": [255, 0, 0]}, False), (3, None, True), (4, "green", False),
    ]  # fmt: skip
    assert c.ok(BOB, "history", "color", 3, 1) == history[3:]
    assert c.ok(BOB, "history", "nothing", 0, 5) == []
    assert c.ok(BOB, "get", "nothing") is None


def test_traceability_event_cap_and_stage_checks() -> None:
    c = Chain("traceability")
    c.ok(ALICE, "create_batch", "B", "pears", "Farm")
    for _ in range(256):
        c.ok(ALICE, "add_event", "B", "transport", "road", "", "")
    assert "maximum number of events" in c.fails(ALICE, "add_event", "B", "sale", "x", "", "")
    assert len(c.ok(BOB, "history", "B")) == 256
    assert c.ok(BOB, "get_batch", "B")["events"] == 256
    for bad in ("Harvest", "plant", "planting harvest", ""):
        assert "unknown stage" in c.fails(ALICE, "add_event", "B", bad, "x", "", "")
    assert "unknown batch" in c.fails(BOB, "history", "nope")
    assert "location" in c.fails(ALICE, "add_event", "B", "sale", "", "", "")
