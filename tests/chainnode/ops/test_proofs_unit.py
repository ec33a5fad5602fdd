"""Proof bundles from a real ledger (LevelDB) with real SM2 commit certificates, including a
validator-set change; every altered byte must fail with a reason naming the altered part."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chainnode.ledger.ledger import Ledger
from chainnode.model.genesis import Genesis
from chainnode.model.types import Transaction
from chainnode.proofs.bundle import (
    Bundle,
    ProofError,
    build_bundle,
    describe,
    parse_bundle,
    parse_inclusions,
    summary,
    verify_bundle,
)
from consensus.certificate import encode_certificate, make_certificate
from consensus.messages import commit_signing_bytes
from crypto.suite import get_suite
from tests.chainnode.ledger.helpers import genesis, keys, make_block, tx

SM = get_suite("sm")
NEW = keys()[8]  # the validator added by governance
ADMIN = keys()[4]


def _certify(ledger: Ledger, signers: list[bytes], view: int = 0) -> list[Any]:
    """Build the next block from the mempool and commit it with a real certificate."""
    block = make_block(ledger)
    msg = commit_signing_bytes(ledger.chain_id.encode(), block.height, view, block.hash)
    cert = make_certificate(
        block.height, view, block.hash, [(SM.public_key(p), SM.sign(p, msg)) for p in signers]
    )
    return ledger.commit_block(block, encode_certificate(cert))


def _submit(ledger: Ledger, *txs: Transaction) -> None:
    adm = ledger.mempool.submit(list(txs))
    assert all(a.accepted for a in adm), adm


@pytest.fixture(scope="module")
def chain(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Ledger, Genesis, list[bytes]]]:
    g = genesis(std=True)
    led = Ledger.open(tmp_path_factory.mktemp("proofs"), g)
    ks = keys()
    old = [k.priv for k in ks[:3]]  # 3 of 4 genesis validators: a quorum
    try:
        a = tx(led, ks[9], "records", "put", ["doc-a", 1])
        _submit(led, a)
        _certify(led, old)
        change = tx(
            led,
            ADMIN,
            "governance",
            "add_validator",
            [NEW.pub, "node4", "10.0.0.5:1", "10.0.0.5:2"],
        )
        _submit(led, change)
        (r,) = _certify(led, old)
        assert r.ok, r.error
        assert len(led.validators_at(3)) == 5
        b = tx(led, ks[9], "evidence", "register", ["ab" * 32, "contract", "lease"])
        _submit(led, b)
        (rb,) = _certify(led, [k.priv for k in ks[:3]] + [NEW.priv])  # 4 of 5
        assert rb.ok, rb.error
        yield led, g, [a.hash, change.hash, b.hash]
    finally:
        led.close()


def _bundle(chain: Any, which: int) -> Bundle:
    led, _, hashes = chain
    b = build_bundle(led, hashes[which])
    assert b is not None
    return b


def test_bundle_before_and_after_a_validator_change_verifies(chain: Any) -> None:
    led, g, hashes = chain
    first = _bundle(chain, 0)
    assert first.governance == ()
    p = verify_bundle(first.dumps(), g)
    assert p.record.tx.hash == hashes[0] and p.record.header.height == 1
    last = _bundle(chain, 2)
    assert len(last.governance) == 1
    p = verify_bundle(last.dumps(), g)
    assert p.record.header.height == 3 and len(p.record.signers) == 4
    assert [v.node_id for v in p.record.validators][-1] == "node4"
    text = describe(p)
    assert "evidence.register" in text and "node4" in text and "add_validator" in text
    assert "Registered" in text
    sender = "0x" + get_suite("sm").address(p.record.tx.sender).hex()
    assert f"  sender        {sender} (public key" in text  # addresses in their one form
    assert re.search(r"voted by admin 0x[0-9a-f]{40},", text), text
    rec = summary(p)["record"]  # verify-proof --json: the API's forms
    assert rec["sender"] == sender and rec["sender_public_key"] == p.record.tx.sender.hex()
    assert rec["events"][0]["name"] == "Registered"
    assert rec["events"][0]["fields"]["owner"] == sender  # the evidence contract's owner too


def test_wrong_genesis_is_refused(chain: Any) -> None:
    _, g, _ = chain
    other = genesis(admins=2, std=True)
    with pytest.raises(ProofError, match="another genesis"):
        verify_bundle(_bundle(chain, 2).dumps(), other)


def test_omitting_the_validator_change_fails(chain: Any) -> None:
    _, g, _ = chain
    obj = _bundle(chain, 2).to_json()
    obj["governance"] = []
    # Derived from genesis alone, the set at height 3 has 4 members: node4 is no validator.
    with pytest.raises(ProofError, match="certificate: signer .* is not a validator"):
        verify_bundle(json.dumps(obj), g)


def _flip(hexstr: str, pos: int) -> str:
    b = bytearray(bytes.fromhex(hexstr))
    b[pos % len(b)] ^= 0x01
    return b.hex()


def _fields(obj: dict[str, Any]) -> Iterator[tuple[str, str, Any, Any]]:
    """(part expected in the reason, label, container, key) of every binary field."""
    for label, inc in [("record", obj["record"])] + [
        (f"governance proof #{i}", g) for i, g in enumerate(obj["governance"])
    ]:
        yield "tx", f"{label}: tx", inc, "tx"
        yield "receipt", f"{label}: receipt", inc, "receipt"
        yield "header", f"{label}: header", inc, "header"
        yield "certificate", f"{label}: certificate", inc, "certificate"
        for name in ("tx_path", "receipt_path"):
            sibs = inc[name]["siblings"]
            for j in range(len(sibs)):
                yield "path", f"{label}: {name}", sibs, j
    for j in range(len(obj["validators"])):
        yield "validator set", "validator set", obj["validators"], j


def test_every_part_altered_fails_with_its_reason(chain: Any) -> None:
    _, g, _ = chain
    base = _bundle(chain, 2).to_json()
    rng = random.Random(7)
    checked = 0
    for part, label, container, key in _fields(base):
        original = container[key]
        n = len(bytes.fromhex(original))
        for pos in sorted({0, n // 2, n - 1, *rng.sample(range(n), min(n, 40))}):
            container[key] = _flip(original, pos)
            try:
                with pytest.raises(ProofError) as err:
                    verify_bundle(json.dumps(base), g)
            finally:
                container[key] = original
            reason = str(err.value)
            assert part in reason, f"{label} byte {pos}: {reason}"
            if label.startswith("governance"):
                assert reason.startswith("governance proof #0") or "validator" in reason
            checked += 1
    assert checked > 60
    verify_bundle(json.dumps(base), g)  # restored: valid again


def test_path_positions_altered(chain: Any) -> None:
    _, g, _ = chain
    base = _bundle(chain, 2).to_json()
    for name in ("tx_path", "receipt_path"):
        for field in ("index", "leaf_count"):
            obj = json.loads(json.dumps(base))
            obj["record"][name][field] += 1
            with pytest.raises(ProofError, match="path"):
                verify_bundle(json.dumps(obj), g)


def test_any_byte_of_the_file_altered_fails(chain: Any) -> None:
    _, g, _ = chain
    text = _bundle(chain, 2).dumps().encode()
    rng = random.Random(11)
    for pos in rng.sample(range(len(text)), 150):
        bad = bytearray(text)
        bad[pos] ^= 0x01
        with pytest.raises(ProofError):
            verify_bundle(bytes(bad), g)
    assert parse_bundle(text).chain_id == g.chain_id


def test_garbage_is_a_proof_error(tmp_path: Path, chain: Any) -> None:
    _, g, _ = chain
    for junk in [b"", b"[]", b"{}", b"null", b"\xff\xfe", b'{"format": 1}', b"1" * 100]:
        with pytest.raises(ProofError):
            verify_bundle(junk, g)


def test_governance_proofs_parse_back_as_sent(chain: Any) -> None:
    """What a snapshot anchor carries: a bundle's governance part, as a JSON list."""
    b = _bundle(chain, 2)
    assert len(b.governance) == 1
    text = json.dumps([g.to_json() for g in b.governance])
    assert parse_inclusions(text) == b.governance
    with pytest.raises(ProofError, match="governance proof #0"):
        parse_inclusions(text.replace('"receipt_path"', '"receipt_way"'))
    with pytest.raises(ProofError, match="expected a list"):
        parse_inclusions("{}")
