"""System contracts: governance votes and validator sets by height, permissions, deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainnode.model.codes import CallError, Code
from chainnode.model.genesis import ValidatorInfo
from contracts import decode_value
from tests.chainnode.ledger.helpers import (
    admit_bad_args,
    commit,
    genesis,
    keys,
    open_ledger,
    tx,
    validators,
)


def ret(r: object) -> object:
    return decode_value(r.return_value)  # type: ignore[attr-defined]


def test_governance_two_thirds_vote_changes_validators_at_next_height(tmp_path: Path) -> None:
    ks = keys()
    a1, a2, a3 = ks[4], ks[5], ks[6]
    new = ValidatorInfo(ks[8].pub, "node9", "127.0.0.1:9000", "127.0.0.1:9100")
    args = [new.public_key, new.node_id, new.p2p_addr, new.api_addr]
    with open_ledger(tmp_path, genesis(admins=3)) as led:
        old = validators()
        assert led.validators_at(0) == old == led.validators_at(10**9)
        (r,) = commit(led, [tx(led, a1, "governance", "add_validator", args)])
        assert r.ok and ret(r) is False  # 1 of 3 votes: not yet
        assert led.validators_at(led.height + 1) == old
        (r,) = commit(led, [tx(led, a1, "governance", "add_validator", args)])
        assert not r.ok and r.error.startswith("DUPLICATE")  # one vote per admin
        (r,) = commit(led, [tx(led, a2, "governance", "add_validator", args)])
        assert r.ok and ret(r) is True  # 2 of 3 >= 2/3
        h = led.height
        assert [e.name for e in r.events] == ["Voted", "ValidatorAdded"]
        voted, added = (decode_value(e.fields) for e in r.events)
        assert voted["votes"] == 2 and voted["admins"] == 3 and voted["voter"] == a2.pub
        assert added == {
            "public_key": new.public_key,
            "node_id": "node9",
            "effective_height": h + 1,
        }
        assert r.events[0].contract == led.contract_address("governance")
        assert led.validators_at(h) == old
        assert led.validators_at(h + 1) == [*old, new]
        # a later removal; history answers past heights
        rm = [old[0].public_key]
        commit(led, [tx(led, a2, "governance", "remove_validator", rm)])
        commit(led, [tx(led, a3, "governance", "remove_validator", rm)])
        h2 = led.height
        assert led.validators_at(h2 + 1) == [*old[1:], new]
        assert led.validators_at(h + 1) == [*old, new]
        assert led.validators_at(h) == old
        v = led.call_view("governance", "validators", [])
        assert v.ok and [x[0] for x in v.return_value] == [x.public_key for x in [*old[1:], new]]
        assert [h0 for h0, _ in led.validator_history()] == [0, h + 1, h2 + 1]
    with open_ledger(tmp_path, genesis(admins=3)) as led:  # history survives reopen
        assert led.validator_history()[1] == (h + 1, [*old, new])
        assert led.validators_at(h) == old
        assert led.validators_at(h + 1) == [*old, new]
        assert led.validators_at(h2 + 1) == [*old[1:], new]


def test_admin_set_changes_and_threshold_follows(tmp_path: Path) -> None:
    ks = keys()
    a1, a2 = ks[4], ks[5]
    with open_ledger(tmp_path, genesis(admins=2)) as led:
        # 2 admins: both must vote (2*3 >= 2*2 needs 2)
        (r,) = commit(led, [tx(led, a1, "governance", "add_admin", [ks[9].pub])])
        assert ret(r) is False
        (r,) = commit(led, [tx(led, a2, "governance", "add_admin", [ks[9].pub])])
        assert ret(r) is True
        assert led.call_view("governance", "admins").return_value == [a1.pub, a2.pub, ks[9].pub]
        # the new admin may now act (e.g. grant roles) and vote
        (r,) = commit(led, [tx(led, ks[9], "governance", "remove_admin", [a1.pub])])
        assert ret(r) is False
        (r,) = commit(led, [tx(led, a2, "governance", "remove_admin", [a1.pub])])
        assert ret(r) is True
        adm = led.mempool.submit([tx(led, a1, "governance", "add_admin", [a1.pub])])
        assert adm[0].code == Code.NO_PERMISSION  # no longer an admin
        # the last admin cannot be removed
        (r,) = commit(led, [tx(led, a2, "governance", "remove_admin", [ks[9].pub])])
        (r,) = commit(led, [tx(led, ks[9], "governance", "remove_admin", [ks[9].pub])])
        assert ret(r) is True
        (r,) = commit(led, [tx(led, a2, "governance", "remove_admin", [a2.pub])])
        assert not r.ok and "last admin" in r.error


def test_bad_governance_args_fail_the_tx_only(tmp_path: Path) -> None:
    a = keys()[4]
    with open_ledger(tmp_path, genesis()) as led:
        root = led.state_root
        extra = tx(led, a, "governance", "add_validator", [keys()[9].pub, "n", "p", "a", 5])
        (adm,) = led.mempool.submit([extra])
        assert (adm.code, adm.field) == (Code.INVALID_ARGS, "args[4]")
        admit_bad_args(led)  # execution still fails each of these alone
        rs = commit(
            led,
            [
                tx(led, a, "governance", "add_validator", [b"short", "n", "p", "a"]),
                tx(led, a, "governance", "add_validator", [b"\x04" + b"\x01" * 64, "n", "p", "a"]),
                tx(led, a, "governance", "add_admin", [b"\x04" + b"\x02" * 64]),
                tx(led, a, "governance", "remove_validator", [keys()[9].pub]),
                tx(led, a, "governance", "add_admin", [a.pub]),
                extra,
                tx(
                    led,
                    a,
                    "governance",
                    "add_validator",
                    [keys()[9].pub, "n", "p", "a"],
                    gas_limit=10,
                ),
            ],
        )
        assert [r.ok for r in rs] == [False] * 7
        assert [r.error.split(":")[0] for r in rs] == ["MALFORMED"] * 6 + ["GAS_LIMIT"]
        assert led.validators_at(led.height + 1) == validators()
        assert led.state_root != root  # the chain moves on, but only by the (empty) writes


def test_permissions_closed_mode(tmp_path: Path) -> None:
    ks = keys()
    admin, user, dev = ks[4], ks[0], ks[1]
    with open_ledger(tmp_path, genesis(permissions="closed")) as led:
        call = ("deployment", "resolve", ["evidence"])
        assert led.mempool.submit([tx(led, user, *call)])[0].code == Code.NO_PERMISSION
        rs = commit(
            led,
            [
                tx(led, admin, "permissions", "grant", [user.address, "writer"]),
                tx(led, admin, "permissions", "grant", [dev.pub, "deployer"]),
            ],
        )
        assert all(r.ok for r in rs)
        assert led.call_view("permissions", "roles", [user.address]).return_value == ["writer"]
        assert led.call_view("permissions", "roles", [admin.pub]).return_value == ["admin"]
        assert led.mempool.submit([tx(led, user, *call)])[0].accepted
        assert led.mempool.submit([tx(led, dev, *call)])[0].accepted  # deployer implies writer
        assert (
            led.mempool.submit([tx(led, user, "deployment", "deploy", [b"x"])])[0].code
            == Code.NO_PERMISSION
        )
        commit(led, list(led.mempool.pending()))
        (r,) = commit(led, [tx(led, admin, "permissions", "revoke", [user.address, "writer"])])
        assert r.ok
        assert led.mempool.submit([tx(led, user, *call)])[0].code == Code.NO_PERMISSION
        (r,) = commit(led, [tx(led, admin, "permissions", "set_mode", ["open"])])
        assert r.ok and led.call_view("permissions", "mode").return_value == "open"
        assert led.mempool.submit([tx(led, user, *call)])[0].accepted


def test_permission_checked_again_at_execution(tmp_path: Path) -> None:
    """A tx admitted while allowed fails (not the block) if a revoke commits first."""
    ks = keys()
    admin, user = ks[4], ks[0]
    with open_ledger(tmp_path, genesis(permissions="closed")) as led:
        commit(led, [tx(led, admin, "permissions", "grant", [user.address, "writer"])])
        revoke = tx(led, admin, "permissions", "revoke", [user.address, "writer"])
        late = tx(led, user, "deployment", "resolve", ["x"])
        rs = commit(led, [revoke, late])
        assert rs[0].ok and not rs[1].ok and rs[1].error.startswith("NO_PERMISSION")
        # and non-admins can never change permissions, even in open mode
        (r,) = commit(led, [tx(led, admin, "permissions", "set_mode", ["open"])])
        assert (
            led.mempool.submit([tx(led, user, "permissions", "set_mode", ["closed"])])[0].code
            == Code.NO_PERMISSION
        )


def test_governance_params_threshold_expiry_and_pending(tmp_path: Path) -> None:
    """A genesis with governance parameters: its threshold, proposals that expire after
    proposal_ttl_blocks (a later vote starts afresh), the open ones listed by pending()."""
    from dataclasses import replace

    from chainnode.model.genesis import GovernanceParams

    ks = keys()
    a1, a2, a3, a4 = ks[4], ks[5], ks[6], ks[7]
    g = replace(genesis(admins=4), governance=GovernanceParams(3, 4, proposal_ttl_blocks=3))
    new = ValidatorInfo(ks[8].pub, "org5", "10.0.0.5:8800", "10.0.0.5:8700")
    args = [new.public_key, new.node_id, new.p2p_addr, new.api_addr]
    with open_ledger(tmp_path, g) as led:
        assert led.call_view("governance", "params").return_value == [3, 4, 3]
        (r,) = commit(led, [tx(led, a1, "governance", "add_validator", args)])
        first = led.height
        voted = decode_value(r.events[0].fields)
        assert ret(r) is False and (voted["votes"], voted["needed"]) == (1, 3)
        assert voted["expires_at"] == first + 3
        (row,) = led.call_view("governance", "pending").return_value
        assert row[0] == voted["proposal"] and row[1] == "add_validator"
        assert row[2] == args and row[3] == [a1.pub] and row[4:] == [3, first + 3]
        (r,) = commit(led, [tx(led, a2, "governance", "add_validator", args)])
        assert ret(r) is False and decode_value(r.events[0].fields)["votes"] == 2
        # let the proposal expire: three more blocks of other transactions
        for role in ("writer", "deployer", "writer"):
            commit(led, [tx(led, a4, "permissions", "grant", [ks[9].address, role])])
        assert led.height > first + 3

        def open_additions() -> list[object]:
            rows = led.call_view("governance", "pending").return_value
            return [row for row in rows if row[1] == "add_validator"]  # not the grants

        assert open_additions() == []
        (r,) = commit(led, [tx(led, a3, "governance", "add_validator", args)])
        voted = decode_value(r.events[0].fields)
        assert ret(r) is False and voted["votes"] == 1  # afresh: the old votes lapsed
        commit(led, [tx(led, a1, "governance", "add_validator", args)])
        (r,) = commit(led, [tx(led, a4, "governance", "add_validator", args)])
        assert ret(r) is True  # 3 of 4 >= 3/4
        assert led.validators_at(led.height + 1)[-1] == new
        assert open_additions() == []


def test_permission_changes_are_voted_with_governance_params(tmp_path: Path) -> None:
    """With genesis governance parameters a role or mode change is a proposal like the
    others (one admin of four is not enough); without them one admin applies it at once."""
    from dataclasses import replace

    from chainnode.model.genesis import GovernanceParams

    ks = keys()
    a1, a2, a3 = ks[4], ks[5], ks[6]
    user = ks[9]
    g = replace(genesis(admins=4), governance=GovernanceParams())
    with open_ledger(tmp_path / "voted", g) as led:
        (r,) = commit(led, [tx(led, a1, "permissions", "set_mode", ["closed"])])
        assert r.ok and ret(r) is False and [e.name for e in r.events] == ["Voted"]
        assert led.call_view("permissions", "mode").return_value == "open"
        (row,) = led.call_view("governance", "pending").return_value
        assert row[1] == "set_mode" and row[2] == [b"closed"] and row[4] == 3
        commit(led, [tx(led, a2, "permissions", "set_mode", ["closed"])])
        (r,) = commit(led, [tx(led, a3, "permissions", "set_mode", ["closed"])])
        assert ret(r) is True and [e.name for e in r.events] == ["Voted", "ModeChanged"]
        assert led.call_view("permissions", "mode").return_value == "closed"
        (r,) = commit(led, [tx(led, a1, "permissions", "grant", [user.address, "writer"])])
        assert ret(r) is False
        assert led.call_view("permissions", "roles", [user.address]).return_value == []
    with open_ledger(tmp_path / "first", genesis(admins=4)) as led:  # no parameters
        (r,) = commit(led, [tx(led, a1, "permissions", "set_mode", ["closed"])])
        assert ret(r) is True and [e.name for e in r.events] == ["ModeChanged"]


def test_address_arguments_take_the_text_form_with_or_without_0x(tmp_path: Path) -> None:
    """permissions' who and deployment.code's address take "0x" + 40 hex (0x optional, any
    case) as well as 20 bytes (issue 15); a grant voted in one form and revoked in another
    names the same address, and a bad one is refused at admission naming the argument."""
    ks = keys()
    admin, user, other = ks[4], ks[0], ks[1]
    text = "0x" + user.address.hex()
    forms = [text, text[2:], "0X" + text[2:].upper(), user.address]
    with open_ledger(tmp_path, genesis(permissions="closed", std=True)) as led:
        (r,) = commit(led, [tx(led, admin, "permissions", "grant", [text[2:], "writer"])])
        assert r.ok and decode_value(r.events[0].fields)["address"] == user.address
        for who in forms:
            assert led.call_view("permissions", "roles", [who]).return_value == ["writer"]
        assert (
            led.call_view("permissions", "roles", ["0x" + other.address.hex()]).return_value == []
        )
        (r,) = commit(led, [tx(led, admin, "permissions", "revoke", [forms[2], "writer"])])
        assert r.ok and led.call_view("permissions", "roles", [user.address]).return_value == []
        for bad, shown in (
            ("0x1234", "got str"),
            ("writer", "got str"),
            (b"\x01" * 21, "21 bytes"),
        ):
            res = led.mempool.submit([tx(led, admin, "permissions", "grant", [bad, "writer"])])[0]
            assert res.code == Code.INVALID_ARGS and res.field == "args[0]", res
            assert (
                'expected an address ("0x" + 40 hex digits' in res.message and shown in res.message
            )
        evidence = led.contract_address("evidence")
        assert evidence is not None
        for addr in ("0x" + evidence.hex(), evidence.hex().upper(), evidence):
            got = led.call_view("deployment", "code", [addr])
            assert got.ok and got.return_value is not None and got.return_value[:4] == b"CNVM"
        with pytest.raises(CallError, match=r"args\[0\] \(address\): expected an address"):
            led.call_view("deployment", "code", ["0x" + "00" * 19])
