"""``GET /v1/events``: a Server-Sent Events stream of committed blocks and contract events.

Query: ``contract`` (name or 40-hex address) and ``event`` (event name) filter the contract
events; ``from_height`` (or the standard ``Last-Event-ID`` header, resuming after that height)
replays committed blocks from the ledger first, then goes live without a gap or a repeat;
``blocks=false`` leaves out the block messages (they still carry the resume ids otherwise).

Each committed block gives its matching ``contract_event`` messages, then one ``block`` message
whose SSE ``id`` is the height: a client that resumes from the last id it saw gets nothing twice
and misses nothing.

Memory stays bounded: each subscriber has a queue of at most ``queue_blocks`` blocks (and
``queue_bytes`` of encoded blocks); a consumer that lets it fill up is dropped (its connection
is aborted; it may reconnect with ``Last-Event-ID``). A single write that stalls longer than
``write_timeout`` drops it too, and its kernel send buffer is capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from chainnode.model.addresses import address_hex, parse_address
from chainnode.model.chain import ChainReader
from chainnode.model.codes import Code
from chainnode.model.types import NAME_RE, Block, Receipt, decoded_json

log = logging.getLogger("chainnode.api.events")

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.5  # how soon a vanished client is noticed while the chain is idle
SNDBUF_BYTES = 64 * 1024


class _Dropped(Exception):
    pass


class _Closed(Exception):
    pass


class Subscription:
    """One consumer's bounded queue of committed blocks."""

    def __init__(
        self, max_blocks: int, max_bytes: int, on_drop: Callable[[], None] | None = None
    ) -> None:
        self.max_blocks = max_blocks
        self.max_bytes = max_bytes
        self.on_drop = on_drop
        self._items: deque[tuple[Block, Sequence[Receipt]]] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self.dropped = False
        self.closed = False

    def offer(self, block: Block, receipts: Sequence[Receipt]) -> None:
        if self.dropped or self.closed:
            return
        size = len(block.raw)
        if len(self._items) >= self.max_blocks or self._bytes + size > self.max_bytes:
            self.dropped = True
            self._items.clear()
            self._bytes = 0
            if self.on_drop is not None:
                self.on_drop()  # e.g. abort the connection: its writer may be stuck in a write
        else:
            self._items.append((block, receipts))
            self._bytes += size
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._items)

    async def get(self, timeout: float) -> tuple[Block, Sequence[Receipt]] | None:
        """The next block, None after ``timeout`` idle seconds; raises when dropped/closed."""
        while True:
            if self.dropped:
                raise _Dropped
            if self.closed:
                raise _Closed
            if self._items:
                item = self._items.popleft()
                self._bytes -= len(item[0].raw)
                return item
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None


class EventHub:
    """Fans committed blocks out to subscriptions (ledger ``on_commit`` listener)."""

    def __init__(
        self,
        ledger: ChainReader,
        *,
        queue_blocks: int = 64,
        queue_bytes: int = 32 << 20,
        max_subscribers: int = 256,
        write_timeout: float = 30.0,
        metrics: Any = None,
    ) -> None:
        self.ledger = ledger
        self.queue_blocks = queue_blocks
        self.queue_bytes = queue_bytes
        self.max_subscribers = max_subscribers
        self.write_timeout = write_timeout
        self.metrics = metrics
        self._subs: set[Subscription] = set()
        self.closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        ledger.on_commit(self._on_commit)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def _on_commit(self, block: Block, receipts: Sequence[Receipt]) -> None:
        if not self._subs:
            return
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._fan_out, block, receipts)
        else:
            self._fan_out(block, receipts)

    def _fan_out(self, block: Block, receipts: Sequence[Receipt]) -> None:
        for sub in list(self._subs):
            sub.offer(block, receipts)

    def subscribe(self, on_drop: Callable[[], None] | None = None) -> Subscription:
        sub = Subscription(self.queue_blocks, self.queue_bytes, on_drop)
        self._subs.add(sub)
        if self.metrics is not None:
            self.metrics.event_subscribers.set(len(self._subs))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        if self.metrics is not None:
            self.metrics.event_subscribers.set(len(self._subs))
            if sub.dropped:
                self.metrics.event_drops.inc()

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def close(self) -> None:
        """Node shutdown: end every stream (replaying ones at their next block)."""
        self.closed = True
        for sub in list(self._subs):
            sub.close()


@dataclass(frozen=True, slots=True)
class Filter:
    contract: bytes | None
    event: str | None
    blocks: bool


def _bad(message: str, field: str) -> Exception:
    from chainnode.api.errors import ApiError

    err: Exception = ApiError(400, Code.INVALID_FIELD, f"{field}: {message}", field)
    return err


def parse_filter(request: web.Request, ledger: ChainReader) -> tuple[Filter, int]:
    """The filter and the first height to send (current height + 1 when live only)."""
    q = request.query
    contract: bytes | None = None
    if "contract" in q:
        contract = parse_address(q["contract"])
        if contract is not None:
            pass
        elif NAME_RE.fullmatch(q["contract"]):
            contract = ledger.contract_address(q["contract"])
            if contract is None:
                raise _bad(f"no contract named {q['contract']!r}", "contract")
        else:
            raise _bad("a contract name or a 40-hex-digit address", "contract")
    event = q.get("event")
    if event is not None and not 0 < len(event) <= 256:
        raise _bad("an event name of 1..256 characters", "event")
    flag = q.get("blocks", "true").lower()
    if flag not in ("true", "1", "false", "0"):
        raise _bad("true or false", "blocks")
    blocks = flag in ("true", "1")
    start = ledger.height + 1
    raw, field = q.get("from_height"), "from_height"
    if raw is None and "Last-Event-ID" in request.headers:
        raw, field = request.headers["Last-Event-ID"], "Last-Event-ID"
    if raw is not None:
        if not raw.isdigit() or len(raw) > 19:
            raise _bad("a block height (a non-negative integer)", field)
        start = int(raw) + (1 if field == "Last-Event-ID" else 0)
        start = max(start, 1)
        if start < ledger.prune_floor:
            from chainnode.api.errors import ApiError

            raise ApiError(
                410,
                Code.PRUNED,
                f"blocks below {ledger.prune_floor} are pruned on this node: replay from there "
                "(or read older blocks from an archive)",
                field,
            )
    return Filter(contract, event, blocks), start


def render_block(
    block: Block,
    receipts: Sequence[Receipt],
    f: Filter,
    address_of: Callable[[bytes], bytes],
) -> bytes:
    """The SSE messages of one block: its matching contract events, then the block."""
    out: list[str] = []
    h = block.height
    bhash = block.hash.hex()
    for i, (tx, r) in enumerate(zip(block.txs, receipts, strict=True)):
        for j, ev in enumerate(r.events):
            if f.contract is not None and ev.contract != f.contract:
                continue
            if f.event is not None and ev.name != f.event:
                continue
            data = {
                "height": h,
                "block_hash": bhash,
                "tx_hash": tx.hash.hex(),
                "tx_index": i,
                "event_index": j,
                "contract": address_hex(ev.contract),
                "name": ev.name,
                "fields": ev.fields.hex(),
                "fields_value": decoded_json(ev.fields),
                "timestamp": block.header.timestamp,
            }
            out.append(
                f"event: contract_event\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
            )
    if f.blocks:
        hd = block.header
        data = {
            "height": h,
            "hash": bhash,
            "prev_hash": hd.prev_hash.hex(),
            "timestamp": hd.timestamp,
            "view": hd.view,
            "proposer": hd.proposer.hex(),
            "proposer_address": address_hex(address_of(hd.proposer)) if hd.proposer else None,
            "tx_count": len(block.txs),
            "tx_hashes": [tx.hash.hex() for tx in block.txs],
        }
        out.append(f"id: {h}\nevent: block\ndata: {json.dumps(data, separators=(',', ':'))}\n\n")
    else:
        out.append(f"id: {h}\n\n")  # resume point only; SSE clients ignore data-less messages
    return "".join(out).encode()


def _stored(ledger: ChainReader, height: int) -> tuple[Block, list[Receipt]]:
    block = ledger.block(height)
    if block is None:
        raise LookupError(f"block {height} missing")
    receipts = []
    for tx in block.txs:
        r = ledger.receipt(tx.hash)
        if r is None:
            raise LookupError(f"receipt of {tx.hash.hex()} missing")
        receipts.append(r)
    return block, receipts


# long: one SSE session: replay, then live; every exit explicit
async def stream_events(request: web.Request, hub: EventHub) -> web.StreamResponse:  # noqa: C901, PLR0912  # one SSE session: replay, then live; every exit explicit
    ledger = hub.ledger
    f, next_h = parse_filter(request, ledger)
    if hub.subscribers >= hub.max_subscribers:
        from chainnode.api.errors import ApiError

        raise ApiError(503, Code.TOO_MANY_SUBSCRIBERS, "the node serves no more event streams now")
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await resp.prepare(request)
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        transport.set_write_buffer_limits(high=SNDBUF_BYTES)

    async def send(data: bytes) -> None:
        await asyncio.wait_for(resp.write(data), hub.write_timeout)

    sub: Subscription | None = None
    try:
        await send(b": chainnode events\n\n")
        # Replay what is committed, then subscribe with no await in between: nothing is lost.
        while True:
            top = ledger.height
            while next_h <= top:
                if hub.closed:
                    raise _Closed
                block, receipts = _stored(ledger, next_h)
                await send(render_block(block, receipts, f, ledger.address))
                next_h += 1
            if hub.closed:
                raise _Closed
            if ledger.height == top:
                sub = hub.subscribe(transport.abort if transport is not None else None)
                break
        idle = 0.0
        while True:
            item = await sub.get(POLL_SECONDS)
            if item is None:
                if transport is None or transport.is_closing():
                    break  # the client went away
                idle += POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    await send(b": keepalive\n\n")
                    idle = 0.0
                continue
            idle = 0.0
            live, live_receipts = item
            if live.height < next_h:
                continue
            while next_h < live.height:  # cannot happen on one loop; be safe
                b, rs = _stored(ledger, next_h)
                await send(render_block(b, rs, f, ledger.address))
                next_h += 1
            await send(render_block(live, live_receipts, f, ledger.address))
            next_h = live.height + 1
    except _Dropped:
        log.info("event stream to %s dropped: it fell behind", request.remote)
    except TimeoutError:
        log.info("event stream to %s dropped: a write stalled", request.remote)
        if sub is not None:
            sub.dropped = True
        if transport is not None:
            transport.abort()
    except (_Closed, ConnectionError):
        if sub is not None and sub.dropped:
            log.info("event stream to %s dropped: it fell behind", request.remote)
    finally:
        if sub is not None:
            hub.unsubscribe(sub)
    return resp
