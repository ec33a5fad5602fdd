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
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path

from chainnode.model.codes import MalformedError
from chainnode.model.snapshot import MAX_CHUNK_BYTES, MAX_MANIFEST_BYTES, Builder, Entry, Manifest

log = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
MANIFEST = "manifest"
TMP_PREFIX = ".tmp-"
PROGRESS_EVERY_S = 10.0
#: Entries read from the store per step (``Builder.add_many``): the GIL is held to read them
#: (~0.5 ms), then released to cut, encode and hash; ``stop`` runs between steps.
BATCH_ENTRIES = 1024


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
        """Cut `entries` (in key order; keys with `strip` leading bytes that are not the
        entry's, see :class:`Builder`) into chunk files and a manifest, atomically, keep the
        newest `keep` snapshots and return the manifest (None when `stop` said to give up,
        e.g. the node closes: nothing is left behind). `stop(the last entry's key as given)`
        is called between steps of BATCH_ENTRIES entries; it may also sleep there (the
        caller's pacing, which judges its progress by that key). Logs progress of a long
        one."""
        tmp = self.root / f"{TMP_PREFIX}{height}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            manifest = self._fill(tmp, Builder(height, strip), entries, stop)
            if manifest is None:
                shutil.rmtree(tmp, ignore_errors=True)
                return None
            self._publish(tmp, height)
        except BaseException:
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
        self,
        tmp: Path,
        b: Builder,
        entries: Iterable[Entry],
        stop: Callable[[bytes], bool],
    ) -> Manifest | None:
        t0 = last = time.monotonic()
        it = iter(entries)
        while batch := list(islice(it, BATCH_ENTRIES)):
            datas = b.add_many(batch)
            for i, data in enumerate(datas, len(b.hashes) - len(datas)):
                _write_synced(tmp / f"{i}.chunk", data)
            if stop(batch[-1][0]):
                return None
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
