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

import threading
from collections.abc import Callable
from typing import Any

import msgpack

from contracts.errors import EncodingError, LimitExceeded

try:  # the optional C extension (setup.py): the common case in one pass
    from contracts import _values as _native
except ImportError:  # not built: the Python quick path
    _native = None  # type: ignore[assignment]

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
MAP_INT_MIN = -(2**60)
MAP_INT_MAX = 2**60
"""Range of int map keys. CPython hashes an int modulo 2^61-1, so in this range distinct keys
never share a hash and no choice of keys can make a map operation walk a collision chain
(str and bytes keys are hashed with the process's secret SipHash key)."""

TAG_LIST = 0
TAG_MAP = 1
TAG_BIGINT = 2

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1
_KEY_TYPES = (int, str, bytes)
_SCALARS = frozenset({int, str, bytes, bool, type(None)})
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


def _too_long(v: str | bytes) -> EncodingError:
    return EncodingError(f"{type_name(v)} of length {len(v)} exceeds {MAX_BYTES_LEN}")


# long: a dispatch over the VM value types, one case each
def _to_wire(v: object, depth: int, budget: _Budget) -> object:  # noqa: C901, PLR0912  # a dispatch over the VM value types
    """The msgpack-ready form of ``v``; scalars in containers are handled inline (speed)."""
    t = type(v)
    if t is list or t is dict:
        if depth >= MAX_DEPTH:
            raise EncodingError(f"values nest deeper than {MAX_DEPTH}")
        n = len(v)  # type: ignore[arg-type]
        if n > MAX_ITEMS:
            raise EncodingError(f"{type_name(v)} of {n} items exceeds {MAX_ITEMS}")
        budget.left -= 2
        if budget.left < 0:
            raise EncodingError("encoded value too large")
        out: list[object] = [TAG_LIST if t is list else TAG_MAP]
        append = out.append
        size = 0
        d = depth + 1
        if t is dict:
            for key, item in v.items():  # type: ignore[attr-defined]
                tk = type(key)
                if tk is str or tk is bytes:
                    if len(key) > MAX_BYTES_LEN:
                        raise _too_long(key)
                    size += len(key) + 1
                    append(key)
                elif tk is int:
                    if not MAP_INT_MIN <= key <= MAP_INT_MAX:
                        raise EncodingError("map int key outside [-2^60, 2^60]")
                    budget.left -= size
                    size = 0
                    append(_to_wire(key, d, budget))
                else:
                    raise EncodingError(f"map key of type {type_name(key)} (int, str, bytes only)")
                ti = type(item)
                if ti is str or ti is bytes:
                    if len(item) > MAX_BYTES_LEN:
                        raise _too_long(item)
                    size += len(item) + 1
                    append(item)
                elif (ti is int and _I64_MIN <= item <= _U64_MAX) or ti is bool or item is None:
                    size += 1
                    append(item)
                else:
                    budget.left -= size
                    size = 0
                    append(_to_wire(item, d, budget))
        else:
            for item in v:  # type: ignore[attr-defined]
                ti = type(item)
                if ti is str or ti is bytes:
                    if len(item) > MAX_BYTES_LEN:
                        raise _too_long(item)
                    size += len(item) + 1
                    append(item)
                elif (ti is int and _I64_MIN <= item <= _U64_MAX) or ti is bool or item is None:
                    size += 1
                    append(item)
                else:
                    budget.left -= size
                    size = 0
                    append(_to_wire(item, d, budget))
        budget.left -= size
        if budget.left < 0:
            raise EncodingError("encoded value too large")
        return out
    if t is str or t is bytes:
        if len(v) > MAX_BYTES_LEN:  # type: ignore[arg-type]
            raise _too_long(v)  # type: ignore[arg-type]
        budget.left -= len(v) + 1  # type: ignore[arg-type]
    elif t is int:
        if not INT_MIN <= v <= INT_MAX:  # type: ignore[operator]
            raise EncodingError("int outside the signed 256-bit range")
        budget.left -= 1
        if not _I64_MIN <= v <= _U64_MAX:  # type: ignore[operator]
            return [TAG_BIGINT, _bigint_bytes(v)]  # type: ignore[arg-type]
    elif t is bool or v is None:
        budget.left -= 1
    else:
        raise EncodingError(f"type {type_name(v)} is not a VM value")
    if budget.left < 0:
        raise EncodingError("encoded value too large")
    return v


_local = threading.local()


def _packer() -> msgpack.Packer:
    packer: msgpack.Packer | None = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, autoreset=True)
    return packer


# msgpack headers (use_bin_type) of a str / bin of n < 256 bytes, and the ints -32..127
STR_HEAD = tuple(bytes([0xA0 | n]) if n < 32 else bytes([0xD9, n]) for n in range(256))
_BIN_HEAD = tuple(bytes([0xC4, n]) for n in range(256))
_SMALL_INT = {n: bytes([n & 0xFF]) for n in range(-32, 128)}
# positive ints by byte length: (msgpack header of the smallest uint that holds it, its size)
_UINT_HEAD = ((b"", 0), (b"\xcc", 1), (b"\xcd", 2), (b"\xce", 4), (b"\xce", 4),
              *((b"\xcf", 8),) * 4)  # fmt: skip
_FLAT = frozenset({str, bytes, int, bool, type(None)})
"""Types msgpack packs as a VM scalar by itself (an int out of its range makes it raise)."""
_KEY = frozenset({str, bytes, int})


def _quick_wire(
    v: list[Value] | dict[Value, Value], depth: int, left: list[int]
) -> list[object] | None:
    """The wire form of a container found by cheap checks only, or None (then ``_to_wire``).

    Only types, item counts and depth are checked here. Lengths need no check when the
    packed bytes are within the limit and at most ``MAX_BYTES_LEN`` (the caller checks):
    they hold no longer str/bytes then, and ``_to_wire``'s running budget is a lower bound
    of the packed size, so it would not have failed either. An int out of msgpack's range
    makes the packer raise (then ``_to_wire``)."""
    if depth >= MAX_DEPTH or len(v) > MAX_ITEMS:
        return None
    # every item encodes to at least a byte: a value (possibly one container shared many
    # times, a DAG) that visits more items than the limit has bytes is refused unwalked
    left[0] -= len(v) + 1
    if left[0] < 0:
        return None
    flat, key_types = _FLAT, _KEY
    # Two loops on purpose: one loop over chained key/item pairs measured ~7% slower per
    # evidence.register (the hottest encoding of a block).
    if type(v) is dict:
        out: list[object] = [TAG_MAP]
        append = out.append
        for key, item in v.items():
            if type(key) not in key_types:
                return None
            if type(key) is int and not MAP_INT_MIN <= key <= MAP_INT_MAX:
                return None
            append(key)
            if type(item) in flat:
                append(item)
            elif type(item) is list or type(item) is dict:
                sub = _quick_wire(item, depth + 1, left)
                if sub is None:
                    return None
                append(sub)
            else:
                return None
        return out
    out = [TAG_LIST]
    append = out.append
    for item in v:
        if type(item) in flat:
            append(item)
        elif type(item) is list or type(item) is dict:
            sub = _quick_wire(item, depth + 1, left)
            if sub is None:
                return None
            append(sub)
        else:
            return None
    return out


# fast path: plain=contracts.values._encode_general test=tests/contracts/test_fastpaths.py::test_native_encode_matches_the_general_path
def encode_quick(value: Value, limit: int) -> bytes | None:
    """The canonical bytes of ``value`` by the fast paths, or None when they do not apply
    (or the value fails: then the general path finds the exact error). The C extension's
    (``_values.c``) when it is built: it decides every value the Python quick path does."""
    if _native is not None:
        return _native.encode(value, native_cap(limit))
    return _encode_quick_plain(value, limit)


def native_cap(limit: int) -> int:
    """The cap ``encode_quick`` gives the C encoder for an encoding of at most ``limit``."""
    return limit if limit < MAX_BYTES_LEN else MAX_BYTES_LEN


def native_encoder() -> Callable[[Value, int], bytes | None] | None:
    """The C encoder ``encode_quick`` calls (``contracts._values.encode(value, cap)``), or
    None when it is not built."""
    return None if _native is None else _native.encode


# fast path: plain=contracts.values._encode_general test=tests/contracts/test_fastpaths.py::test_python_quick_path_matches_the_general_path
def _encode_quick_plain(value: Value, limit: int) -> bytes | None:
    """``encode_quick`` in Python: cheap type checks, then msgpack."""
    t = type(value)
    if t is str:
        if len(value) < 256:
            try:
                text: bytes = value.encode()
            except UnicodeEncodeError:
                return None
            n = len(text)
            if n < 256 and n + 2 <= limit:
                return STR_HEAD[n] + text
        return None
    if t is bytes:
        n = len(value)
        return _BIN_HEAD[n] + bytes(value) if n < 256 and n + 2 <= limit else None
    if t is int:
        small = _SMALL_INT.get(value)
        if small is not None:
            return small if limit >= 1 else None
        if 0 <= value <= _U64_MAX:
            head, size = _UINT_HEAD[(value.bit_length() + 7) >> 3]
            return head + value.to_bytes(size, "big") if size < limit else None
        return None
    if t is dict or t is list:
        wire = _quick_wire(value, 0, [min(limit, MAX_BYTES_LEN)])
        if wire is None:
            return None
        try:
            pack = _local.packer.pack
        except AttributeError:  # this thread's first pack, or its packer was dropped
            pack = _packer().pack
        try:
            data: bytes = pack(wire)
        except (ValueError, TypeError, OverflowError):
            _local.packer = None
            return None
        return data if len(data) <= limit and len(data) <= MAX_BYTES_LEN else None
    return None


def encode_value(value: Value, limit: int = MAX_ENCODED) -> bytes:
    """Canonical bytes of a VM value; ``EncodingError`` if not a value or over ``limit``."""
    data = encode_quick(value, limit)
    if data is not None:
        return data
    return _encode_general(value, limit)


def _encode_general(value: Value, limit: int) -> bytes:
    """``encode_value`` by the reference path (validates everything; exact errors)."""
    t = type(value)
    if (t is str or t is bytes) and len(value) <= MAX_BYTES_LEN:
        wire = value  # the common storage key: no conversion needed
    elif t is int and _I64_MIN <= value <= _U64_MAX:
        wire = value  # a counter: msgpack's own int (the length check below still applies)
    else:
        wire = _to_wire(value, 0, _Budget(limit))
    try:
        data: bytes = _packer().pack(wire)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a lone surrogate
        _local.packer = None  # never reuse a packer left in an unknown state
        raise EncodingError(f"cannot encode value: {type(exc).__name__}") from None
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
            out = items[1:]
            for i, x in enumerate(out):
                tx = type(x)
                if tx is list:
                    out[i] = _from_wire(x, d)
                elif tx not in _SCALARS:
                    raise EncodingError(f"msgpack type {tx.__name__} is not allowed")
            return out
        if tag == TAG_MAP:
            if len(items) % 2 != 1:
                raise EncodingError("map with an odd number of entries")
            result: dict[object, object] = {}
            for i in range(1, len(items), 2):
                key = items[i]
                if type(key) is list:
                    key = _from_wire(key, d)
                if type(key) not in _KEY_TYPES:
                    raise EncodingError(f"map key of type {type_name(key)}")
                if type(key) is int and not MAP_INT_MIN <= key <= MAP_INT_MAX:
                    raise EncodingError("map int key outside [-2^60, 2^60]")
                if key in result:
                    raise EncodingError("duplicate map key")
                item = items[i + 1]
                ti = type(item)
                if ti is list:
                    item = _from_wire(item, d)
                elif ti not in _SCALARS:
                    raise EncodingError(f"msgpack type {ti.__name__} is not allowed")
                result[key] = item
            return result
        if tag == TAG_BIGINT and len(items) == 2 and type(items[1]) is bytes:
            return int.from_bytes(items[1], "big", signed=True)
        raise EncodingError(f"unknown container tag {tag}")
    if t is int or t is str or t is bytes or t is bool or obj is None:
        return obj
    raise EncodingError(f"msgpack type {t.__name__} is not allowed")


_UINT_FORMS = {0xCC: (2, 0x80), 0xCD: (3, 0x100), 0xCE: (5, 0x1_0000), 0xCF: (9, 1 << 32)}
"""msgpack's unsigned int headers: (bytes with the header, least value whose shortest form it
is). A value below the least is non-canonical in that form; the reference path decides it."""


# fast path: plain=contracts.values._decode_general test=tests/contracts/test_fastpaths.py::test_decode_value_of_a_counter_matches_the_general_path
def decode_value(data: bytes, *, canonical: bool = True, limit: int = MAX_ENCODED) -> Value:
    """The value encoded by ``data``; ``EncodingError`` unless it is the canonical encoding.

    A stored counter, the most common value read, decodes without msgpack: a positive fixint
    is its own byte; an unsigned int in its shortest form is the big-endian bytes after the
    header. Other canonical bytes go to the C extension (``_values.decode``) when it is built:
    its answer is a value whose canonical encoding is exactly ``data``, so it is the reference's
    (non-canonical bytes and anything it cannot decide go to the reference path)."""
    if type(data) is bytes and data:
        n = len(data)
        if n == 1 and data[0] < 0x80 and limit >= 1:
            return data[0]
        form = _UINT_FORMS.get(data[0])
        if form is not None and form[0] == n and n <= limit:
            value = int.from_bytes(data[1:], "big")
            if value >= form[1]:
                return value
        # fast path: plain=contracts.values._decode_general test=tests/contracts/test_fastpaths.py::test_native_decode_matches_the_general_path
        if _native is not None and n <= limit:
            found = _native.decode(data)
            if found is not None:
                return found[0]
    return _decode_general(data, canonical, limit)


def _decode_general(data: bytes, canonical: bool, limit: int) -> Value:
    """``decode_value`` by the reference path (msgpack, then the wire form checked)."""
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
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
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
