"""Standard and deployed contracts end to end through the ledger (real VM, real LevelDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainnode.ledger.system.deployment import contract_address
from chainnode.model.codes import Code
from chainnode.model.types import Receipt
from contracts import compile_source, decode_value, encode_value
from tests.chainnode.ledger.helpers import admit_bad_args, commit, genesis, keys, open_ledger, tx

COUNTER = """
@public
def inc(by: int) -> int:
    n = storage.get("n", 0) + by
    storage["n"] = n
    emit("Inc", n=n)
    return n


@public
def inc_then_fail(by: int) -> int:
    storage["n"] = storage.get("n", 0) + by
    emit("Inc", n=by)
    require(by < 0, "refused after writing")
    return by


@view
def value() -> int:
    return storage.get("n", 0)
"""


def rv(r: Receipt) -> Any:
    assert r.ok, r.error
    return decode_value(r.return_value)


def test_standard_contracts_end_to_end_on_two_nodes(tmp_path: Path) -> None:
    ks = keys()
    alice, bob = ks[0], ks[1]
    g = genesis(std=True)
    doc = "ab" * 32
    with open_ledger(tmp_path / "a", g) as a, open_ledger(tmp_path / "b", g) as b:
        rs = commit(
            a,
            [
                tx(a, alice, "evidence", "register", [doc, "contract", "lease"]),
                tx(a, alice, "evidence", "register", [doc, "contract", "again"]),
                tx(a, bob, "traceability", "create_batch", ["b1", "apples", "farm"]),
                tx(a, bob, "traceability", "add_event", ["b1", "harvest", "field 3", "", "ok"]),
                tx(a, alice, "records", "put", ["k1", {"v": 1}]),
                tx(a, bob, "records", "put", ["k1", {"v": 2}]),
            ],
            b,
        )
        assert [r.ok for r in rs] == [True, False, True, True, True, False]
        rec = rv(rs[0])
        blk = a.block(1)
        assert blk is not None
        alice_addr = "0x" + alice.address.hex()  # the one form (issue 15)
        assert rec["owner"] == alice_addr and rec["height"] == 1
        assert rec["timestamp"] == blk.header.timestamp and rec["tx"] == rs[0].tx_hash.hex()
        ev = rs[0].events[0]
        assert ev.name == "Registered" and ev.contract == a.contract_address("evidence")
        assert decode_value(ev.fields)["owner"] == alice_addr
        assert "already registered" in rs[1].error and rs[1].events == ()
        assert "owner" in rs[5].error
        for led in (a, b):
            got = led.call_view("evidence", "get", [doc])
            assert got.ok and got.return_value["title"] == "lease"
            for owner in (alice_addr, alice.address.hex()):
                assert led.call_view("evidence", "count_by_owner", [owner]).return_value == 1
            hist = led.call_view("traceability", "history", ["b1"]).return_value
            assert [e["stage"] for e in hist] == ["harvest"]
            assert led.call_view("records", "get", ["k1"]).return_value["value"] == {"v": 1}
            assert led.state_value("records", "nosuch") is None
        assert a.head_hash == b.head_hash and a.state_root == b.state_root
        assert a.receipt(rs[0].tx_hash) == rs[0] == b.receipt(rs[0].tx_hash)
        # unknown method of a VM contract is refused at admission
        bad = tx(a, alice, "evidence", "nope", [])
        assert a.mempool.submit([bad])[0].code == Code.UNKNOWN_METHOD


def test_out_of_gas_and_bad_args_fail_only_the_tx(tmp_path: Path) -> None:
    with (
        open_ledger(tmp_path / "a", genesis(std=True)) as a,
        open_ledger(tmp_path / "b", genesis(std=True)) as b,
    ):
        root_before = a.state_root
        bad = tx(a, keys()[0], "records", "put", [1, 2, 3])
        (adm,) = a.mempool.submit([bad])  # refused before it costs anything
        assert (adm.code, adm.field) == (Code.INVALID_ARGS, "args[2]") and a.mempool.size == 0
        # A proposer whose admission let it in (an older or a Byzantine node): its block is
        # valid at a node with the new rule; the tx fails in execution, alone.
        admit_bad_args(a)
        rs = commit(a, [tx(a, keys()[0], "records", "put", ["k", "v"], gas_limit=50), bad], b)
        assert [r.ok for r in rs] == [False, False]
        assert rs[0].gas_used == 50 and "gas" in rs[0].error
        assert a.call_view("records", "get", ["k"]).return_value is None
        assert a.state_root != root_before and a.head_hash == b.head_hash


def test_deploy_and_call_by_name_and_address(tmp_path: Path) -> None:
    ks = keys()
    code = compile_source(COUNTER)
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        d = tx(a, ks[0], "deployment", "deploy", [code, "counter"])
        (r,) = commit(a, [d], b)
        addr = rv(r)
        assert addr == contract_address(a.suite.hash, ks[0].address, d.nonce)
        assert a.contract_address("counter") == addr
        assert [(e.name, decode_value(e.fields)) for e in r.events] == [
            ("Deployed", {"address": addr, "name": "counter", "deployer": ks[0].address})
        ]
        rs = commit(
            a,
            [
                tx(a, ks[1], "counter", "inc", [2]),
                tx(a, ks[1], addr.hex(), "inc", [3]),
                tx(a, ks[2], "deployment", "deploy", [code, "counter"]),  # name taken
                tx(a, ks[2], "deployment", "deploy", [b"not bytecode"]),
                tx(a, ks[2], "deployment", "deploy", [code]),  # anonymous deploy is fine
            ],
            b,
        )
        assert [r.ok for r in rs] == [True, True, False, False, True]
        assert rv(rs[1]) == 5 and decode_value(rs[1].events[0].fields) == {"n": 5}
        assert rs[2].error.startswith("DUPLICATE") and rs[3].error.startswith("MALFORMED")
        assert a.call_view("counter", "value").return_value == 5
        assert b.call_view(addr.hex(), "value").return_value == 5
        assert a.state_get("counter", encode_value("n")) == encode_value(5)
        assert a.state_value("counter", "n") == 5
        other = rv(rs[4])
        assert b.call_view(other.hex(), "value").return_value == 0
        assert a.head_hash == b.head_hash and a.state_root == b.state_root


def test_a_vm_call_failing_after_its_writes_leaves_state_untouched(tmp_path: Path) -> None:
    ks = keys()
    with open_ledger(tmp_path / "a") as a, open_ledger(tmp_path / "b") as b:
        commit(a, [tx(a, ks[0], "deployment", "deploy", [compile_source(COUNTER), "counter"])], b)
        rs = commit(
            a,
            [
                tx(a, ks[1], "counter", "inc", [2]),
                tx(a, ks[1], "counter", "inc_then_fail", [7]),
                tx(a, ks[1], "counter", "inc", [1]),
            ],
            b,
        )
        assert [r.ok for r in rs] == [True, False, True]
        assert "refused after writing" in rs[1].error and rs[1].events == ()
        assert rv(rs[2]) == 3  # saw 2, not 9: the failed call's write never landed
        for led in (a, b):
            assert led.call_view("counter", "value").return_value == 3
        assert a.head_hash == b.head_hash and a.state_root == b.state_root


def test_closed_mode_needs_deployer_and_writer(tmp_path: Path) -> None:
    ks = keys()
    admin, dev, user = ks[4], ks[1], ks[2]
    code = compile_source(COUNTER)
    with open_ledger(tmp_path, genesis(permissions="closed", std=True)) as a:
        assert a.mempool.submit([tx(a, dev, "deployment", "deploy", [code])])[0].code == (
            Code.NO_PERMISSION
        )
        assert a.mempool.submit([tx(a, user, "records", "put", ["k", 1])])[0].code == (
            Code.NO_PERMISSION
        )
        commit(
            a,
            [
                tx(a, admin, "permissions", "grant", [dev.address, "deployer"]),
                tx(a, admin, "permissions", "grant", [user.address, "writer"]),
            ],
        )
        (r,) = commit(a, [tx(a, dev, "deployment", "deploy", [code, "ctr"])])
        assert r.ok
        rs = commit(a, [tx(a, user, "ctr", "inc", [1]), tx(a, user, "records", "put", ["k", 1])])
        assert all(x.ok for x in rs)
        assert a.mempool.submit([tx(a, user, "deployment", "deploy", [code])])[0].code == (
            Code.NO_PERMISSION
        )


def test_contract_list_pages_through_deployments(tmp_path: Path) -> None:
    code = compile_source(COUNTER)
    with open_ledger(tmp_path, genesis(std=True)) as a:
        deploys = [
            tx(a, keys()[0], "deployment", "deploy", [code, f"c{i}"] if i % 2 else [code])
            for i in range(5)
        ]
        addrs = {rv(r): (f"c{i}" if i % 2 else None) for i, r in enumerate(commit(a, deploys))}
        full, more = a.contract_list()
        assert more is None
        builtin = [(e.name, e.kind) for e in full if e.kind != "deployed"]
        assert builtin == [
            ("governance", "system"), ("permissions", "system"), ("deployment", "system"),
            ("evidence", "stdlib"), ("traceability", "stdlib"), ("records", "stdlib"),
        ]  # fmt: skip
        deployed = [(e.address, e.name) for e in full if e.kind == "deployed"]
        assert deployed == sorted(addrs.items())  # by address, names attached
        pages: list[tuple[bytes, str | None]] = []
        after = None
        while True:
            page, after = a.contract_list(after, limit=2)
            assert len([e for e in page if e.kind == "deployed"]) <= 2
            assert (page[0].kind == "system") == (not pages)  # built-ins on the first page only
            pages += [(e.address, e.name) for e in page if e.kind == "deployed"]
            if after is None:
                break
        assert pages == deployed
        unnamed = next(addr for addr, name in addrs.items() if name is None)
        got = a.contract_interface(unnamed.hex())
        assert got is not None and got.entry.name is None and got.entry.kind == "deployed"
        named = a.contract_interface("c1")
        assert named is not None and named.entry.name == "c1" and set(named.methods) >= {"inc"}
