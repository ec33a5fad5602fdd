"""The programs admitted txs will run are listed for loading off the event loop (issue 16),
and a program too large to translate is refused at deployment, from its bytes alone."""

from __future__ import annotations

from pathlib import Path

from contracts import compile_source, vm
from contracts.translate import MAX_SOURCE
from tests.chainnode.ledger.helpers import commit, genesis, keys, open_ledger, tx
from tests.contracts.helpers import build

COUNTER = (
    "@public\ndef bump(k: str) -> int:\n    storage[k] = storage.get(k, 0) + 1\n    return 1\n"
)


def _bomb() -> bytes:
    body: list[str | tuple[str, int | str]] = [("LOAD", 0)]
    for _ in range(2_000):
        body += [("UNPACK", 255), ("BUILD_LIST", 255)]
    return build([*body, "RET"], params=("x",), n_locals=1)


def test_deployed_and_called_programs_are_listed_until_loaded(tmp_path: Path) -> None:
    ks = keys()
    code = compile_source(COUNTER)
    with open_ledger(tmp_path / "a", genesis()) as a:
        vm.clear_cache()
        deploy = tx(a, ks[0], "deployment", "deploy", [code, "counter"])
        assert a.programs_to_load([deploy]) == [code]
        vm.prepare(code)  # what the node's worker thread does
        assert a.programs_to_load([deploy]) == []
        commit(a, [deploy])
        vm.clear_cache()  # evicted (or a restarted node): the call's program is listed again
        call = tx(a, ks[1], "counter", "bump", ["x"])
        assert a.mempool.submit([call])[0].accepted
        assert a.programs_to_load([call]) == [code]


def test_a_translation_bomb_is_refused_at_deployment(tmp_path: Path) -> None:
    ks = keys()
    bomb = _bomb()
    assert len(bomb) < 11_000  # ~10 KB of bytecode, far more than MAX_SOURCE of Python
    with open_ledger(tmp_path / "a", genesis()) as a:
        (r,) = commit(a, [tx(a, ks[0], "deployment", "deploy", [bomb, "bomb"])])
        assert not r.ok and "MALFORMED" in r.error and str(MAX_SOURCE) in r.error
