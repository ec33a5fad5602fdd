"""Crash safety with real processes: SIGKILL a committing child at random moments, reopen,
and check the head block is complete and nothing above it exists."""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from storage import Store
from tests.conftest import subprocess_env
from tests.storage.crash_child import CHAIN, NAMESPACES, make_block

KILLS = 100
DEADLINE_S = 20.0  # per child run; a healthy child reports within milliseconds


class Child:
    """The committing child process and a line reader over its stdout with deadlines."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.storage.crash_child", str(path)],
            stdout=subprocess.PIPE,
            env=subprocess_env(),
        )
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)
        self.buf = b""
        self.opened: int | None = None
        self.last_begin = -1
        self.last_done = -1

    def _feed(self, line: bytes) -> None:
        word, num = line.split()
        n = int(num)
        if word == b"open":
            self.opened = self.last_done = self.last_begin = n
        elif word == b"begin":
            self.last_begin = n
        else:
            assert word == b"done"
            self.last_done = n

    def _read_some(self, deadline: float) -> bool:
        """Read available output; False at EOF."""
        left = deadline - time.monotonic()
        assert left > 0, "child made no progress before the deadline"
        if not self.sel.select(left):
            return True
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return False
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            self._feed(line)
        return True

    def wait_for(self, cond: str, target: int) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not (
            (cond == "open" and self.opened is not None)
            or (cond == "begin" and self.last_begin >= target)
            or (cond == "done" and self.last_done >= target)
        ):
            assert self._read_some(deadline), f"child exited: {self.proc.wait()}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while self._read_some(deadline):  # drain what it printed before dying
            pass
        self.sel.close()
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class Expected:
    """State the store must hold at a head height, advanced block by block."""

    def __init__(self) -> None:
        self.height = -1
        self.state: dict[tuple[bytes, bytes], bytes] = {}

    def advance_to(self, height: int) -> None:
        assert height >= self.height, "the head went backwards"
        while self.height < height:
            self.height += 1
            for k, v in make_block(self.height).state_writes.items():
                if v is None:
                    self.state.pop(k, None)
                else:
                    self.state[k] = v


def check_store(store: Store, expected: Expected, rng: random.Random) -> None:
    head = store.head()
    h = expected.height
    if h < 0:
        assert head is None
        assert store.block_by_height(0) is None
    else:
        b = make_block(h)
        assert head == (h, b.block_hash)
        assert store.block_by_height(h) == b.block
        assert store.block_by_hash(b.block_hash) == b.block
        assert store.block_tx_hashes(h) == [th for th, _ in b.txs]
        for i, (th, tx) in enumerate(b.txs):
            loc = store.tx(th)
            assert loc is not None and (loc.tx, loc.height, loc.index) == (tx, h, i)
        for th, r in b.receipts:
            assert store.receipt(th) == r
        assert store.get_meta(b"last-height") == b"%d" % h
        old = make_block(rng.randint(0, h))  # and a random older block is intact
        assert store.block_by_height(old.height) == old.block
        assert all(store.has_tx(th) for th, _ in old.txs)
    # nothing above the head: no block, no txs, no receipts, no state
    above = make_block(h + 1)
    assert store.block_by_height(h + 1) is None
    assert store.block_hash_at(h + 1) is None
    assert store.block_tx_hashes(h + 1) is None
    assert store.block_by_hash(above.block_hash) is None
    assert list(store.blocks(h + 1)) == []
    assert not any(store.has_tx(th) for th, _ in above.txs)
    assert all(store.receipt(th) is None for th, _ in above.receipts)
    for ns in NAMESPACES:
        got = dict(store.state_scan(ns))
        want = {k: v for (n, k), v in expected.state.items() if n == ns}
        assert got == want, f"state of {ns!r} differs at head {h}"


def test_sigkill_during_commits_never_half_writes(tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", int.from_bytes(os.urandom(4), "big")))
    seed_note = f"reproduce with CRASH_SEED={seed}"
    rng = random.Random(seed)
    path = tmp_path / "db"
    expected = Expected()
    kills_mid_commit = 0
    for _ in range(KILLS):
        child = Child(path)
        try:
            child.wait_for("open", 0)
            assert child.opened == expected.height, seed_note
            mode = rng.random()
            if mode < 0.1:
                pass  # kill right after open
            else:
                # let it finish a few commits, then kill inside the next one after a jitter
                child.wait_for("done", expected.height + rng.randint(0, 4))
                child.wait_for("begin", child.last_done + 1)
                time.sleep(rng.uniform(0, 0.004))
        finally:
            child.kill()
        kills_mid_commit += child.last_begin > child.last_done
        with Store.open(path, CHAIN, create=False) as store:
            head = store.head()
            height = -1 if head is None else head[0]
            # a commit that returned is durable; one in flight is all there or not at all
            assert height in (child.last_done, child.last_begin), (seed_note, height)
            expected.advance_to(height)
            check_store(store, expected, rng)
    assert expected.height > KILLS  # the children really committed
    print(f"kills inside a commit: {kills_mid_commit}/{KILLS}, final head {expected.height}")
    assert kills_mid_commit > 0  # and some kills landed inside a commit
