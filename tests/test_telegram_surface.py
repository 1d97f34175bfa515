"""TelegramSurface against the fake Bot API: drafts, edits, replies, floods and formatting."""

from __future__ import annotations

import itertools

import pytest
from telegram import Bot

from bots.telegram.surface import ChatTarget, DraftPolicy, Handle, TelegramSurface
from core.budget import Budget
from core.errors import ChatUnwritable, FloodControl
from tests.fakes.telegram import FakeTelegram, FloodRule

ALICE = 501
GROUP = -100777

BUDGET = Budget(5, 5.0)


def drafts(enabled: bool = True) -> DraftPolicy:
    counter = itertools.count(1)
    return DraftPolicy(enabled, lambda: next(counter))


def private(bot: Bot, policy: DraftPolicy | None = None) -> TelegramSurface:
    return TelegramSurface(
        bot,
        ChatTarget(ALICE, private=True),
        budget=BUDGET,
        draft_budget=BUDGET,
        drafts=policy or drafts(),
    )


async def test_private_reply_streams_in_a_draft_and_ends_as_one_message(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.user_says(ALICE, "hi", user_id=ALICE)
    surface = private(bot)
    handle = await surface.send("Hel", final=False)
    handle = await surface.edit(handle, "Hello the", final=False)
    handle = await surface.edit(handle, "Hello there.", final=True)

    assert tg.chats[ALICE].drafts == [(1, "Hel"), (1, "Hello the")]
    assert tg.chat_texts(ALICE) == ["Hello there."]
    assert isinstance(handle, Handle) and handle.message_id is not None
    assert [w.method for w in tg.writes] == ["sendMessageDraft", "sendMessageDraft", "sendMessage"]


async def test_refused_drafts_fall_back_to_edits_and_are_remembered(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.user_says(ALICE, "hi", user_id=ALICE)
    tg.drafts_enabled = False
    policy = drafts()
    first = private(bot, policy)
    handle = await first.send("Hel", final=False)
    await first.edit(handle, "Hello.", final=True)
    second = private(bot, policy)
    await second.send("Again", final=False)

    assert tg.chat_texts(ALICE) == ["Hello.", "Again"]
    assert len(tg.calls_of("sendMessageDraft")) == 1


async def test_group_reply_quotes_the_user_and_stays_in_the_topic(
    bot: Bot, tg: FakeTelegram
) -> None:
    update = tg.user_says(
        GROUP, "@bridge_bot hi", user_id=ALICE, chat_type="supergroup", thread_id=9
    )
    asked = update["message"]["message_id"]
    surface = TelegramSurface(
        bot,
        ChatTarget(GROUP, private=False, thread_id=9, reply_to=asked),
        budget=BUDGET,
        draft_budget=BUDGET,
        drafts=drafts(),
    )
    handle = await surface.send("Par", final=False)
    await surface.edit(handle, "Partial and final", final=True)

    (message,) = tg.bot_messages(GROUP)
    assert (message.text, message.thread_id, message.reply_to) == ("Partial and final", 9, asked)
    assert not tg.calls_of("sendMessageDraft")
    assert surface.pace_key == f"tg:{GROUP}"


async def test_flood_control_is_raised_with_telegrams_wait(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(GROUP, "x", user_id=ALICE, chat_type="group")
    tg.set_flood(GROUP, FloodRule(min_gap=60))
    surface = TelegramSurface(
        bot, ChatTarget(GROUP, private=False), budget=BUDGET, draft_budget=BUDGET, drafts=drafts()
    )
    handle = await surface.send("one", final=False)
    with pytest.raises(FloodControl) as caught:
        await surface.edit(handle, "one two", final=False)
    assert caught.value.retry_after == 60


async def test_an_unchanged_edit_is_a_success(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(GROUP, "x", user_id=ALICE, chat_type="group")
    target = ChatTarget(GROUP, private=False)
    handle = await TelegramSurface(
        bot, target, budget=BUDGET, draft_budget=BUDGET, drafts=drafts()
    ).send("same", final=False)
    # A surface that does not know what the message shows asks, and is told "not modified".
    await TelegramSurface(bot, target, budget=BUDGET, draft_budget=BUDGET, drafts=drafts()).edit(
        handle, "same", final=True
    )
    assert tg.writes[-1].description.startswith("Bad Request: message is not modified")
    assert tg.chat_texts(GROUP) == ["same"]


async def test_final_text_is_formatted_and_falls_back_to_plain(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(ALICE, "hi", user_id=ALICE)
    await private(bot).send("**Done**, see `x`", final=True)
    tg.refuse_formatting.add(ALICE)
    await private(bot).send("**Done**, see `x`", final=True)

    formatted, plain = tg.bot_messages(ALICE)
    assert formatted.text == "Done, see x"
    assert [e["type"] for e in formatted.entities] == ["bold", "code"]
    assert (plain.text, plain.entities) == ("**Done**, see `x`", [])


async def test_notices_are_plain_text(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(ALICE, "hi", user_id=ALICE)
    await private(bot).notice("Usage: /bind <backend> [remote ids]")
    assert tg.chat_texts(ALICE) == ["Usage: /bind <backend> [remote ids]"]


async def test_length_is_measured_in_utf16_and_typing_refuses_an_unknown_chat(bot: Bot) -> None:
    surface = private(bot)
    assert surface.max_length == 4096
    assert surface.measure("a😀") == 3
    with pytest.raises(ChatUnwritable):
        await surface.typing()  # the fake has never seen this chat: "chat not found"


async def test_a_reply_whose_message_was_deleted_carries_on_in_a_new_one(
    bot: Bot, tg: FakeTelegram
) -> None:
    tg.user_says(GROUP, "x", user_id=ALICE, chat_type="group")
    surface = TelegramSurface(
        bot, ChatTarget(GROUP, private=False), budget=BUDGET, draft_budget=BUDGET, drafts=drafts()
    )
    handle = await surface.send("Part one", final=False)
    tg.user_deletes(GROUP, handle.message_id)
    handle = await surface.edit(handle, "Part one and two", final=True)
    assert tg.chat_texts(GROUP) == ["Part one and two"]
    assert handle.message_id == tg.bot_messages(GROUP)[0].message_id


async def test_a_group_that_became_a_supergroup_is_unwritable(bot: Bot, tg: FakeTelegram) -> None:
    tg.user_says(-4002, "hi", user_id=ALICE, chat_type="group")
    tg.migrate(-4002, -1004002)
    surface = TelegramSurface(
        bot, ChatTarget(-4002, private=False), budget=BUDGET, draft_budget=BUDGET, drafts=drafts()
    )
    with pytest.raises(ChatUnwritable, match="moved to -1004002"):
        await surface.send("hello", final=True)
