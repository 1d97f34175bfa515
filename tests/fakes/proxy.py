"""A TCP proxy on 127.0.0.1 that can hold what clients send, to freeze a process mid-request.

Put it between the bridge and Redis: :meth:`TcpProxy.hold` keeps every byte clients send from
then on (the server never sees them), :attr:`held` tells a test that a request is stuck there,
and :meth:`drop_held` closes the held connections and forgets their bytes, as if the requests
had never been sent. :meth:`lose_answers` lets requests through but drops the connection at
their answers instead: the server did the work, and the client cannot tell.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``async with TcpProxy(host, port) as proxy``."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._holding = False
        self._losing = False
        self.lost = 0
        """Answers dropped since :meth:`lose_answers`."""
        self._held: set[asyncio.StreamWriter] = set()  # client connections with bytes held
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        for client, upstream in list(self._pairs):
            client.close()
            upstream.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def held(self) -> bool:
        """True once some client sent bytes while holding."""
        return bool(self._held)

    def hold(self) -> None:
        """From now on, keep what clients send instead of forwarding it."""
        self._holding = True

    def lose_answers(self, losing: bool = True) -> None:
        """From now on (until called with False), forward requests but close the connection
        when their answer comes, as a server killed between doing a request and answering."""
        self._losing = losing

    def drop_held(self) -> None:
        """Close the connections whose bytes are held (those bytes are lost) and forward again."""
        for client in list(self._held):
            client.close()
        for pair in [p for p in self._pairs if p[0] in self._held]:
            pair[1].close()
        self._held.clear()
        self._holding = False

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self._target)
        except OSError:
            client_w.close()
            return
        pair = (client_w, up_w)
        self._pairs.add(pair)
        for task in (
            asyncio.create_task(self._pipe(client_r, up_w, client_w)),
            asyncio.create_task(self._pipe(up_r, client_w, None)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: asyncio.StreamWriter | None,
    ) -> None:
        """Copy bytes one way; ``client`` is set for the client-to-server direction."""
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if client is not None and (self._holding or client in self._held):
                    self._held.add(client)
                    continue  # kept from the server for good
                if client is None and self._losing:
                    self.lost += 1
                    break  # the server answered: the client never hears it
                writer.write(data)
                await writer.drain()
        writer.close()
