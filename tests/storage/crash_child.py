"""Child process of the crash test: commits deterministic blocks until it is killed.

Prints ``open H`` after opening (H = head height or -1), ``begin h`` before and ``done h``
after each commit, flushed, so the parent can pick kill moments by progress.
"""

from __future__ import annotations

import random
import sys

from storage import CommitBatch, Store

CHAIN = b"crash-test"
NAMESPACES = (b"alpha", b"beta")


def make_block(height: int) -> CommitBatch:
    """Block `height`, a pure function of the height so the parent can recompute it."""
    rng = random.Random(height)
    ntx = rng.randint(1, 12)
    txs = [(b"tx:%d:%d" % (height, i), rng.randbytes(rng.randint(10, 200))) for i in range(ntx)]
    receipts = [(h, b"receipt:" + h) for h, _ in txs]
    writes: dict[tuple[bytes, bytes], bytes | None] = {}
    for _ in range(rng.randint(1, 8)):
        ns = rng.choice(NAMESPACES)
        key = b"k%02d" % rng.randrange(40)
        writes[(ns, key)] = None if rng.random() < 0.3 else b"%d:" % height + rng.randbytes(8)
    writes[(b"alpha", b"last")] = b"%d" % height
    return CommitBatch(
        height=height,
        block_hash=b"block:%d" % height,
        block=b"B%d:" % height + rng.randbytes(rng.randint(50, 500)),
        txs=txs,
        receipts=receipts,
        state_writes=writes,
        meta={b"last-height": b"%d" % height},
    )


def main() -> None:
    path = sys.argv[1]
    store = Store.open(path, CHAIN)
    head = store.head()
    height = 0 if head is None else head[0] + 1
    out = sys.stdout
    out.write(f"open {height - 1}\n")
    out.flush()
    while True:
        batch = make_block(height)
        out.write(f"begin {height}\n")
        out.flush()
        store.commit(batch)
        out.write(f"done {height}\n")
        out.flush()
        height += 1


if __name__ == "__main__":
    main()
