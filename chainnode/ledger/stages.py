"""CPU time of the node's work by stage, measured per thread with the thread's own CPU clock.

A stage is a span of synchronous code (never one that awaits: on the event loop, other tasks
run during an await and their CPU would land in the span). Spans nest exclusively: entering
``verify`` inside ``execute`` stops charging ``execute`` until ``verify`` ends, so the stages
never count the same nanosecond twice and they add up to at most the process's CPU. The spans
sit around batches (an HTTP body, an admission batch, a block, a consensus message), so the two
``thread_time_ns`` reads each costs (~1 us here) are spread over its transactions.

Each thread keeps its own totals (no lock on the hot path); :meth:`StageClock.totals` sums
them. The event-loop thread's CPU outside every stage (asyncio, the HTTP server's parsing,
p2p I/O) is reported as ``event_loop`` when read from that thread (``/metrics`` is served on
it), and the CPU of the two kinds of background thread on their own: LevelDB's flushes and
compactions as ``compaction``, state checkpoint computations as ``checkpoint`` (both grow with
the chain, not with the rate, and one sweep used to need a second without checkpoints to tell
them apart). What is left of the process's CPU (other threads' unmeasured work, the
garbage collector on threads without a span, ...) is the reader's remainder: process CPU minus
the stages.

Where the spans are (move them with the code): ``http`` in ``api/app.py``'s submission handler
(body and client txs' decoding, the answer); ``admission`` on ``Mempool.submit`` and
``node/admission.py``'s gossip intake (decoding); ``verify`` on ``Ledger.verify_batch`` plus
crypto's batch threads; ``execute`` on ``Ledger.build_block`` and ``validate_block``;
``commit`` on ``Ledger.commit_block`` (its listeners included); ``consensus`` on
``ConsensusHost.step`` and ``on_consensus`` (message decoding, the core, WAL, sends).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from chainnode.ledger.checkpoints import computation_cpu_seconds
from crypto.batch import worker_cpu_seconds
from storage.background import background_cpu_seconds

STAGES = ("http", "admission", "verify", "execute", "commit", "consensus")
EVENT_LOOP = "event_loop"
#: Work on threads of their own, off the paths of transactions and blocks, measured by those
#: threads' CPU clocks: LevelDB's flushes and compactions (its one background thread) ...
COMPACTION = "compaction"
#: ... and the state checkpoint computations (``chainnode.ledger.checkpoints``).
CHECKPOINT = "checkpoint"


class _Tally:
    """One thread's totals and its stack of open spans."""

    __slots__ = ("current", "mark", "spans", "stack", "totals")

    def __init__(self) -> None:
        self.totals: dict[str, int] = dict.fromkeys(STAGES, 0)
        self.spans = 0  # spans entered (what the accounting itself costs is spans x ~1 us)
        self.stack: list[str | None] = []
        self.current: str | None = None
        self.mark = 0


class _Span:
    """``with clock.span("execute"):``: one reusable object per stage (nesting is kept in the
    thread's tally, not here)."""

    __slots__ = ("_clock", "_name")

    def __init__(self, clock: StageClock, name: str) -> None:
        self._clock = clock
        self._name = name

    def __enter__(self) -> None:
        t = self._clock._tally()
        now = time.thread_time_ns()
        if t.current is not None:
            t.totals[t.current] += now - t.mark
        t.stack.append(t.current)
        t.current = self._name
        t.mark = now
        t.spans += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        t = self._clock._tally()
        now = time.thread_time_ns()
        if t.current is not None:
            t.totals[t.current] += now - t.mark
        t.current = t.stack.pop()
        t.mark = now


class StageClock:
    """The node's per-stage CPU counters (one per node process)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._tallies: list[_Tally] = []
        self._lock = threading.Lock()
        self._spans = {name: _Span(self, name) for name in STAGES}
        # (thread id, its CPU ns when claimed minus what its spans had charged by then)
        self._loop: tuple[int, int] | None = None
        self._loop_tally: _Tally | None = None
        self._loop_outside = 0  # last seen event-loop CPU outside the stages, ns

    def _tally(self) -> _Tally:
        try:
            return self._local.tally  # type: ignore[no-any-return]
        except AttributeError:
            t = self._local.tally = _Tally()
            with self._lock:
                self._tallies.append(t)
            return t

    def span(self, stage: str) -> _Span:
        """The context manager charging ``stage`` (one of :data:`STAGES`)."""
        return self._spans[stage]

    def claim_event_loop(self) -> None:
        """Call on the event-loop thread when the node starts: from then on its CPU outside
        the stages is ``event_loop``."""
        tally = self._tally()
        self._loop = (threading.get_ident(), time.thread_time_ns() - sum(tally.totals.values()))
        self._loop_tally = tally

    def spans(self) -> int:
        """Spans entered on every thread so far."""
        with self._lock:
            return sum(t.spans for t in self._tallies)

    def totals(self) -> dict[str, float]:
        """Seconds of CPU per stage since the process started, plus ``event_loop`` (refreshed
        when called on the event-loop thread, else its last value), :data:`COMPACTION` and
        :data:`CHECKPOINT`. ``verify`` includes crypto's batch threads
        (:func:`crypto.batch.worker_cpu_seconds`)."""
        with self._lock:
            tallies = list(self._tallies)
        out = dict.fromkeys(STAGES, 0)
        for t in tallies:
            for k, v in list(t.totals.items()):
                out[k] += v
        seconds = {k: v / 1e9 for k, v in out.items()}
        # the verifying threads that crypto starts measure themselves (no span of ours there)
        seconds["verify"] += worker_cpu_seconds()
        loop, tally = self._loop, self._loop_tally
        if loop is not None and tally is not None and threading.get_ident() == loop[0]:
            inside = sum(tally.totals.values())
            if tally.current is not None:  # a span open around this read (none in practice)
                inside += time.thread_time_ns() - tally.mark
            self._loop_outside = max(self._loop_outside, time.thread_time_ns() - loop[1] - inside)
        seconds[EVENT_LOOP] = self._loop_outside / 1e9
        seconds[COMPACTION] = background_cpu_seconds()
        seconds[CHECKPOINT] = computation_cpu_seconds()
        return seconds


class HasStages(Protocol):
    @property
    def stages(self) -> StageClock: ...


S = TypeVar("S", bound=HasStages)
P = ParamSpec("P")
R = TypeVar("R")


def in_stage(
    stage: str,
) -> Callable[[Callable[Concatenate[S, P], R]], Callable[Concatenate[S, P], R]]:
    """Decorate a synchronous method: its calls are charged to ``stage`` of ``self.stages``."""

    def wrap(fn: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
        @functools.wraps(fn)
        def inner(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self.stages.span(stage):
                return fn(self, *args, **kwargs)

        return inner

    return wrap
