"""Gas: charged for instructions and bytes; exhaustion reverts everything and charges all."""

from __future__ import annotations

from typing import Any

import pytest

from contracts import MemoryHost, compile_source, execute
from contracts import opcodes as op
from tests.contracts.helpers import run_src
from tests.contracts.test_compiler import fn

SPIN = fn("storage['before'] = 1\nemit('E')\nwhile True:\n    pass")


def test_out_of_gas_reverts_and_charges_the_limit() -> None:
    host = MemoryHost()
    result = run_src(SPIN, host=host, gas=10_000)
    assert not result.ok
    assert result.error == "out of gas"
    assert result.gas_used == 10_000
    assert result.events == [] and result.return_value is None
    assert host.storage == {} and host.writes == 0


def test_exact_gas_boundary() -> None:
    src = fn("storage['k'] = 'v'\nreturn 1")
    used = run_src(src).gas_used
    assert run_src(src, gas=used).ok
    short = run_src(src, gas=used - 1)
    assert not short.ok and short.gas_used == used - 1 and short.error == "out of gas"


def test_failure_charges_gas_used_so_far() -> None:
    src = fn("x = 1\nrequire(False, 'no')")
    result = run_src(src, gas=1_000_000)
    assert not result.ok and 0 < result.gas_used < 1_000


def test_every_byte_stored_and_emitted_costs() -> None:
    def gas(body: str) -> int:
        r = run_src(fn(body))
        assert r.ok, r.error
        return r.gas_used

    short, long = "a" * 100, "a" * 200  # same msgpack header size (str8)
    store = gas(f"storage['k'] = '{long}'") - gas(f"storage['k'] = '{short}'")
    assert store == 100 * op.GAS_SWRITE_BYTE
    event = gas(f"emit('E', v='{long}')") - gas(f"emit('E', v='{short}')")
    # the event keeps its encoded fields: 100 more bytes held, at MEM_BYTES_PER_GAS per gas
    assert event == 100 * op.GAS_EMIT_BYTE + 100 // op.MEM_BYTES_PER_GAS
    ret = gas(f"return '{long}'") - gas(f"return '{short}'")
    assert ret == 100 * op.GAS_ARG_BYTE
    read = gas(f"storage['k'] = '{long}'\nx = storage['k']") - gas(f"storage['k'] = '{long}'")
    assert (
        read
        == op.BY_NAME["SLOAD"].gas
        + op.BY_NAME["CONST"].gas
        + op.BY_NAME["STORE"].gas
        + (len(b"\xa1k") + 2 + 200) * op.GAS_SREAD_BYTE
        + -(-(op.MEM_STR + 200) // op.MEM_BYTES_PER_GAS)  # the str read is a new object
        + op.MEM_LIST_SLOT // op.MEM_BYTES_PER_GAS  # and its frame has one more local
    )


def test_every_instruction_costs_gas() -> None:
    base = run_src(fn("x = 1")).gas_used
    more = run_src(fn("x = 1\nx = x + 1")).gas_used
    assert (
        more - base
        == sum(op.BY_NAME[n].gas for n in ("LOAD", "CONST", "ADD", "STORE"))
        + op.MEM_LIST_SLOT // op.MEM_BYTES_PER_GAS
    )  # its frame holds one more stack slot
    loop = [run_src(fn(f"for i in range({n}):\n    pass")).gas_used for n in (10, 20, 30)]
    assert loop[1] - loop[0] == loop[2] - loop[1] > 0


def test_gas_limit_must_be_positive_int() -> None:
    code = compile_source(fn("return 1"))
    for bad in (0, -5, True, 1.5, None):
        result = execute(code, "main", [], MemoryHost(), bad)  # type: ignore[arg-type]
        assert not result.ok and result.gas_used == 0 and "gas limit" in (result.error or "")
    tiny = execute(code, "main", [], MemoryHost(), 10)
    assert not tiny.ok and tiny.gas_used == 10 and tiny.error == "out of gas"


def test_readonly_calls() -> None:
    src = (
        "@public\ndef write():\n    storage['a'] = 1\n\n"
        "@public\ndef shout():\n    emit('E')\n\n"
        "@public\ndef helper():\n    storage['b'] = 2\n\n"
        "@view\ndef sneaky():\n    return helper()\n\n"
        "@public\ndef read():\n    return storage.get('a')\n"
    )
    code = compile_source(src)
    host = MemoryHost()
    for method in ("write", "shout"):
        r = execute(code, method, [], host, 10**6, readonly=True)
        assert not r.ok and "read-only" in (r.error or "")
    r = execute(code, "sneaky", [], host, 10**6)  # view methods are always read-only
    assert not r.ok and "read-only" in (r.error or "")
    assert host.storage == {}
    assert execute(code, "read", [], host, 10**6, readonly=True).ok


class RecordingHost(MemoryHost):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.calls: list[str] = []

    def storage_set(self, key: bytes, value: bytes) -> None:
        self.calls.append("set")
        super().storage_set(key, value)

    def storage_delete(self, key: bytes) -> None:
        self.calls.append("delete")
        super().storage_delete(key)


def test_writes_reach_the_host_only_after_success() -> None:
    src = (
        "def inner():\n    storage['x'] = 1\n    del storage['y']\n    return 0\n\n"
        "@public\ndef main(fail: bool):\n    inner()\n    require(storage['x'] == 1)\n"
        "    require('y' not in storage)\n    require(not fail, 'asked to fail')\n"
    )
    failing = RecordingHost()
    r = run_src(src, args=[True], host=failing)
    assert r.error == "revert: asked to fail"
    assert failing.calls == [] and failing.storage == {}
    ok = RecordingHost()
    assert run_src(src, args=[False], host=ok).ok
    assert ok.calls == ["set", "delete"]


class BrokenHost(MemoryHost):
    def storage_get(self, key: bytes) -> bytes | None:
        raise RuntimeError("disk on fire")


def test_host_exceptions_propagate_unchanged() -> None:
    with pytest.raises(RuntimeError, match="disk on fire"):
        run_src(fn("return storage.get('k')"), host=BrokenHost())


def test_gas_is_deterministic_across_runs() -> None:
    src = fn("s = 0\nfor i in range(50):\n    s += i\nstorage['s'] = s\nemit('E', s=s)\nreturn s")
    results = [run_src(src) for _ in range(3)]
    assert len({(r.gas_used, r.return_value) for r in results}) == 1
