"""The bridge in the test process on the loopback fakes: with one real front-end, or whole as
`bridge run` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TypeVar

import yarl
from discord.gateway import DiscordWebSocket

from bots.discord.frontend import DiscordFrontEnd
from bots.run import run
from bots.runtime import Runtime, open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from core.config import Settings

if TYPE_CHECKING:
    from tests.fakes.discord import DiscordFake

F = TypeVar("F", TelegramFrontEnd, DiscordFrontEnd)


@contextlib.asynccontextmanager
async def started(frontend: F) -> AsyncIterator[F]:
    """``frontend`` started for the block; stopped on exit."""
    await frontend.start()
    try:
        yield frontend
    finally:
        await frontend.stop()


@contextlib.asynccontextmanager
async def telegram_bridge(settings: Settings) -> AsyncIterator[tuple[Runtime, TelegramFrontEnd]]:
    """The runtime and its started Telegram front-end; stopped on exit."""
    async with (
        open_runtime(settings) as rt,
        started(TelegramFrontEnd(settings.telegram, rt.bridge, rt.store)) as frontend,
    ):
        rt.alerts.add_platform(frontend.name, frontend.tell_admin)
        yield rt, frontend


@contextlib.asynccontextmanager
async def discord_bridge(
    settings: Settings, dc: DiscordFake
) -> AsyncIterator[tuple[Runtime, DiscordFrontEnd]]:
    """The runtime and its started Discord front-end on the fake's gateway; stopped on exit."""
    async with open_runtime(settings) as rt:
        frontend = DiscordFrontEnd(
            settings.discord,
            rt.bridge,
            rt.store,
            gateway_url=dc.gateway_url,
            guild_ready_timeout=0.05,
        )
        async with started(frontend):
            rt.alerts.add_platform(frontend.name, frontend.tell_admin)
            yield rt, frontend


@contextlib.asynccontextmanager
async def bridge_run(settings: Settings, gateway_url: str) -> AsyncIterator[None]:
    """What `bridge run` runs, in the test process, with Discord's gateway at ``gateway_url``;
    told to stop on exit, when it must end (without an error) within 30 s."""
    saved = DiscordWebSocket.DEFAULT_GATEWAY
    # `bridge run` keeps Discord's gateway; only the test points it at the fake.
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    stop = asyncio.Event()
    runner = asyncio.create_task(run(settings, stop))
    try:
        yield
        stop.set()
        await asyncio.wait_for(runner, 30)
    finally:
        stop.set()
        DiscordWebSocket.DEFAULT_GATEWAY = saved
        if not runner.done():
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
