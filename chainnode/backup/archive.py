"""The backup archive: a plain tar of a manifest and one record file per part of the store.

A backup copies a node's LevelDB store as it is at one committed head (every key and value, in
key order), split by key space into parts so that each can be checked on its own::

    manifest.json        format, chain id, genesis hash, height, head hash, state root, and per
                         part its record count, size and SM3
    parts/meta.kv        M (chain id, layout version, head) and m (certificates, genesis.json)
    parts/blocks.kv      b (blocks), g (headers of pruned blocks), h (height of a hash),
                         l (tx hashes of a height), n (hash at)
    parts/txs.kv         t (transactions by height and index), x (tx hash -> its location)
    parts/receipts.kv    r (receipts)
    parts/state.kv       s (contract and system state)

A part is a sequence of records ``u32 key length || u32 value length || key || value`` (big
endian), keys strictly ascending. The manifest's SM3s catch a damaged file; they prove nothing
about where it came from: restoring trusts only the chain's genesis (see ``restore``).
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import os
import struct
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from chainnode.ledger.ledger import K_GENESIS
from chainnode.model.codes import LedgerError
from chainnode.model.layout import NS_CHAIN
from chainnode.model.types import Block
from crypto.sm3 import SM3Hasher
from storage import keys as K

FORMAT = "chainnode-backup/1"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 1 << 20
#: Part name -> the key prefixes (first key byte) it holds. Together: every key space of
#: ``storage`` (a key with another prefix makes a backup fail rather than go missing).
PARTS: dict[str, bytes] = {
    "meta": K.P_META_INTERNAL + K.P_META,
    "blocks": K.P_BLOCK
    + K.P_PRUNED_HEADER
    + K.P_HEIGHT_OF_HASH
    + K.P_BLOCK_TXS
    + K.P_BLOCK_HASH_AT,
    "txs": K.P_TX + K.P_TX_INDEX,
    "receipts": K.P_RECEIPT,
    "state": K.P_STATE,
}
PART_OF: dict[int, str] = {p: name for name, prefixes in PARTS.items() for p in prefixes}
REC = struct.Struct(">II")
MAX_KEY = 1 + 1 + K.MAX_NAMESPACE + K.MAX_STATE_KEY
MAX_VALUE = K.MAX_BLOCK
GENESIS_KEY = K.state_key(NS_CHAIN, K_GENESIS)


class ArchiveError(Exception):
    """The archive cannot be used: unreadable, damaged, or not a chainnode backup."""


def part_member(name: str) -> str:
    return f"parts/{name}.kv"


@dataclass(frozen=True, slots=True)
class PartInfo:
    name: str
    records: int
    size: int
    sm3: str


@dataclass(frozen=True, slots=True)
class Manifest:
    chain_id: str
    genesis_hash: str
    height: int
    head_hash: str
    state_root: str
    parts: tuple[PartInfo, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "genesis_hash": self.genesis_hash,
            "height": self.height,
            "head_hash": self.head_hash,
            "state_root": self.state_root,
            "parts": [
                {"name": p.name, "records": p.records, "bytes": p.size, "sm3": p.sm3}
                for p in self.parts
            ],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Manifest:
        """Strict: every field present with its type, the parts exactly ``PARTS``."""
        want = {"format", "chain_id", "genesis_hash", "height", "head_hash", "state_root", "parts"}
        if not isinstance(obj, dict) or set(obj) != want:
            raise ArchiveError("manifest: not a chainnode backup manifest (fields differ)")
        if obj["format"] != FORMAT:
            raise ArchiveError(f"manifest: format {obj['format']!r}, this program reads {FORMAT}")
        hexes = ("genesis_hash", "head_hash", "state_root")
        if not (
            isinstance(obj["chain_id"], str)
            and type(obj["height"]) is int
            and obj["height"] >= 0
            and all(_is_hex(obj[k], 32) for k in hexes)
            and isinstance(obj["parts"], list)
        ):
            raise ArchiveError("manifest: a field has the wrong type")
        parts = []
        for p in obj["parts"]:
            if not (
                isinstance(p, dict)
                and set(p) == {"name", "records", "bytes", "sm3"}
                and isinstance(p["name"], str)
                and type(p["records"]) is int
                and type(p["bytes"]) is int
                and _is_hex(p["sm3"], 32)
            ):
                raise ArchiveError("manifest: a part entry is malformed")
            parts.append(PartInfo(p["name"], p["records"], p["bytes"], p["sm3"]))
        if [p.name for p in parts] != list(PARTS):
            raise ArchiveError(f"manifest: parts must be {', '.join(PARTS)}")
        return cls(
            obj["chain_id"],
            obj["genesis_hash"],
            obj["height"],
            obj["head_hash"],
            obj["state_root"],
            tuple(parts),
        )


def _is_hex(v: Any, size: int) -> bool:
    if not isinstance(v, str) or len(v) != 2 * size:
        return False
    try:
        bytes.fromhex(v)
    except ValueError:
        return False
    return True


# -- writing --------------------------------------------------------------------------------


class _Spool:
    """One part being written to a temporary file, hashed and counted as it goes."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.file: IO[bytes] = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115  # closed by write_backup
        self.hasher = SM3Hasher()
        self.records = 0
        self.size = 0

    def add(self, key: bytes, value: bytes) -> None:
        chunk = REC.pack(len(key), len(value)) + key + value
        self.file.write(chunk)
        self.hasher.update(chunk)
        self.records += 1
        self.size += len(chunk)

    def info(self) -> PartInfo:
        return PartInfo(self.name, self.records, self.size, self.hasher.hexdigest())


# long: one pass over the records, then the tar; each step's check where it happens
def write_backup(records: Iterable[tuple[bytes, bytes]], out: Path) -> Manifest:
    """Write the records of a whole store (in key order) as a backup archive at ``out``.

    The file appears only when complete (written beside it, synced, renamed), so an
    interrupted backup leaves no archive that looks whole. ArchiveError when the records
    are not a whole chainnode store (no head, no genesis, an unknown key space, disorder).
    """
    directory = out.parent if str(out.parent) else Path(".")
    spools = {name: _Spool(name, directory) for name in PARTS}
    try:
        last = b""
        head: tuple[int, bytes] | None = None
        chain_id = genesis_hash = None
        blocks: dict[int, bytes] = {}
        for key, value in records:
            if not key or key <= last:
                raise ArchiveError("backup stream: keys out of order")
            last = key
            part = PART_OF.get(key[0])
            if part is None:
                raise ArchiveError(f"backup stream: unknown key space {key[:1]!r}")
            spools[part].add(key, value)
            if key == K.K_HEAD:
                head = K.decode_head(value)
            elif key == K.K_CHAIN_ID:
                chain_id = value
            elif key == GENESIS_KEY:
                genesis_hash = value
            elif key[:1] == K.P_BLOCK and head is not None and key == K.block_key(head[0]):
                blocks[head[0]] = value
        if head is None or chain_id is None or genesis_hash is None or head[0] not in blocks:
            raise ArchiveError(
                "backup stream: not a whole chain (head, chain id or genesis missing)"
            )
        try:
            state_root = Block.decode_header(blocks[head[0]]).state_root
        except LedgerError as e:
            raise ArchiveError(f"backup stream: the head block does not decode: {e}") from None
        manifest = Manifest(
            chain_id.decode("utf-8", "replace"),
            genesis_hash.hex(),
            head[0],
            head[1].hex(),
            state_root.hex(),
            tuple(s.info() for s in spools.values()),
        )
        _write_tar(out, manifest, spools)
        return manifest
    finally:
        for s in spools.values():
            s.file.close()


def _write_tar(out: Path, manifest: Manifest, spools: dict[str, _Spool]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent if str(out.parent) else ".")
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            body = json.dumps(manifest.to_json(), indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            for s in spools.values():
                s.file.seek(0)
                info = tarfile.TarInfo(part_member(s.name))
                info.size = s.size
                tar.addfile(info, s.file)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# -- reading --------------------------------------------------------------------------------


class Archive:
    """An opened backup archive. :meth:`check` verifies every part against the manifest;
    :meth:`records` reads one part, checking its framing and key order as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._tar = tarfile.open(path, mode="r:")  # noqa: SIM115  # closed by close()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ArchiveError(f"{path}: not a readable backup archive ({e})") from None
        try:
            self.manifest = self._open()
        except BaseException:
            self._tar.close()
            raise

    def _open(self) -> Manifest:
        try:
            members = self._tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ArchiveError(f"{self.path}: damaged archive ({e})") from None
        names = [m.name for m in members]
        expected = [MANIFEST] + [part_member(n) for n in PARTS]
        if names != expected or not all(m.isfile() for m in members):
            raise ArchiveError(f"{self.path}: not a chainnode backup (holds {names[:8]})")
        self._members = {m.name: m for m in members}
        m = self._members[MANIFEST]
        if m.size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{self.path}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
        try:
            raw = self._read(MANIFEST).read()
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise ArchiveError(f"{self.path}: manifest is not JSON ({e})") from None
        manifest = Manifest.from_json(obj)
        for p in manifest.parts:
            if self._members[part_member(p.name)].size != p.size:
                raise ArchiveError(
                    f"{self.path}: part {p.name}: {self._members[part_member(p.name)].size} "
                    f"bytes, the manifest says {p.size} (archive damaged)"
                )
        return manifest

    def _read(self, member: str) -> IO[bytes]:
        try:
            f = self._tar.extractfile(self._members[member])
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ArchiveError(f"{self.path}: cannot read {member} ({e})") from None
        if f is None:  # pragma: no cover - members are regular files (checked at open)
            raise ArchiveError(f"{self.path}: {member} is not a file")
        return f

    def check(self) -> None:
        """SM3, size and record count of every part against the manifest, and each part's
        framing and key order. ArchiveError naming the first part that differs."""
        for p in self.manifest.parts:
            hasher = SM3Hasher()
            count = 0
            for key, value in self.records(p.name):
                hasher.update(REC.pack(len(key), len(value)) + key + value)
                count += 1
            if hasher.hexdigest() != p.sm3 or count != p.records:
                raise ArchiveError(
                    f"{self.path}: part {p.name}: its SM3 differs from the manifest's "
                    "(archive damaged)"
                )

    def records(self, part: str) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) of one part in key order; ArchiveError on a framing or order fault."""
        prefixes = PARTS[part]
        f = self._read(part_member(part))
        last = b""
        try:
            while True:
                head = f.read(REC.size)
                if not head:
                    return
                if len(head) != REC.size:
                    raise ArchiveError(
                        f"{self.path}: part {part}: truncated record (archive damaged)"
                    )
                klen, vlen = REC.unpack(head)
                if not 0 < klen <= MAX_KEY or vlen > MAX_VALUE:
                    raise ArchiveError(
                        f"{self.path}: part {part}: a record has a bad size (archive damaged)"
                    )
                key = f.read(klen)
                value = f.read(vlen)
                if len(key) != klen or len(value) != vlen:
                    raise ArchiveError(
                        f"{self.path}: part {part}: truncated record (archive damaged)"
                    )
                if key <= last or key[0] not in prefixes:
                    raise ArchiveError(
                        f"{self.path}: part {part}: keys out of order or place (archive damaged)"
                    )
                last = key
                yield key, value
        except (tarfile.TarError, OSError, EOFError) as e:
            raise ArchiveError(f"{self.path}: part {part}: unreadable ({e})") from None

    def all_records(self) -> Iterator[tuple[bytes, bytes]]:
        """Every record of every part, in key order (the store as it was)."""
        return heapq.merge(*(self.records(name) for name in PARTS), key=lambda kv: kv[0])

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
