"""The fake Bot API keeps Telegram's rules, as seen through the real python-telegram-bot."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter

from tests.fakes.telegram import FakeTelegram, FloodRule

CHAT = 501
GROUP = -1001


@pytest.fixture
def tg(tg: FakeTelegram) -> FakeTelegram:
    """The fake Telegram with a private chat and a supergroup."""
    tg.chat(CHAT, "private")
    tg.chat(GROUP, "supergroup")
    return tg


async def test_get_me_names_the_bot(bot: Bot, tg: FakeTelegram) -> None:
    assert bot.username == tg.username
    assert bot.id == tg.bot_id


async def test_length_limit_counts_utf16_code_units(bot: Bot, tg: FakeTelegram) -> None:
    await bot.send_message(CHAT, "😀" * 2048)  # 4096 code units: the most one message holds
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(CHAT, "😀" * 2049)
    assert tg.chat_texts(CHAT) == ["😀" * 2048]


async def test_an_edit_that_changes_nothing_is_refused(bot: Bot, tg: FakeTelegram) -> None:
    sent = await bot.send_message(CHAT, "same")
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("same", chat_id=CHAT, message_id=sent.message_id)
    await bot.edit_message_text("changed", chat_id=CHAT, message_id=sent.message_id)
    assert tg.chat_texts(CHAT) == ["changed"]


async def test_unbalanced_markup_is_a_parse_error(bot: Bot, tg: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(CHAT, "*bold without end", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match="reserved"):
        await bot.send_message(CHAT, "Hello.", parse_mode=ParseMode.MARKDOWN_V2)
    with pytest.raises(BadRequest, match="end tag"):
        await bot.send_message(CHAT, "<b>open", parse_mode=ParseMode.HTML)
    await bot.send_message(CHAT, "*bold* and _it_\\.", parse_mode=ParseMode.MARKDOWN_V2)
    await bot.send_message(CHAT, "<b>x</b> &lt;3", parse_mode=ParseMode.HTML)
    shown = tg.bot_messages(CHAT)
    assert [m.text for m in shown] == ["bold and it.", "x <3"]
    assert [e["type"] for e in shown[0].entities] == ["bold", "italic"]


async def test_writing_too_fast_earns_a_429_and_a_penalty(bot: Bot, tg: FakeTelegram) -> None:
    tg.set_flood(GROUP, FloodRule(max_writes=2, window=30))
    await bot.send_message(GROUP, "one")
    await bot.send_message(GROUP, "two")
    with pytest.raises(RetryAfter, match="Retry in 30 seconds"):
        await bot.send_message(GROUP, "three")
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "ignoring the wait")
    assert tg.flood_violations == 1
    await bot.send_message(CHAT, "another chat is not limited")
    assert tg.chat_texts(GROUP) == ["one", "two"]


async def test_drafts_only_in_private_chats(bot: Bot, tg: FakeTelegram) -> None:
    assert await bot.send_message_draft(CHAT, 5, "thinking")
    with pytest.raises(BadRequest, match="private"):
        await bot.send_message_draft(GROUP, 5, "thinking")
    with pytest.raises(BadRequest, match="non-zero"):
        await bot.send_message_draft(CHAT, 0, "thinking")
    assert tg.chats[CHAT].draft == (5, "thinking")
    await bot.send_message(CHAT, "done")
    assert tg.chats[CHAT].draft is None  # a real message replaces the live draft


async def test_long_poll_returns_as_soon_as_a_user_writes(bot: Bot, tg: FakeTelegram) -> None:
    async def later() -> None:
        await asyncio.sleep(0.1)
        tg.user_says(CHAT, "/start", user_id=CHAT)

    task = asyncio.create_task(later())
    async with asyncio.timeout(20):
        updates = await bot.get_updates(timeout=60)
    await task
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "/start"
    assert message.entities[0].type == "bot_command"
    # Confirmed by the next offset, an update is not delivered again.
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()


async def test_an_outage_refuses_every_write_to_its_chat_until_it_ends(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.outage(CHAT, 600, status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(CHAT, "lost")
    await bot.send_message(GROUP, "other chats are served")
    tg.outage(CHAT, 0)
    await bot.send_message(CHAT, "back")
    assert tg.chat_texts(CHAT) == ["back"]
