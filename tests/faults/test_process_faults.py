"""Process faults: `bridge run` killed with -9 or stopped with SIGTERM mid-reply, then started
again. Each asserts that nothing was lost, no prompt reached the upstream twice, no process
printed a traceback, and the (restarted) bridge serves the next message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from core import notices
from tests.fakes.cody import CodyFake
from tests.fakes.discord import DiscordFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import MakeBridge, RestartableRun, no_traceback
from tests.harness.faults import GROUP, MEMBER, STORY, prompts_once


def slow_story(cody: CodyFake, *, stored: bool) -> None:
    """The next reply trickles for about three seconds; with ``stored`` the server finishes and
    keeps it even when the client is gone, as a real server that generates on its side."""
    cody.reply_with(STORY, chunk_size=6, chunk_delay=0.1, server_finishes=stored)


def partial_then_notice(texts: list[str]) -> bool:
    """The half-written reply is still there, and the same message ends with the interrupted
    notice (no second message)."""
    ending = f"\n\n{notices.reply_lost()}"
    if len(texts) != 1 or not texts[0].endswith(ending):
        return False
    partial = texts[0].removesuffix(ending)
    return bool(partial) and STORY.startswith(partial) and partial != STORY


async def serves_telegram(tg: FakeTelegram, user_id: int = 610) -> None:
    tg.user_says(user_id, "still there?", user_id=user_id)
    await tg.wait_for(lambda: tg.chat_texts(user_id) == ["echo: still there?"], within=30)


async def kill_mid_reply(bridge: RestartableRun, shown: Callable[[], bool]) -> str:
    """Wait until the reply shows text, give the journal a moment, and kill -9."""
    async with asyncio.timeout(20):
        # Polling on purpose: the predicate reads a fake the bridge process writes to.
        while not shown():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.4)
    return await bridge.kill()


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not-stored"])
async def test_kill_9_mid_reply_in_a_telegram_group(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, stored: bool
) -> None:
    first = make_bridge()
    await first.start()
    slow_story(cody, stored=stored)
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    before = await kill_mid_reply(first, lambda: bool(tg.chat_texts(GROUP)))
    assert tg.chat_texts(GROUP)[0] != STORY  # it really died mid-reply

    second = make_bridge()
    await second.start()
    if stored:
        await tg.wait_for(lambda: tg.chat_texts(GROUP) == [STORY], within=30)
    else:
        await tg.wait_for(lambda: partial_then_notice(tg.chat_texts(GROUP)), within=30)
    prompts_once(cody, "tell me a story")
    await serves_telegram(tg)
    no_traceback(before, second.output)


@pytest.mark.parametrize("stored", [True, False], ids=["stored", "not-stored"])
async def test_kill_9_mid_reply_in_a_discord_channel(
    make_bridge: MakeBridge, dc: DiscordFake, cody: CodyFake, stored: bool
) -> None:
    channel = dc.default_channel_id
    first = make_bridge()
    await first.start()
    slow_story(cody, stored=stored)
    await dc.user_says(channel, "tell me a story", user_id=MEMBER, mention_bot=True)
    before = await kill_mid_reply(first, lambda: bool(dc.channel_texts(channel)))
    assert dc.channel_texts(channel)[0] != STORY

    second = make_bridge()
    await second.start()
    if stored:
        await dc.wait_for(lambda: dc.channel_texts(channel) == [STORY], within=30)
    else:
        await dc.wait_for(lambda: partial_then_notice(dc.channel_texts(channel)), within=30)
    prompts_once(cody, "tell me a story")
    await dc.user_says(channel, "next one", user_id=MEMBER, mention_bot=True)
    await dc.wait_for(lambda: dc.channel_texts(channel)[-1] == "echo: next one", within=30)
    prompts_once(cody, "next one")
    no_traceback(before, second.output)


async def private_reply_killed(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, chat: int, *, stored: bool
) -> str:
    """A private chat asks for a story and its process is killed -9 while the draft streams
    (no text survives it); what the process printed."""
    first = make_bridge()
    await first.start()
    slow_story(cody, stored=stored)
    tg.user_says(chat, "tell me a story", user_id=chat)
    before = await kill_mid_reply(first, lambda: tg.chats[chat].draft is not None)
    assert tg.chat_texts(chat) == []
    return before


async def test_kill_9_while_the_interrupted_notice_is_retried_leaves_it_to_the_next_process(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    """A private reply (a draft, so no text survives) is cut by kill -9 and was not stored
    upstream. The next process's notice meets a Bot API outage, and that process dies too
    while it tries again: the third one still tells the user."""
    chat = 633
    before = await private_reply_killed(make_bridge, tg, cody, chat, stored=False)

    tg.outage(chat, 600, status=500)
    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: notices_tried(tg, chat) >= 2, within=40)
    during = await second.kill()
    assert tg.chat_texts(chat) == []

    tg.outage(chat, 0)
    third = make_bridge()
    await third.start()
    await tg.wait_for(lambda: tg.chat_texts(chat) == [notices.reply_lost()], within=40)
    prompts_once(cody, "tell me a story")
    no_traceback(before, during, third.output)


def notices_tried(tg: FakeTelegram, chat: int) -> int:
    """How many times a message was sent to the chat (landed or not)."""
    return sum(1 for p in tg.calls_of("sendMessage") if int(p["chat_id"]) == chat)


async def kill_while_creating(bridge: RestartableRun, cody: CodyFake) -> str:
    """Hold the next conversation's creation, wait until it was asked for, and kill -9."""
    async with asyncio.timeout(20):
        # Polling on purpose: the bridge process makes the request.
        while not any(  # noqa: ASYNC110
            r.method == "POST" and r.path.endswith("/conversations") for r in cody.requests
        ):
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    out = await bridge.kill()
    cody.create_delay = 0.0
    assert cody.messages_sent == []  # killed before the prompt was POSTed
    return out


async def test_kill_9_while_a_telegram_groups_conversation_is_created(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    """Killed before the prompt left: the next process relays it once, with no notice."""
    first = make_bridge()
    await first.start()
    cody.create_delay = 60.0
    tg.user_says(GROUP, "@bridge_bot first words", user_id=501, chat_type="supergroup")
    before = await kill_while_creating(first, cody)

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(GROUP) == ["echo: first words"], within=30)
    prompts_once(cody, "first words")
    await serves_telegram(tg)
    assert tg.chat_texts(GROUP) == ["echo: first words"]  # no interrupted notice
    no_traceback(before, second.output)


async def test_kill_9_while_a_discord_channels_conversation_is_created(
    make_bridge: MakeBridge, dc: DiscordFake, cody: CodyFake
) -> None:
    channel = dc.default_channel_id
    first = make_bridge()
    await first.start()
    cody.create_delay = 60.0
    await dc.user_says(channel, "first words", user_id=MEMBER, mention_bot=True)
    before = await kill_while_creating(first, cody)

    second = make_bridge()
    await second.start()
    await dc.wait_for(lambda: dc.channel_texts(channel) == ["echo: first words"], within=30)
    prompts_once(cody, "first words")
    await dc.user_says(channel, "next one", user_id=MEMBER, mention_bot=True)
    await dc.wait_for(lambda: dc.channel_texts(channel)[-1] == "echo: next one", within=30)
    assert dc.channel_texts(channel) == ["echo: first words", "echo: next one"]
    no_traceback(before, second.output)


async def final_text_kept(redis_url: str, prefix: str) -> bool:
    """Whether a journal record holds a reply's final text (its final write failed)."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*:j:*")]
        raws = await client.mget(keys) if keys else []
        return any(raw and json.loads(raw).get("final") for raw in raws)
    finally:
        await client.aclose()


async def test_kill_9_while_the_final_text_is_retried_writes_it_after_the_restart(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    """Telegram refuses the final write and the process dies while it retries: the next
    process writes the final text the journal kept, with no look-up upstream."""
    chat = 631
    first = make_bridge()
    await first.start()
    tg.fail_next(chat, "sendMessage", 6, status=500)
    cody.reply_with(STORY, chunk_size=40)
    tg.user_says(chat, "tell me a story", user_id=chat)
    async with asyncio.timeout(20):
        while not await final_text_kept(redis_url, prefix):  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)
    before = await first.kill()
    assert tg.chat_texts(chat) == []

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(chat) == [STORY], within=40)
    prompts_once(cody, "tell me a story")
    assert not [r for r in cody.requests if r.method == "GET" and r.path.endswith("/messages")]
    tg.user_says(chat, "still there?", user_id=chat)
    await tg.wait_for(lambda: tg.chat_texts(chat) == [STORY, "echo: still there?"], within=30)
    no_traceback(before, second.output)


async def journal_records(redis_url: str, prefix: str) -> int:
    """How many journal records the store holds."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        return len([k async for k in client.scan_iter(match=f"{prefix}:*:j:*")])
    finally:
        await client.aclose()


async def test_kill_9_with_a_message_queued_behind_the_reply(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, redis_url: str, prefix: str
) -> None:
    first = make_bridge()
    await first.start()
    # ~30 s: the reply is still streaming (and the next message still waiting its turn) when
    # the process dies, however slowly a loaded machine delivers the second update.
    cody.reply_with(STORY, chunk_size=6, chunk_delay=1.0, server_finishes=True)
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    await tg.wait_for(lambda: bool(tg.chat_texts(GROUP)), within=20)
    tg.user_says(GROUP, "@bridge_bot and then?", user_id=502, chat_type="supergroup")
    async with asyncio.timeout(20):  # the queued message is in the journal before the crash
        while await journal_records(redis_url, prefix) < 2:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)
    before = await kill_mid_reply(first, lambda: True)
    assert "and then?" not in cody.messages_sent  # it was still waiting its turn

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(GROUP) == [STORY, "echo: and then?"], within=30)
    prompts_once(cody, "tell me a story", "and then?")
    await serves_telegram(tg)
    no_traceback(before, second.output)


async def test_sigterm_while_the_final_text_waits_out_a_flood_hands_the_reply_over_once(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    """The final write waits out a flood wait longer than the grace period when SIGTERM comes:
    the stopping process writes nothing more, and the next one shows the reply, once."""
    chat = 634
    first = make_bridge(grace=2.0)
    await first.start()
    cody.reply_with(STORY, chunk_size=40)
    tg.flood_after(chat, 0, retry_after=12)
    tg.user_says(chat, "tell me a story", user_id=chat)
    await tg.wait_for(lambda: floods_in(tg, chat) >= 1, within=20)
    code, before = await first.terminate(within=20)
    assert code == 0, before[-3000:]
    assert tg.chat_texts(chat) == []

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(chat) == [STORY], within=40)
    await asyncio.sleep(1.0)  # nothing more lands
    assert tg.chat_texts(chat) == [STORY]
    prompts_once(cody, "tell me a story")
    no_traceback(before, second.output)


async def test_sigterm_while_recovery_waits_out_a_flood_leaves_the_reply_to_the_next_process(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    """kill -9 mid-reply; the next process's recovery meets a long flood wait and is stopped
    with SIGTERM meanwhile: the third process still shows the reply, once."""
    chat = 635
    before = await private_reply_killed(make_bridge, tg, cody, chat, stored=True)

    tg.flood_after(chat, 0, retry_after=30)
    second = make_bridge(grace=2.0)
    await second.start()
    await tg.wait_for(lambda: floods_in(tg, chat) >= 1, within=40)
    code, during = await second.terminate(within=20)
    assert code == 0, during[-3000:]
    assert tg.chat_texts(chat) == []

    tg.chat(chat).penalty_until = 0.0  # the flood is over
    third = make_bridge()
    await third.start()
    await tg.wait_for(lambda: tg.chat_texts(chat) == [STORY], within=60)
    prompts_once(cody, "tell me a story")
    no_traceback(before, during, third.output)


def floods_in(tg: FakeTelegram, chat: int) -> int:
    """How many writes to the chat were answered with a flood wait."""
    return sum(1 for w in tg.writes_to(chat, ok=False) if w.error_code == 429)


async def test_sigterm_leaves_the_queued_message_to_the_next_process(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake
) -> None:
    first = make_bridge(grace=3.0)
    await first.start()
    cody.reply_with(STORY, chunk_size=6, chunk_delay=0.3)  # ~9 s: longer than the grace period
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    await tg.wait_for(lambda: bool(tg.chat_texts(GROUP)), within=20)
    tg.user_says(GROUP, "@bridge_bot and then?", user_id=502, chat_type="supergroup")
    await asyncio.sleep(1.0)
    code, before = await first.terminate(within=20)
    assert code == 0, before[-3000:]
    assert cody.messages_sent == ["tell me a story"]  # nothing new went upstream
    shown = tg.chat_texts(GROUP)
    assert len(shown) == 1 and shown[0].endswith(notices.shutting_down())

    second = make_bridge()
    await second.start()
    await tg.wait_for(lambda: tg.chat_texts(GROUP)[-1:] == ["echo: and then?"], within=30)
    prompts_once(cody, "tell me a story", "and then?")
    await serves_telegram(tg)
    no_traceback(before, second.output)


async def test_a_dead_processs_lease_lapses_and_its_channel_answers_again(
    make_bridge: MakeBridge, dc: DiscordFake, cody: CodyFake
) -> None:
    """With the default 15 s lease: after kill -9 mid-reply, a new message in that channel is
    answered once the dead process's lease lapsed, without waiting minutes."""
    channel = dc.default_channel_id
    first = make_bridge(lock_ttl=15.0)
    await first.start()
    cody.reply_with(STORY, chunk_size=6, chunk_delay=0.3, fault="stall", fault_after=3)
    await dc.user_says(channel, "tell me a story", user_id=MEMBER, mention_bot=True)
    before = await kill_mid_reply(first, lambda: bool(dc.channel_texts(channel)))

    second = make_bridge(lock_ttl=15.0)
    await second.start()
    await dc.user_says(channel, "anyone home?", user_id=MEMBER + 1, mention_bot=True)
    await dc.wait_for(lambda: "echo: anyone home?" in dc.channel_texts(channel), within=40)
    await dc.wait_for(
        lambda: any(t.endswith(notices.reply_lost()) for t in dc.channel_texts(channel)),
        within=20,
    )
    prompts_once(cody, "tell me a story", "anyone home?")
    no_traceback(before, second.output)
