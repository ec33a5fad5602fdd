"""The timed phase: submit pre-signed batches on schedule and follow every tx to its block.

One asyncio process drives all nodes through the SDK's ``AsyncClient``: msgpack batch bodies are
packed before the clock starts, batches leave at their due time (open loop) with a bounded
number in flight per node, and a tracker polls the nodes' heights in turn and books each new
block once, at the time its height was first seen on any node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from bench.harness import schedule
from bench.harness.accounting import Accounting
from bench.harness.presign import SignedTxs

MSGPACK = "application/msgpack"
SUBMIT_PATH = "/v1/transactions"


@dataclass(slots=True)
class PhaseResult:
    first: int
    count: int
    offered_rate: float | None
    started: float  # monotonic
    submit_end: float = 0.0
    end: float = 0.0
    batches: int = 0
    max_lag_s: float = 0.0
    unsent: int = 0
    submit_times: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    busy_retries: int = 0  # closed loop: batches sent again after a 503 BUSY

    @property
    def indices(self) -> range:
        """All txs of the phase (sent or not: unsent ones are ignored by the accounting)."""
        return range(self.first, self.first + self.count + self.unsent)


def _field_index(field_name: str | None) -> int | None:
    """``"[12]"`` -> 12 (the API names the first refused tx of a batch this way)."""
    if field_name and field_name.startswith("[") and field_name.endswith("]"):
        inner = field_name[1:-1]
        if inner.isdigit():
            return int(inner)
    return None


class Driver:
    """Clients for every node, one accounting, and the block tracker running beside."""

    def __init__(
        self,
        urls: Sequence[str],
        accounting: Accounting,
        in_flight_per_node: int = 4,
        poll_s: float = 0.05,
        request_timeout: float = 60.0,
        track: str = "events",
    ) -> None:
        from chainnode.client.sdk import AsyncClient

        if not urls:
            raise ValueError("no node URLs")
        self.urls = list(urls)
        self.acc = accounting
        self.clients = [
            AsyncClient(u, timeout=request_timeout, connections=in_flight_per_node + 2)
            for u in self.urls
        ]
        if track not in ("events", "poll"):
            raise ValueError(f"track: events or poll, not {track!r}")
        self.track = track
        self.poll_s = poll_s
        self._streams: list[asyncio.Task[None]] = []
        self._stream_session: Any = None
        self._slots = [asyncio.Semaphore(in_flight_per_node) for _ in self.urls]
        self._tracker: asyncio.Task[None] | None = None
        self.booked = -1
        self.heights = [-1] * len(self.urls)
        self.mempools = [0] * len(self.urls)
        self.tracker_errors = 0
        self.new_block = asyncio.Event()
        self.outstanding = 0  # sent, not yet committed or refused (ours)
        self._window_lock = asyncio.Lock()

    async def __aenter__(self) -> Driver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        tasks = [t for t in (self._tracker, *self._streams) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tracker = None
        self._streams = []
        if self._stream_session is not None:
            await self._stream_session.close()
            self._stream_session = None
        for c in self.clients:
            await c.close()

    # -- tracking -----------------------------------------------------------------------

    async def start_tracking(self) -> None:
        """Book from the current head on (blocks before it are not ours): from every node's
        event stream (pushed as each commits), or by polling heights when a node has none."""
        statuses = await asyncio.gather(*(c.status() for c in self.clients))
        self.heights = [int(s["height"]) for s in statuses]
        self.booked = max(self.heights)
        if self.track == "events":
            import aiohttp

            self._stream_session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
            first = self.booked + 1
            self._streams = [
                asyncio.create_task(self._follow(i, first)) for i in range(len(self.urls))
            ]
        else:
            self._tracker = asyncio.create_task(self._track())

    async def _follow(self, node: int, first: int) -> None:
        """Read one node's Server-Sent Events (``GET /v1/events``), block messages only (the
        event filter names no contract event), resuming after the last height on a break."""
        last = first - 1
        url = f"{self.urls[node]}/v1/events"
        while True:
            try:
                params = {"from_height": str(last + 1), "event": "bench.no-such-event"}
                async with self._stream_session.get(url, params=params) as resp:
                    if resp.status == 404:  # no event stream on this node: poll instead
                        if self._tracker is None:
                            self._tracker = asyncio.create_task(self._track())
                        return
                    resp.raise_for_status()
                    kind, data = "", ""
                    async for raw in resp.content:
                        line = raw.decode().rstrip("\r\n")
                        if line.startswith("event:"):
                            kind = line[6:].strip()
                        elif line.startswith("data:"):
                            data += line[5:].strip()
                        elif not line:
                            if kind == "block" and data:
                                last = max(last, self._on_block_event(node, data))
                            kind, data = "", ""
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  # a dropped stream: resume after `last`
                self.tracker_errors += 1
            await asyncio.sleep(0.2)

    def _on_block_event(self, node: int, data: str) -> int:
        seen = time.monotonic()
        doc = json.loads(data)
        height = int(doc["height"])
        txs = [bytes.fromhex(h) for h in doc["tx_hashes"]]
        self.outstanding -= self.acc.block(height, bytes.fromhex(doc["hash"]), txs, seen)
        self.heights[node] = max(self.heights[node], height)
        self.booked = max(self.booked, height)
        self.new_block.set()
        return height

    async def _track(self) -> None:
        n = len(self.clients)
        turn = 0
        while True:
            i = turn % n
            turn += 1
            try:
                st = await self.clients[i].status()
                seen = time.monotonic()
                height = int(st["height"])
                self.heights[i] = height
                self.mempools[i] = int(st.get("mempool", 0))
                if height > self.booked:
                    await self._book(i, self.booked + 1, height, seen)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001  # a node busy or restarting: try the next
                self.tracker_errors += 1
            await asyncio.sleep(self.poll_s / n)

    async def _book(self, node: int, lo: int, hi: int, seen: float) -> None:
        blocks = await asyncio.gather(*(self.fetch_block(node, h) for h in range(lo, hi + 1)))
        for height, block_hash, txs in blocks:
            self.outstanding -= self.acc.block(height, block_hash, txs, seen)
            self.booked = max(self.booked, height)
        self.new_block.set()

    async def fetch_block(self, node: int, height: int) -> tuple[int, bytes, list[bytes]]:
        """(height, block hash, tx hashes) of one committed block."""
        doc: dict[str, Any] = await self.clients[node].request(
            "GET", f"/v1/blocks/{height}?txs=false"
        )
        block = doc["block"]
        hashes = [bytes.fromhex(h) for h in block["tx_hashes"]]
        return int(block["header"]["height"]), bytes.fromhex(block["hash"]), hashes

    async def chain(self, node: int, lo: int, hi: int) -> list[tuple[int, bytes, list[bytes]]]:
        """Blocks ``lo..hi`` of one node, a few requests at a time."""
        out: list[tuple[int, bytes, list[bytes]]] = []
        step = 16
        for s in range(lo, hi + 1, step):
            out += await asyncio.gather(
                *(self.fetch_block(node, h) for h in range(s, min(s + step, hi + 1)))
            )
        return out

    # -- submitting ---------------------------------------------------------------------

    async def _send(
        self,
        b: schedule.Batch,
        body: bytes,
        hashes: list[bytes],
        res: PhaseResult,
        stop_at: float | None,
        window: int | None,
    ) -> None:
        if window is not None:
            # Closed loop: at most ``window`` of our txs uncommitted, batches in order.
            async with self._window_lock:
                while self.outstanding > 0 and self.outstanding + len(hashes) > window:
                    self.new_block.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.new_block.wait(), timeout=0.5)
                self.outstanding += len(hashes)
        else:
            self.outstanding += len(hashes)
        async with self._slots[b.node]:
            now = time.monotonic()
            if stop_at is not None and now >= stop_at:
                res.unsent += len(hashes)
                self.outstanding -= len(hashes)
                return
            res.max_lag_s = max(res.max_lag_s, now - (res.started + b.due))
            self.acc.submitted(hashes, now, b.node)
            res.submit_times.extend([now] * len(hashes))
            while True:
                try:
                    await self.clients[b.node].request("POST", SUBMIT_PATH, body, MSGPACK)
                    break
                except Exception as e:  # noqa: BLE001  # every failure is booked with its reason
                    if window is not None and getattr(e, "code", None) == "BUSY":
                        # Closed loop: the node holds all it commits within its budget; send
                        # again once a block commits (at most Retry-After on). Open loop books
                        # the refusal: that rate was more than the nodes take.
                        res.busy_retries += 1
                        await self._next_block(min(getattr(e, "retry_after", None) or 1.0, 1.0))
                        continue
                    self._refused(e, hashes, res)
                    return
            for h in hashes:
                self.acc.admitted(h, True)

    async def _next_block(self, timeout: float) -> None:
        self.new_block.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.new_block.wait(), timeout=timeout)

    def _refused(self, e: Exception, hashes: list[bytes], res: PhaseResult) -> None:
        """A batch the node refused: the API takes a batch all or nothing and names the first
        tx at fault (``field`` ``[i]``). Without an answer (timeout, connection) the fate of
        the batch is unknown until the mempools settle."""
        code = str(getattr(e, "code", type(e).__name__))
        status = int(getattr(e, "status", 0))
        res.errors[code] = res.errors.get(code, 0) + 1
        self.outstanding -= len(hashes)
        if status == 0:
            self.acc.unconfirmed(hashes, f"transport: {code}")
            return
        i = _field_index(getattr(e, "field", None))
        for j, h in enumerate(hashes):
            self.acc.admitted(h, False, code if i is None or i == j else f"batch refused ({code})")

    async def run_phase(
        self,
        txs: SignedTxs,
        first_index: int,
        rate: float | None,
        batch_size: int | None = None,
        duration: float | None = None,
        drain_timeout: float = 60.0,
        window: int | None = None,
    ) -> PhaseResult:
        """Submit ``txs`` (indices ``first_index..``) and wait for their commits or rejections.

        With a rate the schedule is open loop; without one, at most ``window`` txs are
        outstanding (sent, not committed), so the committed rate is what the nodes sustain."""
        plan = schedule.plan(len(txs), len(self.clients), rate, batch_size, first=first_index)
        if duration is not None:
            kept = [b for b in plan if b.due < duration]
            unsent = sum(b.size for b in plan[len(kept) :])
            plan = kept
        else:
            unsent = 0
        bodies = [
            msgpack.packb(txs.raws[b.start - first_index : b.end - first_index], use_bin_type=True)
            for b in plan
        ]
        res = PhaseResult(first_index, len(txs), rate, time.monotonic(), unsent=unsent)
        res.started = time.monotonic()
        stop_at = None if duration is None else res.started + duration
        tasks = []
        for b, body in zip(plan, bodies, strict=True):
            delay = res.started + b.due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            hashes = txs.hashes[b.start - first_index : b.end - first_index]
            tasks.append(
                asyncio.create_task(
                    self._send(b, body, hashes, res, stop_at, window if rate is None else None)
                )
            )
        await asyncio.gather(*tasks)
        res.count = len(txs) - res.unsent
        res.batches = len(plan)
        res.submit_end = time.monotonic()
        await self.drain(res.indices, drain_timeout)
        res.end = time.monotonic()
        return res

    async def drain(self, indices: range, timeout: float) -> None:
        """Wait until no tx of ``indices`` is pending, or the deadline. Txs of a refused batch
        whose fate is unknown are waited for until every mempool is empty and every block up
        to the nodes' heights is booked."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acc.pending(indices) == 0 and (
                self.acc.unconfirmed_count(indices) == 0 or await self._settled()
            ):
                return
            self.new_block.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.new_block.wait(), timeout=0.5)

    async def _settled(self) -> bool:
        statuses = await asyncio.gather(*(c.status() for c in self.clients), return_exceptions=True)
        if not all(isinstance(s, dict) and int(s.get("mempool", 1)) == 0 for s in statuses):
            return False
        top = max(int(s["height"]) for s in statuses if isinstance(s, dict))
        while self.booked < top:
            self.new_block.clear()
            await asyncio.wait_for(self.new_block.wait(), timeout=5.0)
        return True
