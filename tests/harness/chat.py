"""Chats with a running bridge, read as transcripts: ``await chat.say("hi")``, then
``await chat.reply()``, the next thing the bot wrote there once it is done writing.

:class:`TelegramChat` and :class:`DiscordChat` are one conversation on a platform's fake with the
bridge and that front-end in the test process; :class:`RelayChat` talks to the relay directly
through a memory surface.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bots.discord.frontend import DiscordFrontEnd
from bots.runtime import Runtime
from bots.telegram.frontend import TelegramFrontEnd
from core.delivery import Outcome
from core.model import Incoming
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.surface import MemorySurface
from tests.fakes.telegram import FakeTelegram
from tests.harness.inprocess import discord_bridge, telegram_bridge
from tests.harness.settings import discord_section, luna_settings, telegram_section

# Telegram people and chats.
ADMIN = 1  # a bridge admin from the config
ALICE = 501
BOB = 502
CAROL = 503  # a group's own administrator
GROUP = -100123
OTHER_GROUP = -100456

# Discord people.
ADMIN_ID = 900_001  # listed in the config's admins
MEMBER_ID = 900_002
MANAGER_ID = 900_003  # has Manage Server in the fake guild


@dataclass
class Transcript:
    """What the bot wrote in one chat, read message by message."""

    texts: Callable[[], list[str]]
    idle: Callable[[], bool]
    wait_for: Callable[[Callable[[], bool], float], Awaitable[None]]
    read: int = 0

    async def reply(self, within: float) -> str:
        """The next message the bot wrote, as it stands once nothing is being handled."""
        await self.wait_for(lambda: len(self.texts()) > self.read and self.idle(), within)
        self.read += 1
        return self.texts()[self.read - 1]

    async def shows(self, expected: list[str], within: float) -> None:
        """Until the chat shows exactly ``expected`` and nothing is being handled."""
        await self.wait_for(lambda: self.texts() == expected and self.idle(), within)
        self.read = len(expected)


@dataclass
class TelegramChat:
    """One Telegram chat (``chat_id``, ``user_id`` speaking) with the bridge running in process."""

    tg: FakeTelegram
    up: AuroraFake
    rt: Runtime
    frontend: TelegramFrontEnd
    chat_id: int = ALICE
    user_id: int = ALICE
    chat_type: str = "private"
    log: Transcript = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.log = Transcript(
            lambda: self.tg.chat_texts(self.chat_id),
            lambda: self.rt.relay.in_flight == 0,
            self.tg.wait_for,
        )

    def to(self, chat_id: int, *, user_id: int | None = None, chat_type: str = "") -> TelegramChat:
        """Another chat (or another speaker) with the same bridge; groups are supergroups."""
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        user = user_id if user_id is not None else (chat_id if chat_id > 0 else self.user_id)
        return TelegramChat(self.tg, self.up, self.rt, self.frontend, chat_id, user, kind)

    async def say(self, text: str, **extra: Any) -> dict[str, Any]:
        """The user says ``text`` here; ``extra`` as for :meth:`FakeTelegram.user_says`. The
        message sent."""
        extra = {"user_id": self.user_id, "chat_type": self.chat_type, **extra}
        return self.tg.user_says(self.chat_id, text, **extra)["message"]

    async def reply(self, within: float = 30.0) -> str:
        """The next message the bot wrote here, once it is done writing."""
        return await self.log.reply(within)

    async def shows(self, expected: list[str], within: float = 30.0) -> None:
        """Until the chat shows exactly ``expected`` (the bot's messages) and all is done."""
        await self.log.shows(expected, within)

    @property
    def texts(self) -> list[str]:
        """The bot's messages here, as shown now."""
        return self.tg.chat_texts(self.chat_id)


@dataclass
class DiscordChat:
    """One Discord channel (``channel``, ``user_id`` speaking) with the bridge running in process;
    a guild's channel unless it was made with :meth:`dm`."""

    fake: DiscordFake
    up: AuroraFake
    rt: Runtime
    frontend: DiscordFrontEnd
    channel: int = 0
    user_id: int = MEMBER_ID
    guild: bool = True
    log: Transcript = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.channel = self.channel or self.fake.default_channel_id
        self.log = Transcript(
            lambda: self.fake.channel_texts(self.channel),
            lambda: self.rt.relay.in_flight == 0,
            self.fake.wait_for,
        )

    def to(self, channel: int, *, user_id: int | None = None, guild: bool = True) -> DiscordChat:
        """Another channel (or another speaker) with the same bridge."""
        user = self.user_id if user_id is None else user_id
        return type(self)(self.fake, self.up, self.rt, self.frontend, channel, user, guild)

    def dm(self, *, user_id: int | None = None) -> DiscordChat:
        """A new direct-message channel with the bot."""
        return self.to(self.fake.snowflake(), user_id=user_id, guild=False)

    async def say(self, text: str, **extra: Any) -> int:
        """The member says ``text`` here; ``extra`` as for :meth:`DiscordFake.user_says`
        (``mention_bot=True`` to address the bot in a guild). The message's id."""
        extra = {"user_id": self.user_id, "guild": self.guild, **extra}
        return await self.fake.user_says(self.channel, text, **extra)

    async def reply(self, within: float = 30.0) -> str:
        """The next message the bot wrote here, once it is done writing."""
        return await self.log.reply(within)

    async def settle(self, within: float = 30.0) -> None:
        """Until every message handed to the relay is fully handled."""
        await self.fake.wait_for(lambda: self.rt.relay.in_flight == 0, within)

    async def shown(self, channel_id: int, expected: list[str], within: float = 30.0) -> None:
        """Until ``channel_id`` shows exactly ``expected`` (the bot's messages) and all is done."""
        await self.fake.wait_for(lambda: self.fake.channel_texts(channel_id) == expected, within)
        await self.settle(within)

    async def shows(self, expected: list[str], within: float = 30.0) -> None:
        """Until this channel shows exactly ``expected`` and all is done."""
        await self.log.shows(expected, within)

    @property
    def texts(self) -> list[str]:
        """The bot's messages here, as shown now."""
        return self.fake.channel_texts(self.channel)


@contextlib.asynccontextmanager
async def open_telegram(
    tg: FakeTelegram,
    up: AuroraFake,
    redis_url: str,
    prefix: str,
    *,
    sections: dict[str, Any] | None = None,
    **telegram: Any,
) -> AsyncIterator[TelegramChat]:
    """The bridge with only its Telegram front-end, paced fast for tests and ``ADMIN`` an admin;
    a chat with ``ALICE``. ``telegram``: more Telegram settings; ``sections``: other parts of the
    settings, e.g. relay or notices."""
    section = telegram_section(tg, admins=[ADMIN], **telegram)
    settings = luna_settings(up, redis_url, prefix, telegram=section, **(sections or {}))
    async with telegram_bridge(settings) as (rt, frontend):
        assert frontend.connected
        yield TelegramChat(tg, up, rt, frontend)
    assert not frontend.connected


@contextlib.asynccontextmanager
async def telegram_runtime(*args: Any, **kwargs: Any) -> AsyncIterator[Runtime]:
    """:func:`open_telegram` (same arguments), for a test that drives the fake itself: the
    runtime."""
    async with open_telegram(*args, **kwargs) as chat:
        yield chat.rt


@contextlib.asynccontextmanager
async def open_discord(
    fake: DiscordFake,
    up: AuroraFake,
    redis_url: str,
    prefix: str,
    *,
    sections: dict[str, Any] | None = None,
    **discord: Any,
) -> AsyncIterator[DiscordChat]:
    """The bridge with only its Discord front-end, ``ADMIN_ID`` an admin; a chat in the fake
    guild's default channel. ``discord``: more Discord settings; ``sections``: other parts of
    the settings."""
    section = discord_section(fake, admins=[ADMIN_ID], **discord)
    settings = luna_settings(up, redis_url, prefix, discord=section, **(sections or {}))
    async with discord_bridge(settings, fake) as (rt, frontend):
        yield DiscordChat(fake, up, rt, frontend)


class RelayChat:
    """One channel talking to the relay itself: say something, read what the bot showed."""

    def __init__(self, rt: Runtime, channel: str = "t:1", author: str = "u:1") -> None:
        self.rt = rt
        self.channel = channel
        self.author = author
        self._n = 0

    def message(self, text: str, message_id: str | None = None) -> Incoming:
        """An incoming message of this channel's author."""
        self._n += 1
        return Incoming(
            platform="test",
            channel=self.channel,
            author=self.author,
            text=text,
            message_id=message_id or f"{self.channel}:{uuid.uuid4().hex}",
        )

    async def say(self, text: str, message_id: str | None = None) -> tuple[Outcome, MemorySurface]:
        """Hand ``text`` to the relay; its outcome, and the surface the reply was shown on."""
        surface = MemorySurface(key=self.channel)
        outcome = await self.rt.relay.handle(self.message(text, message_id), surface)
        return outcome, surface
