"""Wire messages: validation on construction, canonical encoding, hostile bytes."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus import (
    CommitVote,
    ConsensusError,
    DecodeError,
    InvalidMessage,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    Proposal,
    Status,
    ViewChange,
    WalRecord,
    decode_certificate,
    decode_message,
    decode_record,
    encode_message,
    encode_record,
)
from consensus.types import MAX_VIEW
from tests.consensus.helpers import Keys, proposal

K = Keys(4)
P0, P1, P2, P3 = K.pubs
SIG = b"\x01" * 64


def sample_messages() -> list:
    prop = proposal()
    pp = K.sign(PrePrepare(0, prop, P1, SIG))
    preps = tuple(K.sign(Prepare(1, 0, prop.digest, p, SIG)) for p in (P0, P2))
    cert = PreparedCertificate(pp, preps)
    vcs = tuple(K.sign(ViewChange(1, 1, cert if p == P0 else None, p, SIG)) for p in K.pubs[:3])
    pp1 = K.sign(PrePrepare(1, prop, P2, SIG))
    return [
        pp,
        preps[0],
        K.sign(CommitVote(1, 0, prop.digest, P3, SIG)),
        vcs[0],
        vcs[1],
        K.sign(NewView(1, 1, vcs, pp1, P2, SIG)),
        Status(7),
    ]


@pytest.mark.parametrize("msg", sample_messages(), ids=lambda m: type(m).__name__)
def test_round_trip_is_identity(msg) -> None:
    data = encode_message(msg)
    assert decode_message(data) == msg
    assert encode_message(decode_message(data)) == data


def test_non_canonical_encoding_is_rejected() -> None:
    msg = Status(5)
    raw = msgpack.packb([6, 5])
    assert decode_message(raw) == msg
    # the same value with a wider integer encoding is not canonical
    wide = b"\x92\x06\xcd\x00\x05"
    assert msgpack.unpackb(wide) == [6, 5]
    with pytest.raises(DecodeError):
        decode_message(wide)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Prepare(1, -1, b"\x00" * 32, P0, SIG),
        lambda: Prepare(1, MAX_VIEW + 1, b"\x00" * 32, P0, SIG),
        lambda: Prepare(2**63, 0, b"\x00" * 32, P0, SIG),
        lambda: Prepare(1, 0, b"\x00" * 31, P0, SIG),
        lambda: Prepare(1, 0, b"\x00" * 32, b"\x05" + P0[1:], SIG),
        lambda: Prepare(1, 0, b"\x00" * 32, P0, b""),
        lambda: Prepare(True, 0, b"\x00" * 32, P0, SIG),
        lambda: ViewChange(1, 0, None, P0, SIG),
        lambda: Proposal(1, b"\x00" * 32, b"\x00" * 32, "text"),  # type: ignore[arg-type]
        lambda: NewView(1, 1, (), None, P0, SIG),
    ],
)
def test_invalid_fields_raise_on_construction(build) -> None:
    with pytest.raises(InvalidMessage):
        build()


def test_prepared_certificate_rejects_mismatched_or_repeated_prepares() -> None:
    prop = proposal()
    pp = PrePrepare(0, prop, P1, SIG)
    good = Prepare(1, 0, prop.digest, P0, SIG)
    with pytest.raises(InvalidMessage):
        PreparedCertificate(pp, (good, good))
    with pytest.raises(InvalidMessage):
        PreparedCertificate(pp, (Prepare(1, 0, b"\x09" * 32, P0, SIG),))
    with pytest.raises(InvalidMessage):
        PreparedCertificate(pp, (Prepare(1, 0, prop.digest, P1, SIG),))  # primary's own


def test_wal_record_round_trip() -> None:
    msgs = sample_messages()
    rec = WalRecord(msgs[2], pre_prepare=msgs[0], prepared=msgs[3].prepared)
    assert decode_record(encode_record(rec)) == rec
    with pytest.raises(DecodeError):
        decode_record(encode_record(rec)[:-3])


@pytest.mark.parametrize(
    "item",
    [
        [[[]], None, None],  # a list where the message tag goes (found by the fuzz test)
        [[{}], None, None],
        [[b"\x01"], None, None],
        [[1, [], {}], [[]], [[]]],
        [[], None, None],
    ],
)
def test_wal_record_with_garbage_in_place_of_a_message_is_a_decode_error(item) -> None:
    with pytest.raises(DecodeError):
        decode_record(msgpack.packb(item))
    with pytest.raises(DecodeError):
        decode_certificate(msgpack.packb(item))


@given(st.binary(max_size=300))
def test_fuzz_decode_random_bytes_raises_only_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(data)


@given(st.data())
def test_fuzz_decode_mutated_messages(data) -> None:
    base = encode_message(data.draw(st.sampled_from(sample_messages())))
    pos = data.draw(st.integers(0, len(base) - 1))
    byte = data.draw(st.integers(0, 255))
    mutated = base[:pos] + bytes([byte]) + base[pos + 1 :]
    try:
        msg = decode_message(mutated)
    except ConsensusError:
        return
    assert encode_message(msg) == mutated


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.binary(max_size=70)
        | st.text(max_size=5)
        | st.floats(allow_nan=False),
        lambda c: st.lists(c, max_size=7),
        max_leaves=30,
    )
)
def test_fuzz_decode_structured_garbage(value) -> None:
    for tag in range(0, 8):
        items = [tag, *value] if isinstance(value, list) else [tag, value]
        with contextlib.suppress(DecodeError):
            decode_message(msgpack.packb(items))
