"""Fuzzing of the node-side decoders not covered next to their libraries: block-sync requests
and answers from peers, the consensus WAL file on disk, WAL records and commit certificates.

Each must turn any input into a value or into our typed error, never anything else. These run
with the "ci" hypothesis profile in `make test` and with "fuzz" (thousands of examples) in
`make fuzz`. Crashes found are pinned below as explicit examples.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import msgpack
from hypothesis import example, given
from hypothesis import strategies as st

from chainnode.model.codes import LedgerError
from chainnode.model.types import Block
from chainnode.node.blocksync import SyncError, decode_response, serve
from chainnode.node.wal import WalError, WriteAheadLog
from consensus.certificate import decode_certificate
from consensus.errors import ConsensusError
from consensus.wal import decode_record

msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary(max_size=64)
    | st.text(max_size=16),
    lambda inner: st.lists(inner, max_size=6),
    max_leaves=20,
)  # fmt: skip


def _decode_block(raw: bytes) -> Block:
    return Block.decode(raw)


@given(st.binary(max_size=2048))
@example(msgpack.packb([[b"", b""]]))
@example(msgpack.packb([[b"\x92\x90\x90", b"\x90"]]))
def test_fuzz_sync_response_bytes(data: bytes) -> None:
    with contextlib.suppress(SyncError):
        decode_response(data, _decode_block, 1, 64)


@given(msgpack_values)
def test_fuzz_sync_response_structures(value: object) -> None:
    with contextlib.suppress(SyncError):
        decode_response(msgpack.packb(value), _decode_block, 1, 64)


class _EmptyLedger:
    height = 0

    def block_bytes(self, h: int) -> bytes | None:
        return None

    def certificate(self, h: int) -> bytes | None:
        return None


@given(st.binary(max_size=256) | msgpack_values.map(msgpack.packb))
@example(msgpack.packb([0, 2**64 - 1]))
def test_fuzz_sync_requests(data: bytes) -> None:
    try:
        out = serve(_EmptyLedger(), data)  # type: ignore[arg-type]
    except SyncError:
        return
    assert msgpack.unpackb(out) == []


@given(st.binary(max_size=4096))
def test_fuzz_wal_file_contents(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "consensus.wal"
        path.write_bytes(data)
        try:
            wal = WriteAheadLog(path)
        except WalError:
            return
        records = wal.records()
        wal.append(b"after")  # a repaired log takes new records after the good prefix
        wal.close()
        assert WriteAheadLog(path).records() == [*records, b"after"]


@given(st.binary(max_size=1024) | msgpack_values.map(msgpack.packb))
@example(b"\x93\x91\x90\x00\x00")  # [[[]], 0, 0]: a list where the message tag goes
def test_fuzz_wal_records_and_certificates(data: bytes) -> None:
    for decode in (decode_record, decode_certificate):
        with contextlib.suppress(ConsensusError):
            decode(data)


@given(st.binary(max_size=1024) | msgpack_values.map(msgpack.packb))
def test_fuzz_block_bytes(data: bytes) -> None:
    with contextlib.suppress(LedgerError):
        Block.decode(data)
