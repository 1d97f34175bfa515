"""The bridge in the test process with one real front-end, on the loopback fakes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bots.discord.frontend import DiscordFrontEnd
from bots.runtime import Runtime, open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from core.config import Settings

if TYPE_CHECKING:
    from tests.fakes.discord import DiscordFake


@contextlib.asynccontextmanager
async def telegram_bridge(settings: Settings) -> AsyncIterator[tuple[Runtime, TelegramFrontEnd]]:
    """The runtime and its started Telegram front-end; stopped on exit."""
    async with open_runtime(settings) as rt:
        frontend = TelegramFrontEnd(settings.telegram, rt.bridge, rt.store)
        await frontend.start()
        try:
            yield rt, frontend
        finally:
            await frontend.stop()


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
        await frontend.start()
        try:
            yield rt, frontend
        finally:
            await frontend.stop()
