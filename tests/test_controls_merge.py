"""A person's queued messages merged: what waits behind a reply goes upstream as one message,
through the fakes on both platforms; people are never merged with each other."""

from __future__ import annotations

from core.records import State
from tests.fakes.aurora import AuroraFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    ALICE,
    BOB,
    GROUP,
    TelegramChat,
    aurora_backend,
    make_settings,
    open_discord,
    open_telegram,
    telegram_bridge,
    telegram_section,
)

LINES = ["first line", "second line", "third line"]


def slow_reply(aurora: AuroraFake, text: str = "a long answer " * 10) -> None:
    """The next reply streams for a second or so: what is said meanwhile queues behind it."""
    aurora.reply_with(text, chunk_size=7, chunk_delay=0.05)


async def test_three_queued_messages_become_one_post_in_order_on_telegram(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        slow_reply(aurora, "the first answer " * 6)
        await chat.say("tell me something")
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))  # the reply streams
        said = [(await chat.say(line))["message_id"] for line in LINES]
        await chat.shows(["the first answer " * 6, "echo: " + "\n\n".join(LINES)])
        # Settled in the journal: the first record holds the merged text, none is left open.
        records = [await chat.rt.store.journal_get(f"tg:{ALICE}", f"tg:{ALICE}:{m}") for m in said]
        assert [r.state if r else None for r in records] == [State.DONE] * 3
        assert records[0] is not None and records[0].text == "\n\n".join(LINES)
        assert await chat.rt.store.journal_lapsed() == []
    assert aurora.messages_sent == ["tell me something", "\n\n".join(LINES)]


async def test_three_queued_messages_become_one_post_in_order_on_discord(
    dc: DiscordFake, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_discord(dc, aurora, redis_url, prefix) as chat:
        dm = chat.dm()
        slow_reply(aurora, "the first answer " * 6)
        await dm.say("tell me something")
        await dc.wait_for(lambda: bool(dm.texts))  # the reply streams
        for line in LINES:
            await dm.say(line)
        await dm.shows(["the first answer " * 6, "echo: " + "\n\n".join(LINES)])
    assert aurora.messages_sent == ["tell me something", "\n\n".join(LINES)]


async def test_two_peoples_messages_are_not_merged_and_speakers_stay_named(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with open_telegram(tg, aurora, redis_url, prefix) as chat:
        alice, bob = chat.to(GROUP, user_id=ALICE), chat.to(GROUP, user_id=BOB)
        slow_reply(aurora)
        await alice.say("@bridge_bot tell me something", first_name="Alice")
        await tg.wait_for(lambda: bool(tg.chat_texts(GROUP)))
        await alice.say("@bridge_bot one", first_name="Alice")
        await alice.say("@bridge_bot two", first_name="Alice")
        await bob.say("@bridge_bot three", first_name="Bob")
        await tg.wait_for(lambda: len(tg.chat_texts(GROUP)) == 3 and chat.rt.relay.in_flight == 0)
    assert aurora.messages_sent[1:] == ["Alice: one\n\nAlice: two", "Bob: three"]


async def test_the_merge_stops_at_the_backends_input_limit(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    settings = make_settings(
        backends={"luna": aurora_backend(aurora, max_input_chars=30)},
        redis_url=redis_url,
        prefix=prefix,
        telegram=telegram_section(tg),
    )
    async with telegram_bridge(settings) as (rt, frontend):
        chat = TelegramChat(tg, aurora, rt, frontend)
        slow_reply(aurora)
        await chat.say("tell me something")
        await tg.wait_for(lambda: bool(tg.chats[ALICE].drafts))
        for line in LINES:
            await chat.say(line)
        await tg.wait_for(lambda: len(chat.texts) == 3 and chat.rt.relay.in_flight == 0)
    # 11 + 2 + 11 characters fit in 30; the third line goes next, on its own.
    assert aurora.messages_sent[1:] == ["first line\n\nsecond line", "third line"]


async def test_the_merge_window_waits_for_the_same_persons_next_message(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    relay = {"merge_window": "700ms"}
    async with open_telegram(tg, aurora, redis_url, prefix, sections={"relay": relay}) as chat:
        for line in LINES:  # to an idle channel: nothing is streaming
            await chat.say(line)
        await chat.shows(["echo: " + "\n\n".join(LINES)])
    assert aurora.messages_sent == ["\n\n".join(LINES)]


def answered_all(chat: TelegramChat, aurora: AuroraFake, before: int) -> bool:
    """The burst's last line went upstream and everything is answered."""
    last_sent = any("line 5" in m for m in aurora.messages_sent[before:])
    return last_sent and chat.rt.relay.in_flight == 0


async def test_a_burst_of_five_lines_costs_fewer_upstream_messages(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    five = [f"line {n}" for n in range(1, 6)]
    costs: dict[str, int] = {}
    for name, relay in {
        "no merge": {"merge_queued": False},
        "merge (default)": {},
        "merge + 1s window": {"merge_window": "1s"},
    }.items():
        async with open_telegram(
            tg, aurora, redis_url, f"{prefix}{len(costs)}", sections={"relay": relay}
        ) as chat:
            sent = len(aurora.messages_sent)
            if name != "merge + 1s window":
                slow_reply(aurora)
            for line in five:
                await chat.say(line)
            await tg.wait_for(lambda c=chat, n=sent: answered_all(c, aurora, n))
            costs[name] = len(aurora.messages_sent) - sent
    print(f"upstream messages for a burst of five lines: {costs}")
    assert costs["no merge"] == 5
    assert costs["merge (default)"] < 5 and costs["merge + 1s window"] == 1
