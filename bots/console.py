"""The terminal front-end: chat with a backend through the same relay and store."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from typing import TextIO

from core.errors import CommandError, StoreUnavailable
from core.model import Incoming
from core.recovery import Recovery
from core.relay import Relay
from core.surface import Surface


class ConsoleSurface(Surface):
    """Prints a reply as it grows; a terminal only ever gets the new tail of the text."""

    max_length = 1_000_000
    min_interval = 0.02

    def __init__(self, out: TextIO, label: str) -> None:
        self._out = out
        self._label = label
        self._printed = ""

    @property
    def pace_key(self) -> str:
        return "console"

    async def typing(self) -> None:
        return None

    async def send(self, text: str, *, final: bool) -> int:
        self._out.write(f"{self._label}> ")
        self._printed = ""
        await self.edit(0, text, final=final)
        return 0

    async def edit(self, handle: int, text: str, *, final: bool) -> int:
        if text.startswith(self._printed):
            self._out.write(text[len(self._printed) :])
        else:  # the text changed behind what was printed (a notice replaced it): print it anew
            self._out.write(f"\n{self._label}> {text}")
        self._printed = text
        if final:
            self._out.write("\n")
        self._out.flush()
        return handle


def _lines(stdin: TextIO) -> asyncio.Queue[str]:
    """Lines of ``stdin`` as they are typed ('' at the end), read by a daemon thread: a blocked
    read must never hold up Ctrl-C or the exit, as one in asyncio's executor would."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=pump, name="console-input", daemon=True).start()
    return queue


async def chat(
    relay: Relay,
    *,
    backend: str | None,
    stdin: TextIO,
    stdout: TextIO,
    recovery: Recovery | None = None,
) -> int:
    """Relay each input line until end of input; the reply in progress always finishes.

    A reply an earlier console left unfinished (killed mid-reply) is finished first.
    """
    name = backend or relay.default_backend or "console"
    channel = f"console:{name}"
    if recovery is not None:
        recovery.add_platform("console", lambda _channel, _locator: ConsoleSurface(stdout, name))
        with contextlib.suppress(StoreUnavailable):
            await recovery.run_once()
        await recovery.wait_idle()
    if backend is not None:
        try:
            status = await relay.status(channel)
            if status.binding is None or status.binding.backend != backend:
                await relay.bind(channel, backend, [], by="console")
        except CommandError as exc:
            print(exc, file=sys.stderr)
            return 1
    run = uuid.uuid4().hex[:8]
    interactive = stdin.isatty()
    lines = _lines(stdin)
    count = 0
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = await lines.get()
        if not line:
            return 0
        text = line.rstrip("\n")
        if not text.strip():
            continue
        count += 1
        msg = Incoming(
            platform="console",
            channel=channel,
            author="console:local",
            text=text,
            message_id=f"console:{run}:{count}",
        )
        await relay.handle(msg, ConsoleSurface(stdout, name))
