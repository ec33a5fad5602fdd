"""WAL records store each PRE-PREPARE once, and still read the records written before that."""

from __future__ import annotations

import msgpack
import pytest

from consensus import (
    CommitVote,
    DecodeError,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    Proposal,
    ViewChange,
    WalRecord,
    decode_record,
    encode_record,
)
from tests.consensus.helpers import Keys

K = Keys(4)
P0, P1, P2, P3 = K.pubs
SIG = b"\x01" * 64
#: A proposal's payload large enough that a second copy cannot hide in the record's overhead.
PAYLOAD = bytes(range(256)) * 400


def _pp(view: int = 0, payload: bytes = PAYLOAD) -> PrePrepare:
    prop = Proposal(1, b"\x00" * 32, b"\x07" * 32, payload)
    return K.sign(PrePrepare(view, prop, P1, SIG))


def _cert(pp: PrePrepare) -> PreparedCertificate:
    preps = tuple(K.sign(Prepare(1, pp.view, pp.digest, p, SIG)) for p in (P0, P2))
    return PreparedCertificate(pp, preps)


def _full(rec: WalRecord) -> bytes:
    """The record as nodes wrote it before: every PRE-PREPARE in full (built here from the
    messages' own lists, not from the record's encoder)."""
    pp = None if rec.pre_prepare is None else rec.pre_prepare.to_list()
    cert = rec.prepared
    cert_item = (
        None if cert is None else [cert.pre_prepare.to_list(), [p.to_list() for p in cert.prepares]]
    )
    return msgpack.packb([rec.message.to_list(), pp, cert_item], use_bin_type=True)


def _records() -> dict[str, WalRecord]:
    pp = _pp()
    cert = _cert(pp)
    vote = K.sign(CommitVote(1, 0, pp.digest, P3, SIG))
    prepare = K.sign(Prepare(1, 0, pp.digest, P0, SIG))
    vc = K.sign(ViewChange(1, 1, cert, P0, SIG))
    return {
        "proposer": WalRecord(pp, pre_prepare=pp),  # what the primary persists
        "prepare": WalRecord(prepare, pre_prepare=pp),
        "commit": WalRecord(vote, pre_prepare=pp, prepared=cert),
        "view change": WalRecord(vc),
    }


@pytest.mark.parametrize("name", list(_records()))
def test_each_record_holds_the_proposal_once_and_decodes_to_itself(name: str) -> None:
    rec = _records()[name]
    data = encode_record(rec)
    assert data.count(PAYLOAD) == 1
    back = decode_record(data)
    assert back == rec
    if back.prepared is not None and back.pre_prepare is not None:
        assert back.prepared.pre_prepare == back.pre_prepare


@pytest.mark.parametrize("name", ["proposer", "commit"])
def test_a_record_with_the_proposal_twice_is_half_its_old_size(name: str) -> None:
    rec = _records()[name]
    old = _full(rec)
    assert old.count(PAYLOAD) == 2
    assert len(encode_record(rec)) < len(old) - len(PAYLOAD) + 64


@pytest.mark.parametrize("name", list(_records()))
def test_a_record_written_in_full_before_still_decodes(name: str) -> None:
    rec = _records()[name]
    assert decode_record(_full(rec)) == rec


def test_a_commit_whose_certificate_is_for_another_proposal_keeps_both() -> None:
    pp, other = _pp(0), _pp(0, payload=b"another block")
    vote = K.sign(CommitVote(1, 0, pp.digest, P3, SIG))
    rec = WalRecord(vote, pre_prepare=other, prepared=_cert(pp))
    data = encode_record(rec)
    assert data.count(PAYLOAD) == 1 and data.count(b"another block") == 1
    assert decode_record(data) == rec


def _pack(item: object) -> bytes:
    return msgpack.packb(item, use_bin_type=True)


def test_a_reference_to_a_pre_prepare_the_record_lacks_is_a_decode_error() -> None:
    recs = _records()
    prepare = recs["prepare"].message.to_list()
    cert = recs["commit"].prepared
    assert cert is not None
    prepares = [p.to_list() for p in cert.prepares]
    vote = recs["commit"].message.to_list()
    for item in (
        [prepare, 0, None],  # "the message itself" for a message that is no PRE-PREPARE
        [vote, None, [0, prepares]],  # the certificate's PRE-PREPARE "as given" when none is
        [vote, 0, None],
    ):
        with pytest.raises(DecodeError):
            decode_record(_pack(item))


def test_a_mix_of_the_two_forms_is_not_canonical() -> None:
    pp = _pp()
    cert = _cert(pp)
    rec = WalRecord(pp, pre_prepare=pp, prepared=cert)
    short = [p.to_list() for p in cert.prepares]
    assert decode_record(_pack([pp.to_list(), 0, [0, short]])) == rec  # the new form
    assert decode_record(_full(rec)) == rec  # the old one
    for mixed in ([pp.to_list(), 0, cert.to_list()], [pp.to_list(), pp.to_list(), [0, short]]):
        with pytest.raises(DecodeError, match="non-canonical"):
            decode_record(_pack(mixed))
