"""`bridge console`: commands that never go upstream, a banner naming backend and conversation, and
at a terminal, readline's line editing and a history kept across sessions (a real pty)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from core import notices
from core.model import ReplyMode
from tests.fakes.aurora import AuroraFake
from tests.harness import ROOT, aurora_config, clean_env
from tests.harness import run_cli as bridge


async def test_commands_are_answered_locally_and_quit_ends_the_console(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    aurora.reply_with("Hello!")
    stdin = "hello\n/status\n/reset\n/status\n/nope\n/quit\nnever sent\n"
    code, out, err = await bridge("console", "--config", config, stdin=stdin)
    assert code == 0, err
    assert aurora.messages_sent == ["hello"]
    first, second = aurora.conversations[0], aurora.conversations[1]
    assert err.startswith("bridge console: backend 'luna', a new conversation starts")
    answers = out.splitlines()
    assert answers[0] == "luna> Hello!"
    assert answers[1] == f"📡 Bound to 'luna' (character_id 42, chat_id {first})."
    # /status tells the binding only: mode and scope are group chats' settings; /reset answers.
    assert not any(line.startswith(("Mode:", "Scope:")) for line in answers)
    assert "Started a fresh conversation with 'luna'" in answers[2]
    assert f"chat_id {second}" in out
    assert "I don't know /nope" in out

    code, _, err = await bridge("console", "--config", config, stdin="")
    assert code == 0
    assert f"backend 'luna', conversation character_id 42, chat_id {second}" in err


async def test_the_console_answers_the_chat_commands_of_the_one_table(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    code, out, err = await bridge(
        "console", "--config", config, stdin="/help\n/mode all\n/status\n"
    )
    assert code == 0, err
    # /help lists the table's commands, then the console's own way out.
    assert "/status — What this chat is connected to" in out
    assert "/bind <backend> [remote] — " in out
    assert out.index("/bind <backend> [remote] — ") < out.index("/quit — leave (so does Ctrl-D)")
    # The operator at the terminal is an admin.
    assert notices.mode_set(ReplyMode.ALL) in out
    assert "📡 Not bound yet; the first message starts a conversation with 'luna'." in out
    assert "Mode:" not in out.split(notices.mode_set(ReplyMode.ALL))[1]
    assert aurora.messages_sent == []


class Terminal:
    """A pseudo-terminal with ``bridge console`` on its other side."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.output = b""
        self._lock = threading.Lock()
        self._loop = asyncio.get_running_loop()
        self._grew = asyncio.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.output += chunk
            self._loop.call_soon_threadsafe(self._grew.set)

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def shows(self, text: str, *, times: int = 1, within: float = 30.0) -> None:
        async with asyncio.timeout(within):
            while True:
                self._grew.clear()
                if self.text.count(text) >= times:
                    return
                await self._grew.wait()

    @property
    def text(self) -> str:
        with self._lock:
            return self.output.decode(errors="replace")


@contextlib.asynccontextmanager
async def console_at_a_terminal(config: str, env: dict[str, str]) -> AsyncIterator[Terminal]:
    """``bridge console`` on a pseudo-terminal; Ctrl-D at the end of the block, and it exits 0."""
    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", "console", "--config", config,
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
    )  # fmt: skip
    os.close(slave)
    try:
        yield (term := Terminal(master))
        term.type("\x04")  # Ctrl-D
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        with contextlib.suppress(OSError):
            os.close(master)


async def test_at_a_terminal_lines_can_be_edited_and_recalled_across_sessions(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    env = clean_env({"TERM": "xterm", "XDG_STATE_HOME": str(tmp_path / "state")})

    async def session(keys: list[str], replies: int) -> Terminal:
        async with console_at_a_terminal(config, env) as term:
            await term.shows("bridge console: backend 'luna'")
            for n, line in enumerate(keys, start=1):
                await term.shows("you> ", times=n)
                term.type(line)
            await term.shows("you> ", times=len(keys) + 1)
            assert term.text.count("luna> ") == replies
        return term

    for _ in range(3):
        aurora.reply_with("ok")
    # "wrld", three steps left, insert "o": edited in place before it is sent.
    await session(["hello\r", "wrld\x1b[D\x1b[D\x1b[Do\r"], replies=2)
    assert aurora.messages_sent == ["hello", "world"]
    # A new session recalls the previous one's lines: up twice is "hello".
    await session(["\x1b[A\x1b[A\r"], replies=1)
    assert aurora.messages_sent == ["hello", "world", "hello"]
    assert (tmp_path / "state" / "bridge" / "console_history").read_text().split()[-1] == "hello"


async def test_piped_blocks_are_messages_and_a_command_line_stands_alone(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    stdin = "first line\nsecond line\n\n\nnext message\n/status\nlast\r\nwords\n"
    code, out, err = await bridge("console", "--config", config, stdin=stdin)
    assert code == 0, err
    assert aurora.messages_sent == ["first line\nsecond line", "next message", "last\nwords"]
    assert "📡 Bound to 'luna'" in out


async def test_input_that_is_not_utf8_gets_one_line_and_the_rest_goes_on(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    stdin = b"hello\n\ncaf\xe9 au lait\nand more\n\n/status\n\xff\xfe\nafter\n"
    code, out, err = await bridge("console", "--config", config, stdin=stdin)
    assert code == 0, err
    assert "Traceback" not in err
    assert aurora.messages_sent == ["hello"]
    lines = err.splitlines()
    assert notices.console_unreadable(3) in lines
    assert notices.console_unreadable(7) in lines
    assert notices.console_unreadable(3) == (
        "bridge console: input line 3 is not UTF-8 text; its message was not sent."
    )
    assert "📡 Bound to 'luna'" in out  # the command after the bad block was answered


async def test_the_console_is_not_rate_limited(tmp_path: Path, aurora: AuroraFake) -> None:
    config = str(aurora_config(tmp_path, aurora))
    burst = [f"message {n}" for n in range(5)]
    code, out, err = await bridge(
        "console",
        "--config",
        config,
        stdin="\n\n".join(burst) + "\n",
        env={"BRIDGE_RELAY__RATE_LIMIT_MESSAGES": "1", "BRIDGE_RELAY__RATE_LIMIT_WINDOW": "3600"},
    )
    assert code == 0, err
    assert aurora.messages_sent == burst
    assert out.count("luna> echo: message") == len(burst)
    assert notices.rate_limited(3600) not in out


async def test_at_a_terminal_a_paste_is_one_message_and_typing_ahead_waits_for_the_prompt(
    tmp_path: Path, aurora: AuroraFake
) -> None:
    config = str(aurora_config(tmp_path, aurora))
    env = clean_env({"TERM": "xterm", "XDG_STATE_HOME": str(tmp_path / "state")})
    slow = "a slow answer, streamed in many small pieces"
    aurora.reply_with(slow, chunk_size=2, chunk_delay=0.05)
    aurora.reply_with("ok")
    async with console_at_a_terminal(config, env) as term:
        await term.shows("you> ")
        term.type("\x1b[200~first line\rsecond line\x1b[201~\r")  # a bracketed paste
        await term.shows("luna> ")
        term.type("typed ahead")  # while the reply streams
        await term.shows(slow)
        await term.shows("you> ", times=2)
        await term.shows("typed ahead", within=5)
        term.type("\r")
        await term.shows("luna> ok")
        await term.shows("you> ", times=3)
    assert aurora.messages_sent == ["first line\nsecond line", "typed ahead"]
    reply = term.text[term.text.index("luna> ") :]
    assert reply.startswith(f"luna> {slow}")  # not a key of "typed ahead" in the middle
    assert "you> typed ahead" in term.text  # shown at the prompt it waited for
