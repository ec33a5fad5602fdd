"""The C versions (``contracts._natives``) of the hottest natives, for translated programs.

Each C function does the common case of its Python native (``contracts.natives``) and hands
every other call, every failure included, to that Python function with the machine untouched
(``_natives.c`` says how), so results, errors and gas are the Python function's. Only the
translated code's namespace uses them (``contracts.translate``); the interpreter keeps the
Python natives, the reference that tests compare translated programs with.

``NATIVES`` maps a native's name in the translated namespace to its C version and
``BUILTINS`` a builtin's name to its; both are empty when the extension, or
``contracts._values`` whose encoder it calls, is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import natives, values
from contracts import opcodes as op
from contracts.machine import MAX_EVENT_NAME, MAX_EVENT_SIZE, MAX_EVENTS, Event

_NATIVE_NAMES = ("add", "sstore", "sget", "shas", "new_map", "new_list", "emit")
_BUILTIN_NAMES = ("len", "str", "hex", "unhex", "lower", "startswith")


def _config() -> dict[str, Any]:
    """What ``_natives.init`` takes: the limits and prices (their homes are the Python
    modules), the reference functions and the encoder with the caps ``encode_value`` gives it."""
    return {
        "MEM_STR": op.MEM_STR,
        "MEM_BYTES": op.MEM_BYTES,
        "MEM_INT": op.MEM_INT,
        "MEM_LIST": op.MEM_LIST,
        "MEM_LIST_SLOT": op.MEM_LIST_SLOT,
        "MEM_MAP": op.MEM_MAP,
        "MEM_MAP_ENTRY": op.MEM_MAP_ENTRY,
        "MAX_MEMORY": op.MAX_MEMORY,
        "MAX_BYTES_LEN": values.MAX_BYTES_LEN,
        "SMALL_INT": natives.SMALL_INT,
        "GAS_SREAD_BYTE": op.GAS_SREAD_BYTE,
        "GAS_SWRITE_BYTE": op.GAS_SWRITE_BYTE,
        "GAS_EMIT_BYTE": op.GAS_EMIT_BYTE,
        "GAS_CMP_WORD": op.GAS_CMP_WORD,
        "MAX_EVENT_NAME": MAX_EVENT_NAME,
        "MAX_EVENTS": MAX_EVENTS,
        **{name: getattr(natives, name) for name in _NATIVE_NAMES},
        "_decoded": natives.decoded,
        **{f"b_{name}": natives.BUILTIN_IMPLS[name] for name in _BUILTIN_NAMES},
        "encode": values.native_encoder(),
        "Event": Event,
        "store_cap": values.native_cap(values.MAX_ENCODED),
        "event_cap": values.native_cap(MAX_EVENT_SIZE),
    }


def _load() -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    try:
        from contracts import _natives
    except ImportError:
        return {}, {}
    if values.native_encoder() is None:
        return {}, {}
    _natives.init(_config())
    return (
        {name: getattr(_natives, name) for name in _NATIVE_NAMES},
        {name: getattr(_natives, f"b_{name}") for name in _BUILTIN_NAMES},
    )


# fast path: plain=contracts.natives test=tests/contracts/test_native_natives.py::test_c_natives_match_the_python_natives
NATIVES, BUILTINS = _load()
