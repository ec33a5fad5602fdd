"""Small domain types and the range limits every message is checked against."""

from __future__ import annotations

from dataclasses import dataclass

from consensus.errors import InvalidMessage

#: Heights and views are non-negative and below 2**63 (fits an int64 everywhere).
MAX_HEIGHT = 2**63 - 1
MAX_VIEW = 2**31 - 1
PUBKEY_LEN = 65
HASH_LEN = 32
MAX_SIG_LEN = 128
MAX_CHAIN_ID_LEN = 64
#: Upper bound of one proposal's opaque payload (the block body the node builds).
MAX_PAYLOAD = 16 * 1024 * 1024
MAX_VALIDATORS = 256

Height = int
View = int
PublicKey = bytes
Digest = bytes


def check_height(value: object, what: str = "height") -> int:
    if type(value) is not int or not 0 <= value <= MAX_HEIGHT:
        raise InvalidMessage(f"{what} out of range")
    return value


def check_view(value: object, what: str = "view") -> int:
    if type(value) is not int or not 0 <= value <= MAX_VIEW:
        raise InvalidMessage(f"{what} out of range")
    return value


def check_bytes(value: object, what: str, *, exact: int | None = None, limit: int = 0) -> bytes:
    if type(value) is not bytes:
        raise InvalidMessage(f"{what} must be bytes")
    if exact is not None and len(value) != exact:
        raise InvalidMessage(f"{what} must be {exact} bytes")
    if limit and len(value) > limit:
        raise InvalidMessage(f"{what} longer than {limit} bytes")
    return value


def check_pubkey(value: object, what: str = "public key") -> bytes:
    key = check_bytes(value, what, exact=PUBKEY_LEN)
    if key[0] != 4:
        raise InvalidMessage(f"{what} must be uncompressed (04||x||y)")
    return key


def check_signature(value: object) -> bytes:
    sig = check_bytes(value, "signature", limit=MAX_SIG_LEN)
    if not sig:
        raise InvalidMessage("signature missing")
    return sig


@dataclass(frozen=True, slots=True)
class Proposal:
    """A block as consensus sees it: opaque ``payload`` bound to ``digest`` by the node.

    ``digest`` is the block hash. Consensus never looks inside ``payload``; the node's
    ``validate_proposal`` callback must check that ``digest`` really commits to it.
    """

    height: int
    parent: bytes
    digest: bytes
    payload: bytes = b""

    def __post_init__(self) -> None:
        check_height(self.height)
        check_bytes(self.parent, "parent", exact=HASH_LEN)
        check_bytes(self.digest, "digest", exact=HASH_LEN)
        check_bytes(self.payload, "payload", limit=MAX_PAYLOAD)

    def to_list(self) -> list[object]:
        return [self.height, self.parent, self.digest, self.payload]

    @classmethod
    def from_list(cls, item: object) -> Proposal:
        if not isinstance(item, list) or len(item) != 4:
            raise InvalidMessage("proposal must be a 4-element array")
        return cls(item[0], item[1], item[2], item[3])
