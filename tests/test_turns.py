"""Turns, the journal and recovery through the real relay, a real Redis and the fake upstreams."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pydantic import SecretStr

from bots.runtime import Runtime, open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from core import notices
from core.config import Settings
from core.conversations import create_binding
from core.delivery import Outcome
from core.model import Admission, Incoming
from core.records import JournalRecord, Shown, State, ticket_of
from core.recovery import SETTLE_MARGIN
from core.store.base import Store
from core.surface import Surface
from core.turns import KEEP_RETRY, stranded
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.surface import MemorySurface
from tests.fakes.telegram import FakeTelegram
from tests.harness import aurora_backend, cody_backend, make_settings


def incoming(channel: str, text: str, message_id: str, author: str = "u:1") -> Incoming:
    return Incoming(
        platform="test", channel=channel, author=author, text=text, message_id=message_id
    )


def luna(aurora: AuroraFake, redis_url: str, prefix: str, **relay: object) -> Settings:
    """Settings on Redis with the fake Aurora as the one backend."""
    return make_settings(
        backends={"luna": aurora_backend(aurora)}, redis_url=redis_url, prefix=prefix, relay=relay
    )


@pytest.fixture
async def rt(aurora: AuroraFake, redis_url: str, prefix: str) -> AsyncIterator[Runtime]:
    # One upstream message per message: these tests follow each message's own turn.
    settings = luna(aurora, redis_url, prefix, queue_size=10, lock_ttl=2, merge_queued=False)
    async with open_runtime(settings) as runtime:
        yield runtime


async def test_order_holds_for_200_messages_across_50_chats(
    rt: Runtime, aurora: AuroraFake
) -> None:
    aurora.set_default(chunk_size=20, chunk_delay=0.0)
    tasks = [
        asyncio.create_task(
            rt.relay.handle(
                incoming(f"t:{chat}", f"c{chat}-{n}", f"c{chat}-{n}", author=f"u:{chat}"),
                MemorySurface(key=f"t:{chat}"),
            )
        )
        for n in range(4)
        for chat in range(50)
    ]
    outcomes = await asyncio.gather(*tasks)
    assert set(outcomes) == {Outcome.REPLIED}
    for chat in range(50):
        sent = [t for t in aurora.messages_sent if t.startswith(f"c{chat}-")]
        assert sent == [f"c{chat}-{n}" for n in range(4)], sent


async def test_a_duplicate_in_a_full_queue_gets_no_busy_notice(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    settings = luna(aurora, redis_url, prefix, queue_size=1)
    aurora.set_default(chunk_size=2, chunk_delay=0.02)
    async with open_runtime(settings) as rt:
        surfaces = [MemorySurface(key="t:1") for _ in range(4)]
        ids = ["m1", "m2", "m1", "m2"]
        outcomes = await asyncio.gather(
            *(
                rt.relay.handle(incoming("t:1", f"q {i}", i), s)
                for i, s in zip(ids, surfaces, strict=True)
            )
        )
        assert outcomes == [Outcome.REPLIED, Outcome.REPLIED, Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert all(notices.busy() not in s.messages for s in surfaces)
        assert aurora.messages_sent == ["q m1", "q m2"]


async def test_the_journal_follows_a_reply_to_done(rt: Runtime, aurora: AuroraFake) -> None:
    aurora.reply_with("A reply in a few pieces.", chunk_size=4, chunk_delay=0.05)
    surface = MemorySurface(key="t:1")
    task = asyncio.create_task(rt.relay.handle(incoming("t:1", "hello", "j-1"), surface))
    seen: list[State] = []
    while not task.done():
        record = await rt.store.journal_get("t:1", "j-1")
        if record is not None and (not seen or seen[-1] is not record.state):
            seen.append(record.state)
        await asyncio.sleep(0.005)
    assert await task is Outcome.REPLIED
    done = await rt.store.journal_get("t:1", "j-1")
    assert done is not None and done.state is State.DONE
    assert done.text == "hello" and done.backend == "luna" and done.remote
    assert done.handles == [""]  # one message; the memory surface gives no refs
    assert State.STREAMING in seen or State.SENT in seen


def dead_record(channel: str, message_id: str, text: str) -> JournalRecord:
    """A message of a process that is about to die."""
    return JournalRecord(
        channel=channel,
        message_id=message_id,
        owner=ticket_of("deadbeef0000", message_id),
        platform="test",
        author="u:9",
        text=text,
    )


async def admit_dead(store: Store, record: JournalRecord) -> Admission:
    """Admit ``record`` on a short lease nobody renews: its process dies at once."""
    return await store.admit(
        record=record,
        user="u:9",
        lease_ttl=0.3,
        queue_size=5,
        dedupe_ttl=60,
        rate_limit=5,
        rate_window=60,
    )


async def test_recovery_relays_a_received_message_once_and_notes_a_lost_reply(
    rt: Runtime, aurora: AuroraFake
) -> None:
    store = rt.store
    # A process that died: in one channel a reply it had posted and a message queued behind
    # it (received, never sent); in another a reply half-streamed. The channel is bound, so
    # its first message was recorded as sent when it took the turn.
    await create_binding(store, "t:9", rt.backends["luna"], by="test")
    admitted = [
        await admit_dead(store, dead_record(channel, message_id, text))
        for channel, message_id, text in (
            ("t:9", "r-0", "the first question"),
            ("t:9", "r-1", "answer me after the crash"),
            ("t:8", "s-1", "was sent"),
        )
    ]
    assert [a.turn for a in admitted] == [True, False, True]
    half = dead_record("t:8", "s-1", "was sent")
    await store.journal_put(
        half.moved(State.STREAMING, backend="luna", remote={"chat_id": "1", "character_id": "42"})
    )
    await asyncio.sleep(0.6)  # the dead process's lease and liveness lapse

    surfaces: dict[str, MemorySurface] = {}

    def rebuild(channel: str, locator: dict[str, str]) -> Surface:
        return surfaces.setdefault(channel, MemorySurface(key=channel))

    rt.recovery.add_platform("test", rebuild)
    assert await rt.recovery.run_once() == 3
    await rt.recovery.wait_idle()
    # What was sent is never sent again; what was not is sent once.
    assert aurora.messages_sent == ["answer me after the crash"]
    assert surfaces["t:9"].messages == [notices.reply_lost(), "echo: answer me after the crash"]
    assert surfaces["t:8"].messages == [notices.reply_lost()]
    for channel, message_id in (("t:9", "r-0"), ("t:9", "r-1"), ("t:8", "s-1")):
        record = await store.journal_get(channel, message_id)
        assert record is not None and record.state is State.DONE
    # Nothing is left to recover, and the channel serves the next message.
    assert await rt.recovery.run_once() == 0
    nxt = MemorySurface(key="t:9")
    assert await rt.relay.handle(incoming("t:9", "and now?", "r-2", "u:9"), nxt) is Outcome.REPLIED


async def test_recovery_takes_nothing_over_until_live_processes_renewed_after_an_outage(
    rt: Runtime, aurora: AuroraFake
) -> None:
    """A store outage lets every process's liveness lapse, live ones' too: right after it,
    recovery waits for their renewals before taking anything over."""
    await admit_dead(rt.store, dead_record("t:7", "o-1", "asked before the outage"))
    await asyncio.sleep(0.6)  # its liveness lapsed: dead, or alive and not renewed yet
    rt.recovery.add_platform("test", lambda channel, _locator: MemorySurface(key=channel))
    rt.recovery.store_away()
    assert await rt.recovery.run_once() == 0
    await asyncio.sleep(rt.live.current.relay.lock_ttl / 3 + KEEP_RETRY + SETTLE_MARGIN)
    assert await rt.recovery.run_once() == 1  # no renewal came: it was dead
    await rt.recovery.wait_idle()
    assert aurora.messages_sent == ["asked before the outage"]


async def test_a_process_just_started_takes_nothing_over_before_a_renewal_period(
    rt: Runtime,
) -> None:
    """The store may have only just come back when a process starts: its first recovery pass
    waits as long as one after an outage."""
    await admit_dead(rt.store, dead_record("t:6", "s-1", "asked before the restart"))
    await asyncio.sleep(0.6)
    rt.recovery.add_platform("test", lambda channel, _locator: MemorySurface(key=channel))
    rt.recovery.start()
    try:
        assert await rt.recovery.run_once() == 0
    finally:
        await rt.recovery.stop()


async def test_telegram_keeps_each_chats_order_through_the_front_end(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    """200 messages across 50 groups, through PTB's concurrent update processing (which awaits
    de-duplication and the mode lookup before the relay): each group's prompts go upstream in
    the order they were sent."""
    settings = make_settings(
        backends={"luna": aurora_backend(aurora)},
        redis_url=redis_url,
        prefix=prefix,
        telegram={
            "enabled": True,
            "token": "123:TEST",
            "base_url": "",
            "group_budget": "20/1s",
        },
        # Prompts as typed, one per message, to compare with the upstream's.
        relay={"speaker_names": "never", "merge_queued": False},
    )
    async with FakeTelegram() as tg:
        settings.telegram.token = SecretStr(tg.token)
        settings.telegram.base_url = tg.base_url
        async with open_runtime(settings) as runtime:
            frontend = TelegramFrontEnd(settings.telegram, runtime.bridge, runtime.store)
            await frontend.start()
            try:
                for n in range(4):
                    for chat in range(50):
                        tg.user_says(
                            -100_000 - chat,
                            f"@bridge_bot c{chat}-{n}",
                            user_id=700 + chat,
                            chat_type="supergroup",
                        )
                await tg.wait_for(lambda: len(aurora.messages_sent) == 200, within=120)
            finally:
                await frontend.stop()
    for chat in range(50):
        sent = [t for t in aurora.messages_sent if t.startswith(f"c{chat}-")]
        assert sent == [f"c{chat}-{n}" for n in range(4)], sent


async def test_a_stream_that_broke_is_completed_from_the_upstreams_history(
    cody: CodyFake, redis_url: str, prefix: str
) -> None:
    settings = make_settings(
        backends={"assistant": cody_backend(cody)}, redis_url=redis_url, prefix=prefix
    )
    whole = "The whole answer, which the server finished and stored after the stream broke."
    async with open_runtime(settings) as runtime:
        cody.reply_with(whole, chunk_size=6, fault="drop", fault_after=3, server_finishes=True)
        surface = MemorySurface(key="t:1")
        outcome = await runtime.relay.handle(incoming("t:1", "tell me", "b-1"), surface)
        assert outcome is Outcome.REPLIED
        assert surface.messages == [whole]
        # Without a stored reply, the partial text ends with the interrupted notice.
        cody.reply_with("Only this much arrives", chunk_size=5, fault="drop", fault_after=2)
        surface = MemorySurface(key="t:1")
        outcome = await runtime.relay.handle(incoming("t:1", "and this?", "b-2"), surface)
        assert outcome is Outcome.FAILED
        assert surface.messages[0].startswith("Only this")
        assert surface.messages[0].endswith(notices.interrupted())
    assert cody.messages_sent == ["tell me", "and this?"]


async def test_two_processes_answer_one_channel_in_the_order_messages_came(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    """Messages of one channel arrive alternately at two processes: each one is recorded before
    the next arrives, and the upstream sees them in that order, one reply at a time."""
    settings = luna(aurora, redis_url, prefix, queue_size=10)
    aurora.set_default(chunk_size=3, chunk_delay=0.01)
    async with open_runtime(settings) as a, open_runtime(settings) as b:
        tasks = []
        surfaces = []
        for n in range(6):
            rt = (a, b)[n % 2]
            recorded = asyncio.Event()
            surface = MemorySurface(key="t:x")
            surfaces.append(surface)
            msg = incoming("t:x", f"m{n}", f"x-{n}", author=f"u:{n}")
            tasks.append(asyncio.create_task(rt.relay.handle(msg, surface, recorded=recorded)))
            await recorded.wait()
        assert await asyncio.gather(*tasks) == [Outcome.REPLIED] * 6
    assert aurora.messages_sent == [f"m{n}" for n in range(6)]
    spans = [(s.writes[0].at, s.writes[-1].at) for s in surfaces]
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(spans))


async def dead_reply(
    store: Store, channel: str, message_id: str, handles: list[str], shown: Shown | None
) -> None:
    """A reply a process that died had streamed into ``handles``, showing ``shown`` when its
    journal last heard of it; its lease and liveness are about to lapse."""
    record = dead_record(channel, message_id, "a question that went upstream")
    assert (await admit_dead(store, record)).turn
    streaming = record.moved(
        State.STREAMING, handles=handles, backend="luna", remote={"chat_id": "1"}
    )
    await store.journal_put(streaming, shown)


async def test_recovery_ends_the_partial_text_with_the_notice_in_the_same_message(
    rt: Runtime,
) -> None:
    """The upstream did not store the reply: the last message the journal names is edited to
    its recorded text plus the interrupted notice; where that cannot be done (another message
    opened since, no text recorded, too long to fit) the notice comes as its own message."""
    cases = {
        "t:5": (["0"], Shown("0", "Once upon a")),
        "t:6": (["0", "1"], Shown("0", "Once upon a")),  # a later message opened since
        "t:7": (["0"], None),
        "t:8": (["0"], Shown("0", "x" * 95)),  # the notice would not fit in 100 characters
    }
    chats: dict[str, MemorySurface] = {}
    for channel, (handles, shown) in cases.items():
        chat = chats[channel] = MemorySurface(key=channel, adoptable=True, max_length=100)
        chat.messages.extend(f"{shown.text if shown else 'Once'} time" for _ in handles)
        await dead_reply(rt.store, channel, f"{channel}-1", handles, shown)
    await asyncio.sleep(0.6)  # the dead process's lease and liveness lapse
    rt.recovery.add_platform("test", lambda channel, _locator: chats[channel])
    assert await rt.recovery.run_once() == 4
    await rt.recovery.wait_idle()
    lost = notices.reply_lost()
    assert chats["t:5"].messages == [f"Once upon a\n\n{lost}"]
    assert chats["t:5"].writes[-1].final and chats["t:5"].writes[-1].op == "edit"
    assert chats["t:6"].messages == ["Once upon a time", "Once upon a time", lost]
    assert chats["t:7"].messages == ["Once time", lost]
    assert chats["t:8"].messages == ["x" * 95 + " time", lost]
    for channel in cases:
        assert await rt.store.journal_shown(channel, f"{channel}-1") is None  # closed with it


async def test_a_new_message_waits_for_the_recovery_of_a_dead_reply(
    rt: Runtime, aurora: AuroraFake
) -> None:
    """A message that arrives while a dead process's reply is not yet recovered does not stream
    beside it: its reply starts once the recovered message ends with its notice."""
    chat = MemorySurface(key="t:4", adoptable=True)
    chat.messages.append("Half of the")
    await dead_reply(rt.store, "t:4", "d-1", ["0"], Shown("0", "Half of"))
    await asyncio.sleep(0.6)
    recorded = asyncio.Event()
    task = asyncio.create_task(
        rt.relay.handle(incoming("t:4", "a new question", "d-2", "u:9"), chat, recorded=recorded)
    )
    await recorded.wait()
    # Only now does recovery look: the new message was first to find the dead reply.
    rt.recovery.add_platform("test", lambda _channel, _locator: chat)
    rt.recovery.start()
    try:
        assert await task is Outcome.REPLIED
        await rt.recovery.wait_idle()
    finally:
        await rt.recovery.stop()
    assert chat.messages == [f"Half of\n\n{notices.reply_lost()}", "echo: a new question"]
    recovered = [w for w in chat.writes if w.op == "edit" and w.message == 0]
    answered = [w for w in chat.writes if w.op != "typing" and w.message == 1]
    assert recovered[-1].at <= answered[0].at
    assert aurora.messages_sent == ["a new question"]


async def test_the_lease_renewal_keeps_what_the_open_message_shows(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    """Between the writes at state changes, the journal learns the open message's growing
    text from the lease renewal alone."""
    settings = luna(aurora, redis_url, prefix, lock_ttl=1)
    words = " ".join(f"w{n}" for n in range(60))
    aurora.reply_with(words, chunk_size=4, chunk_delay=0.05)
    async with open_runtime(settings) as runtime:
        chat = MemorySurface(key="t:3", adoptable=True)
        task = asyncio.create_task(runtime.relay.handle(incoming("t:3", "talk", "k-1"), chat))
        seen: list[str] = []
        while not task.done():
            shown = await runtime.store.journal_shown("t:3", "k-1")
            if shown is not None and (not seen or seen[-1] != shown.text):
                assert shown.ref == "0"
                seen.append(shown.text)
            await asyncio.sleep(0.02)
        assert await task is Outcome.REPLIED
        assert await runtime.store.journal_shown("t:3", "k-1") is None
    # One message throughout, so the journal's own writes stored only its first text.
    assert len(seen) >= 2, seen
    assert all(words.startswith(text) for text in seen)
    assert len(seen[-1]) > len(seen[0])


async def test_no_busy_notice_for_another_processs_message(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    """The same platform message reaches two processes (a redelivered update, a catch-up that
    meets the live event) while its channel's queue is full: the process that did not take it
    says nothing, and the one that did answers it once."""
    settings = luna(aurora, redis_url, prefix, queue_size=1)
    aurora.set_default(chunk_size=2, chunk_delay=0.02)
    async with open_runtime(settings) as a, open_runtime(settings) as b:
        chats = [MemorySurface(key="t:2") for _ in range(4)]
        first = asyncio.create_task(a.relay.handle(incoming("t:2", "q m1", "m1"), chats[0]))
        recorded = asyncio.Event()
        second = asyncio.create_task(
            a.relay.handle(incoming("t:2", "q m2", "m2"), chats[1], recorded=recorded)
        )
        await recorded.wait()  # the queue is full now
        again = await asyncio.gather(
            b.relay.handle(incoming("t:2", "q m1", "m1"), chats[2]),
            b.relay.handle(incoming("t:2", "q m2", "m2"), chats[3]),
        )
        assert again == [Outcome.DUPLICATE, Outcome.DUPLICATE]
        assert await asyncio.gather(first, second) == [Outcome.REPLIED, Outcome.REPLIED]
    assert [c.messages for c in chats] == [["echo: q m1"], ["echo: q m2"], [], []]
    assert aurora.messages_sent == ["q m1", "q m2"]


async def test_a_ticket_of_this_process_no_message_holds_blocks_its_channel_no_more(
    rt: Runtime,
) -> None:
    """A failover left a ticket of this process first in a channel that no message of it holds
    any more (a release the new master never got, or an admission whose answer was lost). Its
    process is alive there, so nobody recovers it: a message of that process behind it would
    wait for ``relay.lock_wait``. The process removes it and answers."""
    ghost = replace(dead_record("t:g", "g-0", "lost in a failover"), owner=f"{rt.process}|g-0")
    assert (await admit_dead(rt.store, ghost)).turn
    chat = MemorySurface(key="t:g")
    async with asyncio.timeout(30):  # far below relay.lock_wait (10 minutes)
        outcome = await rt.relay.handle(incoming("t:g", "still there?", "g-1"), chat)
    assert outcome is Outcome.REPLIED
    assert chat.messages == ["echo: still there?"]
    assert not (await rt.store.take_turn("t:g", "other|x", 30)).lapsed  # removed, not recovered


async def test_a_ticket_recovery_is_taking_over_is_not_taken_for_a_stranded_one(
    rt: Runtime, aurora: AuroraFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recovery puts this process's ticket in a dead one's place in the queue, and the store's
    answer comes back late (a loaded machine): a message of this process polling behind it
    meanwhile finds that ticket first. It is not removed as stranded: the dead process's
    message is answered first."""
    await admit_dead(rt.store, dead_record("t:r", "r-1", "asked first"))
    await asyncio.sleep(0.6)  # the dead process's liveness lapses
    claim = rt.store.journal_claim

    async def answered_late(record: JournalRecord, owner: str, ttl: float) -> bool:
        claimed = await claim(record, owner, ttl)
        await asyncio.sleep(1.0)  # the queue changed; this process hears of it only now
        return claimed

    monkeypatch.setattr(rt.store, "journal_claim", answered_late)
    chat = MemorySurface(key="t:r")
    recorded = asyncio.Event()
    second = asyncio.create_task(
        rt.relay.handle(incoming("t:r", "asked second", "r-2", "u:9"), chat, recorded=recorded)
    )
    await recorded.wait()
    rt.recovery.add_platform("test", lambda _channel, _locator: chat)
    assert await rt.recovery.run_once() == 1
    await rt.recovery.wait_idle()
    assert await second is Outcome.REPLIED
    assert aurora.messages_sent == ["asked first", "asked second"]
    assert chat.messages == ["echo: asked first", "echo: asked second"]


def test_only_this_processs_tickets_no_message_holds_are_stranded() -> None:
    known = {"me|1", "me|2"}
    assert stranded("me|0", "me", known)
    assert not stranded("me|1", "me", known)  # a message of this process holds it
    assert not stranded("other|0", "me", known)  # another process's: its own, or recovery's
