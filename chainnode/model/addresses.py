"""Addresses in one form: ``0x`` + 40 lower-case hex digits wherever one is shown, and accepted
with or without ``0x`` (in any case) wherever one is taken.

On chain a contract named by address is the bare lower-case hex (the form a transaction signs
and every node resolves), so an input is brought to that form *before* it is signed or looked
up; display adds the prefix. Names are never touched.
"""

from __future__ import annotations

import re

ADDRESS_TEXT_RE = re.compile(r"(0[xX])?[0-9a-fA-F]{40}")


def address_hex(addr: bytes) -> str:
    """The display form of an address (or any contract-emitted 20-byte id)."""
    return "0x" + addr.hex()


def parse_address(text: str) -> bytes | None:
    """The 20 bytes of ``text`` (``0x`` optional, any case); None if it is no address."""
    if not isinstance(text, str) or not ADDRESS_TEXT_RE.fullmatch(text):
        return None
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


def contract_ref(text: str) -> str:
    """A contract reference in its on-chain form: an address becomes bare lower-case hex,
    anything else (a name, or garbage for the caller to reject) is returned unchanged."""
    addr = parse_address(text)
    return addr.hex() if addr is not None else text


def contract_display(ref: str) -> str:
    """A contract reference for display: an address gets its ``0x``, a name stays a name."""
    addr = parse_address(ref)
    return address_hex(addr) if addr is not None else ref
