"""Processes for tests: `bridge` as a real subprocess whose log a test can wait on, its config
on the fakes, the benchmarks as a user runs them, and a private redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.cody import CodyFake
    from tests.fakes.discord import DiscordFake
    from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent


def toml(tables: dict[str, dict[str, Any]]) -> str:
    """TOML text of ``{table name: {key: value}}``; JSON writes strings, numbers, booleans and
    lists of them as TOML does."""
    return "".join(
        f"\n[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
        for name, values in tables.items()
    )


def bridge_config(
    cody: CodyFake,
    *,
    redis_url: str,
    prefix: str,
    tg: FakeTelegram | None = None,
    dc: DiscordFake | None = None,
    extra: str = "",
) -> str:
    """A `bridge run` config on the fakes: one Cody backend and the given platforms, with write
    budgets fast enough for tests; ``extra`` holds the test's own tables ([relay], [run], ...)."""
    from tests.conftest import cody_backend
    from tests.frontends import discord_section, telegram_section

    tables = {
        "store": {"url": redis_url, "prefix": prefix},
        "backends.assistant": cody_backend(cody),
    }
    if tg is not None:
        tables["telegram"] = telegram_section(tg)
    if dc is not None:
        tables["discord"] = discord_section(dc, write_budget="10/1s")
    return toml(tables) + extra


# Discord's gateway URL is not a setting (production always uses Discord's): the CLI starts
# through this one-line shim, which points discord.py's gateway at the fake first.
SHIM = (
    "import sys, yarl; from discord.gateway import DiscordWebSocket; "
    "DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv.pop(1)); "
    "from bots.cli import main; sys.exit(main())"
)


async def spawn_run(
    gateway_url: str,
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    merge_stderr: bool = False,
) -> asyncio.subprocess.Process:
    """``bridge run ARGS`` with Discord's gateway at ``gateway_url``; stdout piped, and stderr
    too (into stdout with ``merge_stderr``)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SHIM,
        gateway_url,
        "run",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
    )


def run_bench(module: str, *args: str, timeout: float) -> str:
    """``python -m bench.MODULE ARGS`` as a user runs it; its standard output (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any BRIDGE_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return {**env, **(extra or {})}


class BridgeProcess:
    """A running ``bridge ARGS``; its stderr is collected line by line as it arrives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._grew = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str] | None = None) -> BridgeProcess:
        """Start ``python -m bots.cli ARGS`` in the project directory."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bots.cli",
            *args,
            cwd=ROOT,
            env=clean_env(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            async with self._grew:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self._grew.notify_all()
        async with self._grew:
            self._grew.notify_all()

    @property
    def log(self) -> str:
        """Everything logged so far."""
        return "\n".join(self.lines)

    async def wait_log(self, pattern: str, *, after: int = 0, within: float = 60.0) -> int:
        """Until a line from index ``after`` on matches ``pattern``; that line's index."""
        regex = re.compile(pattern)
        async with asyncio.timeout(within), self._grew:
            while True:
                for index in range(after, len(self.lines)):
                    if regex.search(self.lines[index]):
                        return index
                if self._reader.done():
                    raise AssertionError(f"exited before logging {pattern!r}:\n{self.log}")
                await self._grew.wait()

    async def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process."""
        self.proc.send_signal(sig)

    async def stop(self, within: float = 60.0) -> int:
        """SIGTERM (if still running), then its exit code once every line is read."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.exited(within)

    async def exited(self, within: float = 60.0) -> int:
        """Its exit code once it ended by itself and every line is read."""
        async with asyncio.timeout(within):
            await self._reader
            code = await self.proc.wait()
        return code

    async def kill(self) -> None:
        """Kill it if it still runs."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(Exception):
            await self._reader


@contextlib.asynccontextmanager
async def running_bridge(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[BridgeProcess]:
    """``bridge ARGS`` for the block; killed afterwards if it still runs."""
    bridge = await BridgeProcess.start(*args, env=env)
    try:
        yield bridge
    finally:
        await bridge.kill()


class RedisServer:
    """A redis-server of the test's own on ``port`` (never the shared one); no snapshots, and
    an append-only file only with ``appendonly`` (for a restart that keeps the data)."""

    def __init__(
        self, port: int, workdir: Path, *, password: str = "", appendonly: bool = False
    ) -> None:
        self.port = port
        self.workdir = workdir
        self.password = password
        self.appendonly = appendonly
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        """Its redis:// URL (with the password, when it has one)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Start it and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--dir",
            str(self.workdir),
            *(["--requirepass", self.password] if self.password else []),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(OSError):
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    writer.write(b"PING\r\n")
                    await writer.drain()
                    answer = await reader.readline()
                    writer.close()
                    # Once it listens it answers: PONG, or NOAUTH when it has a password.
                    if answer.startswith((b"+PONG", b"-NOAUTH")):
                        return
                await asyncio.sleep(0.05)

    async def terminate(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits, as on a restart."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def stop(self) -> None:
        """Kill it (this test's own server only)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
