"""Genesis: validation, JSON file round trip, stable hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chainnode.model.codes import GenesisError
from chainnode.model.genesis import ConsensusParams, Genesis, make_genesis
from tests.chainnode.ledger.helpers import genesis, keys, validators


def test_save_load_round_trip(tmp_path: Path) -> None:
    g = genesis(admins=2, permissions="closed", std=True)
    p = tmp_path / "genesis.json"
    g.save(p)
    back = Genesis.load(p)
    assert back == g and back.hash == g.hash
    obj = json.loads(p.read_text())
    assert obj["suite"] == "sm" and obj["permissions"] == "closed"
    assert obj["contracts"] == ["evidence", "traceability", "records"]
    assert len(obj["validators"]) == 4 and obj["validators"][0]["node_id"] == "node0"


def test_hash_depends_on_every_field() -> None:
    g = genesis()
    variants = [
        make_genesis("other", g.validators, g.admins, timestamp=g.timestamp, consensus=g.consensus),
        make_genesis(
            g.chain_id, g.validators[:3], g.admins, timestamp=g.timestamp, consensus=g.consensus
        ),
        make_genesis(
            g.chain_id,
            g.validators,
            g.admins,
            permissions="closed",
            timestamp=g.timestamp,
            consensus=g.consensus,
        ),
        make_genesis(
            g.chain_id,
            g.validators,
            g.admins,
            timestamp=g.timestamp,
            consensus=ConsensusParams(max_block_txs=7),
        ),
        make_genesis(g.chain_id, g.validators, g.admins, timestamp=1, consensus=g.consensus),
    ]
    assert len({v.hash for v in variants} | {g.hash}) == len(variants) + 1


def test_ecdsa_suite_genesis() -> None:
    g = genesis("ecdsa-p256")
    assert Genesis.from_json(g.to_json()) == g
    d = g.to_json()
    d["admins"] = [keys("sm")[4].pub.hex()]  # an SM2 key on a P-256 chain
    with pytest.raises(GenesisError, match="not a ecdsa-p256 public key"):
        Genesis.from_json(d)
    d = genesis().to_json()
    d["validators"][1]["public_key"] = "04" + "01" * 64  # not on the curve
    with pytest.raises(GenesisError, match="validator key"):
        Genesis.from_json(d)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(chain_id="bad id"),
        lambda d: d.update(suite="rsa"),
        lambda d: d.update(permissions="maybe"),
        lambda d: d.update(validators=[]),
        lambda d: d.update(admins=[]),
        lambda d: d.update(admins=["zz"]),
        lambda d: d.update(admins=[d["admins"][0], d["admins"][0]]),
        lambda d: d.update(validators=[d["validators"][0], d["validators"][0]]),
        lambda d: d["validators"][0].update(public_key="04" * 10),
        lambda d: d["validators"][0].pop("api_addr"),
        lambda d: d.update(consensus={"max_block_txs": 0}),
        lambda d: d.update(consensus={"nope": 1}),
        lambda d: d.update(consensus={"block_interval_ms": "1"}),
        lambda d: d.update(contracts=["unknown"]),
        lambda d: d.pop("chain_id"),
        lambda d: d.update(timestamp=-1),
    ],
)
def test_invalid_genesis_rejected(mutate: object, tmp_path: Path) -> None:
    d = genesis().to_json()
    mutate(d)  # type: ignore[operator]
    with pytest.raises(GenesisError):
        Genesis.from_json(d)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(GenesisError, match="cannot read"):
        Genesis.load(tmp_path / "missing.json")
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(GenesisError, match="JSON"):
        Genesis.load(p)
    p.write_text("[1]")
    with pytest.raises(GenesisError):
        Genesis.load(p)


def test_make_genesis_defaults() -> None:
    g = make_genesis("c1", validators(), [keys()[5].pub])
    assert g.suite == "sm" and g.permissions == "open"
    assert g.consensus == ConsensusParams().with_gas_limits()  # the gas limits pinned
    assert g.validators[2].public_key65 == validators()[2].public_key


def test_bytecode_is_pinned_in_genesis_json(tmp_path: Path) -> None:
    import contracts

    g = genesis(std=True)
    d = g.to_json()
    assert d["code"]["evidence"] == contracts.stdlib.compiled("evidence").hex()
    older = dict(d)
    older.pop("code")  # a genesis.json without pinned code compiles the stdlib when loaded
    assert Genesis.from_json(older) == g
    counter = contracts.compile_source("@view\ndef value() -> int:\n    return 41 + 1\n")
    pinned = dict(d, code={**d["code"], "records": counter.hex()})
    g2 = Genesis.from_json(pinned)
    assert g2.hash != g.hash and g2.code[2] == counter
    from tests.chainnode.ledger.helpers import open_ledger

    with open_ledger(tmp_path, g2) as led:  # block 0 deploys the pinned bytecode
        assert led.call_view("records", "value").return_value == 42
    for bad in [
        dict(d, code={**d["code"], "records": "00ff"}),
        dict(d, code={"evidence": d["code"]["evidence"]}),
        dict(d, code=["00"]),
    ]:
        with pytest.raises(GenesisError, match="code"):
            Genesis.from_json(bad)
