"""The node's task group: background tasks, a fatal-error latch, and stop-time cancellation.

Every coroutine the node runs in the background goes through :meth:`TaskGroup.spawn`; a task
that fails (anything but cancellation, and not while stopping) is a bug of ours or a broken
disk, so it trips the fatal latch and the process exits non-zero (``serve_node``). Kept apart
from the consensus and admission objects so none of them owns the process's lifetime.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Coroutine

log = logging.getLogger("chainnode.node")

#: The cyclic collector's thresholds in a running node. A block of thousands of txs allocates
#: millions of short-lived, nearly all acyclic objects (freed by reference counting), and the
#: default (700, 10, 10) then ran a young collection every few transactions and full ones over
#: a heap holding a full mempool and the caches: ~8-10% of a node's CPU per committed tx
#: (``python -m bench.run --validators 1``, with and without, one session). Cycles are still
#: collected, later and in fewer passes.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Once the node has started: what start-up built (modules, genesis, contract programs,
    the chain's caches so far) is frozen out of every later collection, and the collector runs
    at :data:`GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


Job = Coroutine[object, object, object]
Spawn = Callable[[Job], "asyncio.Task[object]"]


class TaskGroup:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._fatal: asyncio.Future[BaseException] | None = None
        self._on_fatal: list[Callable[[], None]] = []
        self.stopping = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Arm the fatal latch on the loop the node runs on (called by ``Node.start``)."""
        self._fatal = loop.create_future()

    def on_fatal(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` first thing when the node dies (e.g. close the consensus driver)."""
        self._on_fatal.append(callback)

    def spawn(self, coro: Job) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self.stopping:
            return
        if (exc := task.exception()) is not None:
            self.die(exc)

    def die(self, exc: BaseException) -> None:
        """Our bug or a broken disk: stop the process loudly rather than run on half-applied."""
        log.critical("fatal: %r", exc, exc_info=exc)
        for callback in self._on_fatal:
            callback()
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_result(exc)

    async def wait_fatal(self) -> BaseException:
        assert self._fatal is not None, "wait_fatal before start"
        return await self._fatal

    def cancel_all(self) -> None:
        self.stopping = True
        for t in list(self._tasks):
            t.cancel()

    async def drain(self) -> None:
        """Wait for the cancelled tasks to finish (after :meth:`cancel_all`)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
