"""Stop: a streaming reply's Stop button (Discord button, Telegram inline keyboard) and /stop,
through the fakes. The asker or an admin stops it; anyone else gets a private refusal."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    ADMIN,
    ADMIN_ID,
    ALICE,
    BOB,
    GROUP,
    MEMBER_ID,
    TelegramChat,
    open_discord,
    open_telegram,
)

STORY = "once upon a time " * 120  # long enough to still stream when the button is pressed
STOPPED = "⏹️ Stopped."
REFUSED = "Only the person who asked, or an admin, can stop this reply."
OTHER_MEMBER = 900_004


def slow_story(aurora: AuroraFake) -> None:
    """The next reply streams for several seconds."""
    aurora.reply_with(STORY, chunk_size=6, chunk_delay=0.03)


async def first_button(
    wait_for: Callable[[Callable[[], bool], float], Awaitable[None]],
    buttons: Callable[[], list[tuple[int, str]]],
) -> tuple[int, str]:
    """Until a message of the bot shows a button: that message and what the button sends."""
    await wait_for(lambda: bool(buttons()), 20.0)
    return buttons()[0]


async def telegram_button(tg: FakeTelegram, chat_id: int) -> tuple[int, str]:
    """The bot's reply in ``chat_id`` that shows a button, and the button's callback data."""
    return await first_button(
        tg.wait_for,
        lambda: [
            (m.message_id, b)
            for m in tg.bot_messages(chat_id)
            for b in tg.buttons(chat_id, m.message_id)
        ],
    )


async def discord_button(dc: DiscordFake, channel: int) -> tuple[int, str]:
    """The bot's reply in ``channel`` that shows a button, and the button's custom id."""
    return await first_button(
        dc.wait_for,
        lambda: [
            (int(m["id"]), b)
            for m in dc.channel_messages(channel)
            if m["author"]["id"] == str(dc.bot_id)
            for b in dc.buttons(channel, int(m["id"]))
        ],
    )


@contextlib.asynccontextmanager
async def story_in_group(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> AsyncIterator[tuple[TelegramChat, int, str]]:
    """Alice asks for a story in the group: the chat, and the reply's message and button once
    it shows one."""
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        group = chat.to(GROUP, user_id=ALICE)
        slow_story(aurora)
        await group.say("@bridge_bot tell me a story")
        yield (group, *await telegram_button(tg, GROUP))


async def test_telegram_stop_by_the_asker_ends_the_reply_and_the_next_message_starts(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with story_in_group(tg, aurora, redis_url, prefix) as (group, message_id, tag):
        aurora.reply_with("the next answer")
        await group.say("@bridge_bot and then?")  # waits behind the story
        pressed = time.monotonic()
        query = tg.user_presses(GROUP, message_id, tag, user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(GROUP)[1:] == ["the next answer"], within=20)
        await group.shows(tg.chat_texts(GROUP))
        await aurora.wait_streams_closed()
        story = tg.chat_texts(GROUP)[0]
        assert story.endswith(STOPPED) and story.startswith("once")
        assert len(story) < len(STORY)
        assert tg.buttons(GROUP, message_id) == []
        assert tg.callback_answers[query].get("text") is None  # answered, no words
        last = max(w.at for w in tg.writes if w.message_id == message_id)
        print(f"telegram: stop press to the reply's last write {last - pressed:.3f}s")
        # The button rode on the reply's own writes: every partial write carried it, and no
        # write but the reply's own went to its message.
        edits = [w for w in tg.writes if w.message_id == message_id and w.ok]
        assert all(w.reply_markup for w in edits[:-1]) and edits[-1].reply_markup is None
    assert aurora.messages_sent[-1].endswith("and then?")


async def test_telegram_stop_by_an_admin_and_a_refusal_for_anyone_else(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with story_in_group(tg, aurora, redis_url, prefix) as (group, message_id, tag):
        refused = tg.user_presses(GROUP, message_id, tag, user_id=BOB)
        await tg.wait_for(lambda: refused in tg.callback_answers)
        assert tg.callback_answers[refused]["text"] == REFUSED
        assert tg.buttons(GROUP, message_id) == [tag]  # the reply goes on
        tg.user_presses(GROUP, message_id, tag, user_id=ADMIN)
        await tg.wait_for(lambda: tg.chat_texts(GROUP)[0].endswith(STOPPED))
        await group.shows([tg.chat_texts(GROUP)[0]])
        assert tg.buttons(GROUP, message_id) == []


async def test_telegram_stop_command_in_a_private_chat_with_drafts(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        slow_story(aurora)
        await chat.say("tell me a story")
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))
        await chat.say("/stop")
        await tg.wait_for(lambda: len(chat.texts) == 2 and chat.rt.relay.in_flight == 0)
        story = next(t for t in chat.texts if t.startswith("once"))
        assert story.endswith(STOPPED) and len(story) < len(STORY)
        assert STOPPED in chat.texts  # the command's own answer
        await aurora.wait_streams_closed()
        await chat.say("/stop")  # nothing left to stop
        await chat.shows([*chat.texts, "There is no reply of yours to stop here."])


async def test_telegram_stop_button_off_leaves_only_the_command(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"stop_button": False}
    async with open_telegram(tg, aurora, redis_url, prefix, sections={"relay": relay}) as chat:
        group = chat.to(GROUP, user_id=ALICE)
        slow_story(aurora)
        await group.say("@bridge_bot tell me a story")
        await tg.wait_for(lambda: len(tg.bot_messages(GROUP)) == 1)
        tg.user_says(GROUP, "/stop", user_id=ALICE, chat_type="supergroup")
        await tg.wait_for(
            lambda: any(t.startswith("once") and t.endswith(STOPPED) for t in tg.chat_texts(GROUP))
        )
        assert not [w for w in tg.writes if w.reply_markup]


async def test_discord_stop_by_the_asker_by_an_admin_and_a_refusal(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        slow_story(aurora)
        await chat.say("tell me a story", mention_bot=True)
        message_id, tag = await discord_button(dc, chat.channel)
        refused = await dc.press(chat.channel, message_id, tag, user_id=OTHER_MEMBER)
        assert refused.ephemeral and refused.text == REFUSED
        assert dc.buttons(chat.channel, message_id) == [tag]
        aurora.reply_with("the next answer")
        await chat.say("and then?", mention_bot=True)
        pressed = time.monotonic()
        await dc.press(chat.channel, message_id, tag, user_id=MEMBER_ID)
        await dc.wait_for(lambda: chat.texts[1:] == ["the next answer"], within=20)
        await chat.shows(chat.texts)
        story = chat.texts[0]
        assert story.endswith(STOPPED) and len(story) < len(STORY)
        assert dc.buttons(chat.channel, message_id) == []
        last = max(w.at for w in dc.writes if w.message_id == message_id)
        print(f"discord: stop press to the reply's last write {last - pressed:.3f}s")
        edits = [w for w in dc.writes if w.message_id == message_id and w.status == 200]
        assert all(w.components for w in edits[:-1]) and edits[-1].components == []

        slow_story(aurora)
        await chat.say("another story", mention_bot=True)
        message_id, tag = await discord_button(dc, chat.channel)
        await dc.press(chat.channel, message_id, tag, user_id=ADMIN_ID)
        await dc.wait_for(lambda: chat.texts[-1].endswith(STOPPED))
        await chat.settle()
