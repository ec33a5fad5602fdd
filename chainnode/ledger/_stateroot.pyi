"""Types of the native extension built from _stateroot.c (optional; see executor.state_root_nested)."""

from collections.abc import Mapping

def pack_writes(
    prev: bytes, height: int, writes: Mapping[bytes, Mapping[bytes, bytes | None]], /
) -> bytes | None: ...
