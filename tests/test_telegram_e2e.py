"""Conversations through the whole bridge: fake Telegram <-> PTB front-end <-> relay <-> fake Aurora.

Everything runs for real on loopback: python-telegram-bot polls (or takes webhooks from) the fake
Bot API, the relay keeps state in Redis, and the reply streams from the fake upstream.
"""

from __future__ import annotations

import logging

import pytest

from bots.telegram.frontend import TelegramStartError
from core import notices
from core.logs import Redactor
from core.model import ReplyMode
from core.split import utf16_length
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram, FloodRule
from tests.harness import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    GROUP,
    OTHER_GROUP,
    TelegramChat,
    free_port,
    production_logs,
    telegram_runtime,
)

STORY = (
    "Once upon a time, a small robot learned to stream its thoughts one chunk at a time, "
    "and every chat saw the words appear as they were written."
)


def slow(up: AuroraFake, text: str, *, chunk_size: int = 6, chunk_delay: float = 0.02) -> None:
    """The upstream's next answer trickles in small chunks."""
    up.reply_with(text, chunk_size=chunk_size, chunk_delay=chunk_delay)


async def test_private_chat_streams_a_draft_then_sends_exactly_the_reply(
    telegram_chat: TelegramChat,
) -> None:
    chat, tg, aurora = telegram_chat, telegram_chat.tg, telegram_chat.up
    slow(aurora, STORY)
    await chat.say("Tell me a story")
    assert await chat.reply() == STORY
    assert chat.texts == [STORY]

    assert aurora.messages_sent == ["Tell me a story"]
    drafts = tg.chats[ALICE].drafts
    assert len(drafts) >= 2 and len({d for d, _ in drafts}) == 1
    assert all(STORY.startswith(text) for _, text in drafts)
    assert [w.method for w in tg.writes_to(ALICE) if w.method == "sendMessage"] == ["sendMessage"]
    typing_at = [at for at, chat, action in tg.actions if chat == ALICE and action == "typing"]
    assert typing_at and typing_at[0] <= tg.writes_to(ALICE)[0].at
    menu = {c["command"] for c in tg.commands}  # everyone's menu; admins' has more
    assert menu >= {"help", "reset", "status"} and "bind" not in menu


async def test_group_answers_mentions_and_replies_in_their_topic_only(
    telegram_chat: TelegramChat,
) -> None:
    group, tg, aurora = telegram_chat.to(GROUP), telegram_chat.tg, telegram_chat.up
    await group.say("just chatting among humans")
    slow(aurora, STORY)
    asked = await group.say("@bridge_bot tell me a story", thread_id=7)
    assert await group.reply() == STORY
    slow(aurora, "The end.")
    await group.say("and then?", user_id=BOB, thread_id=7, reply_to_bot=True)
    assert await group.reply() == "The end."
    assert group.texts == [STORY, "The end."]

    # A group names each speaker to the upstream.
    assert aurora.messages_sent == ["User501: tell me a story", "User502: and then?"]
    first, second = tg.bot_messages(GROUP)
    assert (first.thread_id, first.reply_to) == (7, asked["message_id"])
    assert second.thread_id == 7
    assert first.edits >= 1  # it grew in place
    assert not tg.calls_of("sendMessageDraft")


async def test_a_10000_character_reply_arrives_whole_across_messages(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    words = [f"word{i}😀" if i % 7 == 0 else f"word{i}" for i in range(1400)]
    long_text = " ".join(words)
    assert len(long_text) >= 10_000
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        slow(aurora, long_text, chunk_size=400, chunk_delay=0.01)
        tg.user_says(ALICE, "Count for me", user_id=ALICE)
        await tg.wait_for(
            lambda: " ".join(tg.chat_texts(ALICE)).split() == words and not aurora.open_streams
        )

    texts = tg.chat_texts(ALICE)
    assert len(texts) >= 3
    assert all(utf16_length(t) <= 4096 for t in texts)


async def test_flood_control_mid_stream_loses_nothing_and_slows_only_that_chat(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.set_flood(GROUP, FloodRule(max_writes=3, window=1.0))
    flooded_text = " ".join(f"alpha{i}" for i in range(60))
    calm_text = " ".join(f"beta{i}" for i in range(60))
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        slow(aurora, flooded_text, chunk_size=8, chunk_delay=0.03)
        slow(aurora, calm_text, chunk_size=8, chunk_delay=0.03)
        tg.user_says(GROUP, "@bridge_bot go", user_id=ALICE, chat_type="supergroup")
        await tg.wait_for(lambda: bool(tg.chat_texts(GROUP)))
        tg.user_says(OTHER_GROUP, "@bridge_bot go", user_id=BOB, chat_type="supergroup")
        await tg.wait_for(
            lambda: (
                tg.chat_texts(GROUP) == [flooded_text] and tg.chat_texts(OTHER_GROUP) == [calm_text]
            ),
            within=40,
        )

    refused = [w for w in tg.writes_to(GROUP) if w.error_code == 429]
    assert refused, "the flooded chat was never told to wait"
    assert tg.flood_violations == 0  # every retry_after was honoured in full
    # While the flooded chat waited, the other chat kept being written to.
    first_wait = refused[0].at
    resumed = next(w.at for w in tg.writes_to(GROUP) if w.at > first_wait)
    assert any(first_wait < w.at < resumed for w in tg.writes_to(OTHER_GROUP, ok=True))


async def test_two_chats_streaming_at_once_both_finish(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        first = "First chat's answer, told slowly in many small pieces, one after another."
        second = "Second chat's answer, also slow and steady."
        slow(aurora, first, chunk_size=4, chunk_delay=0.05)
        slow(aurora, second, chunk_size=4, chunk_delay=0.05)
        tg.user_says(ALICE, "one", user_id=ALICE)
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))
        tg.user_says(BOB, "two", user_id=BOB)
        await tg.wait_for(
            lambda: tg.chat_texts(ALICE) == [first] and tg.chat_texts(BOB) == [second]
        )

    alice, bob = tg.writes_to(ALICE), tg.writes_to(BOB)
    # Bob's reply started before Alice's finished: one stream did not hold up the other.
    assert bob[0].at < alice[-1].at


async def test_a_quota_error_reaches_the_user_as_the_notice(telegram_chat: TelegramChat) -> None:
    chat, aurora = telegram_chat, telegram_chat.up
    aurora.fail_next(429, kind="quota")
    await chat.say("hello?")
    first = await chat.reply()
    await chat.say("still there?")
    second = await chat.reply()
    assert chat.texts == [first, second]

    limit_reached = notices.quota().split(".")[0]
    assert first.startswith(limit_reached) and second.startswith(limit_reached)
    posts = [r for r in aurora.requests if r.path.endswith("/message")]
    assert len(posts) == 1  # the cooldown spares the upstream the second message


async def test_reset_starts_a_new_conversation(telegram_chat: TelegramChat) -> None:
    chat, store = telegram_chat, telegram_chat.rt.store
    await chat.say("remember me")
    assert await chat.reply() == "echo: remember me"
    assert chat.texts == ["echo: remember me"]
    before = await store.get_binding(f"tg:{ALICE}")
    await chat.say("/reset")
    reset = await chat.reply()
    after = await store.get_binding(f"tg:{ALICE}")

    assert before is not None and after is not None
    assert before.remote != after.remote
    assert reset == notices.reset_done(after)
    assert len(chat.texts) == 2


async def test_admin_commands_are_refused_to_others_and_work_for_admins(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.set_admins(GROUP, [CAROL])
    channel = f"tg:{GROUP}"
    async with telegram_runtime(tg, aurora, redis_url, prefix) as rt:
        said = 0

        async def say(text: str, user: int, *, until: str | None = None) -> str:
            """Say ``text``; the answer once it is there (``until`` it reads so: a streamed
            reply shows its first chunk at once and grows)."""
            nonlocal said
            tg.user_says(GROUP, text, user_id=user, chat_type="supergroup")
            said += 1
            await tg.wait_for(
                lambda: (
                    len(tg.chat_texts(GROUP)) == said and until in (None, tg.chat_texts(GROUP)[-1])
                )
            )
            return tg.chat_texts(GROUP)[-1]

        assert await say("/bind luna", BOB) == notices.not_admin()
        assert await rt.store.get_binding(channel) is None
        assert await say("/reset", BOB) == notices.not_admin()
        assert await say("/mode loud", CAROL) == notices.usage("/mode", "mentions|all|off")
        assert await say("/bind@bridge_bot", CAROL) == notices.usage("/bind", "<backend> [remote]")
        assert await say("/bind nosuch", CAROL) == notices.unknown_backend("nosuch", ["luna"])
        reply = await say("/bind@bridge_bot luna", CAROL)
        binding = await rt.store.get_binding(channel)
        assert binding is not None and reply == notices.bound(binding)
        assert await say("/mode all", ADMIN) == notices.mode_set(ReplyMode.ALL)
        echo = "echo: User502: no mention at all"
        assert await say("no mention at all", BOB, until=echo) == echo
        assert await say("/mode off", CAROL) == notices.mode_set(ReplyMode.OFF)
        tg.user_says(GROUP, "@bridge_bot anyone?", user_id=BOB, chat_type="supergroup")
        status = await say("/status", BOB)
        assert status == notices.status_text(
            binding=binding, backend="luna", mode=ReplyMode.OFF, cooldown=0
        )
        tg.flood_after(GROUP, writes=0, retry_after=1)  # the answer sits out a short flood wait
        assert await say("/unbind", CAROL) == notices.unbound(True)

    assert aurora.messages_sent == ["User502: no mention at all"]  # "anyone?" came while off
    assert len(tg.calls_of("getChatAdministrators")) == 1  # cached between commands
    assert [w.error_code for w in tg.writes_to(GROUP, ok=False)] == [429]


async def test_help_and_unknown_commands(telegram_chat: TelegramChat) -> None:
    chat, group, aurora = telegram_chat, telegram_chat.to(GROUP), telegram_chat.up
    await chat.say("/start")
    help_text = await chat.reply()
    bob = telegram_chat.to(BOB, user_id=BOB)
    await bob.say("/help")  # /start is /help by another name
    await bob.reply()
    await group.say("/help@other_bot")
    await group.say("/frobnicate@bridge_bot")
    await group.reply()
    await chat.say("/frobnicate")
    unknown = await chat.reply()

    assert chat.texts == [help_text, unknown]
    assert help_text.startswith("👋 ") and "Just send me a message" in help_text
    # The list comes from the one command table: everyone's commands, then the admins'.
    assert "/status — What this chat is connected to" in help_text
    assert "/reset — Start a fresh conversation" in help_text
    assert help_text.index("For admins:") < help_text.index("/bind <backend> [remote] — ")
    assert "/scope shared|user — " in help_text and "/block <user> — " in help_text
    assert "/start" not in help_text
    assert bob.texts == [help_text]
    assert unknown == notices.unknown_command("/frobnicate")
    assert group.texts == [notices.unknown_command("/frobnicate")]
    assert aurora.messages_sent == []


async def test_a_duplicate_update_causes_one_upstream_call(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="core.relay")
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        update = tg.user_says(ALICE, "only once", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: only once"])
        # The same update again, and the same message in a new update (a redelivery).
        tg.push_update(update, update_id=update["update_id"])
        tg.push_update({"message": update["message"]})
        tg.user_says(ALICE, "next", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: only once", "echo: next"])

    assert aurora.messages_sent == ["only once", "next"]
    # Polling confirmed the first update, so only the same message in a new update got through
    # to the relay, which knew it.
    assert "message duplicate" in caplog.text


async def test_webhook_mode_checks_the_secret_and_drops_redeliveries(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    port = free_port()
    webhook = {
        "listen": "127.0.0.1",
        "port": port,
        "url": f"http://127.0.0.1:{port}/tg/hook",
        "secret_token": "s3cret-path_token",
    }
    async with telegram_runtime(tg, aurora, redis_url, prefix, mode="webhook", webhook=webhook):
        assert tg.webhook == {"url": webhook["url"], "secret_token": "s3cret-path_token"}
        update = tg.user_says(ALICE, "by webhook", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: by webhook"])
        assert await tg.deliver(update) == 200  # Telegram retrying a delivery
        assert await tg.deliver(update, secret="wrong") == 403
        tg.user_says(ALICE, "again", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: by webhook", "echo: again"])

    assert aurora.messages_sent == ["by webhook", "again"]


async def test_stickers_and_bare_photos_get_a_short_answer(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        tg.user_sends(ALICE, "sticker", user_id=ALICE)
        tg.user_sends(ALICE, "photo", user_id=ALICE)
        await tg.wait_for(lambda: len(tg.chat_texts(ALICE)) == 2)
        tg.user_sends(ALICE, "photo", user_id=ALICE, caption="what is this?")
        await tg.wait_for(lambda: len(tg.chat_texts(ALICE)) == 3)
        # In a group, even in mode all, only a sticker meant for the bot gets the answer.
        tg.user_says(GROUP, "/mode all", user_id=ADMIN, chat_type="supergroup")
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP)) == 1)
        tg.user_sends(GROUP, "sticker", user_id=BOB, chat_type="supergroup")
        tg.user_sends(GROUP, "sticker", user_id=BOB, chat_type="supergroup", reply_to_bot=True)
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP)) == 2)

    assert tg.chat_texts(ALICE) == [notices.attachment_only()] * 2 + ["echo: what is this?"]
    assert tg.chat_texts(GROUP)[1] == notices.attachment_only()
    assert aurora.messages_sent == ["what is this?"]


async def test_formatting_falls_back_to_plain_text_when_entities_are_refused(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.refuse_formatting.add(BOB)
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        for user in (ALICE, BOB):
            slow(aurora, "**Done**: run `make`")
            tg.user_says(user, "how?", user_id=user)
        await tg.wait_for(lambda: bool(tg.chat_texts(ALICE)) and bool(tg.chat_texts(BOB)))

    (formatted,) = tg.bot_messages(ALICE)
    (plain,) = tg.bot_messages(BOB)
    assert (formatted.text, [e["type"] for e in formatted.entities]) == (
        "Done: run make",
        ["bold", "code"],
    )
    assert (plain.text, plain.entities) == ("**Done**: run `make`", [])


async def test_refused_drafts_fall_back_to_edits(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.drafts_enabled = False
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        slow(aurora, STORY)
        tg.user_says(ALICE, "story please", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [STORY])
        tg.user_says(ALICE, "again", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [STORY, "echo: again"])

    assert len(tg.calls_of("sendMessageDraft")) == 1  # refused once, then remembered
    assert tg.bot_messages(ALICE)[0].edits >= 1


async def test_the_token_never_reaches_the_logs(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
) -> None:
    with production_logs(Redactor([tg.token])) as logs:
        async with telegram_runtime(tg, aurora, redis_url, prefix):
            tg.user_says(ALICE, "hi", user_id=ALICE)
            await tg.wait_for(lambda: bool(tg.chat_texts(ALICE)))
    text = logs.getvalue()
    assert "getUpdates" in text  # the libraries' request lines were written...
    assert tg.token not in text  # ...without the token


async def test_a_refused_token_or_an_unreachable_api_is_one_clear_line(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    for telegram, expected in (
        ({"token": "999:WRONG-token"}, "telegram.token: Telegram refused the bot token"),
        ({"base_url": f"http://127.0.0.1:{free_port()}/bot"}, "telegram: cannot reach"),
    ):
        with pytest.raises(TelegramStartError) as caught:
            async with telegram_runtime(tg, aurora, redis_url, prefix, **telegram):
                pass
        assert str(caught.value).startswith(expected)
        assert "WRONG" not in str(caught.value) and tg.token not in str(caught.value)
