"""Zero-width input: a message made only of zero-width characters and whitespace is empty. It
is answered with the empty-message notice, and nothing goes upstream."""

from __future__ import annotations

import pytest

from core import notices
from core.text import is_blank
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, MEMBER_ID, open_discord, telegram_runtime

INVISIBLE = "\u200b \u200c\u200d\u2060\ufeff\n\u200b"


@pytest.mark.parametrize(
    "text",
    ["", "  \n\t", INVISIBLE, "\u200e\u202e\u2066", "\u3164", "\u2800\u2800", "\u00ad"],
)
def test_text_that_shows_nothing_is_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "\u200bx\u200b", "👍", "👨\u200d👩", ".", "\u0301"])
def test_text_that_shows_something_is_not_blank(text: str) -> None:
    assert not is_blank(text)


async def test_a_telegram_message_of_zero_width_characters_is_empty(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        tg.chat(ALICE)
        tg.user_says(ALICE, INVISIBLE, user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [notices.empty()])
        tg.user_says(ALICE, "and now?", user_id=ALICE)
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == [notices.empty(), "echo: and now?"])
    assert aurora.messages_sent == ["and now?"]


async def test_a_discord_message_of_zero_width_characters_is_empty(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with (
        DiscordFake(rate_limit=5, rate_window=1.0) as fake,
        open_discord(fake, aurora, redis_url, prefix) as env,
    ):
        ch = fake.default_channel_id
        await fake.user_says(ch, INVISIBLE, user_id=MEMBER_ID, mention_bot=True)
        await env.shown(ch, [notices.empty()])
        await fake.user_says(ch, "and now?", user_id=MEMBER_ID, mention_bot=True)
        await env.fake.wait_for(lambda: len(fake.channel_texts(ch)) == 2)
        await env.settle()
    assert aurora.messages_sent == ["user2: and now?"]  # a server channel names its speaker


async def test_a_notice_that_meets_a_platform_outage_is_tried_again(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    # Two 502s on the notice's sendMessage: nothing landed, so it is sent again.
    async with telegram_runtime(tg, aurora, redis_url, prefix):
        tg.chat(ALICE)
        tg.fail_next(ALICE, "sendMessage", 2)
        tg.user_says(ALICE, INVISIBLE, user_id=ALICE)
        await tg.wait_for(lambda: notices.empty() in tg.chat_texts(ALICE), within=30)
    assert tg.chat_texts(ALICE) == [notices.empty()]
    assert aurora.messages_sent == []
