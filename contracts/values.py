"""VM values, their limits and their canonical encoding.

Values are plain Python objects of exactly these types: ``int`` (signed 256-bit), ``bool``,
``bytes``, ``str``, ``list``, ``dict`` (insertion-ordered; keys ``int``/``str``/``bytes``) and
``None``. The canonical encoding is msgpack in which scalars are msgpack's own typed scalars
(nil, bool, int, bin, str: msgpack already tags them) and every container is an array whose
first element is a type tag:

* list ``[TAG_LIST, item0, item1, ...]``
* map ``[TAG_MAP, k0, v0, k1, v1, ...]`` in insertion order
* an int outside msgpack's 64-bit range ``[TAG_BIGINT, two's-complement big-endian bytes]``
  (minimal length)

There are no msgpack maps, floats or ext types. Decoding rejects anything that would not
re-encode to the very same bytes, so one value has exactly one encoding.
"""

from __future__ import annotations

from typing import Any

import msgpack

from contracts.errors import EncodingError, LimitExceeded

Value = Any
"""A VM value (see the module docstring); ``Any`` because it is recursive and dynamic."""

INT_MIN = -(2**255)
INT_MAX = 2**255 - 1
MAX_BYTES_LEN = 65_536
"""Longest ``bytes`` (in bytes) or ``str`` (in characters) value."""
MAX_ITEMS = 4_096
"""Most items in one list or map."""
MAX_DEPTH = 32
"""Deepest nesting of containers."""
MAX_ENCODED = 65_536
"""Largest canonical encoding of one value (storage values, arguments, return values)."""

TAG_LIST = 0
TAG_MAP = 1
TAG_BIGINT = 2

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1
_KEY_TYPES = (int, str, bytes)
_TYPE_NAMES: dict[type, str] = {
    int: "int",
    bool: "bool",
    bytes: "bytes",
    str: "str",
    list: "list",
    dict: "map",
    type(None): "None",
}


def type_name(value: object) -> str:
    """The VM's name for the type of ``value``."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _bigint_bytes(n: int) -> bytes:
    length = (n + (n < 0)).bit_length() // 8 + 1
    return n.to_bytes(length, "big", signed=True)


class _Budget:
    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def _to_wire(v: object, depth: int, budget: _Budget) -> object:
    t = type(v)
    if t is str or t is bytes:
        n = len(v)  # type: ignore[arg-type]
        if n > MAX_BYTES_LEN:
            raise EncodingError(f"{type_name(v)} of length {n} exceeds {MAX_BYTES_LEN}")
        budget.left -= n + 1
    elif t is int:
        if not INT_MIN <= v <= INT_MAX:  # type: ignore[operator]
            raise EncodingError("int outside the signed 256-bit range")
        budget.left -= 1
        if not _I64_MIN <= v <= _U64_MAX:  # type: ignore[operator]
            return [TAG_BIGINT, _bigint_bytes(v)]  # type: ignore[arg-type]
    elif t is bool or v is None:
        budget.left -= 1
    elif t is list:
        if depth >= MAX_DEPTH:
            raise EncodingError(f"values nest deeper than {MAX_DEPTH}")
        if len(v) > MAX_ITEMS:  # type: ignore[arg-type]
            raise EncodingError(f"list of {len(v)} items exceeds {MAX_ITEMS}")  # type: ignore[arg-type]
        budget.left -= 2
        if budget.left < 0:
            raise EncodingError("encoded value too large")
        out: list[object] = [TAG_LIST]
        d = depth + 1
        for item in v:  # type: ignore[attr-defined]
            out.append(_to_wire(item, d, budget))
        return out
    elif t is dict:
        if depth >= MAX_DEPTH:
            raise EncodingError(f"values nest deeper than {MAX_DEPTH}")
        if len(v) > MAX_ITEMS:  # type: ignore[arg-type]
            raise EncodingError(f"map of {len(v)} items exceeds {MAX_ITEMS}")  # type: ignore[arg-type]
        budget.left -= 2
        if budget.left < 0:
            raise EncodingError("encoded value too large")
        out = [TAG_MAP]
        d = depth + 1
        for key, item in v.items():  # type: ignore[attr-defined]
            if type(key) not in _KEY_TYPES:
                raise EncodingError(f"map key of type {type_name(key)} (int, str, bytes only)")
            out.append(_to_wire(key, d, budget))
            out.append(_to_wire(item, d, budget))
        return out
    else:
        raise EncodingError(f"type {type_name(v)} is not a VM value")
    if budget.left < 0:
        raise EncodingError("encoded value too large")
    return v


def encode_value(value: Value, limit: int = MAX_ENCODED) -> bytes:
    """Canonical bytes of a VM value; ``EncodingError`` if not a value or over ``limit``."""
    wire = _to_wire(value, 0, _Budget(limit))
    try:
        data: bytes = msgpack.packb(wire, use_bin_type=True)
    except Exception as exc:  # e.g. a str with lone surrogates is not UTF-8
        raise EncodingError(f"cannot encode value: {exc}") from None
    if len(data) > limit:
        raise EncodingError(f"encoded value of {len(data)} bytes exceeds {limit}")
    return data


def _from_wire(obj: object, depth: int) -> Value:
    t = type(obj)
    if t is list:
        if depth >= MAX_DEPTH:
            raise EncodingError(f"values nest deeper than {MAX_DEPTH}")
        items: list[object] = obj  # type: ignore[assignment]
        if not items or type(items[0]) is not int:
            raise EncodingError("container without a type tag")
        tag = items[0]
        d = depth + 1
        if tag == TAG_LIST:
            return [_from_wire(x, d) for x in items[1:]]
        if tag == TAG_MAP:
            if len(items) % 2 != 1:
                raise EncodingError("map with an odd number of entries")
            result: dict[object, object] = {}
            for i in range(1, len(items), 2):
                key = _from_wire(items[i], d)
                if type(key) not in _KEY_TYPES:
                    raise EncodingError(f"map key of type {type_name(key)}")
                if key in result:
                    raise EncodingError("duplicate map key")
                result[key] = _from_wire(items[i + 1], d)
            return result
        if tag == TAG_BIGINT and len(items) == 2 and type(items[1]) is bytes:
            return int.from_bytes(items[1], "big", signed=True)
        raise EncodingError(f"unknown container tag {tag}")
    if t is int or t is str or t is bytes or t is bool or obj is None:
        return obj
    raise EncodingError(f"msgpack type {t.__name__} is not allowed")


def decode_value(data: bytes, *, canonical: bool = True, limit: int = MAX_ENCODED) -> Value:
    """The value encoded by ``data``; ``EncodingError`` unless it is the canonical encoding."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise EncodingError("encoded value must be bytes")
    if len(data) > limit:
        raise EncodingError(f"encoded value of {len(data)} bytes exceeds {limit}")
    try:
        obj = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            max_map_len=0,
            max_ext_len=0,
            max_array_len=MAX_ITEMS * 2 + 1,
            max_bin_len=MAX_BYTES_LEN,
            max_str_len=MAX_BYTES_LEN * 4,
        )
    except Exception as exc:
        raise EncodingError(f"malformed encoding: {type(exc).__name__}") from None
    try:
        value = _from_wire(obj, 0)
    except RecursionError:
        raise EncodingError("values nest too deep") from None
    if canonical and encode_value(value, limit) != bytes(data):
        raise EncodingError("non-canonical encoding")
    return value


def values_equal(a: Value, b: Value, depth: int = 0) -> bool:
    """VM equality: same type and same content (``1 != True``; maps ignore order like Python)."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is list:
        if depth >= MAX_DEPTH:
            raise LimitExceeded(f"values nest deeper than {MAX_DEPTH}")
        if len(a) != len(b):
            return False
        d = depth + 1
        return all(values_equal(x, y, d) for x, y in zip(a, b, strict=True))
    if ta is dict:
        if depth >= MAX_DEPTH:
            raise LimitExceeded(f"values nest deeper than {MAX_DEPTH}")
        if len(a) != len(b):
            return False
        d = depth + 1
        for k, v in a.items():
            if k not in b:
                return False
            if not values_equal(v, b[k], d):
                return False
        return True
    return bool(a == b)
