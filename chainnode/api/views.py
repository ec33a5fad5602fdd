"""Read-only contract calls (``POST /v1/call``) run off the event loop, bounded three ways.

- **Where**: on ``workers`` threads (default one), never on the loop. Not in worker
  processes: LevelDB lets one process open a database (its LOCK file), so a worker process
  could read state only by asking this process for every key, through the very loop it is
  meant to spare. A thread reads through a LevelDB snapshot directly. The VM is pure Python, so
  a busy view holds the GIL, but CPython hands it to a waiting thread every switch interval
  (5 ms): the loop thread gets about an even share of a core against each busy view worker,
  so with one worker consensus, p2p and the other requests keep at least half a core, and a
  request waits for the GIL milliseconds, not the length of a view (measured in
  tests/chainnode/node/test_views_off_loop.py: /healthz and commits under views that each
  run for seconds).
- **How long**: each view gets ``gas_limit`` gas (``call_gas_limit`` in the node config,
  well below a transaction's maximum).
- **How many**: at most ``workers + queue`` views accepted at once (503 ``BUSY`` beyond), and a
  token bucket per client address (429 ``RATE_LIMITED`` with Retry-After). A view whose client
  hung up keeps its place until its thread finishes, so disconnecting does not get around the
  bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from chainnode.api.errors import ApiError
from chainnode.api.ratelimit import ClientLimiter
from chainnode.model.codes import Code

T = TypeVar("T")


class ViewRunner:
    def __init__(
        self, *, workers: int, queue: int, rate: float, burst: float, gas_limit: int
    ) -> None:
        self.workers = workers
        self.max_pending = workers + queue
        self.gas_limit = gas_limit
        self.clients = ClientLimiter(rate, burst)
        self.pending = 0
        self.refused_busy = 0
        self.refused_rate = 0
        self._pool: ThreadPoolExecutor | None = None

    def admit(self, client: str) -> None:
        """Raise 429/503 unless ``client`` may start a view now (before its body is read)."""
        wait = self.clients.take(client)
        if wait > 0:
            self.refused_rate += 1
            raise ApiError(
                429,
                Code.RATE_LIMITED,
                f"too many calls from this address; retry in {wait:.1f} s",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if self.pending >= self.max_pending:
            self.refused_busy += 1
            raise ApiError(
                503,
                Code.BUSY,
                f"{self.pending} calls are running or waiting; retry shortly",
                headers={"Retry-After": "1"},
            )

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a view thread; the slot is held until the thread is done with it."""
        if self.pending >= self.max_pending:
            self.refused_busy += 1
            raise ApiError(503, Code.BUSY, "too many calls running; retry shortly")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="view")
        loop = asyncio.get_running_loop()
        self.pending += 1
        cf: Future[T] = self._pool.submit(fn)
        cf.add_done_callback(lambda _: self._done(loop))
        return await asyncio.wrap_future(cf)

    def _done(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the node is gone
            loop.call_soon_threadsafe(self._release)

    def _release(self) -> None:
        self.pending -= 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
