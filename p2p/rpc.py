"""Request/response codec: REQUEST [id, kind, body], RESPONSE [id, status, body]."""

from __future__ import annotations

import msgpack

from p2p.errors import ProtocolViolation

MAX_KIND = 64
MAX_REQUEST_ID = (1 << 63) - 1
STATUS_OK = 0
STATUS_ERROR = 1


def encode_request(req_id: int, kind: str, body: bytes) -> bytes:
    out: bytes = msgpack.packb([req_id, kind, body], use_bin_type=True)
    return out


def encode_response(req_id: int, status: int, body: bytes) -> bytes:
    out: bytes = msgpack.packb([req_id, status, body], use_bin_type=True)
    return out


def _unpack3(payload: bytes, what: str) -> list[object]:
    try:
        msg = msgpack.unpackb(payload, raw=False, use_list=True, max_array_len=3)
    except (ValueError, TypeError, msgpack.UnpackException):  # what msgpack raises on garbage
        raise ProtocolViolation(f"malformed {what}") from None
    if not isinstance(msg, list) or len(msg) != 3:
        raise ProtocolViolation(f"malformed {what}")
    return msg


def decode_request(payload: bytes) -> tuple[int, str, bytes]:
    req_id, kind, body = _unpack3(payload, "request")
    if (
        not isinstance(req_id, int)
        or not 0 <= req_id <= MAX_REQUEST_ID
        or not isinstance(kind, str)
        or not 0 < len(kind) <= MAX_KIND
        or not isinstance(body, bytes)
    ):
        raise ProtocolViolation("malformed request")
    return req_id, kind, body


def decode_response(payload: bytes) -> tuple[int, int, bytes]:
    req_id, status, body = _unpack3(payload, "response")
    if (
        not isinstance(req_id, int)
        or not 0 <= req_id <= MAX_REQUEST_ID
        or status not in (STATUS_OK, STATUS_ERROR)
        or not isinstance(body, bytes)
    ):
        raise ProtocolViolation("malformed response")
    assert isinstance(status, int)
    return req_id, status, body
