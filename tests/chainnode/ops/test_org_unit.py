"""The ceremony's steps as functions: cards, genesis from cards, configure's refusal, sealed
keys (issue 20)."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from chainnode.deploy.org import (
    MemberCard,
    OrgError,
    admit_observer,
    assemble_genesis,
    configure_org,
    init_org,
    parse_threshold,
)
from chainnode.model.genesis import Genesis
from chainnode.model.keys import KeyFileError, load_private_key
from chainnode.node.config import load_config
from crypto import sm2
from crypto.suite import get_suite


def _orgs(root: Path, names: list[str]) -> list[MemberCard]:
    return [
        init_org(root / n, n, api_port=9100 + i, p2p_port=9200 + i) for i, n in enumerate(names)
    ]


def test_card_names_the_keys_in_the_directory(tmp_path: Path) -> None:
    card = init_org(tmp_path / "a", "acme", host="10.0.0.5", api_port=9001, p2p_port=9002)
    suite, node = load_private_key(tmp_path / "a" / "node.pem")
    assert suite == "sm"
    assert sm2.PrivateKey.from_bytes(node).public_key().to_bytes() == card.node_public_key
    suite, admin = load_private_key(tmp_path / "a" / "admin.pem")
    assert (get_suite(suite).public_key(admin),) == card.admin_public_keys
    for f in ("node.pem", "admin.pem"):
        assert (tmp_path / "a" / f).stat().st_mode & 0o777 == 0o600
    doc = json.loads((tmp_path / "a" / "member.json").read_text())
    assert doc["p2p"] == "10.0.0.5:9002" and doc["api"] == "10.0.0.5:9001"
    assert "private" not in json.dumps(doc)
    assert MemberCard.load(tmp_path / "a" / "member.json") == card
    with pytest.raises(OrgError, match="already exists"):
        init_org(tmp_path / "a", "acme")


def test_sealed_keys_open_with_their_password_only(tmp_path: Path) -> None:
    card = init_org(tmp_path / "a", "acme", password=b"correct horse")
    for f in ("node.pem", "admin.pem"):
        raw = (tmp_path / "a" / f).read_bytes()
        assert b"BEGIN" not in raw and json.loads(raw)["kind"] == "chainnode-keystore"
        with pytest.raises(KeyFileError, match="sealed with a password"):
            load_private_key(tmp_path / "a" / f)
        with pytest.raises(KeyFileError, match="wrong password"):
            load_private_key(tmp_path / "a" / f, b"wrong")
    _, node = load_private_key(tmp_path / "a" / "node.pem", b"correct horse")
    assert sm2.PrivateKey.from_bytes(node).public_key().to_bytes() == card.node_public_key


def test_genesis_from_cards_alone_is_the_same_wherever_assembled(tmp_path: Path) -> None:
    cards = _orgs(tmp_path, ["a", "b", "c"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for n in "abc":  # only the public cards travel
        (elsewhere / f"{n}.json").write_bytes((tmp_path / n / "member.json").read_bytes())
    copies = [MemberCard.load(elsewhere / f"{n}.json") for n in "abc"]
    g1 = assemble_genesis(cards, "consortium-1", timestamp=1_700_000_000_000)
    g2 = assemble_genesis(copies, "consortium-1", timestamp=1_700_000_000_000)
    sm3 = hashes.Hash(hashes.SM3())  # OpenSSL's SM3, not the project's
    sm3.update(g1.encode())
    assert g1.hash == g2.hash == sm3.finalize()
    assert [v.node_id for v in g1.validators] == ["a", "b", "c"]
    assert [v.public_key for v in g1.validators] == [c.node_public_key for c in cards]
    assert list(g1.admins) == [c.admin_public_keys[0] for c in cards]
    assert g1.validators[1].p2p_addr == "127.0.0.1:9201"


def test_assemble_refuses_what_would_make_a_bad_consortium(tmp_path: Path) -> None:
    a, b = _orgs(tmp_path, ["a", "b"])
    with pytest.raises(OrgError, match="name 'a'"):
        assemble_genesis([a, a], "x")
    with pytest.raises(OrgError, match="more than half"):
        assemble_genesis([a, b], "x", admin_threshold=(1, 2))
    g = assemble_genesis([a, b], "x", admin_threshold=(3, 4), proposal_ttl_blocks=50)
    assert g.governance is not None and g.governance.to_list() == [3, 4, 50]
    assert Genesis.from_json(json.loads(json.dumps(g.to_json()))).hash == g.hash
    with pytest.raises(OrgError, match="more than half"):
        parse_threshold("1/2")
    with pytest.raises(OrgError, match="fraction"):
        parse_threshold("two thirds")
    assert parse_threshold("2/3") == (2, 3)


def test_configure_refuses_a_genesis_without_this_org_unless_observer(tmp_path: Path) -> None:
    a, b, c = _orgs(tmp_path, ["a", "b", "c"])
    without_a = tmp_path / "bc.json"
    assemble_genesis([b, c], "x").save(without_a)
    with pytest.raises(OrgError, match="--observer"):
        configure_org(tmp_path / "a", without_a)
    assert not (tmp_path / "a" / "config.toml").exists()
    cfg = configure_org(tmp_path / "a", without_a, observer=True)
    assert cfg.node_id == "a" and cfg.peers is None
    full = tmp_path / "abc.json"
    assemble_genesis([a, b, c], "x").save(full)
    cfg = configure_org(tmp_path / "b", full)
    written = tomllib.loads((tmp_path / "b" / "config.toml").read_text())
    assert written["genesis"] == os.path.join("..", "abc.json")
    assert (written["api_port"], written["p2p_port"], written["node_id"]) == (9101, 9201, "b")
    assert Genesis.load(tmp_path / "b" / written["genesis"]).hash == Genesis.load(full).hash
    # a node key that is not the card's is caught before anything starts
    (tmp_path / "c" / "node.pem").unlink()
    (tmp_path / "c" / "node.pem").write_bytes((tmp_path / "b" / "node.pem").read_bytes())
    with pytest.raises(OrgError, match="not the node key"):
        configure_org(tmp_path / "c", full)


def test_admit_adds_the_card_node_key_to_observers_once(tmp_path: Path) -> None:
    a, b, c = _orgs(tmp_path, ["a", "b", "c"])
    g = tmp_path / "ab.json"
    assemble_genesis([a, b], "x").save(g)
    configure_org(tmp_path / "a", g)
    before = tomllib.loads((tmp_path / "a" / "config.toml").read_text())
    assert admit_observer(tmp_path / "a", tmp_path / "c" / "member.json") == ("c", True)
    assert admit_observer(tmp_path / "a", tmp_path / "c" / "member.json") == ("c", False)
    after = tomllib.loads((tmp_path / "a" / "config.toml").read_text())
    assert after.pop("observers") == [c.node_public_key.hex()]
    assert before.pop("observers", []) == []
    assert after == before  # every other setting as written (relative paths too)
    cfg = load_config(tmp_path / "a" / "config.toml", env={})
    assert cfg.observer_keys == {c.node_public_key}
    # a card that is not one changes nothing
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(OrgError):
        admit_observer(tmp_path / "a", tmp_path / "bad.json")
    assert tomllib.loads((tmp_path / "a" / "config.toml").read_text())["observers"] == [
        c.node_public_key.hex()
    ]


def test_a_card_that_is_not_one_is_refused(tmp_path: Path) -> None:
    init_org(tmp_path / "a", "a")
    doc = json.loads((tmp_path / "a" / "member.json").read_text())
    for field, value, match in (
        ("kind", "x", "not a member card"),
        ("node_public_key", "04" + "00" * 10, "65-byte"),
        ("p2p", "nohostport", "host:port"),
        ("name", "../etc", "name"),
    ):
        bad = dict(doc, **{field: value})
        with pytest.raises(OrgError, match=match):
            MemberCard.from_json(bad)
