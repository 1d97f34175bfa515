"""Edits and deletions through the fakes: an edit of a message still waiting for its turn
replaces its text (journaled); an edit of an answered one is ignored, or relayed as a new
message with ``relay.edits = "answer"``; a Discord deletion drops a waiting message silently."""

from __future__ import annotations

import asyncio

from core.records import State
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, open_discord, open_telegram

FIRST = "the first answer " * 6


def slow_reply(aurora: AuroraFake) -> None:
    """The next reply streams for a second or so: what is said meanwhile waits behind it."""
    aurora.reply_with(FIRST, chunk_size=7, chunk_delay=0.05)


async def test_telegram_edit_of_a_queued_message_replaces_its_text(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        slow_reply(aurora)
        await chat.say("tell me something")
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))
        queued = (await chat.say("waht is a typo"))["message_id"]
        await asyncio.sleep(0.1)  # the message is admitted and waits its turn
        tg.user_edits(ALICE, queued, "what is a typo")
        await chat.shows([FIRST, "echo: what is a typo"])
        record = await chat.rt.store.journal_get(f"tg:{ALICE}", f"tg:{ALICE}:{queued}")
        assert record is not None and record.text == "what is a typo"
    assert aurora.messages_sent == ["tell me something", "what is a typo"]


async def test_telegram_edit_of_an_answered_message_is_ignored_without_a_notice(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        said = (await chat.say("hello"))["message_id"]
        await chat.shows(["echo: hello"])
        tg.user_edits(ALICE, said, "hello there")
        await chat.say("next")  # the edit's update is handled before this one
        await chat.shows(["echo: hello", "echo: next"])
    assert aurora.messages_sent == ["hello", "next"]


async def test_telegram_edit_of_an_answered_message_is_answered_when_asked(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"edits": "answer"}
    async with open_telegram(tg, aurora, redis_url, prefix, sections={"relay": relay}) as chat:
        said = (await chat.say("hello"))["message_id"]
        await chat.shows(["echo: hello"])
        tg.user_edits(ALICE, said, "hello there")
        await chat.shows(["echo: hello", "echo: hello there"])
    assert aurora.messages_sent == ["hello", "hello there"]


async def test_telegram_edits_off_ignores_a_queued_edit(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"edits": "off"}
    async with open_telegram(tg, aurora, redis_url, prefix, sections={"relay": relay}) as chat:
        slow_reply(aurora)
        await chat.say("tell me something")
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))
        queued = (await chat.say("as typed"))["message_id"]
        await asyncio.sleep(0.1)
        tg.user_edits(ALICE, queued, "as edited")
        await chat.shows([FIRST, "echo: as typed"])


async def test_discord_edit_of_a_queued_message_and_a_deletion(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        dm = chat.dm()
        slow_reply(aurora)
        await dm.say("tell me something")
        await dc.wait_for(lambda: bool(dm.texts))  # the reply streams
        edited = await dm.say("waht is a typo")
        dropped = await dm.say("never mind this")
        await asyncio.sleep(0.1)
        await dc.user_edits(dm.channel, edited, "what is a typo")
        await dc.user_deletes(dm.channel, dropped)
        await dm.shows([FIRST, "echo: what is a typo"])
        record = await chat.rt.store.journal_get(f"dc:{dm.channel}", f"dc:{dropped}")
        assert record is not None and record.state is State.DONE
        assert await chat.rt.store.journal_lapsed() == []
    # Nothing went upstream for the deleted message, and nobody was told.
    assert aurora.messages_sent == ["tell me something", "what is a typo"]


async def test_discord_edit_of_an_answered_message_is_ignored(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        dm = chat.dm()
        said = await dm.say("hello")
        await dm.shows(["echo: hello"])
        await dc.user_edits(dm.channel, said, "hello there")
        await dm.say("next")
        await dm.shows(["echo: hello", "echo: next"])
    assert aurora.messages_sent == ["hello", "next"]
