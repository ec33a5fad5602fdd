"""Contract programs loaded off the event loop (issue 16).

A program is translated into Python when it is loaded (``contracts.vm.load_program``): up to
~0.1 s for the largest (``MAX_SOURCE`` of generated source), most of it in the Python compiler,
which holds the GIL from start to end. Blocks execute on the event loop, so the node loads the
programs a block will run before it executes: those of admitted transactions in the background
(``Admission``), and those of a proposal or of synced blocks, which consensus waits for
(``ConsensusHost``). They are translated in a helper process (``contracts.translate_worker``:
generating the source and compiling it; a thread would share the GIL with the loop for all of
it, and hold it for all of a ``compile()``) and only the code object comes back (``marshal``:
well under 1 ms); the worker thread that waits for it builds the program around it. A helper
imports the contracts package only, and exits when the node closes its input (or dies).

Only a cache warm-up: the executor loads whatever is not cached itself, the same way. A program
(or its refusal) is a pure function of its bytes, wherever it was translated: the helper runs
the same function the executor would, and when it fails for a reason of its own (crashed,
shut down) the translation is made here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import marshal
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from types import CodeType
from typing import IO

from chainnode.ledger.executor import MAX_BLOCK_LOAD
from contracts import translate, translate_worker, vm
from contracts.translate import TranslationTooLarge
from contracts.verifier import VerifiedModule

#: An answer larger than this is not a code object of at most MAX_SOURCE of source.
MAX_ANSWER = 64 * 1024 * 1024

log = logging.getLogger("chainnode.node")


class ProgramLoader:
    """Loads programs into ``contracts.vm``'s cache off the loop, in two lanes (a worker
    thread and its helper process each): admission's fire-and-forget loads, and the loads
    consensus waits for, which a backlog of admitted deployments never delays."""

    def __init__(self) -> None:
        self._background = _Lane("contracts")
        self._awaited = _Lane("contracts-block")

    def close(self) -> None:
        self._background.close()
        self._awaited.close()

    # ---- what the node calls (on the loop) -------------------------------------------------

    def submit(self, codes: Sequence[bytes]) -> None:
        """Load `codes` in the background (admitted txs' programs: nobody waits for them)."""
        lane = self._background
        for code in codes:
            lane.pool.submit(lane.load, code)

    async def warm(self, blocks: Sequence[Sequence[bytes]], budget: int) -> None:
        """Load the programs of these blocks (each its ``Ledger.block_programs``) and return
        when they are loaded. Bounded as execution is: a block's programs only up to the one
        that takes them past ``MAX_BLOCK_LOAD`` of source (executing it stops there: the block
        is invalid), and at most `budget` bytes of new source in all."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._awaited.pool, self._warm, blocks, budget)

    def _warm(self, blocks: Sequence[Sequence[bytes]], budget: int) -> None:
        lane, spent = self._awaited, 0
        for codes in blocks:
            load = 0
            for code in codes:
                if lane.closed or spent > budget or load > MAX_BLOCK_LOAD:
                    break
                new = not vm.is_loaded(code)
                cost = lane.load(code)
                load += cost
                spent += cost if new else 0


class _Lane:
    """A worker thread that loads programs, translating them in its helper process (started
    at its first translation, again after a failure)."""

    def __init__(self, name: str) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.closed = False
        self._worker: _Worker | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._drop_worker()

    def load(self, code: bytes) -> int:
        """Load `code`; its ``load_cost``. Never raises: a refusal is cached as such and is
        what executing the code meets; a translator bug is logged by the translator."""
        try:
            return vm.load_cost(code, self.compile)
        except Exception:  # a warm-up only: execution loads it again and decides
            log.debug("loading a contract program failed", exc_info=True)
            return 0

    # fast path: plain=contracts.translate.compile_module test=tests/chainnode/node/test_programs_off_loop.py::test_the_helper_process_translates_as_this_process_does
    def compile(self, code: bytes, verified: VerifiedModule) -> tuple[CodeType, int]:
        """``translate.compile_module`` in the helper process (a ``translate.Compiler``)."""
        try:
            with self._lock:
                if self.closed:
                    raise RuntimeError("program loader closed")
                if self._worker is None:
                    self._worker = _Worker()
                worker = self._worker
            return worker.translate(code)
        except TranslationTooLarge:
            raise  # decided from the bytes alone, as it would be here
        except Exception:  # the helper's failure (or a bug it met): translate it here
            log.info("contract translation in the helper process failed", exc_info=True)
            self._drop_worker()
            return translate.compile_module(code, verified)

    def _drop_worker(self) -> None:
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


class _Worker:
    """One ``python -m contracts.translate_worker`` process; used by one thread at a time."""

    def __init__(self) -> None:
        # the node's own module path, so it translates with the very same code
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "contracts.translate_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def translate(self, code: bytes) -> tuple[CodeType, int]:
        translate_worker.write_frame(self.stdin, code)
        answer = translate_worker.read_frame(self.stdout, MAX_ANSWER)
        if answer is None:
            raise RuntimeError(f"translate worker gone (exit status {self.proc.poll()})")
        status, payload, size = marshal.loads(answer)
        if status == translate_worker.TOO_LARGE:
            raise TranslationTooLarge(payload)
        if status != translate_worker.OK or not isinstance(payload, CodeType):
            raise RuntimeError(f"translate worker: {payload}")
        return payload, int(size)

    def close(self) -> None:
        """Its input closed, it exits; killed if it has not within a second."""
        with contextlib.suppress(OSError):  # (a broken pipe: it is gone already)
            self.stdin.close()
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.stdout.close()
