"""Allowances on the way through the bridge: a message over a limit is not sent upstream and its
author is told once per window; a charge the upstream never took is given back; /usage, /grant
and the admins' plan alerts on both platforms. Through the fakes, on Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bots.runtime import open_runtime
from core import notices
from core.allowances import MessageFacts, limits_for, plan_meter
from core.delivery import Outcome
from core.model import Binding, Incoming
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake, UserOption
from tests.fakes.surface import MemorySurface
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    ADMIN,
    ADMIN_ID,
    ALICE,
    GROUP,
    MEMBER_ID,
    TelegramChat,
    aurora_backend,
    make_settings,
    open_discord,
    run_cli,
    telegram_bridge,
    telegram_section,
    toml,
)

DAILY = {"per_user": "2/1d"}


@contextlib.asynccontextmanager
async def metered(
    tg: FakeTelegram,
    aurora: AuroraFake,
    redis_url: str,
    prefix: str,
    allowances: dict[str, Any],
    *,
    relay: dict[str, Any] | None = None,
    **backend: Any,
) -> AsyncIterator[TelegramChat]:
    """A private chat of ALICE with the bridge on Telegram, with these allowances (and backend
    settings), ADMIN an admin."""
    settings = make_settings(
        backends={"luna": aurora_backend(aurora, **backend)},
        redis_url=redis_url,
        prefix=prefix,
        telegram=telegram_section(tg, admins=[ADMIN]),
        allowances=allowances,
        relay=relay or {},
    )
    async with telegram_bridge(settings) as (rt, frontend):
        yield TelegramChat(tg, aurora, rt, frontend)


async def used(chat: TelegramChat, author: str = f"tg:{ALICE}") -> int:
    """The person's count in their window now, as the store holds it."""
    facts = MessageFacts(author=author, channel="")
    meter = limits_for(facts, chat.rt.settings.allowances, time.time())[0]
    return (await chat.rt.store.usage([meter]))[0].used


def refusals(chat: TelegramChat, scope: str = "user") -> float:
    return chat.rt.metrics.allowance_refusals.labels(scope)._value.get()


# --- refusal ----------------------------------------------------------------------------------


async def test_over_the_limit_one_notice_per_window_then_silence(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        for text in ("one", "two"):
            await chat.say(text)
            assert await chat.reply() == f"echo: {text}"
        await chat.say("three")
        notice = await chat.reply()
        assert notice.startswith("🧮 You've used all your messages for now")
        assert "00:00 UTC" in notice  # when it starts again: the next midnight
        await chat.say("four")
        await chat.say("five")
        await tg.wait_for(lambda: refusals(chat) == 3)
        await chat.shows(["echo: one", "echo: two", notice])
        assert aurora.messages_sent == ["one", "two"]
        assert await used(chat) == 2
        metrics = chat.rt.metrics
        assert metrics.upstream_messages.labels("luna", "telegram")._value.get() == 2
        assert metrics.messages.labels("telegram", "-", "over_allowance")._value.get() == 3
        # Another chat of the same person: the limit is theirs everywhere, told there once.
        group = chat.to(GROUP, user_id=ALICE)
        await group.say("@bridge_bot hello", chat_type="supergroup")
        assert (await group.reply()).startswith("🧮 You've used all your messages")
        assert aurora.messages_sent == ["one", "two"]


async def test_counts_survive_a_restart(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        await chat.say("before")
        assert await chat.reply() == "echo: before"
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        chat.log.read = len(chat.texts)
        assert await used(chat) == 1
        await chat.say("after")
        assert await chat.reply() == "echo: after"
        await chat.say("one too many")
        assert (await chat.reply()).startswith("🧮")
    assert aurora.messages_sent == ["before", "after"]


async def test_an_exempt_admin_is_counted_but_never_refused(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, {"per_user": "1/1d"}) as alice:
        admin = alice.to(ADMIN)
        for text in ("a", "b"):
            await admin.say(text)
            assert await admin.reply() == f"echo: {text}"
        assert await used(alice, f"tg:{ADMIN}") == 2


# --- refunds: the upstream provably never took the message ---------------------------------------


async def test_a_message_for_a_backend_no_longer_configured_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        await chat.rt.store.set_binding(f"tg:{ALICE}", Binding("gone", {"chat_id": "1"}))
        await chat.say("hello")
        assert "isn't connected" in await chat.reply()
        assert await used(chat) == 0


async def test_a_message_too_long_for_the_backend_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY, max_input_chars=5) as chat:
        await chat.say("far too long")
        assert "the limit is 5" in await chat.reply()
        assert await used(chat) == 0 and aurora.messages_sent == []


async def test_a_message_that_meets_a_quota_cooldown_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        await chat.rt.store.set_cooldown("luna", 600)
        await chat.say("hello")
        assert "message limit" in await chat.reply()
        assert await used(chat) == 0 and aurora.messages_sent == []


async def test_a_message_that_waited_too_long_for_its_turn_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"lock_wait": 0.5}
    async with metered(tg, aurora, redis_url, prefix, DAILY, relay=relay) as chat:
        aurora.reply_with("slow and long", chunk_size=2, chunk_delay=0.3)
        await chat.say("first")
        await tg.wait_for(lambda: aurora.messages_sent == ["first"])
        # Another process of the deployment takes the chat's next message: it waits for the
        # turn the first process holds, and gives up.
        async with open_runtime(chat.rt.settings) as other:
            msg = Incoming("telegram", f"tg:{ALICE}", f"tg:{ALICE}", "second", "tg:501:second")
            surface = MemorySurface(key=msg.channel)
            outcome = await other.bridge.handle(msg, surface, is_admin=nobody)
        assert outcome is Outcome.BUSY and surface.messages == [notices.busy()]
        assert await chat.reply() == "slow and long"
        assert aurora.messages_sent == ["first"]
        assert await used(chat) == 1


async def nobody() -> bool:
    return False


async def test_a_refused_connection_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY, connect_timeout=2.0) as chat:
        await chat.say("hello")
        assert await chat.reply() == "echo: hello"
        await aurora.stop()  # nothing listens on its port any more
        await chat.say("anyone?")
        assert "not reachable" in await chat.reply()
        assert await used(chat) == 1


async def test_a_4xx_before_any_reply_is_given_back(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, {"per_user": "5/1d"}) as chat:
        for status in (400, 422, 429):  # the 429 of a used-up quota, not a throttle retried
            aurora.fail_next(status, kind="quota")
            await chat.say(f"refused with {status}")
            await chat.reply()
            assert await used(chat) == 0, status


async def test_a_5xx_after_the_post_stays_charged(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        aurora.fail_next(500)
        await chat.say("hello")
        assert "not reachable" in await chat.reply()
        assert await used(chat) == 1


async def test_a_stream_dropped_midway_stays_charged(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, DAILY) as chat:
        aurora.reply_with("Part of it and more", chunk_size=4, fault="drop", fault_after=1)
        await chat.say("hello")
        assert "cut off" in await chat.reply()
        assert await used(chat) == 1


async def test_a_message_left_in_the_journal_at_shutdown_stays_charged(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with metered(tg, aurora, redis_url, prefix, {"per_user": "5/1d"}) as chat:
        aurora.reply_with("a long story", chunk_size=2, chunk_delay=0.3)
        await chat.say("first")
        await tg.wait_for(lambda: aurora.messages_sent == ["first"])
        await chat.say("queued")
        await tg.wait_for(lambda: chat.rt.relay.in_flight == 2)
        await chat.rt.relay.drain(0.5)
        # The queued one is resumed by the next process without a new charge.
        assert aurora.messages_sent == ["first"]
        assert await used(chat) == 2


# --- /usage and /grant --------------------------------------------------------------------------


async def test_usage_and_grant_on_telegram(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    plans = {**DAILY, "backends": {"luna": "100/30d"}}
    async with metered(tg, aurora, redis_url, prefix, plans) as alice:
        await alice.say("hello")
        assert await alice.reply() == "echo: hello"
        await alice.say("/usage")
        mine = await alice.reply()
        assert mine.startswith("🧮 You: 1 of 2 messages, until ") and "\n" not in mine

        admin = alice.to(ADMIN)
        await admin.say("/usage")
        report = await admin.reply()
        assert report.startswith("🧮 You: 0 of 2 messages")
        assert "This chat: 0 messages (no limit)" in report
        assert "The plan with 'luna': 1 of 100 messages" in report
        assert f"Most messages in this window: telegram:{ALICE} (1)" in report
        assert "At this rate the plan with 'luna' " in report  # runs out on ..., or lasts

        await alice.say("/grant 501 3")
        assert await alice.reply() == "🔒 Sorry, only admins of this chat can do that."
        await admin.say(f"/grant {ALICE} 3")
        assert await admin.reply() == (
            f"✅ telegram:{ALICE} now has 3 extra messages in this window (1 used so far)."
        )
        for text in ("two", "three", "four", "five"):
            await alice.say(text)
            assert await alice.reply() == f"echo: {text}"
        await alice.say("six")
        assert (await alice.reply()).startswith("🧮 You've used all your messages")

        # In a group, by replying to the person's message; a negative amount takes back.
        tg.chat(GROUP, "supergroup")
        said = await alice.to(GROUP, user_id=ALICE).say("thanks all")
        in_group = alice.to(GROUP, user_id=ADMIN)
        await in_group.say("/grant -1", reply_to=said["message_id"])
        assert await in_group.reply() == (
            f"✅ telegram:{ALICE} now has 2 extra messages in this window (5 used so far)."
        )
        await in_group.say("/grant many", reply_to=said["message_id"])
        assert await in_group.reply() == "Usage: /grant <user> <amount>"
        # In a group even an admin's /usage is the short answer: the long one names people.
        await in_group.say("/usage")
        assert (await in_group.reply()).startswith("🧮 You: 0 of 2 messages, until ")
        assert "\n" not in in_group.texts[-1]


async def test_usage_and_grant_on_discord(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    sections = {"allowances": {"per_user": "1/1d", "per_server": "50/1d"}}
    async with open_discord(dc, aurora, redis_url, prefix, sections=sections) as chat:
        await chat.say("hello", mention_bot=True)
        assert (await chat.reply()).endswith("hello")
        answer = await dc.slash(chat.channel, "usage", user_id=MEMBER_ID)
        assert answer.ephemeral
        assert answer.text and answer.text.startswith("🧮 You: 1 of 1 messages, until ")

        mine = await dc.slash(chat.channel, "bridge", "usage", user_id=ADMIN_ID)
        assert mine.text and "Everyone here together: 1 of 50 messages" in mine.text
        assert f"discord:{MEMBER_ID} (1)" in mine.text

        grant = {"user": UserOption(MEMBER_ID), "amount": "2"}
        refused = await dc.slash(chat.channel, "bridge", "grant", grant, user_id=MEMBER_ID)
        assert refused.text == "🔒 Sorry, only admins of this chat can do that."
        done = await dc.slash(chat.channel, "bridge", "grant", grant, user_id=ADMIN_ID)
        assert done.ephemeral and done.text == (
            f"✅ discord:{MEMBER_ID} now has 2 extra messages in this window (1 used so far)."
        )
        await chat.say("again", mention_bot=True)
        assert (await chat.reply()).endswith("again")


# --- plan alerts ---------------------------------------------------------------------------------


PLAN = {"backends": {"luna": "4/1d"}, "alert_at": [0.5, 1.0], "admins_exempt": False}


async def test_plan_alerts_reach_each_admin_once_per_share_on_telegram(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    tg.chat(ADMIN)  # the admin started the bot: it may write to them
    async with metered(tg, aurora, redis_url, prefix, PLAN) as chat:
        for n in range(5):
            await chat.say(f"message {n}")
            await chat.reply()
        await tg.wait_for(lambda: len(tg.chat_texts(ADMIN)) == 2)
        half, full = tg.chat_texts(ADMIN)
        assert half.startswith("🧮 Plan alert (50%): The plan with 'luna' has used 2 of 4")
        assert "At this rate the plan with 'luna' " in half  # the forecast
        assert full.startswith("🧮 Plan alert (100%): The plan with 'luna' has used 4 of 4")
        assert "has used all the messages of the bot's plan" in chat.texts[-1]
        assert refusals(chat, "plan") == 1
        await asyncio.sleep(0.2)  # nothing more comes for the refused message
        assert len(tg.chat_texts(ADMIN)) == 2


async def test_plan_alerts_reach_the_admins_by_direct_message_on_discord(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_discord(dc, aurora, redis_url, prefix, sections={"allowances": PLAN}) as chat:
        for n in range(2):
            await chat.say(f"message {n}", mention_bot=True)
            await chat.reply()
        await dc.wait_for(lambda: len(dc.dm_texts(ADMIN_ID)) == 1)
        [alert] = dc.dm_texts(ADMIN_ID)
        assert alert.startswith("🧮 Plan alert (50%): The plan with 'luna' has used 2 of 4")
        assert dc.dm_texts(MEMBER_ID) == []
        meter = plan_meter("luna", chat.rt.settings.allowances, time.time())
        assert (await chat.rt.store.usage([meter]))[0].used == 2


# --- bridge usage --------------------------------------------------------------------------------


async def test_bridge_usage_reads_the_counters_from_the_store(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    allowances = {"per_user": "10/1d", "backends": {"luna": "100/30d"}}
    async with metered(tg, aurora, redis_url, prefix, allowances) as alice:
        for text in ("one", "two"):
            await alice.say(text)
            await alice.reply()
        admin = alice.to(ADMIN)
        await admin.say("three")
        await admin.reply()
    config = tmp_path / "config.toml"
    config.write_text(
        toml(
            {
                "store": {"url": redis_url, "prefix": prefix},
                "backends.luna": aurora_backend(aurora),
                "allowances": {"per_user": "10/1d"},
                "allowances.backends": {"luna": "100/30d"},
            }
        )
    )
    code, out, err = await run_cli("usage", "--config", str(config), "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [
        {"user": f"telegram:{ALICE}", "messages": 2},
        {"user": f"telegram:{ADMIN}", "messages": 1},
    ]
    code, out, _ = await run_cli(
        "usage", "--config", str(config), "--by", "backend", "--since", "30d", "--format", "csv"
    )
    assert (code, out) == (0, "backend,messages\nluna,3\n")
    code, out, _ = await run_cli("usage", "--config", str(config), "--by", "chat")
    assert code == 0 and out.splitlines()[0].split() == ["chat", "messages"]
    assert f"tg:{ALICE}" in out and f"tg:{ADMIN}" in out
    code, _, err = await run_cli("usage", "--config", str(config), "--since", "soon")
    assert code == 2 and "not a duration" in err
