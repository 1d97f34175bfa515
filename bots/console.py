"""The terminal front-end: chat with a backend through the same relay and store.

At a terminal, lines are read with the standard library's readline (line editing, history kept
across sessions, and a paste of several lines taken whole as one message); from a pipe, blocks of
lines separated by blank lines are messages. A line starting with ``/`` is a command (the chat
commands of :mod:`core.commands`, and ``/quit``), never sent upstream. The console is the
operator's tool, not a chat user: its messages are marked as the operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from core import notices
from core.access import space_of
from core.bridge import Bridge
from core.budget import Budget
from core.commands import Invocation, split_command
from core.errors import CommandError, StoreUnavailable
from core.model import Incoming
from core.recovery import Recovery
from core.surface import Surface

PROMPT = "you> "
HISTORY_LENGTH = 1000
LEAVE = ("/quit", "/exit")  # the console's own: they end the input, not a chat command
USER = "console:local"  # the operator, as the relay and the command table know them
_SURROGATE_ESCAPED = re.compile("[\udc80-\udcff]")  # undecodable bytes kept as lone halves


class ConsoleSurface(Surface):
    """Prints a reply as it grows; a terminal only ever gets the new tail of the text."""

    max_length = 1_000_000
    write_budget = Budget(50, 1.0)  # a terminal has no limit; this only coalesces

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


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Input that is not UTF-8 text: its message is skipped, with one line saying so."""

    line: int | None = None
    """Where it is in piped input (from 1); None at a terminal."""


Entry = str | Unreadable | None
"""What the console reads next: a message or command, unreadable input, or None at the end."""


def blocks(lines: Iterable[bytes]) -> Iterator[str | Unreadable]:
    """Piped input as messages: lines up to a blank line are one message, and a line starting
    with ``/`` is a command on its own; a block with a line that is not UTF-8 is skipped whole."""
    block: list[str] = []
    bad: int | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            bad = bad or number
            continue
        if line.strip() and not line.startswith("/"):
            block.append(line)
            continue
        yield from _ended(block, bad)
        block, bad = [], None
        if line.strip():
            yield line
    yield from _ended(block, bad)


def _ended(block: list[str], bad: int | None) -> Iterator[str | Unreadable]:
    if bad is not None:
        yield Unreadable(bad)
    elif block:
        yield "\n".join(block)


class _PipeLines:
    """Piped input's messages as they complete (:func:`blocks`), read ahead by a daemon thread:
    a blocked read must never hold up Ctrl-C or the exit, as one in asyncio's executor would."""

    def __init__(self, stdin: BinaryIO) -> None:
        loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()

        def pump() -> None:
            for entry in blocks(iter(stdin.readline, b"")):
                loop.call_soon_threadsafe(self._queue.put_nowait, entry)
            loop.call_soon_threadsafe(self._queue.put_nowait, None)

        threading.Thread(target=pump, name="console-input", daemon=True).start()

    async def next(self) -> Entry:
        """The next message or command, or None at the end of input."""
        return await self._queue.get()


class _TerminalLines:
    """Lines typed at a terminal through readline: each prompt is shown only when the previous
    reply is complete, by a daemon thread that reads one line per request. Between prompts the
    terminal does not echo, so what is typed during a reply waits for the next prompt, and shows
    there, instead of landing in the middle of the reply."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop = asyncio.get_running_loop()
        self._wanted = threading.Semaphore(0)
        self._queue: asyncio.Queue[Entry] = asyncio.Queue()
        threading.Thread(target=self._read, name="console-input", daemon=True).start()

    def _read(self) -> None:
        while True:
            self._wanted.acquire()
            entry: Entry
            _echo(self._fd, on=True)  # readline shows what was typed ahead only if echo is on
            try:
                entry = input(PROMPT)
            except EOFError:
                entry = None
            except UnicodeDecodeError:
                entry = Unreadable()
            if isinstance(entry, str) and _SURROGATE_ESCAPED.search(entry):
                entry = Unreadable()  # a locale whose stdin decodes with surrogateescape
            _echo(self._fd, on=False)
            self._loop.call_soon_threadsafe(self._queue.put_nowait, entry)
            if entry is None:
                return

    async def next(self) -> Entry:
        """Prompt, then the typed line or paste (None on Ctrl-D)."""
        self._wanted.release()
        return await self._queue.get()


def _echo(fd: int, *, on: bool) -> None:
    """Turn the terminal's echo of typed keys on or off (nothing else of its settings)."""
    import termios

    with contextlib.suppress(termios.error):
        attrs = termios.tcgetattr(fd)
        attrs[3] = attrs[3] | termios.ECHO if on else attrs[3] & ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)


def history_file() -> Path:
    """Where the console keeps its line history ($XDG_STATE_HOME/bridge/console_history)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "bridge" / "console_history"


@contextlib.contextmanager
def _line_editing(stdin: TextIO) -> Iterator[None]:
    """readline with a persistent history for the block; the terminal's settings are put back
    however the block ends (readline may be mid-line when Ctrl-C ends the console)."""
    import readline
    import termios

    fd = stdin.fileno()
    saved = termios.tcgetattr(fd)
    path = history_file()
    with contextlib.suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    # A paste arrives whole, newlines included, as one line: one message.
    readline.parse_and_bind("set enable-bracketed-paste on")
    try:
        yield
    finally:
        with contextlib.suppress(termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            readline.write_history_file(path)


async def chat(
    bridge: Bridge,
    *,
    backend: str | None,
    stdin: TextIO,
    stdout: TextIO,
    recovery: Recovery | None = None,
) -> int:
    """Relay each input line until end of input or /quit; the reply in progress always finishes.

    A reply an earlier console left unfinished (killed mid-reply) is finished first.
    """
    conversations = bridge.conversations
    name = backend or conversations.default_backend or "console"
    channel = f"console:{name}"
    if recovery is not None:
        recovery.add_platform("console", lambda _channel, _locator: ConsoleSurface(stdout, name))
        with contextlib.suppress(StoreUnavailable):
            await recovery.run_once()
        await recovery.wait_idle()
    try:
        if backend is not None:
            status = await conversations.status(channel)
            if status.binding is None or status.binding.backend != backend:
                await conversations.bind(channel, backend, [], by=USER)
        status = await conversations.status(channel)
    except CommandError as exc:
        print(bridge.render(exc.args[0]), file=sys.stderr)
        return 1
    print(notices.console_banner(status.backend, status.binding), file=sys.stderr)
    if not stdin.isatty():
        return await _converse(bridge, channel, name, _PipeLines(stdin.buffer), stdout)
    with _line_editing(stdin):
        return await _converse(bridge, channel, name, _TerminalLines(stdin.fileno()), stdout)


async def _converse(
    bridge: Bridge, channel: str, name: str, lines: _PipeLines | _TerminalLines, stdout: TextIO
) -> int:
    run = uuid.uuid4().hex[:8]
    count = 0
    while True:
        entry = await lines.next()
        if entry is None:
            return 0
        if isinstance(entry, Unreadable):
            print(notices.console_unreadable(entry.line), file=sys.stderr)
            continue
        if not entry.strip():
            continue
        if entry.startswith("/") and "\n" not in entry:
            answer = await console_command(bridge, channel, entry)
            if answer is None:
                return 0
            stdout.write(answer + "\n")
            stdout.flush()
            continue
        count += 1
        msg = Incoming(
            platform="console",
            channel=channel,
            author=USER,
            text=entry,
            message_id=f"console:{run}:{count}",
            operator=True,
        )
        await bridge.relay.handle(msg, ConsoleSurface(stdout, name))


async def console_command(bridge: Bridge, channel: str, text: str) -> str | None:
    """The answer to a console command, from the command table as in any chat (the operator
    is an admin); None for /quit."""
    typed = text.split()[0].lower()
    if typed in LEAVE:
        return None
    inv = Invocation(
        platform="console",
        channel=channel,
        user=USER,
        space=space_of("console", None),
        private=True,
        bot="",
        is_admin=_operator,
        answers_privately=True,
    )
    commands = bridge.commands
    name, _bot, words = split_command(text) or (typed.removeprefix("/"), "", [])
    answer = await commands.run_words(name, words, inv)
    if commands.get(name) is commands.get("help"):
        answer += "\n" + notices.console_help()
    return answer


async def _operator() -> bool:
    return True
