"""The relay end to end: real Redis (or SQLite), real HTTP to the fake upstreams, a memory surface."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bots.runtime import Runtime, open_runtime
from core import notices
from core.delivery import Outcome
from core.records import State
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.surface import MemorySurface
from tests.harness import RelayChat as Chat
from tests.harness import aurora_backend, cody_backend, luna_settings, make_settings


async def test_a_message_streams_back_exactly_and_binds_the_channel(
    luna: Runtime, aurora: AuroraFake
) -> None:
    aurora.reply_with("Hello there, traveller. How can I help?", chunk_size=5)
    outcome, surface = await Chat(luna).say("hi")
    assert outcome is Outcome.REPLIED
    assert surface.messages == ["Hello there, traveller. How can I help?"]
    binding = await luna.store.get_binding("t:1")
    assert binding is not None and binding.backend == "luna"
    assert binding.remote["chat_id"] == str(aurora.conversations[0])
    assert aurora.messages_sent == ["hi"]


async def test_the_same_platform_message_goes_upstream_once(
    luna: Runtime, aurora: AuroraFake
) -> None:
    chat = Chat(luna)
    first, _ = await chat.say("hello", message_id="m-1")
    again, surface = await chat.say("hello", message_id="m-1")
    assert (first, again) == (Outcome.REPLIED, Outcome.DUPLICATE)
    assert surface.messages == []
    assert aurora.messages_sent == ["hello"]


async def test_a_quota_error_pauses_the_backend_for_every_later_message(
    luna: Runtime, aurora: AuroraFake
) -> None:
    aurora.fail_next(429, kind="quota")
    outcome, surface = await Chat(luna).say("one")
    assert outcome is Outcome.FAILED
    assert surface.messages[0].startswith(notices.quota(None).split(".")[0])
    outcome, surface = await Chat(luna, channel="t:2").say("two")
    assert outcome is Outcome.COOLDOWN
    assert "message limit" in surface.messages[0]
    posts = [r.json["message"] for r in aurora.requests if r.path.endswith("/message")]
    assert posts == ["one"]  # the cooldown spared the upstream
    assert "luna" in await luna.store.get_cooldowns()


async def test_an_interrupted_stream_keeps_the_partial_reply(
    luna: Runtime, aurora: AuroraFake
) -> None:
    aurora.reply_with("The first part and then", chunk_size=4, fault="drop", fault_after=3)
    outcome, surface = await Chat(luna).say("go")
    assert outcome is Outcome.FAILED
    assert surface.messages[0].startswith("The first p")
    assert surface.messages[0].endswith(notices.interrupted())
    assert aurora.messages_sent == ["go"]


async def test_the_per_user_rate_limit_answers_with_a_notice(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    settings = luna_settings(
        aurora, redis_url, prefix, relay={"rate_limit_messages": 2, "rate_limit_window": 60}
    )
    async with open_runtime(settings) as rt:
        chat = Chat(rt)
        results = [(await chat.say(f"m{i}"))[0] for i in range(3)]
        assert results == [Outcome.REPLIED, Outcome.REPLIED, Outcome.RATE_LIMITED]
        assert aurora.messages_sent == ["m0", "m1"]


async def test_replies_in_one_channel_take_turns_in_order(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    aurora.set_default(chunk_size=3, chunk_delay=0.01)
    # One reply per message (a person's queued messages are not merged here).
    settings = luna_settings(aurora, redis_url, prefix, relay={"merge_queued": False})
    async with open_runtime(settings) as rt:
        chat = Chat(rt)
        outcomes = await asyncio.gather(*(chat.say(f"q{i}") for i in range(3)))
    assert [o for o, _ in outcomes] == [Outcome.REPLIED] * 3
    assert aurora.messages_sent == ["q0", "q1", "q2"]
    # Each reply finished before the next one showed anything.
    spans = [(s.writes[1].at, s.writes[-1].at) for _, s in outcomes]
    assert spans[0][1] <= spans[1][0] and spans[1][1] <= spans[2][0]


async def test_past_the_queue_a_message_gets_the_busy_notice(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    settings = luna_settings(aurora, redis_url, prefix, relay={"queue_size": 1})
    aurora.set_default(chunk_size=2, chunk_delay=0.02)
    async with open_runtime(settings) as rt:
        chat = Chat(rt)
        results = await asyncio.gather(*(chat.say(f"q{i}") for i in range(3)))
        outcomes = sorted(o.value for o, _ in results)
        assert outcomes == ["busy", "replied", "replied"]
        busy = next(s for o, s in results if o is Outcome.BUSY)
        assert busy.messages == [notices.busy()]
        assert len(aurora.messages_sent) == 2


async def test_two_processes_share_one_channel_lock(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    settings = luna_settings(aurora, redis_url, prefix)
    aurora.set_default(chunk_size=2, chunk_delay=0.02)
    async with open_runtime(settings) as a, open_runtime(settings) as b:
        (oa, sa), (ob, sb) = await asyncio.gather(Chat(a).say("from a"), Chat(b).say("from b"))
        assert (oa, ob) == (Outcome.REPLIED, Outcome.REPLIED)
        first, second = sorted([sa, sb], key=lambda s: s.writes[1].at)
        assert first.writes[-1].at <= second.writes[1].at


async def test_text_over_the_backend_limit_is_refused_with_a_notice(
    cody: CodyFake, redis_url: str, prefix: str
) -> None:
    settings = make_settings(
        backends={"assistant": cody_backend(cody)}, redis_url=redis_url, prefix=prefix
    )
    async with open_runtime(settings) as rt:
        outcome, surface = await Chat(rt).say("x" * 2001)
        assert outcome is Outcome.REFUSED
        assert surface.messages == [notices.too_long(2000, 2001)]
        assert cody.messages_sent == []
        outcome, surface = await Chat(rt).say("y" * 2000)
        assert outcome is Outcome.REPLIED
        assert surface.messages == ["echo:", "y" * 2000]  # over the surface limit: split


async def test_empty_text_gets_a_short_answer(luna: Runtime, aurora: AuroraFake) -> None:
    outcome, surface = await Chat(luna).say("   ")
    assert outcome is Outcome.REFUSED
    assert surface.messages == [notices.empty()]
    assert aurora.requests == []


async def test_a_redis_outage_loses_nothing_upstream_and_says_so(aurora: AuroraFake) -> None:
    settings = make_settings(
        backends={"luna": aurora_backend(aurora)}, redis_url="redis://127.0.0.1:1/0"
    )
    async with open_runtime(settings) as rt:
        outcome, surface = await Chat(rt).say("hello")
        assert outcome is Outcome.STORE_DOWN
        assert surface.messages == [notices.store_down()]
        assert aurora.requests == []


async def test_the_sqlite_store_carries_a_conversation_too(
    aurora: AuroraFake, tmp_path: Path
) -> None:
    settings = make_settings(
        backends={"luna": aurora_backend(aurora)}, store={"path": str(tmp_path / "b.db")}
    )
    async with open_runtime(settings) as rt:
        chat = Chat(rt)
        await chat.say("one")
        await chat.say("two")
        assert aurora.messages_sent == ["one", "two"]
        assert len(aurora.conversations) == 1  # the second message reused the binding


async def test_shutdown_ends_a_reply_in_flight_with_a_notice(
    luna: Runtime, aurora: AuroraFake
) -> None:
    aurora.reply_with("Part of it", chunk_size=4, fault="stall", fault_after=1)
    task = asyncio.create_task(Chat(luna).say("long one"))
    for _ in range(200):
        if luna.relay.in_flight and aurora.messages_sent:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await luna.relay.drain(grace=0.2)
    outcome, surface = await task
    assert outcome is Outcome.FAILED
    assert surface.messages[-1].endswith(notices.shutting_down())
    # A message arriving now is journalled for the next process, not sent upstream.
    late, late_surface = await Chat(luna, channel="t:late").say("hello?", message_id="late-1")
    assert late is Outcome.SHUTTING_DOWN
    assert late_surface.messages == []
    assert aurora.messages_sent == ["long one"]
    record = await luna.store.journal_get("t:late", "late-1")
    assert record is not None and record.state is State.RECEIVED


async def test_a_notice_sits_out_a_short_flood_wait_and_never_raises(luna: Runtime) -> None:
    short = MemorySurface(floods=[0.05])
    await luna.relay.notify(short, notices.busy())
    assert short.messages == [notices.busy()]
    long = MemorySurface(floods=[3600.0])
    await luna.relay.notify(long, notices.busy())  # given up, not raised, not slept through
    assert long.messages == []
