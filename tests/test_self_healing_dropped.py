"""One dropped connection must not lose the whole reply. The fakes break the connection of one
message send before answering; the write is repeated and the reply shown. On Discord the repeat
carries the same ``nonce`` with ``enforce_nonce``, so a create that did land is not doubled; on
Telegram (no idempotency key) a send that landed shows twice, which is rarer and better than
silence."""

from __future__ import annotations

import pytest

from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import ALICE, GROUP, MEMBER_ID, open_discord, telegram_runtime

REPLY = "The whole reply, in a few pieces."


def slowly(up: AuroraFake) -> None:
    up.reply_with(REPLY, chunk_size=8, chunk_delay=0.05)


@pytest.mark.parametrize("landed", [False, True], ids=["lost", "landed"])
async def test_telegram_private_reply_survives_a_dropped_send(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str, landed: bool
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix) as rt:
        tg.chat(ALICE)
        tg.drop_next("sendMessage", landed=landed)
        slowly(aurora)
        tg.user_says(ALICE, "tell me", user_id=ALICE)
        shown = [REPLY, REPLY] if landed else [REPLY]  # a landed send cannot be told apart
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == shown and rt.relay.in_flight == 0)
    assert tg.dropped == ["sendMessage"]
    assert len(tg.calls_of("sendMessage")) == 2
    assert aurora.messages_sent == ["tell me"]


async def test_telegram_group_reply_survives_a_dropped_first_send(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with telegram_runtime(tg, aurora, redis_url, prefix) as rt:
        tg.drop_next("sendMessage")
        slowly(aurora)
        tg.user_says(GROUP, "@bridge_bot tell me", user_id=ALICE, chat_type="supergroup")
        await tg.wait_for(lambda: tg.chat_texts(GROUP) == [REPLY] and rt.relay.in_flight == 0)
    assert tg.dropped == ["sendMessage"]
    assert aurora.messages_sent == ["User501: tell me"]


@pytest.mark.parametrize("landed", [False, True], ids=["lost", "landed"])
async def test_discord_reply_survives_a_dropped_create(
    aurora: AuroraFake, redis_url: str, prefix: str, landed: bool
) -> None:
    async with (
        DiscordFake(rate_limit=50, rate_window=1.0) as fake,
        open_discord(fake, aurora, redis_url, prefix) as env,
    ):
        ch = fake.default_channel_id
        fake.drop_next("create", landed=landed)
        slowly(aurora)
        await fake.user_says(ch, "tell me", user_id=MEMBER_ID, mention_bot=True)
        await env.shown(ch, [REPLY])
    assert fake.dropped == ["create"]
    creates = [w for w in fake.writes if w.kind.startswith("create")]
    # The repeat carries the first attempt's nonce; a create that landed is answered, not made.
    assert [w.kind for w in creates] == (["create", "create_again"] if landed else ["create"])
    assert aurora.messages_sent == ["user2: tell me"]
