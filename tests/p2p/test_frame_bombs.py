"""A frame of nested empty arrays from a peer (every byte an array, ~64 bytes of memory each):
8 MiB of it built 8 million lists, ~500 MB and 25-35 s, in each decoder below before its shape
check refused it. Each decoder now caps the arrays it builds."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import pytest

from chainnode.model.types import Block
from chainnode.node.blocksync import decode_response
from consensus.messages import decode_message
from p2p.gossip import decode_tx_batch

MB = 1 << 20


def nested(size: int, width: int) -> bytes:
    """Three levels of arrays, each at most ``width`` long (under any per-array length cap),
    about ``size`` bytes, nearly all of them empty arrays."""
    inner = b"\xdc" + width.to_bytes(2, "big") + b"\x90" * width
    mid = b"\xdc" + width.to_bytes(2, "big") + inner * width
    n = max(1, size // len(mid))
    return b"\xdd" + n.to_bytes(4, "big") + mid * n


DECODERS: dict[str, Callable[[bytes], object]] = {
    "gossip": lambda d: decode_tx_batch(d, 512),
    "consensus": decode_message,
    "block": Block.decode,
    "blocksync": lambda d: decode_response(d, Block.decode, 1, 2),
}


@pytest.mark.parametrize("name", sorted(DECODERS))
@pytest.mark.parametrize("width", [16, 60, 500])
def test_nested_empty_arrays_are_refused_without_building_them(name: str, width: int) -> None:
    data = nested(8 * MB, width)
    tracemalloc.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - each decoder has its own error type
            DECODERS[name](data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * MB, f"{name}: {peak / MB:.0f} MB built from {len(data) / MB:.0f} MB"
