"""The snapshot-sync p2p codec: every request and answer round-trips, and whatever a peer
sends that does not fit (garbage, wrong shapes, too many items, oversized parts) is a typed
SnapshotWireError, raised before anything large is built."""

from __future__ import annotations

import contextlib
import random

import msgpack
import pytest

from chainnode.node.snapshot_wire import (
    MAX_LAG,
    MAX_OFFERS,
    Anchor,
    SnapshotWireError,
    decode_anchor,
    decode_chunk_request,
    decode_height,
    decode_offers,
    encode_anchor,
    encode_chunk_request,
    encode_height,
    encode_offers,
)


def test_requests_and_answers_round_trip() -> None:
    assert decode_height(encode_height(1000)) == 1000
    assert decode_chunk_request(encode_chunk_request(1000, 7)) == (1000, 7)
    assert decode_offers(encode_offers([3000, 1000, 2000])) == [1000, 2000, 3000]
    assert decode_offers(encode_offers(list(range(1, 200)))) == list(range(136, 200))
    a = Anchor((b"h" * 100, b"g" * 100, b"f" * 100), b"cert", b"top", ())
    assert decode_anchor(encode_anchor(a)) == a


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        msgpack.packb(0),
        msgpack.packb(-5),
        msgpack.packb(1 << 62),
        msgpack.packb("1000"),
        msgpack.packb([1000]),
        msgpack.packb(True),
    ],
)
def test_bad_heights_are_refused(payload: bytes) -> None:
    with pytest.raises(SnapshotWireError):
        decode_height(payload)


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb([1000]),
        msgpack.packb([1000, -1]),
        msgpack.packb([0, 1]),
        msgpack.packb([1000, 1, 2]),
        msgpack.packb({"c": 1}),
        msgpack.packb([1000, b"1"]),
    ],
)
def test_bad_chunk_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(SnapshotWireError):
        decode_chunk_request(payload)


@pytest.mark.parametrize(
    "payload",
    [
        msgpack.packb([2000, 1000]),  # not increasing
        msgpack.packb([1000, 1000]),  # repeated
        msgpack.packb(list(range(1, MAX_OFFERS + 2))),  # too many
        msgpack.packb([[1000]]),
        msgpack.packb(1000),
        b"\x91" * 100_000,  # nested arrays
    ],
)
def test_bad_offers_are_refused(payload: bytes) -> None:
    with pytest.raises(SnapshotWireError):
        decode_offers(payload)


def _anchor(headers: object, cert: object = b"c", top: object = b"t", gov: object = b"[]") -> bytes:
    out: bytes = msgpack.packb([headers, cert, top, gov], use_bin_type=True)
    return out


@pytest.mark.parametrize(
    "payload",
    [
        _anchor([b"h"]),  # one header: no lag
        _anchor([b"h"] * (MAX_LAG + 2)),  # more than the largest lag
        _anchor([b"h" * 5000, b"h"]),  # an oversized header
        _anchor([b"h", "h"]),
        _anchor([b"h", b"h"], cert="c"),
        _anchor([b"h", b"h"], top=None),
        _anchor([b"h", b"h"], gov=[]),
        _anchor([b"h", b"h"], gov=b"{}"),
        _anchor([b"h", b"h"], gov=b"[{}]"),  # a proof without its fields
        _anchor([b"h", b"h"], gov=b"not json"),
        msgpack.packb([[b"h", b"h"], b"c", b"t"]),
        msgpack.packb({"headers": []}),
    ],
)
def test_bad_anchors_are_refused(payload: bytes) -> None:
    with pytest.raises(SnapshotWireError):
        decode_anchor(payload)


def test_random_garbage_is_always_a_wire_error() -> None:
    rng = random.Random(21)
    decoders = (decode_height, decode_chunk_request, decode_offers, decode_anchor)
    for _ in range(2000):
        data = rng.randbytes(rng.randrange(0, 64))
        for decode in decoders:
            with contextlib.suppress(SnapshotWireError):  # any other exception fails
                decode(data)
