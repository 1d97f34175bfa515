"""Writing on into a deleted chat: a Discord channel or thread, a Telegram forum topic or group
deleted while a reply streams into it. The reply ends at the first answer that says the place
is gone: no more writes there, no traceback, no "posting anew" loop, the upstream stream
closed, and the journal record settled so recovery never takes it up."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
import pytest
from discord.http import Route
from telegram import Bot

from bots.discord.surface import DiscordSurface
from bots.runtime import Runtime
from bots.telegram.surface import ChatTarget, DraftPolicy, TelegramSurface
from core.errors import ChatUnwritable
from core.journal import State
from core.pacing import Budget
from core.store.base import Store
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, GROUP, MEMBER_ID, open_discord, telegram_runtime

REPLY = "A reply long enough to stream in many pieces, so it is still going when the place goes."
TOPIC, OTHER_TOPIC = 7, 8


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


def assert_no_traceback(logs: pytest.LogCaptureFixture) -> None:
    traced = [
        r.getMessage() for r in logs.records if r.exc_info and r.name.startswith(("core", "bots"))
    ]
    assert not traced, traced


async def assert_settled(store: Store, channel: str, message_id: str) -> None:
    """The message's journal record is closed: nothing is left for recovery."""
    record = await store.journal_get(channel, message_id)
    assert record is None or record.state is State.DONE, record
    assert not [r for r in await store.journal_lapsed() if r.message_id == message_id]


def slow(up: AuroraFake) -> None:
    up.reply_with(REPLY, chunk_size=4, chunk_delay=0.05)


# --- Discord ----------------------------------------------------------------------------------


@pytest.mark.parametrize("thread", [False, True], ids=["channel", "thread"])
async def test_discord_reply_stops_at_the_first_unknown_channel(
    aurora: AuroraFake, redis_url: str, prefix: str, logs: pytest.LogCaptureFixture, thread: bool
) -> None:
    async with (
        DiscordFake(rate_limit=50, rate_window=1.0) as fake,
        open_discord(fake, aurora, redis_url, prefix) as env,
    ):
        place = fake.snowflake()
        await fake.ensure_channel(place, thread=thread)
        slow(aurora)
        asked = await fake.user_says(place, "go", user_id=MEMBER_ID, mention_bot=True)
        await fake.wait_for(lambda: bool(fake.channel_texts(place)))
        await fake.delete_channel(place)
        await env.settle()
        await aurora.wait_streams_closed()
        assert fake.unknown_channel_hits == [(fake.unknown_channel_hits[0][0], place)]
        await assert_settled(env.rt.store, f"dc:{place}", f"dc:{asked}")
        # The bridge goes on elsewhere.
        other = fake.default_channel_id
        await fake.user_says(other, "still there?", user_id=MEMBER_ID, mention_bot=True)
        await env.shown(other, ["echo: user2: still there?"])
    assert len(fake.unknown_channel_hits) == 1
    assert "posting anew" not in logs.text
    assert_no_traceback(logs)
    assert aurora.messages_sent == ["user2: go", "user2: still there?"]


async def test_discord_message_deleted_twice_stops_the_reply() -> None:
    saved = Route.BASE
    client = discord.Client(intents=discord.Intents.none())
    try:
        async with DiscordFake() as fake:
            Route.BASE = fake.api_base_url
            await client.login(fake.token)
            channel = client.get_partial_messageable(fake.default_channel_id)
            surface = DiscordSurface(channel, channel.id, reply_to=None, budget=Budget(50, 1.0))
            first = await surface.send("one", final=False)
            del fake.channels[channel.id].messages[first.id]
            second = await surface.edit(first, "one two", final=False)  # posted anew, once
            del fake.channels[channel.id].messages[second.id]
            with pytest.raises(ChatUnwritable):
                await surface.edit(second, "one two three", final=True)
            assert fake.channel_texts(channel.id) == []
    finally:
        await client.close()
        Route.BASE = saved


# --- Telegram ---------------------------------------------------------------------------------


async def delete_mid_reply(
    tg: FakeTelegram, up: AuroraFake, rt: Runtime, thread: int | None, delete: Callable[[], None]
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """Ask in the group (topic ``thread``), ``delete`` the place once the reply shows, and wait
    until the reply has ended; the message asked, and every call the bot made after."""
    slow(up)
    asked = tg.user_says(
        GROUP, "@bridge_bot go", user_id=ALICE, chat_type="supergroup", thread_id=thread
    )["message"]
    await tg.wait_for(lambda: bool(tg.chat_texts(GROUP, thread)))
    delete()
    deleted_at = len(tg.calls)
    await tg.wait_for(lambda: rt.relay.in_flight == 0)
    await up.wait_streams_closed()
    return asked, [(method, params) for _, method, params in tg.calls[deleted_at:]]


async def test_telegram_reply_stops_at_a_deleted_topic(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix) as rt:
        asked, after = await delete_mid_reply(
            tg, aurora, rt, TOPIC, lambda: tg.delete_topic(GROUP, TOPIC)
        )
        into_topic = [c for c in after if str(c[1].get("message_thread_id")) == str(TOPIC)]
        refused = [w for w in tg.writes_to(GROUP, ok=False) if "thread not found" in w.description]
        assert len(refused) == 1
        assert refused[0].method == "sendMessage" and refused[0].thread_id == TOPIC
        assert len(into_topic) <= 1, into_topic  # the refused send (an edit names no topic)
        await assert_settled(rt.store, f"tg:{GROUP}:{TOPIC}", f"tg:{GROUP}:{asked['message_id']}")
        # Another topic of the same group is served.
        tg.user_says(
            GROUP, "@bridge_bot here?", user_id=ALICE, chat_type="supergroup", thread_id=OTHER_TOPIC
        )
        await tg.wait_for(lambda: tg.chat_texts(GROUP, OTHER_TOPIC) == ["echo: User501: here?"])
    assert_no_traceback(logs)
    assert aurora.messages_sent == ["User501: go", "User501: here?"]


async def test_telegram_reply_stops_in_a_deleted_group(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    logs: pytest.LogCaptureFixture,
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix) as rt:
        _, after = await delete_mid_reply(tg, aurora, rt, None, lambda: tg.delete_chat(GROUP))
        assert len([c for c in after if str(c[1].get("chat_id")) == str(GROUP)]) == 1, after
    assert_no_traceback(logs)


async def test_telegram_message_deleted_twice_stops_the_reply(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(GROUP, "x", user_id=ALICE, chat_type="supergroup")
    budget = Budget(50, 1.0)
    drafts = DraftPolicy(False, lambda: 1)
    target = ChatTarget(GROUP, private=False)
    surface = TelegramSurface(bot, target, budget=budget, draft_budget=budget, drafts=drafts)
    first = await surface.send("one", final=False)
    tg.user_deletes(GROUP, first.message_id)
    second = await surface.edit(first, "one two", final=False)  # sent anew, once
    tg.user_deletes(GROUP, second.message_id)
    with pytest.raises(ChatUnwritable):
        await surface.edit(second, "one two three", final=True)
    assert tg.chat_texts(GROUP) == []
