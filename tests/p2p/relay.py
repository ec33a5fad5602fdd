"""A TCP relay for the tests: sits between a dialer and a node and rewrites whole records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

# mutate(direction, index, record) -> records to forward ("a2b" = dialer to node)
Mutator = Callable[[str, int, bytes], list[bytes]]


class Relay:
    def __init__(self, target_port: int, mutate: Mutator, only_first: bool = True) -> None:
        self.target_port = target_port
        self.only_first = only_first
        self.mutate = mutate
        self.connections = 0
        self.records: dict[str, int] = {"a2b": 0, "b2a": 0}
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, ra: asyncio.StreamReader, wa: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_no = self.connections
        rb, wb = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [wa, wb]
        await asyncio.gather(self._pump("a2b", conn_no, ra, wb), self._pump("b2a", conn_no, rb, wa))

    async def _pump(
        self, direction: str, conn_no: int, r: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        index = 0
        try:
            while True:
                header = await r.readexactly(4)
                body = await r.readexactly(int.from_bytes(header, "big"))
                record = header + body
                out = (
                    self.mutate(direction, index, record)
                    if conn_no == 1 or not self.only_first
                    else [record]
                )
                index += 1
                self.records[direction] += 1
                for chunk in out:
                    w.write(chunk)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(Exception):
                w.close()
