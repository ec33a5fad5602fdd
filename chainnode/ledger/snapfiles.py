"""The snapshot files a node keeps and serves: ``<data_dir>/snapshots/<c>/{manifest,<i>.chunk}``.

A snapshot is written by the background checkpoint computation (:mod:`.checkpoints`) into a
temporary directory, every file synced, then renamed into place: a crash mid-write leaves a
``.tmp-*`` directory (removed at the next open), never a half snapshot under its height. Only
the newest ``keep`` are kept. Reads come from peers' requests (the sync side serves them), so
they are bounded and never raise on a missing or damaged file: None.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Generator, Iterable
from itertools import chain, islice
from pathlib import Path

from chainnode.model.codes import MalformedError
from chainnode.model.snapshot import (
    CHUNK_MAX_BYTES,
    MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
    Builder,
    Entry,
    Manifest,
)

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
MANIFEST = "manifest"
TMP_PREFIX = ".tmp-"
PROGRESS_EVERY_S = 10.0
#: Entries read from the store per step (``Builder.add_many``): the GIL is held to read them
#: (~0.5 ms), then released to cut, encode and hash; the caller pauses between steps.
BATCH_ENTRIES = 1024
#: ...and about this many of their bytes: a step of 1,024 big values (tens of MB to hash and
#: write) would hold a pause, or a hand-over to a hurried thread, off for its length. Each
#: step's count comes from the last one's bytes per entry (checking each entry would cost a
#: Python loop over the whole state), growing from FIRST_BATCH at most twofold a step: where
#: big values follow small ones, one step may hold up to twice the last one's count of them.
BATCH_BYTES = CHUNK_MAX_BYTES
FIRST_BATCH = 16


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class SnapshotFiles:
    """The ``snapshots`` directory of one node."""

    def __init__(self, root: Path, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError("snapshot_keep: at least 1")
        self.root = root
        self.keep = keep
        self._manifests: dict[int, Manifest] = {}
        root.mkdir(parents=True, exist_ok=True)
        for p in root.iterdir():
            if p.name.startswith(TMP_PREFIX):  # a computation cut short by a crash
                shutil.rmtree(p, ignore_errors=True)

    def available(self) -> list[int]:
        """Heights of the complete snapshots here, oldest first."""
        out = []
        for p in self.root.iterdir():
            if p.name.isdigit() and (p / MANIFEST).is_file():
                out.append(int(p.name))
        return sorted(out)

    def manifest(self, height: int) -> Manifest | None:
        if type(height) is not int or height < 0:
            return None
        m = self._manifests.get(height)
        if m is not None:
            return m
        path = self.root / str(height) / MANIFEST
        try:
            if path.stat().st_size > MAX_MANIFEST_BYTES:
                return None
            m = Manifest.decode(path.read_bytes())
        except (OSError, MalformedError):
            return None
        if m.height != height:
            return None
        self._manifests[height] = m
        return m

    def chunk(self, height: int, index: int) -> bytes | None:
        """The bytes of chunk `index` of the snapshot at `height` (None: not here)."""
        m = self.manifest(height)
        if m is None or type(index) is not int or not 0 <= index < len(m.chunk_hashes):
            return None
        path = self.root / str(height) / f"{index}.chunk"
        try:
            if path.stat().st_size > MAX_CHUNK_BYTES:
                return None
            return path.read_bytes()
        except OSError:
            return None

    def write(
        self,
        height: int,
        entries: Iterable[Entry],
        stop: Callable[[bytes], bool] = lambda key: False,
        strip: int = 0,
    ) -> Manifest | None:
        """:meth:`steps` driven to the end on this thread: the manifest, or None when
        `stop(the last entry's key as given)`, called between steps, said to give up (e.g.
        the node closes: nothing is left behind). `stop` may also sleep there (the caller's
        pacing, which judges its progress by that key)."""
        steps = self.steps(height, entries, strip)
        try:
            while True:
                if stop(next(steps)):
                    steps.close()
                    return None
        except StopIteration as done:
            manifest: Manifest = done.value
            return manifest

    def steps(
        self, height: int, entries: Iterable[Entry], strip: int = 0
    ) -> Generator[bytes, None, Manifest]:
        """Cut `entries` (in key order; keys with `strip` leading bytes that are not the
        entry's, see :class:`Builder`) into chunk files and a manifest, atomically, keep the
        newest `keep` snapshots and return the manifest; one step (at most BATCH_ENTRIES
        entries, about BATCH_BYTES) per ``next``, which yields the step's last key as given.
        A generator so that its caller may pause between steps and go on from another thread
        (a checkpoint that a block waits for goes on at a higher CPU priority than it started
        at). Closed before the end, or failing, it leaves nothing behind. Logs progress of a
        long one."""
        tmp = self.root / f"{TMP_PREFIX}{height}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            manifest = yield from self._fill(tmp, Builder(height, strip), entries)
            self._publish(tmp, height)
        except BaseException:  # GeneratorExit too: closed before the end
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self._manifests[height] = manifest
        self._drop_old()
        return manifest

    def adoption(self, manifest: Manifest) -> Adoption:
        """Keep a snapshot installed from peers as this node's own: the chunk bytes (each
        already checked against `manifest`) and the manifest, published atomically like a
        computed one. They are the bytes this node would compute (the cut is a function of
        the state), so a node that joined by snapshot serves it at once and does not spend
        a pass over the state recomputing it. Each chunk is written (synced) to a scratch
        directory as it is added (:meth:`Adoption.add`), so a joining node holds no chunk in
        memory once installed; published at :meth:`Adoption.publish`, or removed."""
        tmp = self.root / f"{TMP_PREFIX}{manifest.height}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return Adoption(self, manifest, tmp)

    def _publish(self, tmp: Path, height: int) -> None:
        """Rename a complete temporary directory into place (synced)."""
        _fsync_dir(tmp)
        final = self.root / str(height)
        if final.exists():  # computed before (a restart): the same bytes, replace them
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_dir(self.root)

    def _fill(
        self, tmp: Path, b: Builder, entries: Iterable[Entry]
    ) -> Generator[bytes, None, Manifest]:
        t0 = last = time.monotonic()
        it, n = iter(entries), FIRST_BATCH
        while batch := list(islice(it, n)):
            size = sum(map(len, chain.from_iterable(batch)))
            n = max(1, min(BATCH_ENTRIES, 2 * len(batch), len(batch) * BATCH_BYTES // max(1, size)))
            datas = b.add_many(batch)
            for i, data in enumerate(datas, len(b.hashes) - len(datas)):
                _write_synced(tmp / f"{i}.chunk", data)
            yield batch[-1][0]
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                log.info(
                    "state checkpoint %d: %d entries hashed (%.0f/s)",
                    b.height,
                    b.entries,
                    b.entries / (now - t0),
                )
        tail, manifest = b.finish()
        if tail is not None:
            _write_synced(tmp / f"{len(b.hashes) - 1}.chunk", tail)
        _write_synced(tmp / MANIFEST, manifest.encode())
        return manifest

    def _drop_old(self) -> None:
        heights = self.available()
        for h in heights[: max(0, len(heights) - self.keep)]:
            self._manifests.pop(h, None)
            shutil.rmtree(self.root / str(h), ignore_errors=True)


class Adoption:
    """A snapshot from peers being written as this node's own (:meth:`SnapshotFiles.adoption`):
    chunk files in index order into a scratch directory, then published, or abandoned."""

    __slots__ = ("files", "manifest", "tmp", "count")

    def __init__(self, files: SnapshotFiles, manifest: Manifest, tmp: Path) -> None:
        self.files = files
        self.manifest = manifest
        self.tmp = tmp
        self.count = 0

    def add(self, data: bytes) -> None:
        """The next chunk's bytes (already checked against the manifest)."""
        _write_synced(self.tmp / f"{self.count}.chunk", data)
        self.count += 1

    def publish(self) -> None:
        """Every chunk is in: write the manifest and rename the directory into place."""
        if self.count != len(self.manifest.chunk_hashes):
            self.abandon()
            raise ValueError(f"{self.count} chunks of {len(self.manifest.chunk_hashes)} adopted")
        try:
            _write_synced(self.tmp / MANIFEST, self.manifest.encode())
            self.files._publish(self.tmp, self.manifest.height)
        except BaseException:
            self.abandon()
            raise
        self.files._manifests[self.manifest.height] = self.manifest
        self.files._drop_old()

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
