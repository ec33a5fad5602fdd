# ruff: noqa
# mypy: ignore-errors
"""Records: key-value records with an owner, a full update history and delete markers.

Written in the contract language (compiled by contracts.compile_source, not imported).
Arguments are a JSON list of positional values. Owners (and a version's "by") are
addresses in the node's one form, "0x" + 40 lower-case hex digits.

Methods:
  put(key: str, value) -> version
      key: 1..128 characters; value: any JSON value (the stored record, value included, is at most 64 KiB encoded).
      The first writer of a key becomes its owner; only the owner may update it (also after
      a delete). Returns the new version number (1, 2, ...).
      Emits RecordPut(key, version, owner).
  delete(key: str) -> version
      Owner only; the key must exist and not be deleted. Appends a delete marker version
      (value None, deleted True). Emits RecordDeleted(key, version).
  get(key: str) -> record or None                               (view)
      The current record, also when deleted (then deleted is True and value None).
  owner_of(key: str) -> str or None                             (view)
  history(key: str, offset: int, limit: int) -> [version, ...]  (view)
      Versions in order, starting at offset (0 = version 1); limit 1..100.

A record is a map: key, value, owner, version, deleted, updated_height, updated_at.
A version is a map: version, value, deleted, by, height, timestamp, tx.
"""

MAX_KEY = 128
MAX_PAGE = 100


def write_version(key, value, deleted, version):
    by = "0x" + ctx.caller.hex()
    storage["ver:" + key + ":" + str(version)] = {
        "version": version,
        "value": value,
        "deleted": deleted,
        "by": by,
        "height": ctx.block_height,
        "timestamp": ctx.timestamp,
        "tx": ctx.tx_hash.hex(),
    }


@public
def put(key: str, value) -> int:
    require(0 < len(key) <= MAX_KEY, "key must be 1..128 characters")
    caller = "0x" + ctx.caller.hex()
    rkey = "rec:" + key
    current = storage.get(rkey)
    version = 1
    owner = caller
    if current is not None:
        require(current["owner"] == caller, "only the owner may update this record")
        version = current["version"] + 1
        owner = current["owner"]
    record = {
        "key": key,
        "value": value,
        "owner": owner,
        "version": version,
        "deleted": False,
        "updated_height": ctx.block_height,
        "updated_at": ctx.timestamp,
    }
    storage[rkey] = record
    write_version(key, value, False, version)
    emit("RecordPut", key=key, version=version, owner=owner)
    return version


@public
def delete(key: str) -> int:
    rkey = "rec:" + key
    current = storage.get(rkey)
    require(current is not None, "no such record")
    require(current["owner"] == "0x" + ctx.caller.hex(), "only the owner may delete this record")
    require(not current["deleted"], "record already deleted")
    version = current["version"] + 1
    current["value"] = None
    current["deleted"] = True
    current["version"] = version
    current["updated_height"] = ctx.block_height
    current["updated_at"] = ctx.timestamp
    storage[rkey] = current
    write_version(key, None, True, version)
    emit("RecordDeleted", key=key, version=version)
    return version


@view
def get(key: str):
    return storage.get("rec:" + key)


@view
def owner_of(key: str):
    current = storage.get("rec:" + key)
    if current is None:
        return None
    return current["owner"]


@view
def history(key: str, offset: int, limit: int) -> list:
    require(offset >= 0, "offset must be >= 0")
    require(0 < limit <= MAX_PAGE, "limit must be 1..100")
    current = storage.get("rec:" + key)
    if current is None:
        return []
    out = []
    v = offset + 1
    while v <= current["version"] and len(out) < limit:
        out.append(storage["ver:" + key + ":" + str(v)])
        v += 1
    return out
