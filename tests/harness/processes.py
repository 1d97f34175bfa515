"""`bridge` as a real subprocess: one command run to its end, or a running process whose log a
test waits on, optionally restarted; and the benchmarks as a user runs them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fakes.discord import DiscordFake

ROOT = Path(__file__).resolve().parent.parent.parent

# Discord's gateway URL is not a setting (production always uses Discord's): the CLI starts
# through this one-line shim, which points discord.py's gateway at the fake first.
SHIM = (
    "import sys, yarl; from discord.gateway import DiscordWebSocket; "
    "DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(sys.argv.pop(1)); "
    "from bots.cli import main; sys.exit(main())"
)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any BRIDGE_ setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return {**env, **(extra or {})}


def command(args: tuple[str, ...], gateway_url: str | None = None) -> list[str]:
    """The command line of ``bridge ARGS``, through the gateway shim when ``gateway_url`` is set."""
    if gateway_url is None:
        return [sys.executable, "-m", "bots.cli", *args]
    return [sys.executable, "-c", SHIM, gateway_url, *args]


async def run_cli(
    *args: str, stdin: str | bytes = "", env: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """Run ``bridge ARGS`` to its end with ``stdin`` (text, or raw bytes); return (exit code,
    stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *command(args),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(env),
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(
        proc.communicate(stdin.encode() if isinstance(stdin, str) else stdin), timeout=60
    )
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class BridgeProcess:
    """A running ``bridge ARGS``; its log (stderr, or stdout and stderr merged) is collected
    line by line as it arrives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.stdout: list[str] = []
        self._grew = asyncio.Condition()
        log = proc.stderr if proc.stderr is not None else proc.stdout
        assert log is not None
        self._reader = asyncio.create_task(self._read(log, self.lines))
        # The other stream is read too, so a chatty process never blocks on a full pipe.
        other = proc.stdout if proc.stderr is not None else None
        self._other = asyncio.create_task(self._read(other, self.stdout)) if other else None

    @classmethod
    async def start(
        cls,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        gateway_url: str | None = None,
        merge_stderr: bool = False,
    ) -> BridgeProcess:
        """Start ``bridge ARGS`` (Discord's gateway at ``gateway_url`` when given), with the
        test's environment cleaned of BRIDGE_ settings plus ``env``."""
        proc = await asyncio.create_subprocess_exec(
            *command(args, gateway_url),
            cwd=cwd,
            env=clean_env(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            async with self._grew:
                into.append(line.decode(errors="replace").rstrip("\n"))
                self._grew.notify_all()
        async with self._grew:
            self._grew.notify_all()

    @property
    def log(self) -> str:
        """Everything logged so far."""
        return "\n".join(self.lines)

    @property
    def returncode(self) -> int | None:
        """Its exit code, or None while it runs."""
        return self.proc.returncode

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
        """Send ``sig`` to the process (if it still runs)."""
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def stop(self, within: float = 60.0) -> int:
        """SIGTERM (if still running), then its exit code once every line is read."""
        await self.signal(signal.SIGTERM)
        return await self.exited(within)

    async def exited(self, within: float = 60.0) -> int:
        """Its exit code once it ended by itself and every line is read."""
        async with asyncio.timeout(within):
            await self._reader
            if self._other is not None:
                await self._other
            code = await self.proc.wait()
        return code

    async def kill(self) -> None:
        """Kill it if it still runs."""
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for reader in (self._reader, self._other):
            if reader is not None:
                with contextlib.suppress(Exception):
                    await reader


@contextlib.asynccontextmanager
async def running_bridge(
    *args: str, env: dict[str, str] | None = None, gateway_url: str | None = None
) -> AsyncIterator[BridgeProcess]:
    """``bridge ARGS`` for the block; killed afterwards if it still runs."""
    bridge = await BridgeProcess.start(*args, env=env, gateway_url=gateway_url)
    try:
        yield bridge
    finally:
        await bridge.kill()


@dataclass
class RestartableRun:
    """`bridge run --config CONFIG` (stdout and stderr merged), to be killed and started again.
    With ``dc``, each start returns once the process runs and is connected to the fake Discord."""

    config: Path
    gateway_url: str
    dc: DiscordFake | None = None
    runs: list[BridgeProcess] = field(default_factory=list)

    async def start(self) -> None:
        """Start a new process."""
        if self.dc is not None:
            self.dc._ready.clear()  # READY of this process, not of an earlier one
        run = await BridgeProcess.start(
            "run", "--config", str(self.config), gateway_url=self.gateway_url, merge_stderr=True
        )
        self.runs.append(run)
        if self.dc is not None:
            await run.wait_log("bridge running")
            await self.dc.wait_ready(within=30)

    @property
    def current(self) -> BridgeProcess:
        """The process started last."""
        assert self.runs, "never started"
        return self.runs[-1]

    @property
    def output(self) -> str:
        """What the process started last printed so far."""
        return self.current.log

    @property
    def all_output(self) -> str:
        """What every process printed, one after the other."""
        return "\n".join(run.log for run in self.runs)

    async def end(self, sig: signal.Signals, within: float = 30.0) -> tuple[int, str]:
        """Send ``sig`` (SIGKILL or SIGTERM); its exit code and what it printed."""
        await self.current.signal(sig)
        code = await self.current.exited(within)
        return code, self.output

    async def kill(self) -> str:
        """kill -9; what it printed."""
        return (await self.end(signal.SIGKILL, within=10))[1]

    async def terminate(self, within: float) -> tuple[int, str]:
        """SIGTERM; its exit code (it must exit ``within`` s) and what it printed."""
        return await self.end(signal.SIGTERM, within)

    async def close(self) -> None:
        """Make sure every process is gone (test teardown)."""
        for run in self.runs:
            await run.kill()


MakeBridge = Callable[..., RestartableRun]


def no_traceback(*outputs: str) -> None:
    """No process printed a traceback."""
    for out in outputs:
        assert "Traceback" not in out, out[-4000:]


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
