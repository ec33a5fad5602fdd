"""The consensus write-ahead log survives torn tails; key files round-trip per suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from chainnode.model.keys import SUITES, KeyFileError, load_private_key, save_private_key
from chainnode.node.wal import MAX_RECORD, TORN_MAGIC, WalError, WriteAheadLog
from crypto.suite import get_suite


def test_wal_keeps_records_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal = WriteAheadLog(path)
    for i in range(5):
        wal.append(b"r%d" % i * (i + 1))
    wal.close()
    good = path.stat().st_size
    with path.open("ab") as f:
        f.write(b"\x00\x00\x00\x10\x01\x02")  # a crash mid-append
    wal = WriteAheadLog(path)
    assert wal.records() == [b"r%d" % i * (i + 1) for i in range(5)]
    # the torn bytes are gone; a TORN marker record (8-byte frame + magic) stands there
    assert path.stat().st_size == good + 8 + len(TORN_MAGIC) and wal.torn_notes == [b""]
    wal.append(b"after")
    wal.rewrite([b"only"])
    wal.append(b"more")
    wal.close()
    assert WriteAheadLog(path).records() == [b"only", b"more"]


def test_records_appended_together_read_back_in_order_and_a_torn_one_keeps_the_prefix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal"
    wal = WriteAheadLog(path)
    wal.append(b"alone")
    wal.append_many([b"first of two", b"second of two"])
    wal.append_many([])
    assert wal.records() == [b"alone", b"first of two", b"second of two"]
    assert wal.appended_since_compaction == 3
    wal.close()
    assert WriteAheadLog(path).records() == [b"alone", b"first of two", b"second of two"]
    # a crash in the middle of a two-record append: the first is whole, the second cut
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 5])
    wal = WriteAheadLog(path)
    assert wal.records() == [b"alone", b"first of two"] and wal.torn_notes == [b""]
    with pytest.raises(WalError):
        wal.append_many([b"fits", b"x" * (MAX_RECORD + 1)])
    assert wal.records() == [b"alone", b"first of two"]  # checked before anything is written
    wal.close()
    assert WriteAheadLog(path).records() == [b"alone", b"first of two"]


def test_wal_stops_at_a_corrupt_record(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal = WriteAheadLog(path)
    wal.append(b"first")
    wal.append(b"second")
    wal.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert WriteAheadLog(path).records() == [b"first"]


@pytest.mark.parametrize("suite", SUITES)
def test_key_files_round_trip(tmp_path: Path, suite: str) -> None:
    priv = get_suite(suite).generate_private_key()
    save_private_key(tmp_path / "k.pem", suite, priv)
    assert load_private_key(tmp_path / "k.pem") == (suite, priv)
    assert (tmp_path / "k.pem").stat().st_mode & 0o077 == 0


def test_bad_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="keygen"):
        load_private_key(tmp_path / "missing.pem")
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_private_key(tmp_path / "junk.pem")


def test_oldest_pending_follows_the_pool() -> None:
    from chainnode.ledger.pending import OldestPending

    pool: dict[bytes, None] = {}
    op = OldestPending(pool.__contains__, lambda: list(pool), max_queue=5)
    assert op.changed() is False  # nothing pending, nothing reported yet
    for h in (b"a", b"b", b"c"):
        pool[h] = None
    op.add([b"a", b"b", b"c"])
    assert op.changed() == b"a" and op.changed() is False
    del pool[b"a"]
    assert op.changed() == b"b"
    for h in (b"d", b"e", b"f", b"g"):
        pool[h] = None
    op.add([b"d", b"e", b"f", b"g"])  # over max_queue: rebuilt from the pool
    del pool[b"b"], pool[b"c"]
    assert op.oldest() == b"d"
    pool.clear()
    assert op.changed() is None


def _mode(p: Path) -> int:
    return p.lstat().st_mode & 0o777


def test_key_file_refuses_an_existing_file_or_symlink_without_overwrite(tmp_path: Path) -> None:
    priv = get_suite("sm").generate_private_key()
    existing = tmp_path / "k.pem"
    existing.write_bytes(b"old")
    with pytest.raises(KeyFileError, match="already exists.*--force"):
        save_private_key(existing, "sm", priv)
    assert existing.read_bytes() == b"old"
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "link.pem"
    link.symlink_to(victim)
    with pytest.raises(KeyFileError, match="already exists"):
        save_private_key(link, "sm", priv)
    dangling = tmp_path / "dangling.pem"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(KeyFileError, match="already exists"):
        save_private_key(dangling, "sm", priv)
    assert victim.read_bytes() == b"precious" and not (tmp_path / "nowhere").exists()


def test_key_file_overwrite_of_a_0644_file_ends_0600(tmp_path: Path) -> None:
    priv = get_suite("sm").generate_private_key()
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    save_private_key(path, "sm", priv, overwrite=True)
    assert _mode(path) == 0o600
    assert load_private_key(path) == ("sm", priv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem"]  # no temp file left


def test_key_file_overwrite_replaces_a_symlink_never_its_target(tmp_path: Path) -> None:
    priv = get_suite("ecdsa-p256").generate_private_key()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    victim.chmod(0o644)
    link = tmp_path / "k.pem"
    link.symlink_to(victim)
    save_private_key(link, "ecdsa-p256", priv, overwrite=True)
    assert not link.is_symlink() and _mode(link) == 0o600
    assert load_private_key(link) == ("ecdsa-p256", priv)
    assert victim.read_bytes() == b"precious" and _mode(victim) == 0o644


def test_key_file_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o377)  # the open mode alone would give 0400
    try:
        save_private_key(tmp_path / "k.pem", "sm", get_suite("sm").generate_private_key())
    finally:
        os.umask(old)
    assert _mode(tmp_path / "k.pem") == 0o600


def test_a_torn_tail_is_reported_and_marked_never_silently_cut(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wal"
    wal = WriteAheadLog(path)
    wal.append(b"first")
    wal.append(b"second-record")
    wal.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size - 5)  # a crash in the middle of the last append
    with caplog.at_level("WARNING", logger="chainnode.node.wal"):
        wal = WriteAheadLog(path, torn_note=b"h7")
    assert wal.records() == [b"first"]
    assert wal.torn_notes == [b"h7"]
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "cut a torn tail of 16 bytes" in msg and "a record of 13 bytes" in msg
    wal.append(b"after")
    wal.close()
    # the loss is remembered by the next open (a restart before any commit)...
    again = WriteAheadLog(path, torn_note=b"other")
    assert again.records() == [b"first", b"after"] and again.torn_notes == [b"h7"]
    # ...until compaction drops the records of committed heights, and the markers with them
    again.rewrite([b"after"])
    again.close()
    assert WriteAheadLog(path).torn_notes == []


def test_signing_mark_survives_a_torn_slot(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal = WriteAheadLog(path)
    assert wal.reserved is None
    wal.reserve(64, 0)
    wal.reserve(65, 2)
    wal.close()
    assert WriteAheadLog(path).reserved == (65, 2)
    mark = path.with_name("wal.mark")
    data = bytearray(mark.read_bytes())
    data[0] ^= 0xFF  # slot 0 holds the newest mark (sequence 2): tear it
    mark.write_bytes(bytes(data))
    assert WriteAheadLog(path).reserved == (64, 0)  # the previous mark, never garbage
