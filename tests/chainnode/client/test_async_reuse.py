"""AsyncClient on a kept-alive connection the server closes before answering.

A node closes an idle connection after its ``http_header_timeout``; a client that sends its
next request on it at that moment (or after its own loop was busy and had not seen the close)
gets no answer. The request never reached a handler, so the client sends it once more on a
fresh connection, as the blocking ``Client`` does (aiohttp retries only idempotent methods
itself; a submission is a POST). A real TCP server on loopback plays the
node: it answers the first request of its first connection, then reads the second request and
closes without an answer; every later connection is answered.
"""

from __future__ import annotations

import asyncio

import pytest

from chainnode.client.sdk import KEEPALIVE_S, MSGPACK, AsyncClient, ClientError

PAYLOAD = b"\x91\xc4\x01x"  # the body the client posts
BODY = b'{"height": 7}'
OK = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class DroppingServer:
    """Counts connections and requests; drops the second request of the first connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first_conn = self.connections == 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if first_conn and served == 1:
                    return  # closed with the request unanswered
                assert head.startswith(b"POST ")
                await reader.readexactly(len(PAYLOAD))
                writer.write(OK)
                await writer.drain()
                served += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()


async def _serve(server: DroppingServer) -> tuple[asyncio.Server, str]:
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    return srv, f"http://127.0.0.1:{port}"


def test_a_post_dropped_on_a_reused_connection_is_sent_again_on_a_new_one() -> None:
    async def main() -> None:
        server = DroppingServer()
        srv, url = await _serve(server)
        async with srv, AsyncClient(url, timeout=10, connections=1) as client:
            for _ in range(3):
                got = await client.request("POST", "/v1/transactions", PAYLOAD, MSGPACK)
                assert got == {"height": 7}
        assert server.connections == 2
        assert server.requests == 4  # the dropped one, sent again

    asyncio.run(main())


def test_idle_connections_are_kept_for_less_than_the_nodes_idle_timeout() -> None:
    from chainnode.node.config import NodeConfig

    assert NodeConfig.model_fields["http_header_timeout"].default > KEEPALIVE_S


def test_a_server_that_never_answers_is_unreachable_not_retried_forever() -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.close()  # every request: closed unanswered

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        async with srv, AsyncClient(f"http://127.0.0.1:{port}", timeout=10) as client:
            with pytest.raises(ClientError) as e:
                await client.status()
        assert e.value.code == "UNREACHABLE"

    asyncio.run(main())
