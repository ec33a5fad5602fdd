"""Instruction handlers outside the interpreter's inline fast path, and the builtins.

Every handler checks the types of its operands and raises ``ExecutionError`` (or a
subclass) with a short message; none lets a Python ``TypeError`` escape for valid stacks.
Sizes of created values are bounded (``values.MAX_*``) and their work is charged as gas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from contracts import opcodes as op
from contracts.errors import EncodingError, ExecutionError, LimitExceeded, OutOfGas, Revert
from contracts.machine import MAX_EVENT_NAME, MAX_EVENT_SIZE, MAX_EVENTS, Event, Machine
from contracts.values import (
    INT_MAX,
    INT_MIN,
    MAP_INT_MAX,
    MAP_INT_MIN,
    MAX_BYTES_LEN,
    MAX_DEPTH,
    MAX_ITEMS,
    Value,
    decode_value,
    encode_value,
    type_name,
)
from contracts.verifier import VerifiedFunction

Stack = list[Value]
Handler = Callable[[Machine, Stack, Any], None]

_KEY_TYPES = (int, str, bytes)
_SCALARS = frozenset({int, str, bytes, bool, type(None)})
_INT_RE = re.compile(r"-?[0-9]{1,78}")


def _fail(msg: str) -> ExecutionError:
    return ExecutionError(msg)


def _check_int(r: int, what: str) -> int:
    if r > INT_MAX or r < INT_MIN:
        raise ExecutionError(f"int overflow in {what}")
    return r


_MEM_STR, _MEM_BYTES, _MEM_INT = op.MEM_STR, op.MEM_BYTES, op.MEM_INT
_MEM_LIST, _MEM_SLOT = op.MEM_LIST, op.MEM_LIST_SLOT
_MEM_MAP, _MEM_ENTRY = op.MEM_MAP, op.MEM_MAP_ENTRY
SMALL_INT = 1 << 60
"""Ints in [-SMALL_INT, SMALL_INT) are held in one ``MEM_INT``, larger ones in two."""
_MAX_MEMORY = op.MAX_MEMORY


def text_size(value: str | bytes) -> int:
    """Bytes of a str/bytes under the VM's size model (``opcodes.MEM_*``)."""
    if type(value) is str:
        return _MEM_STR + (len(value) if value.isascii() else 4 * len(value))
    return _MEM_BYTES + len(value)


def held(value: Value) -> int:
    """Bytes a container pays for holding ``value`` beyond its slot: an int may be a new
    object made for it (str, bytes and containers paid for themselves when made)."""
    if type(value) is int:
        return _MEM_INT if -SMALL_INT <= value < SMALL_INT else 2 * _MEM_INT
    return 0


def value_size(value: Value) -> int:
    """Bytes of a whole new value tree (a decoded or copied value: nothing in it shared)."""
    t = type(value)
    if t is str or t is bytes:
        return text_size(value)
    if t is list:
        return _MEM_LIST + sum(_MEM_SLOT + value_size(x) for x in value)
    if t is dict:
        return _MEM_MAP + sum(_MEM_ENTRY + value_size(k) + value_size(x) for k, x in value.items())
    return held(value)


def new_list(m: Machine, items: list[Value]) -> list[Value]:
    """Charge a list just built from stack values (its slots and any int in them)."""
    size = _MEM_LIST + _MEM_SLOT * len(items)
    for x in items:
        if type(x) is int:
            size += held(x)
    m.alloc(size)
    return items


def new_map(m: Machine, d: dict[Value, Value]) -> dict[Value, Value]:
    """Charge a map just built from stack values (its entries and any int in them)."""
    size = _MEM_MAP + _MEM_ENTRY * len(d)
    for k, x in d.items():
        if type(k) is int:
            size += held(k)
        if type(x) is int:
            size += held(x)
    m.alloc(size)
    return d


def frame_size(f: VerifiedFunction) -> int:
    """Bytes of a call frame of ``f``: its locals and its deepest operand stack."""
    return op.MEM_FRAME + _MEM_SLOT * (f.entry.n_locals + f.max_stack)


def cmp_words(a: str | bytes, b: str | bytes) -> int:
    """Gas of an ordering or equality of two str or two bytes: CPython compares bytes and
    ASCII str with memcmp (a gas per 128 bytes), other str character by character (a gas
    per 8 characters)."""
    n = min(len(a), len(b))
    if type(a) is str and not (a.isascii() and b.isascii()):
        return (n >> 3) * op.GAS_CMP_WORD
    return (n >> 7) * op.GAS_CMP_WORD  # memcmp: ~5 ns per 128 bytes


def eq_words(a: str | bytes, b: str | bytes) -> int:
    """Gas of comparing two str or two bytes of equal length for equality: CPython compares
    their buffers with memcmp (1, 2 or 4 bytes per character): a gas per 128 bytes. Zero
    below 32 characters, so the engines compare shorter ones inline."""
    n = len(a)
    if n < 32:
        return 0
    if type(a) is str and not (a.isascii() and b.isascii()):
        return (n >> 5) * op.GAS_CMP_WORD
    return (n >> 7) * op.GAS_CMP_WORD


def _sized(m: Machine, value: Value) -> Value:
    """Bound and charge a freshly created str/bytes value, or list of existing values."""
    n = len(value)
    if type(value) is list:
        if n > MAX_ITEMS:
            raise LimitExceeded(f"list of {n} items exceeds {MAX_ITEMS}")
        m.alloc(_MEM_LIST + _MEM_SLOT * n)
    else:
        if n > MAX_BYTES_LEN:
            raise LimitExceeded(f"{type_name(value)} of length {n} exceeds {MAX_BYTES_LEN}")
        m.alloc(text_size(value))
    return value


def add(m: Machine, a: Value, b: Value) -> Value:
    ta = type(a)
    if ta is str and type(b) is str:  # the common key building: _sized inlined
        r = a + b
        n = len(r)
        if n > MAX_BYTES_LEN:
            raise LimitExceeded(f"str of length {n} exceeds {MAX_BYTES_LEN}")
        size = _MEM_STR + (n if r.isascii() else 4 * n)  # m.alloc inlined (hot)
        mem = m.mem + size
        m.mem = mem
        gas = m.gas - ((size + 7) >> 3)
        m.gas = gas
        if gas < 0 or mem > _MAX_MEMORY:
            m.alloc(0)  # raises the error of the one that failed (the cap first)
        return r
    if ta is int and type(b) is int:
        return _check_int(a + b, "+")
    if ta is type(b) and ta in (str, bytes, list):
        if ta is list and len(a) + len(b) > MAX_ITEMS:
            raise LimitExceeded(f"list of {len(a) + len(b)} items exceeds {MAX_ITEMS}")
        return _sized(m, a + b)
    raise _fail(f"unsupported operand types for +: {type_name(a)} and {type_name(b)}")


def _ints(a: Value, b: Value, sym: str) -> None:
    if type(a) is not int or type(b) is not int:
        raise _fail(f"unsupported operand types for {sym}: {type_name(a)} and {type_name(b)}")


def _sub(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ints(a, b, "-")
    s[-1] = _check_int(a - b, "-")


def _mul(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ints(a, b, "*")
    s[-1] = _check_int(a * b, "*")


def _floordiv(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ints(a, b, "//")
    if b == 0:
        raise _fail("division by zero")
    s[-1] = _check_int(a // b, "//")


def _mod(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ints(a, b, "%")
    if b == 0:
        raise _fail("modulo by zero")
    s[-1] = a % b


def _add(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    s[-1] = add(m, s[-1], b)


def _neg(m: Machine, s: Stack, arg: int) -> None:
    a = s[-1]
    if type(a) is not int:
        raise _fail(f"bad operand type for unary -: {type_name(a)}")
    s[-1] = _check_int(-a, "unary -")


def _not(m: Machine, s: Stack, arg: int) -> None:
    s[-1] = not s[-1]


def equal(m: Machine, a: Value, b: Value) -> bool:
    """VM equality: same type and content (``1 != True``); containers are compared deeply,
    charging gas per item so that comparing large shared structures cannot run for free."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is str or ta is bytes:
        if len(a) == len(b) and len(a) >= 32:  # only equal lengths are compared bytewise
            m.charge(eq_words(a, b))
        return bool(a == b)
    if ta is list or ta is dict:
        return _deep_equal(m, a, b, 0)
    return bool(a == b)


def _deep_equal(m: Machine, a: Value, b: Value, depth: int) -> bool:
    if a is b:  # aliasing is program semantics, so this shortcut is deterministic
        return True
    if depth >= MAX_DEPTH:
        raise LimitExceeded(f"values nest deeper than {MAX_DEPTH}")
    if len(a) != len(b):
        return False
    m.charge(op.GAS_VISIT + len(a) * op.GAS_PY_ITEM)
    d = depth + 1
    if type(a) is list:
        pairs: Iterable[tuple[Value, Value]] = zip(a, b, strict=True)
    else:
        if any(k not in b for k in a):
            return False
        pairs = ((v, b[k]) for k, v in a.items())
    for x, y in pairs:
        tx = type(x)
        if tx is not type(y):
            return False
        if tx is list or tx is dict:
            if not _deep_equal(m, x, y, d):
                return False
        else:
            if (tx is str or tx is bytes) and len(x) == len(y) and len(x) >= 32:
                m.charge(eq_words(x, y))
            if x != y:
                return False
    return True


def _eq(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    s[-1] = equal(m, s[-1], b)


def _ne(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    s[-1] = not equal(m, s[-1], b)


def _ordered(m: Machine, a: Value, b: Value, sym: str) -> None:
    ta = type(a)
    if ta is not type(b) or ta not in _KEY_TYPES:
        raise _fail(f"cannot compare {type_name(a)} {sym} {type_name(b)}")
    if ta is not int and len(a) >= 8 and len(b) >= 8:
        m.charge(cmp_words(a, b))


def _lt(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ordered(m, a, b, "<")
    s[-1] = a < b


def _le(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ordered(m, a, b, "<=")
    s[-1] = a <= b


def _gt(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ordered(m, a, b, ">")
    s[-1] = a > b


def _ge(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    a = s[-1]
    _ordered(m, a, b, ">=")
    s[-1] = a >= b


def search_words(text: str | bytes, sub: str | bytes) -> int:
    """Gas of searching ``sub`` in ``text``: CPython's search may compare up to ~the
    needle's first 64 characters at each position of the text (its worst case), then
    switches to a linear algorithm; non-ASCII str costs up to 4 bytes per character."""
    n = len(text)
    if n < 8:
        return 0
    wide = 4 if type(text) is str and not (text.isascii() and sub.isascii()) else 1
    return ((n * wide * (1 + (min(len(sub), 64) >> 3))) >> 5) * op.GAS_CMP_WORD


def contains(m: Machine, item: Value, container: Value) -> bool:
    t = type(container)
    if t is dict:
        return type(item) in _KEY_TYPES and item in container
    if t is list:
        n = len(container)
        ti = type(item)
        if ti is str or ti is bytes:
            # C's membership test is exactly VM equality for these (no str/bytes equals
            # another type): charged as if every item had the same length (each compared)
            words = (len(item) >> 3) if ti is str and not item.isascii() else len(item) >> 5
            m.charge(n * (op.GAS_PER_ITEM + words * op.GAS_CMP_WORD))
            return item in container
        m.charge(n * op.GAS_PY_ITEM)
        return any(equal(m, item, x) for x in container)
    if t is str or t is bytes:
        if type(item) is not t:
            raise _fail(f"'in <{type_name(container)}>' needs a {type_name(container)} operand")
        m.charge(search_words(container, item))
        return item in container
    raise _fail(f"argument of type {type_name(container)} is not a container")


def _in(m: Machine, s: Stack, arg: int) -> None:
    b = s.pop()
    s[-1] = contains(m, s[-1], b)


def _build_list(m: Machine, s: Stack, n: int) -> None:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"list of {n} items exceeds {MAX_ITEMS}")
    m.charge(n * op.GAS_PER_ITEM)
    if n:
        items = s[-n:]
        del s[-n:]
        s.append(new_list(m, items))
    else:
        s.append(new_list(m, []))


def _map_key(k: Value) -> None:
    if type(k) not in _KEY_TYPES:
        raise _fail(f"map key must be int, str or bytes, not {type_name(k)}")
    if type(k) is int and not MAP_INT_MIN <= k <= MAP_INT_MAX:
        raise _fail(f"map int key outside [-2^60, 2^60]: {_short(k)}")


def _build_map(m: Machine, s: Stack, n: int) -> None:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"map of {n} items exceeds {MAX_ITEMS}")
    m.charge(2 * n * op.GAS_PER_ITEM)
    result: dict[Value, Value] = {}
    if n:
        flat = s[-2 * n :]
        del s[-2 * n :]
        for i in range(0, 2 * n, 2):
            k = flat[i]
            tk = type(k)
            if tk is not str and tk is not bytes:
                _map_key(k)
            result[k] = flat[i + 1]
    s.append(new_map(m, result))


def index(m: Machine, obj: Value, k: Value) -> Value:
    t = type(obj)
    if t is dict:
        _map_key(k)
        try:
            return obj[k]
        except KeyError:
            raise _fail(f"key not found: {_short(k)}") from None
    if t is list or t is str or t is bytes:
        if type(k) is not int:
            raise _fail(f"{type_name(obj)} index must be int, not {type_name(k)}")
        try:
            item = obj[k]
        except IndexError:
            raise _fail(f"{type_name(obj)} index {k} out of range") from None
        if t is str and not item.isascii():  # a new object (ASCII ones are shared)
            m.alloc(_MEM_STR + 4)
        elif t is bytes:
            m.alloc(held(item))
        return item
    raise _fail(f"{type_name(obj)} is not subscriptable")


def _index(m: Machine, s: Stack, arg: int) -> None:
    k = s.pop()
    s[-1] = index(m, s[-1], k)


def _set_index(m: Machine, s: Stack, arg: int) -> None:
    v = s.pop()
    k = s.pop()
    obj = s.pop()
    t = type(obj)
    if t is dict:
        _map_key(k)
        if k not in obj:
            if len(obj) >= MAX_ITEMS:
                raise LimitExceeded(f"map of more than {MAX_ITEMS} items")
            m.alloc(_MEM_ENTRY + held(k) + held(v))
        elif type(v) is int:
            m.alloc(held(v))
        obj[k] = v
    elif t is list:
        if type(k) is not int:
            raise _fail(f"list index must be int, not {type_name(k)}")
        if not -len(obj) <= k < len(obj):
            raise _fail(f"list index {k} out of range")
        if type(v) is int:
            m.alloc(held(v))
        obj[k] = v
    else:
        raise _fail(f"{type_name(obj)} does not support item assignment")


def _del_index(m: Machine, s: Stack, arg: int) -> None:
    k = s.pop()
    obj = s.pop()
    pop_at(m, obj, k)


def _slice(m: Machine, s: Stack, arg: int) -> None:
    stop = s.pop()
    start = s.pop()
    obj = s[-1]
    if type(obj) not in (str, bytes, list):
        raise _fail(f"{type_name(obj)} cannot be sliced")
    for bound in (start, stop):
        if bound is not None and type(bound) is not int:
            raise _fail(f"slice bounds must be int or None, not {type_name(bound)}")
    s[-1] = _sized(m, obj[start:stop])


def _unpack(m: Machine, s: Stack, n: int) -> None:
    seq = s.pop()
    if type(seq) is not list:
        raise _fail(f"cannot unpack {type_name(seq)}")
    if len(seq) != n:
        raise _fail(f"expected {n} values to unpack, got {len(seq)}")
    m.charge(n * op.GAS_PER_ITEM)
    s.extend(reversed(seq))


# Storage and events as functions of values (the translated code calls these directly);
# the stack handlers below wrap them. ``m.charge`` is inlined in the hottest.


def decoded(m: Machine, data: bytes) -> Value:
    """A stored value, charged by the size of what decoding made."""
    value = decode_value(data, canonical=False)
    t = type(value)
    if t is str or t is bytes:
        m.alloc(text_size(value))
    elif t is list or t is dict:
        m.charge(len(data) * op.GAS_PY_ITEM)  # the size walk visits at most every byte
        m.alloc(value_size(value))
    elif t is int:
        m.alloc(held(value))
    return value


def sload(m: Machine, k: Value) -> Value:
    key = m.key(k)
    data = m.read(key)
    if data is None:
        raise _fail(f"storage key not found: {_short(k)}")
    m.charge((len(key) + len(data)) * op.GAS_SREAD_BYTE)
    return decoded(m, data)


def sget(m: Machine, k: Value, default: Value) -> Value:
    key = m.key(k)
    data = m.read(key)
    gas = m.gas - (len(key) if data is None else len(key) + len(data)) * op.GAS_SREAD_BYTE
    m.gas = gas
    if gas < 0:
        raise OutOfGas("out of gas")
    return default if data is None else decoded(m, data)


def sstore(m: Machine, k: Value, value: Value) -> None:
    key = m.key(k)
    if m.readonly:
        raise _fail("state change in a read-only call")
    try:
        data = encode_value(value)
    except EncodingError as exc:
        raise LimitExceeded(f"storage value: {exc}") from None
    gas = m.gas - (len(key) + len(data)) * op.GAS_SWRITE_BYTE
    m.gas = gas
    if gas < 0:
        raise OutOfGas("out of gas")
    m.writes[key] = data  # m.write inlined: readonly was checked above


def sdel(m: Machine, k: Value) -> None:
    key = m.key(k)
    m.charge(len(key) * op.GAS_SWRITE_BYTE)
    m.write(key, None)


def shas(m: Machine, k: Value) -> bool:
    key = m.key(k)
    m.charge(len(key) * op.GAS_SREAD_BYTE)
    return m.has(key)


def emit(m: Machine, name: Value, fields: Value) -> None:
    if m.readonly:
        raise _fail("emit in a read-only call")
    if type(name) is not str or not 0 < len(name) <= MAX_EVENT_NAME:
        raise _fail(f"event name must be a str of 1..{MAX_EVENT_NAME} characters")
    if type(fields) is not dict:
        raise _fail("event fields must be a map with str keys")
    scalars = True
    for k, v in fields.items():
        if type(k) is not str:
            raise _fail("event fields must be a map with str keys")
        if scalars and type(v) not in _SCALARS:
            scalars = False
    if len(m.events) >= MAX_EVENTS:
        raise LimitExceeded(f"more than {MAX_EVENTS} events")
    try:
        data = encode_value(fields, MAX_EVENT_SIZE)
    except EncodingError as exc:
        raise LimitExceeded(f"event {name!a}: {exc}") from None
    m.charge((len(name) + len(data)) * op.GAS_EMIT_BYTE)
    # scalars are immutable, so a shallow copy is a snapshot; otherwise a deep copy
    if scalars:
        snapshot = dict(fields)
        m.alloc(_MEM_MAP + _MEM_ENTRY * len(snapshot) + text_size(data))
    else:
        snapshot = decode_value(data, canonical=False)
        m.alloc(value_size(snapshot) + text_size(data))
    m.events.append(Event(name, snapshot, data))


def _sload(m: Machine, s: Stack, arg: int) -> None:
    s[-1] = sload(m, s[-1])


def _sget(m: Machine, s: Stack, arg: int) -> None:
    default = s.pop()
    s[-1] = sget(m, s[-1], default)


def _sstore(m: Machine, s: Stack, arg: int) -> None:
    value = s.pop()
    sstore(m, s.pop(), value)


def _sdel(m: Machine, s: Stack, arg: int) -> None:
    sdel(m, s.pop())


def _shas(m: Machine, s: Stack, arg: int) -> None:
    s[-1] = shas(m, s[-1])


def _emit(m: Machine, s: Stack, arg: int) -> None:
    fields = s.pop()
    emit(m, s[-1], fields)
    s[-1] = None


def _ctx(m: Machine, s: Stack, arg: int) -> None:
    s.append(m.context(arg))


def _nop(m: Machine, s: Stack, arg: int) -> None:
    return None


def _pop(m: Machine, s: Stack, arg: int) -> None:
    s.pop()


def _dup(m: Machine, s: Stack, arg: int) -> None:
    s.append(s[-1])


def _short(v: Value) -> str:
    text = ascii(v) if type(v) in (int, str, bytes, bool) else type_name(v)
    return text if len(text) <= 80 else text[:77] + "..."


# ---- builtins: fn(machine, *args) -> value -------------------------------------------------


def b_len(m: Machine, x: Value) -> Value:
    if type(x) not in (str, bytes, list, dict):
        raise _fail(f"len() of {type_name(x)}")
    return len(x)


def b_str(m: Machine, x: Value) -> Value:
    t = type(x)
    if t is str:
        return x
    if t is int:
        return _sized(m, str(x))
    if t is bool or x is None:
        return str(x)
    raise _fail(f"str() of {type_name(x)} (use hex() or .decode() for bytes)")


def b_int(m: Machine, x: Value) -> Value:
    t = type(x)
    if t is int:
        return x
    if t is bool:
        return int(x)
    if t is str and _INT_RE.fullmatch(x):
        return _check_int(int(x), "int()")  # at most 79 characters: no big-number cost
    raise _fail(f"int() of {_short(x)}")


def b_bool(m: Machine, x: Value) -> Value:
    return bool(x)


def b_bytes(m: Machine, x: Value) -> Value:
    if type(x) is bytes:
        return x
    if type(x) is str:
        return _encode(m, x)
    raise _fail(f"bytes() of {type_name(x)}")


def b_hex(m: Machine, x: Value) -> Value:
    if type(x) is bytes:
        return _sized(m, x.hex())
    if type(x) is int:
        return _sized(m, hex(x))
    raise _fail(f"hex() of {type_name(x)}")


def b_unhex(m: Machine, x: Value) -> Value:
    if type(x) is not str:
        raise _fail(f"unhex() of {type_name(x)}")
    text = x[2:] if x[:2] in ("0x", "0X") else x
    # fromhex takes ASCII hex digits and whitespace only; two digits per byte out means no
    # whitespace, so this accepts exactly _HEX_RE (the former check; a test compares them)
    try:
        data = bytes.fromhex(text)
    except ValueError:
        data = None
    if data is None or 2 * len(data) != len(text):
        raise _fail(f"not a hex string: {_short(x)}")
    return _sized(m, data)


def b_sm3(m: Machine, x: Value) -> Value:
    if type(x) is str:
        x = _encode(m, x)
    elif type(x) is not bytes:
        raise _fail(f"sm3() of {type_name(x)}")
    m.charge(((len(x) + 31) >> 5) * op.GAS_HASH_WORD)
    return m.hash(x)


def b_abs(m: Machine, x: Value) -> Value:
    if type(x) is not int:
        raise _fail(f"abs() of {type_name(x)}")
    return _check_int(abs(x), "abs()")


def b_min(m: Machine, a: Value, b: Value) -> Value:
    _ordered(m, a, b, "in min()")
    return b if b < a else a


def b_max(m: Machine, a: Value, b: Value) -> Value:
    _ordered(m, a, b, "in max()")
    return b if b > a else a


def _want(x: Value, t: type, fn: str) -> None:
    if type(x) is not t:
        raise _fail(f"{fn}() needs a {type_name(t())}, got {type_name(x)}")


def b_append(m: Machine, lst: Value, x: Value) -> Value:
    _want(lst, list, "append")
    if len(lst) >= MAX_ITEMS:
        raise LimitExceeded(f"list of more than {MAX_ITEMS} items")
    m.alloc(_MEM_SLOT + held(x) if type(x) is int else _MEM_SLOT)
    lst.append(x)
    return None


def b_extend(m: Machine, lst: Value, other: Value) -> Value:
    _want(lst, list, "extend")
    _want(other, list, "extend")
    if len(lst) + len(other) > MAX_ITEMS:
        raise LimitExceeded(f"list of more than {MAX_ITEMS} items")
    m.charge(len(other) * op.GAS_PER_ITEM)
    m.alloc(_MEM_SLOT * len(other))
    lst.extend(other)
    return None


def b_get(m: Machine, d: Value, k: Value, default: Value) -> Value:
    _want(d, dict, "get")
    if type(k) not in _KEY_TYPES:
        return default
    return d.get(k, default)


def b_keys(m: Machine, d: Value) -> Value:
    _want(d, dict, "keys")
    m.charge(len(d) * op.GAS_PER_ITEM)
    return _sized(m, list(d))


def b_values(m: Machine, d: Value) -> Value:
    _want(d, dict, "values")
    m.charge(len(d) * op.GAS_PER_ITEM)
    return _sized(m, list(d.values()))


def b_items(m: Machine, d: Value) -> Value:
    _want(d, dict, "items")
    m.charge(2 * len(d) * op.GAS_PER_ITEM)
    m.alloc(_MEM_LIST + len(d) * (_MEM_SLOT + _MEM_LIST + 2 * _MEM_SLOT))
    return [[k, v] for k, v in d.items()]


def b_pop(m: Machine, lst: Value) -> Value:
    _want(lst, list, "pop")
    if not lst:
        raise _fail("pop from empty list")
    return lst.pop()


def pop_at(m: Machine, obj: Value, k: Value) -> Value:
    t = type(obj)
    if t is dict:
        _map_key(k)
        if k not in obj:
            raise _fail(f"key not found: {_short(k)}")
        return obj.pop(k)
    if t is list:
        if type(k) is not int:
            raise _fail(f"list index must be int, not {type_name(k)}")
        if not -len(obj) <= k < len(obj):
            raise _fail(f"list index {k} out of range")
        m.charge(len(obj) * op.GAS_PER_ITEM)
        return obj.pop(k)
    raise _fail(f"{type_name(obj)} does not support deletion")


def _encode(m: Machine, x: str) -> bytes:
    try:
        data = x.encode()
    except UnicodeEncodeError:
        raise _fail("str is not valid UTF-8") from None
    _sized(m, data)
    return data


def b_encode(m: Machine, x: Value) -> Value:
    _want(x, str, "encode")
    return _encode(m, x)


def b_decode(m: Machine, x: Value) -> Value:
    _want(x, bytes, "decode")
    try:
        return _sized(m, x.decode())
    except UnicodeDecodeError:
        raise _fail("bytes are not valid UTF-8") from None


def _same_text(a: Value, b: Value, fn: str) -> None:
    if type(a) not in (str, bytes) or type(b) is not type(a):
        raise _fail(f"{fn}() needs two str or two bytes")


def b_startswith(m: Machine, a: Value, b: Value) -> Value:
    _same_text(a, b, "startswith")
    if len(b) >= 8:
        m.charge(cmp_words(a, b))
    return a.startswith(b)


def b_endswith(m: Machine, a: Value, b: Value) -> Value:
    _same_text(a, b, "endswith")
    if len(b) >= 8:
        m.charge(cmp_words(a, b))
    return a.endswith(b)


# Case mapping of ASCII letters only: Python's full Unicode tables change between versions,
# and two nodes on different Pythons must still compute the same state.
_ASCII_LOWER = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
)  # fmt: skip
_ASCII_UPPER = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
)  # fmt: skip


def _ascii_case(x: str, upper: bool) -> str:
    """ASCII letters of ``x`` mapped, others kept: through UTF-8 bytes, whose case mapping is
    ASCII-only and whose multi-byte sequences have no ASCII byte (C speed; a ``translate``
    table ran ~100 ns per character). A test pins it to ``_ASCII_LOWER``/``_ASCII_UPPER``."""
    data = x.encode("utf-8", "surrogatepass")
    return (data.upper() if upper else data.lower()).decode("utf-8", "surrogatepass")


def b_lower(m: Machine, x: Value) -> Value:
    if type(x) is str:  # str.lower() of ASCII text is exactly the ASCII mapping (faster)
        return _sized(m, x.lower() if x.isascii() else _ascii_case(x, False))
    if type(x) is bytes:
        return _sized(m, x.lower())  # bytes.lower() is ASCII-only already
    raise _fail(f"lower() of {type_name(x)}")


def b_upper(m: Machine, x: Value) -> Value:
    if type(x) is str:
        return _sized(m, x.upper() if x.isascii() else _ascii_case(x, True))
    if type(x) is bytes:
        return _sized(m, x.upper())
    raise _fail(f"upper() of {type_name(x)}")


def b_split(m: Machine, x: Value, sep: Value) -> Value:
    _same_text(x, sep, "split")
    if not sep:
        raise _fail("split() with an empty separator")
    m.charge(search_words(x, sep))  # count() searches the whole text once
    if x.count(sep) >= MAX_ITEMS:
        raise LimitExceeded(f"split() into more than {MAX_ITEMS} items")
    m.charge(search_words(x, sep))  # and split() once more
    parts = x.split(sep)
    # the parts together are at most the text: each part's header, the text's bytes once
    head = _MEM_STR if type(x) is str else _MEM_BYTES
    m.alloc(_MEM_LIST + len(parts) * (_MEM_SLOT + head) + text_size(x))
    return parts


def b_join(m: Machine, sep: Value, items: Value) -> Value:
    _want(items, list, "join")
    # the checks at C speed (map/set), not a Python loop per item
    if type(sep) not in (str, bytes) or (items and set(map(type, items)) != {type(sep)}):
        raise _fail("join() needs a separator and items of one text type")
    m.charge(len(items) * op.GAS_PER_ITEM)
    total = sum(map(len, items)) + len(sep) * max(len(items) - 1, 0)
    if total > MAX_BYTES_LEN:
        raise LimitExceeded(f"joined value of length {total} exceeds {MAX_BYTES_LEN}")
    return _sized(m, sep.join(items))


def b_list(m: Machine, x: Value) -> Value:
    if type(x) is list or type(x) is dict:
        return _sized(m, list(x))
    raise _fail(f"list() of {type_name(x)}")


def b_sorted(m: Machine, x: Value) -> Value:
    _want(x, list, "sorted")
    if x:
        t = type(x[0])
        if t not in _KEY_TYPES or any(type(i) is not t for i in x):
            raise _fail("sorted() needs items of one type: int, str or bytes")
        m.charge(len(x) * op.GAS_PER_ITEM)  # the type scan
        per = op.GAS_PER_ITEM
        if t is not int:  # each comparison may read the longest item
            longest = max(x, key=len)
            per += cmp_words(longest, longest)
        m.charge(len(x) * max(len(x).bit_length(), 1) * per)
    return _sized(m, sorted(x))


def b_iter(m: Machine, x: Value) -> Value:
    if type(x) is list or type(x) is dict:
        return _sized(m, list(x))
    raise _fail(f"cannot iterate over {type_name(x)}")


BUILTIN_IMPLS: dict[str, Callable[..., Value]] = {
    "len": b_len,
    "str": b_str,
    "int": b_int,
    "bool": b_bool,
    "bytes": b_bytes,
    "hex": b_hex,
    "unhex": b_unhex,
    "sm3": b_sm3,
    "abs": b_abs,
    "min": b_min,
    "max": b_max,
    "append": b_append,
    "get": b_get,
    "keys": b_keys,
    "values": b_values,
    "items": b_items,
    "pop": b_pop,
    "pop_at": pop_at,
    "encode": b_encode,
    "decode": b_decode,
    "startswith": b_startswith,
    "endswith": b_endswith,
    "lower": b_lower,
    "upper": b_upper,
    "split": b_split,
    "join": b_join,
    "list": b_list,
    "sorted": b_sorted,
    "iter": b_iter,
    "extend": b_extend,
}


def _revert(m: Machine, s: Stack, arg: int) -> None:
    msg = s.pop()
    text = msg if type(msg) is str else _short(msg)
    raise Revert(text[:256])


HANDLERS: dict[int, Handler] = {
    op.NOP: _nop,
    op.POP: _pop,
    op.DUP: _dup,
    op.ADD: _add,
    op.SUB: _sub,
    op.MUL: _mul,
    op.FLOORDIV: _floordiv,
    op.MOD: _mod,
    op.NEG: _neg,
    op.NOT: _not,
    op.EQ: _eq,
    op.NE: _ne,
    op.LT: _lt,
    op.LE: _le,
    op.GT: _gt,
    op.GE: _ge,
    op.IN: _in,
    op.REVERT: _revert,
    op.BUILD_LIST: _build_list,
    op.BUILD_MAP: _build_map,
    op.INDEX: _index,
    op.SET_INDEX: _set_index,
    op.DEL_INDEX: _del_index,
    op.SLICE: _slice,
    op.UNPACK: _unpack,
    op.SLOAD: _sload,
    op.SGET: _sget,
    op.SSTORE: _sstore,
    op.SDEL: _sdel,
    op.SHAS: _shas,
    op.EMIT: _emit,
    op.CTX: _ctx,
}
