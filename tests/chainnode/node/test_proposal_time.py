"""A primary cannot push the chain's clock ahead: proposals far in the future are refused."""

from chainnode.node.proposals import MAX_CLOCK_AHEAD_MS, timestamp_acceptable


def test_proposal_timestamp_bound() -> None:
    now = 1_800_000_000_000
    assert timestamp_acceptable(now, now)
    assert timestamp_acceptable(now - 3_600_000, now)  # older than us: the parent rule decides
    assert timestamp_acceptable(now + MAX_CLOCK_AHEAD_MS, now)
    assert not timestamp_acceptable(now + MAX_CLOCK_AHEAD_MS + 1, now)
    assert not timestamp_acceptable(now + 3_600_000, now)
