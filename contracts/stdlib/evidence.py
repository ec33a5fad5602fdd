# ruff: noqa
# mypy: ignore-errors
"""Evidence: notarise a document by registering its hash with metadata.

Written in the contract language (compiled by contracts.compile_source, not imported).
Arguments are a JSON list of positional values. Hashes are hex strings (an optional 0x
prefix is accepted; they are stored lowercase, bare). An address is shown, stored and
emitted in the node's one form, "0x" + 40 lower-case hex digits, and taken with or
without the 0x, in any case.

Methods:
  register(doc_hash: str, doc_type: str, title: str) -> record
      doc_hash: 64 hex characters (a 32-byte SM3/SHA-256 digest of the document).
      doc_type: 1..64 characters, e.g. "contract". title: 0..256 characters.
      The owner is the caller's address ("0x..."). A hash registered before is rejected.
      Emits Registered(hash, owner, doc_type).
  get(doc_hash: str) -> record or None                        (view)
  exists(doc_hash: str) -> bool                                (view)
  count_by_owner(owner: str) -> int                            (view)
      owner: an address, 40 hex characters with or without 0x.
  list_by_owner(owner: str, offset: int, limit: int) -> [doc_hash, ...]   (view)
      In registration order; limit 1..100.

A record is a map: hash, doc_type, title, owner, height, timestamp, tx.
"""

MAX_TYPE = 64
MAX_TITLE = 256
MAX_PAGE = 100


def norm_hex(value, nchars, what):
    text = value.lower()
    if text.startswith("0x"):
        text = text[2:]
    require(len(text) == nchars, what + " must be " + str(nchars) + " hex characters")
    unhex(text)
    return text


@public
def register(doc_hash: str, doc_type: str, title: str) -> dict:
    h = norm_hex(doc_hash, 64, "doc_hash")
    require(0 < len(doc_type) <= MAX_TYPE, "doc_type must be 1..64 characters")
    require(len(title) <= MAX_TITLE, "title longer than 256 characters")
    key = "doc:" + h
    require(key not in storage, "document already registered")
    owner = "0x" + ctx.caller.hex()
    record = {
        "hash": h,
        "doc_type": doc_type,
        "title": title,
        "owner": owner,
        "height": ctx.block_height,
        "timestamp": ctx.timestamp,
        "tx": ctx.tx_hash.hex(),
    }
    storage[key] = record
    count_key = "count:" + owner
    n = storage.get(count_key, 0)
    storage["owner:" + owner + ":" + str(n)] = h
    storage[count_key] = n + 1
    emit("Registered", hash=h, owner=owner, doc_type=doc_type)
    return record


@view
def get(doc_hash: str):
    return storage.get("doc:" + norm_hex(doc_hash, 64, "doc_hash"))


@view
def exists(doc_hash: str) -> bool:
    return ("doc:" + norm_hex(doc_hash, 64, "doc_hash")) in storage


@view
def count_by_owner(owner: str) -> int:
    return storage.get("count:" + "0x" + norm_hex(owner, 40, "owner"), 0)


@view
def list_by_owner(owner: str, offset: int, limit: int) -> list:
    o = "0x" + norm_hex(owner, 40, "owner")
    require(offset >= 0, "offset must be >= 0")
    require(0 < limit <= MAX_PAGE, "limit must be 1..100")
    n = storage.get("count:" + o, 0)
    out = []
    i = offset
    while i < n and len(out) < limit:
        out.append(storage["owner:" + o + ":" + str(i)])
        i += 1
    return out
