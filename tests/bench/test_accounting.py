"""The harness's book-keeping: committed exactly once, or rejected with a reason."""

from __future__ import annotations

import pytest

from bench.harness.accounting import Accounting, cross_check


def h(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_committed_rejected_and_lost_are_told_apart() -> None:
    acc = Accounting()
    acc.expect([h(i) for i in range(6)])
    acc.submitted([h(0), h(1), h(2)], at=10.0, node=0)
    acc.submitted([h(3), h(4)], at=10.5, node=1)
    for i in range(4):
        acc.admitted(h(i), True)
    acc.admitted(h(4), False, "BAD_SIGNATURE")
    assert acc.pending() == 4
    assert acc.block(1, b"B1", [h(0), h(1)], seen_at=11.0)
    assert acc.block(2, b"B2", [h(2), b"x" * 32], seen_at=12.0)
    assert not acc.block(2, b"B2", [h(2)], seen_at=12.5)  # same block from another node
    assert acc.pending() == 1  # h(3) never committed
    v = acc.verdict()
    assert (v.submitted, v.committed, v.rejected, v.lost) == (5, 3, 1, 1)
    assert v.rejected_reasons == {"BAD_SIGNATURE": 1}
    assert not v.ok  # one lost
    assert acc.foreign_txs == 1
    assert sorted(acc.latencies()) == pytest.approx([1.0, 1.0, 2.0])
    assert acc.commit_blocks() == [(11.0, 2), (12.0, 1)]


def test_double_commit_fork_and_committed_rejection_are_problems() -> None:
    acc = Accounting()
    acc.expect([h(1), h(2)])
    acc.submitted([h(1), h(2)], at=0.0, node=0)
    acc.admitted(h(1), True)
    acc.admitted(h(2), False, "http 503")
    acc.block(1, b"B1", [h(1), h(2)], 1.0)
    acc.block(2, b"B2", [h(1)], 2.0)
    acc.block(2, b"other", [], 2.1)
    v = acc.verdict()
    assert v.committed == 2
    assert any("committed twice" in p for p in v.problems)
    assert any("two blocks at height 2" in p for p in v.problems)
    assert any("rejected (http 503) but committed" in p for p in v.problems)
    assert not v.ok


def test_clean_run_is_ok() -> None:
    acc = Accounting()
    acc.expect([h(i) for i in range(3)])
    acc.submitted([h(0), h(1), h(2)], at=0.0, node=0)
    acc.admitted(h(0), True)
    acc.admitted(h(1), True)
    acc.admitted(h(2), False, "DUPLICATE")
    acc.block(5, b"B5", [h(0), h(1)], 0.7)
    v = acc.verdict()
    assert v.ok and v.committed == 2 and v.rejected == 1


def test_expect_refuses_duplicate_hashes_and_send_twice_is_flagged() -> None:
    acc = Accounting()
    with pytest.raises(ValueError):
        acc.expect([h(1), h(1)])
    acc = Accounting()
    acc.expect([h(1)])
    acc.submitted([h(1)], 0.0, 0)
    acc.submitted([h(1)], 1.0, 1)
    assert any("submitted twice" in p for p in acc.verdict().problems)


def test_cross_check_across_nodes() -> None:
    a = [(1, b"B1", [h(1)]), (2, b"B2", [h(2)])]
    b = [(1, b"B1", [h(1)]), (2, b"B2", [h(2)]), (3, b"B3", [])]
    assert cross_check([a, b], [h(1), h(2)]) == []
    forked = [(1, b"B1", [h(1)]), (2, b"XX", [h(2)])]
    assert cross_check([a, forked], [h(1)]) == ["node 1 has a different block at height 2"]
    twice = [(1, b"B1", [h(1)]), (2, b"B2", [h(1)])]
    problems = cross_check([twice], [h(1)])
    assert problems == [f"node 0 holds tx {h(1).hex()} 2 times"]


def test_unconfirmed_batch_members_settle_by_what_commits() -> None:
    acc = Accounting()
    acc.expect([h(i) for i in range(4)])
    acc.submitted([h(0), h(1), h(2)], at=0.0, node=0)
    acc.admitted(h(1), False, "DUPLICATE")
    acc.unconfirmed([h(0), h(1), h(2)], "transport: timeout")
    assert acc.pending() == 0
    acc.block(1, b"B1", [h(0)], 1.0)
    v = acc.verdict()
    assert (v.committed, v.rejected, v.lost) == (1, 2, 0)
    assert v.rejected_reasons == {"DUPLICATE": 1, "transport: timeout": 1}
    assert v.ok
    # Subsets by index.
    assert acc.verdict(only=range(0, 1)).committed == 1
    assert acc.verdict(only=range(1, 4)).committed == 0
    assert acc.latencies(only=range(2, 4)) == []


def test_dump_tells_each_fate() -> None:
    from bench.harness.accounting import dump

    acc = Accounting()
    acc.expect([h(i) for i in range(4)])
    acc.submitted([h(0), h(1), h(2)], 0.0, 1)
    acc.admitted(h(0), True)
    acc.admitted(h(1), False, "EXPIRED")
    acc.admitted(h(2), True)
    acc.block(3, b"B3", [h(0)], 1.0)
    fates = {d["index"]: (d["status"], d["reason"], d["height"]) for d in dump(acc)}
    assert fates == {
        0: ("committed", None, 3),
        1: ("rejected", "EXPIRED", None),
        2: ("lost", None, None),
        3: ("unsent", None, None),
    }
    when = {d["index"]: (d["submitted_at"], d["latency_s"]) for d in dump(acc)}
    assert when == {0: (0.0, 1.0), 1: (0.0, None), 2: (0.0, None), 3: (None, None)}
