"""The bridge in the test process with one real front-end, on the loopback fakes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bots.discord.frontend import DiscordFrontEnd
from bots.runtime import Runtime, open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from core.config import Settings

if TYPE_CHECKING:
    from tests.fakes.aurora import AuroraFake
    from tests.fakes.discord import DiscordFake
    from tests.fakes.telegram import FakeTelegram


# Write budgets fast enough for tests (the defaults keep to the platforms' real limits).
FAST_TELEGRAM = {"private_budget": "20/1s", "group_budget": "10/1s"}
FAST_DISCORD = {"write_budget": "20/1s"}


def telegram_section(tg: FakeTelegram, *, fast: bool = True, **overrides: Any) -> dict[str, Any]:
    """Telegram settings on the fake, paced fast for tests unless not ``fast``; ``overrides`` win."""
    budgets = FAST_TELEGRAM if fast else {}
    return {"enabled": True, "token": tg.token, "base_url": tg.base_url, **budgets, **overrides}


def discord_section(dc: DiscordFake, *, fast: bool = True, **overrides: Any) -> dict[str, Any]:
    """Discord settings on the fake, paced fast for tests unless not ``fast``; ``overrides`` win."""
    budgets = FAST_DISCORD if fast else {}
    return {
        "enabled": True,
        "token": dc.token,
        "api_base_url": dc.api_base_url,
        **budgets,
        **overrides,
    }


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


@dataclass
class DiscordEnv:
    """The fake Discord and upstream around one running bridge with its Discord front-end."""

    fake: DiscordFake
    up: AuroraFake
    rt: Runtime
    frontend: DiscordFrontEnd

    async def settle(self, within: float = 30.0) -> None:
        """Until every message handed to the relay is fully handled."""
        await self.fake.wait_for(lambda: self.rt.relay.in_flight == 0, within)

    async def shown(self, channel_id: int, expected: list[str], within: float = 30.0) -> None:
        """Until the channel shows exactly ``expected`` (the bot's messages) and all is done."""
        await self.fake.wait_for(lambda: self.fake.channel_texts(channel_id) == expected, within)
        await self.settle(within)


@contextlib.asynccontextmanager
async def discord_env(
    fake: DiscordFake, up: AuroraFake, settings: Settings
) -> AsyncIterator[DiscordEnv]:
    """:func:`discord_bridge` with the fakes around it, as one :class:`DiscordEnv`."""
    async with discord_bridge(settings, fake) as (rt, frontend):
        yield DiscordEnv(fake, up, rt, frontend)
