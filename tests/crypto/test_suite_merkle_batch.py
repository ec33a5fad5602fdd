"""Suites, Merkle trees and batch verification."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import CryptoError, _native, _sm2verify, batch, merkle, sm2, sm3, verify_batch
from crypto.suite import get_suite


@pytest.mark.parametrize("name", ["sm", "ecdsa-p256"])
def test_suite_roundtrip(name: str) -> None:
    s = get_suite(name)
    priv = s.generate_private_key()
    pub = s.public_key(priv)
    assert len(priv) == 32 and len(pub) == 65 and pub[0] == 4
    sig = s.sign(priv, b"tx")
    assert len(sig) == 64
    assert s.verify(pub, b"tx", sig)
    assert not s.verify(pub, b"tX", sig)
    assert not s.verify(pub[:-1], b"tx", sig)
    assert len(s.hash(b"x")) == 32
    assert s.address(pub) == s.hash(pub[1:])[-20:]


def test_unknown_suite() -> None:
    with pytest.raises(CryptoError):
        get_suite("rsa")


def test_merkle_proofs_all_sizes() -> None:
    for n in range(1, 12):
        leaves = [bytes([i]) * 3 for i in range(n)]
        root = merkle.merkle_root(leaves)
        for i in range(n):
            proof = merkle.merkle_proof(leaves, i)
            assert merkle.verify_proof(root, leaves[i], proof)
            assert merkle.verify_proof(
                root, leaves[i], merkle.MerkleProof.from_list(proof.to_list())
            )
            assert not merkle.verify_proof(root, leaves[i] + b"x", proof)
    assert merkle.merkle_root([]) == sm3.digest(b"\x02" + bytes(8))


def test_merkle_odd_level_not_duplicated() -> None:
    a, b, c = b"a", b"b", b"c"
    assert merkle.merkle_root([a, b, c]) != merkle.merkle_root([a, b, c, c])


def _items(n: int) -> list[tuple[bytes, bytes, bytes]]:
    s = get_suite("sm")
    privs = [s.generate_private_key() for _ in range(4)]
    out = []
    for i in range(n):
        p = privs[i % 4]
        msg = i.to_bytes(4, "big")
        out.append((s.public_key(p), msg, s.sign(p, msg)))
    return out


def _child_pids() -> set[int]:
    me = str(os.getpid())
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                out.add(int(entry))
    return out


@pytest.mark.parametrize("backend", ["native", "openssl"])
def test_verify_batch_inline_and_threads(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv(sm2.ENV_BACKEND, backend)
    items = _items(120)
    items[7] = (items[7][0], b"forged", items[7][2])
    items[100] = (items[100][0][:10], items[100][1], items[100][2])
    expected = [True] * 120
    expected[7] = expected[100] = False
    children = _child_pids()
    assert verify_batch(items[:10]) == expected[:10]
    assert batch.verify_batch(items, workers=2) == expected
    assert batch.verify_batch(items, workers=1) == expected
    assert batch.verify_batch(items, workers=7, inline_max=0) == expected
    assert _child_pids() == children  # threads, no worker processes to orphan


def test_native_batch_with_evictions_under_threads() -> None:
    """A tiny signer-table cache (entries evicted while other threads still use them) and
    many threads: every answer stays exact."""
    s = get_suite("sm")
    privs = [s.generate_private_key() for _ in range(8)]
    items = []
    for i in range(400):
        p = privs[i % 8]
        msg = i.to_bytes(4, "big")
        sig = s.sign(p, msg)
        items.append((s.public_key(p), msg if i % 5 else msg + b"x", sig))
    expected = [i % 5 != 0 for i in range(400)]
    try:
        _sm2verify.configure_cache(2, 1)
        for threads in (1, 2, 8):
            assert _sm2verify.verify_batch(items, threads) == expected
    finally:
        _sm2verify.configure_cache(_native.TABLE_CACHE_ENTRIES, _native.TABLE_AFTER)
    assert _sm2verify.verify_batch([], 2) == []
    odd: list[object] = [None, (b"", b"", b""), (1, 2, 3), ("a", "b", "c"), items[1][:2], items[1]]
    assert _sm2verify.verify_batch(odd, 2) == [False] * 5 + [True]


leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=40)


@given(leaves=leaf_lists, data=st.data())
def test_merkle_property_proofs(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle.merkle_root(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1), label="index")
    proof = merkle.merkle_proof(leaves, i)
    assert merkle.verify_proof(root, leaves[i], proof)
    assert len(proof.siblings) <= max(1, len(leaves)).bit_length()
    # the same proof does not work for another position, size or a tampered sibling
    if len(leaves) > 1:
        j = (i + 1) % len(leaves)
        if leaves[j] != leaves[i]:
            assert not merkle.verify_proof(root, leaves[j], proof)
        moved = merkle.MerkleProof(j, proof.leaf_count, proof.siblings)
        assert not merkle.verify_proof(root, leaves[i], moved) or leaves[i] == leaves[j]
        bad = proof.siblings[0][:-1] + bytes([proof.siblings[0][-1] ^ 1])
        tampered = merkle.MerkleProof(i, proof.leaf_count, (bad, *proof.siblings[1:]))
        assert not merkle.verify_proof(root, leaves[i], tampered)
    for count in (proof.leaf_count - 1, proof.leaf_count + 1):
        if count > i:
            resized = merkle.MerkleProof(i, count, proof.siblings)
            assert not merkle.verify_proof(root, leaves[i], resized)


@given(a=leaf_lists, b=leaf_lists)
def test_merkle_distinct_lists_distinct_roots(a: list[bytes], b: list[bytes]) -> None:
    if a != b:
        assert merkle.merkle_root(a) != merkle.merkle_root(b)


def test_merkle_leaf_cannot_pose_as_inner_node() -> None:
    leaves = [b"a", b"b", b"c", b"d"]
    root = merkle.merkle_root(leaves)
    # the classic second preimage: present the concatenation of two children as one leaf
    h = sm3.digest
    left = h(b"\x01" + h(b"\x00a") + h(b"\x00b"))
    right = h(b"\x01" + h(b"\x00c") + h(b"\x00d"))
    assert root == h(b"\x02" + (4).to_bytes(8, "big") + h(b"\x01" + left + right))
    assert merkle.merkle_root([left + right]) != root
    assert merkle.merkle_root([left, right]) != root


@pytest.mark.parametrize(
    "bad",
    [None, [], [0, 1], [1, 1, []], [-1, 3, []], ["0", 3, []], [0, 3, ["x"]], [0, 3, [b"x"] * 65]],
)
def test_merkle_proof_from_untrusted_list(bad: object) -> None:
    with pytest.raises(CryptoError):
        merkle.MerkleProof.from_list(bad)  # type: ignore[arg-type]


def test_ecdsa_high_s_is_rejected() -> None:
    s = get_suite("ecdsa-p256")
    priv = s.generate_private_key()
    pub = s.public_key(priv)
    sig = s.sign(priv, b"m")
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    high = sig[:32] + (n - int.from_bytes(sig[32:], "big")).to_bytes(32, "big")
    assert s.verify(pub, b"m", sig)
    assert not s.verify(pub, b"m", high)


def test_ecdsa_batch_over_threads() -> None:
    s = get_suite("ecdsa-p256")
    priv = s.generate_private_key()
    pub = s.public_key(priv)
    items = [(pub, bytes([i]), s.sign(priv, bytes([i]))) for i in range(100)]
    items[3] = (pub, b"zz", items[3][2])
    assert s.verify_batch(items) == [i != 3 for i in range(100)]


def test_shared_key_verified_from_many_threads() -> None:
    """ctypes releases the GIL during EVP_PKEY_verify, so threads really do share one cached
    key's EVP_PKEY_CTX (guarded by a per-key lock, since OpenSSL does not document a shared
    ctx as thread-safe); results must stay exact under that concurrency."""
    from concurrent.futures import ThreadPoolExecutor

    from crypto import sm2

    key = sm2.PrivateKey.generate(backend="openssl")
    pub = key.public_key()
    sigs = [(bytes([i]), key.sign(bytes([i]))) for i in range(40)]

    def check(i: int) -> bool:
        msg, sig = sigs[i % 40]
        good = pub.verify(msg, sig)
        bad = pub.verify(msg + b"!", sig)
        return good and not bad

    with ThreadPoolExecutor(max_workers=4) as ex:
        assert all(ex.map(check, range(400)))


def test_sm3_merkle_fast_path_matches_the_generic_construction() -> None:
    """merkle_root with the default SM3 takes an inlined path; any other hash_fn takes the
    generic one. Both must give the documented tree (here over an independent SM3)."""

    def generic(leaves: list[bytes]) -> bytes:
        h = sm3._cryptography_digest
        if not leaves:
            return h(b"\x02" + bytes(8))
        level = [h(b"\x00" + x) for x in leaves]
        while len(level) > 1:
            nxt = [h(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
            level = nxt + ([level[-1]] if len(level) % 2 else [])
        return h(b"\x02" + len(leaves).to_bytes(8, "big") + level[0])

    for n in [*range(0, 18), 33, 100]:
        leaves = [bytes([i % 251]) * (i % 40) for i in range(n)]
        assert merkle.merkle_root(leaves) == generic(leaves), n
        assert merkle.merkle_root(leaves, hash_fn=sm3._cryptography_digest) == generic(leaves)
        if leaves and merkle._LEAF_STATE is not None:  # the Python path beside the native one
            top = merkle._sm3_top(leaves)
            assert sm3.digest(b"\x02" + n.to_bytes(8, "big") + top) == generic(leaves)
    assert merkle.merkle_root([bytearray(b"ab"), memoryview(b"cd")]) == generic([b"ab", b"cd"])
    with pytest.raises(TypeError):
        merkle.merkle_root(["text"])  # type: ignore[list-item]


def _generic_top(leaves: list[bytes]) -> bytes:
    level = [merkle._leaf(sm3._cryptography_digest, x) for x in leaves]
    while len(level) > 1:
        level = merkle._next_level(sm3._cryptography_digest, level)
    return level[0]


def test_native_merkle_top_matches_the_generic_construction() -> None:
    """The C top node (a block's roots) is the documented tree's, across SM3 block
    boundaries in the leaves (55/56/64 bytes with the prefix) and every odd-level shape."""
    assert (merkle._NATIVE_TOP is not None) == _sm2verify.AVAILABLE
    if merkle._NATIVE_TOP is None:
        pytest.fail(f"the native extension is not usable here: {_sm2verify.REASON}")
    rng = random.Random(19)
    lengths = [0, 1, 31, 32, 54, 55, 56, 63, 64, 65, 118, 119, 120, 300]
    for n in [*range(1, 70), 127, 128, 129, 1000]:
        leaves = [rng.randbytes(rng.choice(lengths)) for _ in range(n)]
        assert merkle._NATIVE_TOP(leaves) == _generic_top(leaves), n
        assert merkle._NATIVE_TOP(tuple(leaves)) == _generic_top(leaves), n
    with pytest.raises(ValueError):
        merkle._NATIVE_TOP([])
    with pytest.raises(TypeError):
        merkle._NATIVE_TOP([b"a", bytearray(b"b")])  # merkle_root then takes the Python path
    with pytest.raises(TypeError):
        merkle._NATIVE_TOP(None)  # type: ignore[arg-type]


def _signed_items(n: int, bad_every: int) -> tuple[list[tuple[bytes, bytes, bytes]], list[bool]]:
    """`_items(n)` with every `bad_every`-th message altered after signing, and the answers."""
    expected = [i % bad_every != 0 for i in range(n)]
    items = [
        (key, msg if ok else msg + b"x", sig)
        for (key, msg, sig), ok in zip(_items(n), expected, strict=True)
    ]
    return items, expected


def _thread_ids() -> set[str]:
    return set(os.listdir("/proc/self/task"))


def test_native_batch_helpers_are_started_once_and_shared_by_concurrent_callers() -> None:
    """The batch's helper threads outlive it (a batch used to start and join its own: ~20
    thread starts a second on a loaded node) and serve several callers at once, each
    getting exactly its own answers."""
    items, expected = _signed_items(96, 7)
    assert _sm2verify.verify_batch(items, 3) == expected  # starts the helpers it lacks
    started = _sm2verify.pool_info()["threads"]
    assert started >= 2
    helpers = _thread_ids()
    for _ in range(5):
        assert _sm2verify.verify_batch(items, 3) == expected
    assert _sm2verify.pool_info()["threads"] == started
    assert _thread_ids() == helpers  # the same threads, none started or ended

    results: dict[int, list[list[bool]]] = {}
    work = [_signed_items(60 + 10 * k, 3 + k) for k in range(6)]

    def call(k: int) -> None:
        its, _ = work[k]
        results[k] = [_sm2verify.verify_batch(its, 2 + k % 3) for _ in range(8)]

    threads = [threading.Thread(target=call, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    for k in range(6):
        assert results[k] == [work[k][1]] * 8, k
    assert _sm2verify.pool_info()["threads"] <= 64  # the pool's bound


def test_native_batch_in_a_forked_child() -> None:
    """A child of fork() has none of the parent's helper threads: its batches still finish
    (the caller works alone or starts helpers of its own), with the right answers."""
    items, expected = _signed_items(64, 5)
    assert _sm2verify.verify_batch(items, 2) == expected  # the parent's helpers exist
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if both batches are exact
        ok = _sm2verify.verify_batch(items, 2) == expected
        ok = ok and _sm2verify.verify_batch(items, 4) == expected
        os._exit(0 if ok else 1)
    waited: list[int] = []
    waiter = threading.Thread(target=lambda: waited.append(os.waitpid(pid, 0)[1]))
    waiter.start()
    waiter.join(timeout=60)
    if waiter.is_alive():  # stuck: end it so the waiter returns, then fail
        os.kill(pid, 9)
        waiter.join()
        pytest.fail("the forked child's batch never finished")
    status = waited[0]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
