"""What the two upstream fakes share: scripted replies, queued failures, the request log, the
listener lifecycle and an SSE writer that can trickle, stall, close early or drop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple, Self

from aiohttp import web

Fault = Literal["drop", "close", "stall", "wrong_content_type", "failed", "malformed"]
_SECRET_HEADERS = {"authorization", "x-access-token"}


class LoggedRequest(NamedTuple):
    """One request a fake received; credential header values are replaced by ``<redacted>``."""

    method: str
    path: str
    json: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class Script:
    """How the fake answers one message."""

    text: str | None = None
    chunk_size: int = 8
    first_delay: float = 0.0
    chunk_delay: float = 0.0
    fault: Fault | None = None
    fault_after: int = 0
    noise: bool = False
    crlf: bool = False
    server_finishes: bool = False
    """The server generates and stores the whole reply whatever happens to the stream (a fault,
    or the client hanging up), as real servers do: the reply is then in the stored history."""
    utf16: bool = False
    """Cut the reply in UTF-16 code units, as a server slicing JavaScript strings does: a piece
    may end or begin with half of a surrogate pair (sent JSON-escaped, as ``\\ud83d``)."""

    def chunks(self, default_text: str) -> list[str]:
        """The reply cut in pieces of ``chunk_size`` characters (or UTF-16 code units)."""
        text = default_text if self.text is None else self.text
        size = max(1, self.chunk_size)
        if self.utf16:
            units = text.encode("utf-16-le", "surrogatepass")
            step = 2 * size
            return [
                units[i : i + step].decode("utf-16-le", "surrogatepass")
                for i in range(0, len(units), step)
            ]
        return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class Failure:
    """A status the next message POSTs answer instead of replying."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    count: int = 1
    server_finishes: bool = False
    """For a 5xx after the message was accepted: the reply was generated and stored anyway."""


class FakeUpstream:
    """Base of the fakes: runs aiohttp apps on 127.0.0.1 and keeps the scripts and logs."""

    def __init__(self) -> None:
        self.requests: list[LoggedRequest] = []
        self.messages_sent: list[str] = []
        self.conversations: list[str] = []
        self._scripts: deque[Script] = deque()
        self._default = Script()
        self._failures: deque[Failure] = deque()
        self._runners: list[web.AppRunner] = []
        self._stopping = asyncio.Event()
        self.open_streams = 0
        """Streams whose handler is still running (drops to 0 once clients hang up)."""
        self.max_open_streams = 0
        """The most streams ever open at once."""
        self._idle = asyncio.Event()
        self._idle.set()
        self.create_delay = 0.0
        """Seconds a new conversation takes to be created (a slow upstream)."""

    # -- scripting ---------------------------------------------------------------------------

    def reply_with(
        self,
        text: str,
        *,
        chunk_size: int = 8,
        first_delay: float = 0.0,
        chunk_delay: float = 0.0,
        fault: Fault | None = None,
        fault_after: int = 0,
        noise: bool = False,
        crlf: bool = False,
        server_finishes: bool = False,
        utf16: bool = False,
    ) -> None:
        """Queue the answer to the next message (FIFO). ``noise`` adds keepalive comments, a
        non-JSON data line and an unknown event type; ``crlf`` ends lines with CRLF;
        ``server_finishes`` stores the whole reply even when the stream fails or the client
        leaves; ``utf16`` cuts it in UTF-16 code units (see :attr:`Script.utf16`)."""
        self._scripts.append(
            Script(
                text,
                chunk_size,
                first_delay,
                chunk_delay,
                fault,
                fault_after,
                noise,
                crlf,
                server_finishes,
                utf16,
            )
        )

    def set_default(self, **changes: Any) -> None:
        """Change how later unscripted replies are paced (chunk_size, delays, noise, crlf)."""
        self._default = replace(self._default, **changes)

    def fail_next(
        self,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        count: int = 1,
        server_finishes: bool = False,
        **options: Any,
    ) -> None:
        """Make the next ``count`` message POSTs answer ``status`` (seed bodies by default).
        With ``server_finishes`` a 5xx comes after the reply was generated and stored."""
        default_body, default_headers = self.failure_defaults(status, **options)
        merged = {**default_headers, **(headers or {})}
        self._failures.append(
            Failure(status, default_body if body is None else body, merged, count, server_finishes)
        )

    def failure_defaults(self, status: int, **options: Any) -> tuple[Any, dict[str, str]]:
        """The seed body and headers for a status (overridden per API)."""
        return {"message": "Server Error"}, {}

    def next_script(self) -> Script:
        """The queued script for this message, or the default one."""
        return self._scripts.popleft() if self._scripts else self._default

    def take_failure(self) -> Failure | None:
        """The failure this message POST must answer, if one is queued."""
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.count -= 1
        if failure.count <= 0:
            self._failures.popleft()
        return failure

    @staticmethod
    def failure_response(failure: Failure) -> web.Response:
        """The queued failure as an HTTP response."""
        if isinstance(failure.body, str | bytes):
            return web.Response(status=failure.status, body=failure.body, headers=failure.headers)
        return web.json_response(failure.body, status=failure.status, headers=failure.headers)

    async def creating(self) -> None:
        """A new conversation is being created: take :attr:`create_delay` over it."""
        if self.create_delay:
            await asyncio.sleep(self.create_delay)

    # -- logging -----------------------------------------------------------------------------

    async def log_request(self, request: web.Request) -> Any:
        """Record the request (credentials redacted) and return its JSON body, if any."""
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        headers = {
            k.lower(): ("<redacted>" if k.lower() in _SECRET_HEADERS else v)
            for k, v in request.headers.items()
        }
        self.requests.append(LoggedRequest(request.method, request.path, body, headers))
        return body

    # -- remote control (for fakes run as a separate process) --------------------------------

    def add_control_routes(self, app: web.Application) -> None:
        """``/_fake/...``: the scripting methods over HTTP, plus ``GET /_fake/state``."""
        app.router.add_post("/_fake/reply_with", self._control_reply_with)
        app.router.add_post("/_fake/set_default", self._control_set_default)
        app.router.add_post("/_fake/fail_next", self._control_fail_next)
        app.router.add_post("/_fake/delete_conversation", self._control_delete_conversation)
        app.router.add_get("/_fake/state", self._control_state)

    async def _control_reply_with(self, request: web.Request) -> web.Response:
        options = await request.json()
        self.reply_with(options.pop("text"), **options)
        return web.json_response({"ok": True})

    async def _control_set_default(self, request: web.Request) -> web.Response:
        self.set_default(**await request.json())
        return web.json_response({"ok": True})

    async def _control_fail_next(self, request: web.Request) -> web.Response:
        options = await request.json()
        self.fail_next(options.pop("status"), **options)
        return web.json_response({"ok": True})

    async def _control_delete_conversation(self, request: web.Request) -> web.Response:
        self.delete_conversation(str((await request.json())["id"]))
        return web.json_response({"ok": True})

    def delete_conversation(self, conversation_id: str) -> None:
        """Forget a conversation as an operator deleting it in the app does: from now on the
        API answers for it as for an id it never knew (overridden per API)."""
        raise NotImplementedError

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "messages_sent": self.messages_sent,
                "conversations": self.conversations,
                "requests": [[r.method, r.path] for r in self.requests],
                "history": self.stored_history(),
            }
        )

    def stored_history(self) -> dict[str, list[dict[str, Any]]]:
        """Each conversation's stored messages, oldest first (overridden per API)."""
        return {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def listen(self, app: web.Application, port: int = 0) -> int:
        """Serve ``app`` on 127.0.0.1 and return the bound port."""
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runners.append(runner)
        return int(runner.addresses[-1][1])

    async def start(self) -> None:
        """Start the listeners (overridden per API)."""

    async def stop(self) -> None:
        """Stop every listener; stalled streams end."""
        self._stopping.set()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- streaming ---------------------------------------------------------------------------

    async def stream_sse(
        self,
        request: web.Request,
        script: Script,
        events: Iterable[str],
        *,
        before: Iterable[str] = (),
        after: Iterable[str] = (),
        on_done: Callable[[], None] | None = None,
    ) -> web.StreamResponse:
        """Write ``before``, then the ``events`` data values paced by ``script``, then ``after``.

        Faults: ``drop`` closes the socket mid-body after ``fault_after`` events (an incomplete
        chunked body), ``close`` ends the body cleanly there, ``stall`` stops writing and keeps
        the socket open until the client leaves or the fake stops, ``malformed`` sends a broken
        JSON event there and carries on. ``on_done`` stores the reply: when the stream ends, or
        at the fault or hang-up when the script says the server finishes anyway.
        """
        self.open_streams += 1
        self.max_open_streams = max(self.max_open_streams, self.open_streams)
        self._idle.clear()
        stored = False

        def store() -> None:
            nonlocal stored
            if on_done is not None and not stored:
                stored = True
                on_done()

        finish = store if script.server_finishes else None
        try:
            return await self._stream_sse(request, script, events, before, after, store, finish)
        except ConnectionResetError:
            # The client hung up mid-stream: nothing left to answer, and no error to log.
            raise asyncio.CancelledError from None
        finally:
            if finish is not None:
                finish()
            self.open_streams -= 1
            if not self.open_streams:
                self._idle.set()

    async def wait_streams_closed(self) -> None:
        """Return once no stream handler is running (every client hung up or was answered)."""
        await self._idle.wait()

    async def _stream_sse(
        self,
        request: web.Request,
        script: Script,
        events: Iterable[str],
        before: Iterable[str],
        after: Iterable[str],
        on_done: Callable[[], None],
        finish: Callable[[], None] | None,
    ) -> web.StreamResponse:
        eol = "\r\n" if script.crlf else "\n"
        response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        response.enable_chunked_encoding()
        await response.prepare(request)

        async def send(data: str, event: str | None = None) -> None:
            lines = [f"event: {event}"] if event else []
            lines += [f"data: {line}" for line in data.split("\n")]
            await response.write((eol.join(lines) + eol + eol).encode())

        for data in before:
            await send(data)
        if script.first_delay:
            await asyncio.sleep(script.first_delay)
        if script.noise:
            await response.write(f": keepalive{eol}{eol}".encode())
            await send("this is not json")
            await send('{"unrelated": true}')
            await send("ping", event="ping")
        for index, data in enumerate(events):
            if script.fault == "malformed" and index == script.fault_after:
                await send('{"content": "unterminated')
            elif script.fault and index == script.fault_after:
                if finish is not None:
                    finish()
                return await self._fault(request, response, script)
            if index and script.chunk_delay:
                await asyncio.sleep(script.chunk_delay)
            if script.noise and index:
                await response.write(f": keepalive{eol}".encode())
            await send(data)
        if script.fault and script.fault != "malformed":
            if finish is not None:
                finish()
            return await self._fault(request, response, script)
        for data in after:
            await send(data)
        on_done()
        await response.write_eof()
        return response

    async def _fault(
        self, request: web.Request, response: web.StreamResponse, script: Script
    ) -> web.StreamResponse:
        transport = request.transport
        if script.fault == "drop":
            # Closing the socket without the terminating chunk: the client sees an incomplete body.
            if transport is not None:
                transport.close()
            raise asyncio.CancelledError
        if script.fault == "stall":
            while not self._stopping.is_set() and transport is not None:
                if transport.is_closing():
                    break
                await asyncio.sleep(0.05)
            if transport is not None:
                transport.close()
            raise asyncio.CancelledError
        await response.write_eof()
        return response


def standalone_args(description: str) -> argparse.ArgumentParser:
    """The command line every fake accepts when run as a process."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    return parser


async def serve_forever(fake: FakeUpstream, *lines: Callable[[], str]) -> None:
    """Start ``fake``, print its address lines, and run until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with fake:
        for line in lines:
            print(line(), flush=True)
        await stop.wait()
