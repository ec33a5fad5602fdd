# ruff: noqa
# mypy: ignore-errors
"""Traceability: the journey of a product batch from farm to table.

Written in the contract language (compiled by contracts.compile_source, not imported).
Arguments are a JSON list of positional values. Hashes are hex strings (optional 0x
prefix; stored lowercase, bare). Addresses (owners, actors) are shown, stored and emitted in
the node's one form, "0x" + 40 lower-case hex digits, and taken with or without the 0x, in
any case.

Methods:
  create_batch(batch_id: str, product: str, producer: str) -> batch
      batch_id: 1..64 characters, unique. product, producer: 1..128 characters.
      The caller becomes the batch owner. Emits BatchCreated(batch_id, owner, product).
  grant(batch_id: str, actor: str) -> None
      Owner only. actor: an address (40 hex characters, 0x optional) allowed to append
      events.
      Emits ActorGranted(batch_id, actor).
  revoke(batch_id: str, actor: str) -> None
      Owner only. Emits ActorRevoked(batch_id, actor).
  add_event(batch_id: str, stage: str, location: str, data_hash: str, note: str) -> event
      Owner or a granted actor. stage: one of planting, harvest, inspection, processing,
      transport, sale. location: 1..128 characters. data_hash: 64 hex characters (digest of
      the off-chain data, e.g. an inspection report) or "" for none. note: 0..256 characters.
      At most 256 events per batch. Emits StageRecorded(batch_id, seq, stage, actor).
  get_batch(batch_id: str) -> batch or None                     (view)
  is_actor(batch_id: str, actor: str) -> bool                   (view)
  history(batch_id: str) -> [event, ...]                        (view)
      Every event of the batch in order.
  history_page(batch_id: str, offset: int, limit: int) -> [event, ...]   (view)
      limit 1..100.

A batch is a map: batch_id, product, producer, owner, created_height, created_at, events
(the number of events). An event: seq, stage, location, data_hash, note, actor, height,
timestamp, tx.
"""

MAX_ID = 64
MAX_TEXT = 128
MAX_NOTE = 256
MAX_EVENTS = 256
MAX_PAGE = 100

# Storage layout: "batch:<id>" the batch map as created; "owner:<id>" its owner (read on
# every append, so kept apart from the bigger map); "count:<id>" the number of events;
# "event:<id>:<seq>" each event; "actor:<id>:<address>" a granted actor.


def norm_hex(value, nchars, what):
    text = value.lower()
    if text.startswith("0x"):
        text = text[2:]
    require(len(text) == nchars, what + " must be " + str(nchars) + " hex characters")
    unhex(text)
    return text


def batch_owner(batch_id):
    owner = storage.get("owner:" + batch_id)
    require(owner is not None, "unknown batch " + batch_id)
    return owner


def only_owner(batch_id):
    require(batch_owner(batch_id) == "0x" + ctx.caller.hex(), "only the batch owner may do this")


@public
def create_batch(batch_id: str, product: str, producer: str) -> dict:
    require(0 < len(batch_id) <= MAX_ID, "batch_id must be 1..64 characters")
    require(0 < len(product) <= MAX_TEXT, "product must be 1..128 characters")
    require(0 < len(producer) <= MAX_TEXT, "producer must be 1..128 characters")
    key = "batch:" + batch_id
    require(key not in storage, "batch already exists")
    owner = "0x" + ctx.caller.hex()
    batch = {
        "batch_id": batch_id,
        "product": product,
        "producer": producer,
        "owner": owner,
        "created_height": ctx.block_height,
        "created_at": ctx.timestamp,
    }
    storage[key] = batch
    storage["owner:" + batch_id] = owner
    emit("BatchCreated", batch_id=batch_id, owner=owner, product=product)
    batch["events"] = 0
    return batch


@public
def grant(batch_id: str, actor: str) -> None:
    only_owner(batch_id)
    a = "0x" + norm_hex(actor, 40, "actor")
    storage["actor:" + batch_id + ":" + a] = True
    emit("ActorGranted", batch_id=batch_id, actor=a)


@public
def revoke(batch_id: str, actor: str) -> None:
    only_owner(batch_id)
    a = "0x" + norm_hex(actor, 40, "actor")
    key = "actor:" + batch_id + ":" + a
    require(key in storage, "actor was not granted")
    del storage[key]
    emit("ActorRevoked", batch_id=batch_id, actor=a)


@public
def add_event(batch_id: str, stage: str, location: str, data_hash: str, note: str) -> dict:
    actor = "0x" + ctx.caller.hex()
    owner = storage.get("owner:" + batch_id)  # inlined helpers: this is the hot method
    require(owner is not None, "unknown batch " + batch_id)
    if owner != actor:
        require(("actor:" + batch_id + ":" + actor) in storage, "caller is not an authorised actor")
    require(
        stage == "planting"
        or stage == "harvest"
        or stage == "inspection"
        or stage == "processing"
        or stage == "transport"
        or stage == "sale",
        "unknown stage " + stage,
    )
    require(0 < len(location) <= MAX_TEXT, "location must be 1..128 characters")
    require(len(note) <= MAX_NOTE, "note longer than 256 characters")
    h = ""
    if data_hash != "":
        h = norm_hex(data_hash, 64, "data_hash")
    count_key = "count:" + batch_id
    seq = storage.get(count_key, 0)
    require(seq < MAX_EVENTS, "batch has the maximum number of events")
    event = {
        "seq": seq,
        "stage": stage,
        "location": location,
        "data_hash": h,
        "note": note,
        "actor": actor,
        "height": ctx.block_height,
        "timestamp": ctx.timestamp,
        "tx": ctx.tx_hash.hex(),
    }
    storage["event:" + batch_id + ":" + str(seq)] = event
    storage[count_key] = seq + 1
    emit("StageRecorded", batch_id=batch_id, seq=seq, stage=stage, actor=actor)
    return event


@view
def get_batch(batch_id: str):
    batch = storage.get("batch:" + batch_id)
    if batch is not None:
        batch["events"] = storage.get("count:" + batch_id, 0)
    return batch


@view
def is_actor(batch_id: str, actor: str) -> bool:
    return ("actor:" + batch_id + ":" + "0x" + norm_hex(actor, 40, "actor")) in storage


def events_of(batch_id, offset, limit):
    batch_owner(batch_id)
    n = storage.get("count:" + batch_id, 0)
    out = []
    i = offset
    while i < n and len(out) < limit:
        out.append(storage["event:" + batch_id + ":" + str(i)])
        i += 1
    return out


@view
def history(batch_id: str) -> list:
    return events_of(batch_id, 0, MAX_EVENTS)


@view
def history_page(batch_id: str, offset: int, limit: int) -> list:
    require(offset >= 0, "offset must be >= 0")
    require(0 < limit <= MAX_PAGE, "limit must be 1..100")
    return events_of(batch_id, offset, limit)
