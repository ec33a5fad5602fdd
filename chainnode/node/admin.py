"""The node's admin socket: a Unix socket in the data directory that streams backups.

LevelDB admits one process per database, so a backup of a running node must be read by the
node itself: ``chainnode backup`` connects to ``data_dir/admin.sock`` and the node streams a
LevelDB snapshot of its whole store (one committed head: every commit is one write batch).
The socket is created 0600 inside the data directory: whoever may read the chain's files may
take a backup, nobody else, and it is never on the network. Each connection is served on its
own thread from the snapshot, so the event loop, consensus and commits go on meanwhile (they
only share the GIL with it).

Protocol: the client sends ``backup\\n``; the node answers ``CNBK1\\n``, then records
``u32 key length || u32 value length || key || value`` in key order, then the end mark
``u32 0xFFFFFFFF || u32 record count``. A stream that stops before the end mark is incomplete
(the node stopped); anything else than ``CNBK1\\n`` is ``ERR <message>\\n``. ``archive FROM
TO\\n`` is answered ``CNAR1\\n || u64 length || a block archive`` (``chainnode.proofs.archive``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chainnode.ledger.ledger import Ledger

log = logging.getLogger("chainnode.admin")

SOCKET_NAME = "admin.sock"
MAGIC = b"CNBK1\n"
REQUEST = b"backup\n"
ARCHIVE_MAGIC = b"CNAR1\n"
REC = struct.Struct(">II")
END = 0xFFFFFFFF
CHUNK = 1 << 20
MAX_KEY = 1 << 16
MAX_VALUE = 1 << 27
#: sun_path holds 108 bytes; a longer path is reached through /proc/self/fd/<dir fd>/name
_SUN_PATH_MAX = 100


class AdminError(Exception):
    """The admin socket cannot be reached, or the node's answer is not a whole backup."""


@contextlib.contextmanager
def _short(path: Path) -> Iterator[str]:
    """A path to ``path`` that fits in a sockaddr_un (through an open fd of its directory)."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class AdminServer:
    """Accepts admin connections on a thread; serves each on its own thread."""

    def __init__(self, path: Path, ledger: Ledger) -> None:
        self.path = path
        self._ledger = ledger
        self._sock: socket.socket | None = None
        self._closing = threading.Event()
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._lock = threading.Lock()
        self._acceptor: threading.Thread | None = None

    def start(self) -> None:
        """Bind (replacing a stale socket file: the database lock says no other node runs
        on this data directory) and start accepting. OSError when it cannot bind."""
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)
            try:
                with _short(self.path) as p:
                    sock.bind(p)
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            sock.listen(4)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._acceptor = threading.Thread(target=self._accept, name="admin-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._closing.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # closed
            t = threading.Thread(target=self._serve, args=(conn,), name="admin-conn", daemon=True)
            with self._lock:
                self._conns[t] = conn
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        me = threading.current_thread()
        try:
            with conn:
                conn.settimeout(30)
                request = _read_line(conn)
                if request == REQUEST:
                    self._stream_backup(conn)
                elif request.startswith(b"archive "):
                    self._send_archive(conn, request)
                else:
                    conn.sendall(b"ERR unknown request (send backup or archive FROM TO)\n")
        except OSError as e:
            log.warning("admin: backup stream ended early: %s", e)
        finally:
            with self._lock:
                self._conns.pop(me, None)

    def _stream_backup(self, conn: socket.socket) -> None:
        t0 = time.monotonic()
        snap = self._ledger.snapshot()
        n = 0
        try:
            head = snap.head()
            conn.sendall(MAGIC)
            buf: list[bytes] = []
            size = 0
            pack = REC.pack
            for key, value in snap.raw_items():
                buf += (pack(len(key), len(value)), key, value)
                size += 8 + len(key) + len(value)
                n += 1
                if size >= CHUNK:
                    if self._closing.is_set():
                        return  # no end mark: the client sees an incomplete stream
                    conn.sendall(b"".join(buf))
                    buf, size = [], 0
            buf.append(pack(END, n))
            conn.sendall(b"".join(buf))
        finally:
            snap.close()
        log.info(
            "admin: backup of height %s streamed (%d records) in %.1fs",
            head[0] if head else None,
            n,
            time.monotonic() - t0,
        )

    def _send_archive(self, conn: socket.socket, request: bytes) -> None:
        from chainnode.proofs.archive import build_archive
        from chainnode.proofs.bundle import ProofError

        parts = request.split()
        if len(parts) != 3 or not all(p.isdigit() and len(p) <= 19 for p in parts[1:]):
            conn.sendall(b"ERR archive FROM TO: two heights\n")
            return
        try:
            data = build_archive(self._ledger, int(parts[1]), int(parts[2])).encode()
        except ProofError as e:
            conn.sendall(b"ERR " + str(e).encode()[:1000] + b"\n")
            return
        conn.sendall(ARCHIVE_MAGIC + struct.pack(">Q", len(data)) + data)
        log.info("admin: archive of blocks %s..%s sent (%d bytes)", parts[1], parts[2], len(data))

    def close(self) -> None:
        """Stop accepting, cut running streams and wait for their threads (the ledger closes
        after this, and a snapshot must not outlive its database)."""
        self._closing.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            conns = dict(self._conns)
        for conn in conns.values():
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t in [*conns, *([self._acceptor] if self._acceptor else [])]:
            t.join(10)
        with contextlib.suppress(OSError):
            os.unlink(self.path)


def _read_line(conn: socket.socket, limit: int = 64) -> bytes:
    data = b""
    while not data.endswith(b"\n") and len(data) < limit:
        chunk = conn.recv(limit - len(data))
        if not chunk:
            break
        data += chunk
    return data


# -- the client side (chainnode backup) ------------------------------------------------------


def _connect(path: Path, timeout: float) -> socket.socket:
    """A connection to the node's admin socket, or AdminError saying what to check."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _short(path) as p:
            sock.connect(p)
    except OSError as e:
        sock.close()
        raise AdminError(
            f"cannot reach the node's admin socket {path} ({e.strerror or e}); is the node "
            "running with this config (and are you its user)?"
        ) from None
    return sock


def fetch_backup(path: Path, timeout: float = 60.0) -> Iterator[tuple[bytes, bytes]]:
    """The records a running node streams from ``path``; AdminError when it is not there or
    the stream is not whole (the end mark with the right count is required)."""
    sock = _connect(path, timeout)
    with sock, sock.makefile("rb", buffering=CHUNK) as f:
        try:
            sock.sendall(REQUEST)
            first = f.readline(256)
            if first != MAGIC:
                raise AdminError(f"the node refused: {first.decode(errors='replace').strip()}")
            n = 0
            while True:
                head = f.read(REC.size)
                if len(head) != REC.size:
                    raise AdminError("the backup stream stopped early (did the node stop?)")
                klen, vlen = REC.unpack(head)
                if klen == END:
                    if vlen != n:
                        raise AdminError(f"the stream has {n} records, its end mark says {vlen}")
                    return
                if not 0 < klen <= MAX_KEY or vlen > MAX_VALUE:
                    raise AdminError("the backup stream is malformed (a record's size)")
                key, value = f.read(klen), f.read(vlen)
                if len(key) != klen or len(value) != vlen:
                    raise AdminError("the backup stream stopped early (did the node stop?)")
                n += 1
                yield key, value
        except OSError as e:
            raise AdminError(f"the backup stream failed: {e}") from None


def fetch_archive(path: Path, first: int, last: int, timeout: float = 600.0) -> bytes:
    """A block archive of heights ``first..last`` from a running node (AdminError)."""
    sock = _connect(path, timeout)
    with sock, sock.makefile("rb", buffering=CHUNK) as f:
        try:
            sock.sendall(b"archive %d %d\n" % (first, last))
            first_line = f.readline(2048)
            if first_line != ARCHIVE_MAGIC:
                raise AdminError(f"the node refused: {first_line.decode(errors='replace').strip()}")
            head = f.read(8)
            if len(head) != 8:
                raise AdminError("the archive stream stopped early")
            (n,) = struct.unpack(">Q", head)
            data: bytes = f.read(n)
            if len(data) != n:
                raise AdminError("the archive stream stopped early (did the node stop?)")
            return data
        except OSError as e:
            raise AdminError(f"the archive stream failed: {e}") from None
