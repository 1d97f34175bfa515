"""`bridge run` as a subprocess against the loopback fakes, to be killed and started again.

The fakes live in the test process, so they outlive every bridge process: their request logs
show whether a prompt reached the upstream twice, and their chats show what users saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.discord import DiscordFake
from tests.procs import spawn_run

GROUP = -100_777
MEMBER = 900_002


# The tables every fault test's `bridge run` adds to :func:`tests.procs.bridge_config`.
RUN_TABLES = """
[relay]
lock_ttl = {lock_ttl}
speaker_names = "never"             # prompts as typed, to compare with the upstream's

[log]
level = "INFO"

[run]
grace_period = {grace}
"""


@dataclass
class BridgeProcess:
    """One `bridge run`; everything it prints is kept in :attr:`lines`."""

    config: Path
    dc: DiscordFake
    proc: asyncio.subprocess.Process | None = None
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start and return once both platforms are connected."""
        self.dc._ready.clear()  # READY of this process, not of an earlier one
        self.lines.clear()
        self.proc = await spawn_run(
            self.dc.gateway_url, "--config", str(self.config), merge_stderr=True
        )
        self._reader = asyncio.create_task(self._read())
        async with asyncio.timeout(60):
            while not any("bridge running" in line for line in self.lines):
                if self.proc.returncode is not None:
                    raise AssertionError("bridge exited at start:\n" + self.output)
                await asyncio.sleep(0.05)
        await self.dc.wait_ready(within=30)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        """Everything the process printed so far."""
        return "\n".join(self.lines)

    async def kill(self) -> str:
        """kill -9; what it printed."""
        assert self.proc is not None
        self.proc.kill()
        return await self._ended(10)

    async def terminate(self, within: float) -> tuple[int, str]:
        """SIGTERM; its exit code (it must exit ``within`` s) and what it printed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out = await self._ended(within)
        assert self.proc.returncode is not None
        return self.proc.returncode, out

    async def _ended(self, within: float) -> str:
        assert self.proc is not None
        async with asyncio.timeout(within):
            await self.proc.wait()
            if self._reader is not None:
                await self._reader
        return self.output

    async def close(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            with contextlib.suppress(Exception):
                await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


def no_traceback(*outputs: str) -> None:
    """No process printed a traceback."""
    for out in outputs:
        assert "Traceback" not in out, out[-4000:]
