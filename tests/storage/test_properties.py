"""Property tests on real LevelDB files: overlays, scans and snapshots against a dict model."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from storage import CommitBatch, Overlay, Store

CHAIN = b"prop-chain"
NAMESPACES = [b"", b"a", b"ab", b"b"]  # prefix-related namespaces on purpose
keys = st.binary(max_size=3)  # small alphabet: many overwrites, prefix relations, b"" keys
values = st.binary(max_size=8)
namespaces = st.sampled_from(NAMESPACES)
State = dict[tuple[bytes, bytes], bytes]
Writes = dict[tuple[bytes, bytes], bytes | None]


@contextmanager
def temp_store() -> Iterator[Store]:
    with tempfile.TemporaryDirectory() as d, Store.open(d + "/db", CHAIN) as store:
        yield store


def commit(store: Store, writes: Writes) -> None:
    head = store.head()
    h = 0 if head is None else head[0] + 1
    store.commit(CommitBatch(h, b"block-%d" % h, b"", [], [], writes))


def apply(state: State, writes: Writes) -> State:
    out = dict(state)
    for k, v in writes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def model_scan(
    state: State, ns: bytes, prefix: bytes, start: bytes | None, stop: bytes | None
) -> list[tuple[bytes, bytes]]:
    return sorted(
        (k, v)
        for (n, k), v in state.items()
        if n == ns
        and k.startswith(prefix)
        and (start is None or k >= start)
        and (stop is None or k < stop)
    )


writes_st = st.dictionaries(st.tuples(namespaces, keys), st.none() | values, max_size=30)
scan_args = st.tuples(namespaces, keys, st.none() | keys, st.none() | keys)


# An overlay program: writes, and nested children that are either folded in or dropped.
@dataclass
class Op:
    kind: str  # "set" | "delete" | "child"
    ns: bytes = b""
    key: bytes = b""
    value: bytes = b""
    body: list[Op] | None = None
    keep: bool = True


def ops_st(depth: int) -> st.SearchStrategy[list[Op]]:
    leaf = st.one_of(
        st.builds(Op, st.just("set"), namespaces, keys, values),
        st.builds(Op, st.just("delete"), namespaces, keys),
    )
    if depth == 0:
        return st.lists(leaf, max_size=12)
    child = st.builds(Op, st.just("child"), body=ops_st(depth - 1), keep=st.booleans())
    return st.lists(st.one_of(leaf, leaf, child), max_size=12)


def run(overlay: Overlay, ops: list[Op], model: State) -> State:
    """Apply ops to the overlay and to the model; checks reads of the live overlay on the way."""
    for op in ops:
        if op.kind == "set":
            overlay.set(op.ns, op.key, op.value)
            model = {**model, (op.ns, op.key): op.value}
        elif op.kind == "delete":
            overlay.delete(op.ns, op.key)
            model = {k: v for k, v in model.items() if k != (op.ns, op.key)}
        else:
            assert op.body is not None
            child = overlay.child()
            child_model = run(child, op.body, model)
            if op.keep:
                child.commit_to_parent()
                model = child_model
        assert overlay.get(op.ns, op.key) == model.get((op.ns, op.key))
    return model


@given(writes_st, ops_st(2), st.lists(scan_args, max_size=5))
def test_overlay_reads_equal_applied_writes(base: Writes, ops: list[Op], scans: list) -> None:
    with temp_store() as store:
        commit(store, base)
        base_state = apply({}, base)
        overlay = Overlay(store)
        model = run(overlay, ops, base_state)
        # point reads and full scans over the overlay equal the model
        for ns in NAMESPACES:
            assert list(overlay.scan(ns)) == model_scan(model, ns, b"", None, None)
        for k in model:
            assert overlay.has(*k) and overlay.get(*k) == model[k]
        for ns, prefix, start, stop in scans:
            assert list(overlay.scan(ns, prefix, start=start, stop=stop)) == model_scan(
                model, ns, prefix, start, stop
            )
        # the base is untouched until the writes are committed; then it equals the model
        assert {(ns, k): v for ns in NAMESPACES for k, v in store.state_scan(ns)} == base_state
        assert apply(base_state, overlay.writes()) == model
        commit(store, overlay.writes())
        assert {(ns, k): v for ns in NAMESPACES for k, v in store.state_scan(ns)} == model


@given(st.lists(writes_st, min_size=1, max_size=4), st.lists(scan_args, max_size=8))
def test_scans_ordered_and_complete(batches: list[Writes], scans: list) -> None:
    with temp_store() as store:
        state: State = {}
        for w in batches:
            commit(store, w)
            state = apply(state, w)
        for ns in NAMESPACES:
            got = list(store.state_scan(ns))
            assert got == model_scan(state, ns, b"", None, None)
            assert [k for k, _ in got] == sorted({k for k, _ in got})  # ordered, no repeats
        for ns, prefix, start, stop in scans:
            assert list(store.state_scan(ns, prefix, start=start, stop=stop)) == model_scan(
                state, ns, prefix, start, stop
            )


@given(st.lists(st.tuples(writes_st, st.booleans()), min_size=1, max_size=6))
def test_snapshots_do_not_see_later_commits(steps: list[tuple[Writes, bool]]) -> None:
    with temp_store() as store:
        state: State = {}
        snaps = []
        for height, (w, take) in enumerate(steps):
            if take:
                snaps.append((store.snapshot(), dict(state), height - 1))
            commit(store, w)
            state = apply(state, w)
        for snap, at, h in snaps:
            with snap:
                assert snap.head() == (None if h < 0 else (h, b"block-%d" % h))
                got = {(ns, k): v for ns in NAMESPACES for k, v in snap.state_scan(ns)}
                assert got == at
                for key in state:
                    assert snap.state_get(*key) == at.get(key)
                # an overlay over a snapshot reads the snapshot's state
                assert dict(Overlay(snap).scan(b"a")) == {
                    k: v for (n, k), v in at.items() if n == b"a"
                }
