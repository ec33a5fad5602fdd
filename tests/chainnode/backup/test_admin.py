"""The admin socket on a real ledger: the stream is the store, the socket is the owner's only,
a path longer than sockaddr_un holds still works, and a cut stream is never taken as whole."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from chainnode.node.admin import MAGIC, REC, AdminError, AdminServer, fetch_backup
from tests.chainnode.backup.test_restore import build_chain
from tests.chainnode.ledger.helpers import genesis


def test_the_stream_is_the_whole_store_even_on_a_long_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    led = build_chain(deep, genesis(std=True), blocks=2)
    server = AdminServer(deep / "admin.sock", led)
    server.start()
    try:
        assert len(os.fsencode(server.path)) > 108
        assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
        with led.snapshot() as snap:
            expected = list(snap.raw_items())
        assert list(fetch_backup(server.path)) == expected
    finally:
        server.close()
        led.close()
    assert not server.path.exists()


def test_no_node_no_backup(tmp_path: Path) -> None:
    with pytest.raises(AdminError, match="is the node running"):
        list(fetch_backup(tmp_path / "admin.sock"))


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"ERR busy\n", "refused: ERR busy"),
        (MAGIC + REC.pack(1, 1) + b"k", "stopped early"),
        (MAGIC + REC.pack(1, 0) + b"k" + REC.pack(0xFFFFFFFF, 2), "end mark says 2"),
        (MAGIC, "stopped early"),
    ],
)
def test_a_stream_that_is_not_whole_is_refused(tmp_path: Path, answer: bytes, reason: str) -> None:
    path = tmp_path / "admin.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def node() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(64)
            conn.sendall(answer)

    t = threading.Thread(target=node)
    t.start()
    try:
        with pytest.raises(AdminError, match=reason):
            list(fetch_backup(path, timeout=10))
    finally:
        t.join(10)
        listener.close()
