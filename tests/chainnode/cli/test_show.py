"""The readable forms of chainnode/cli/show.py on API-shaped data (real certificates)."""

from __future__ import annotations

from chainnode.cli import show
from consensus.certificate import encode_certificate, make_certificate
from crypto import sm2


def test_iso_times_are_utc_with_milliseconds() -> None:
    assert show.iso(0) == "1970-01-01T00:00:00.000Z"
    assert show.iso(1_796_567_944_171) == "2026-12-06T14:39:04.171Z"
    assert show.iso(None) == "-"


def test_certificate_lists_its_signers_by_name_index_and_address() -> None:
    keys = [sm2.PrivateKey.generate() for _ in range(4)]
    pubs = [k.public_key().to_bytes() for k in keys]
    vals = show.Validators(
        [
            {"node_id": f"node{i}", "public_key": p.hex(), "address": f"0x{i:040x}"}
            for i, p in enumerate(pubs)
        ]
    )
    block_hash = b"\x11" * 32
    sigs = [(pubs[i], keys[i].sign(block_hash)) for i in (0, 2, 3)]
    cert = encode_certificate(make_certificate(7, 1, block_hash, sigs))
    lines = show.certificate(cert.hex(), vals)
    assert lines[0] == "3 of 4 validators signed (view 1):"
    want = {f"node{i} (#{i}, 0x{i:040x})" for i in (0, 2, 3)}
    assert set(lines[1:]) == want
    assert show.certificate(None, vals) == "none (genesis)"
    assert show.certificate("00ff", vals).startswith("undecodable")
    stranger = sm2.PrivateKey.generate().public_key().to_bytes().hex()
    assert show.Validators([]).name(stranger) == f"key {stranger[:16]}…"


def test_receipt_shows_decoded_values_not_hex() -> None:
    receipt = {
        "status": "ok",
        "gas_used": 12,
        "return_value": "9f01a468617368",
        "return_value_json": {"hash": "ab", "timestamp": 1_796_567_944_171},
        "events": [{"name": "Done", "fields": "9701a4", "fields_value": {"n": 1}}],
        "error": None,
    }
    text = show.table(show.receipt_rows(receipt))
    assert "9f01a468617368" not in text and "9701a4" not in text
    assert "timestamp  1796567944171 (2026-12-06T14:39:04.171Z)" in text
    assert 'events    Done {"n": 1}' in text
    failed = show.table(show.receipt_rows({"status": "failed", "error": "E: no", "events": []}))
    assert failed.splitlines()[0].split(None, 1) == ["status", "FAILED: E: no"]


def test_block_shows_the_state_checkpoint_its_header_carries() -> None:
    header = {
        "height": 1008,
        "timestamp": 0,
        "proposer": "",
        "view": 0,
        "prev_hash": "aa" * 32,
        "tx_root": "bb" * 32,
        "receipts_root": "cc" * 32,
        "state_root": "dd" * 32,
        "checkpoint": None,
    }
    resp = {"block": {"hash": "ee" * 32, "header": header, "tx_hashes": []}}
    plain = show.block(resp, show.Validators([]))
    assert "state checkpoint" not in plain
    header["checkpoint"] = {"height": 1000, "root": "ff" * 32, "chunks": 3, "entries": 9000}
    text = show.block(resp, show.Validators([]))
    assert f"state checkpoint  height 1000: root {'ff' * 32} (3 chunks, 9000 entries)" in text
