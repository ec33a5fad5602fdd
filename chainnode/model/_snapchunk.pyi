"""Types of the native extension built from _snapchunk.c (optional; see chainnode.model.snapshot)."""

from collections.abc import Sequence

from typing_extensions import Buffer

def encode_chunks(
    entries: Sequence[tuple[bytes, bytes]],
    strip: int,
    domain: Buffer,
    max_entries: int,
    max_bytes: int,
    final: bool,
    /,
) -> tuple[list[bytes], list[bytes], int, int]: ...
def _sm3(data: Buffer, /) -> bytes: ...
