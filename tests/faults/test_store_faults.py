"""Store faults: the bridge's own Redis restarts mid-reply, or is down when the bridge starts.

Each test runs its own `redis-server` on a free port (never the shared one) and asserts that
nothing was lost, no prompt reached the upstream twice, no traceback was printed, and the next
message is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bots.runtime import open_runtime
from core import notices
from core.delivery import Outcome
from core.errors import StoreUnavailable
from core.journal import JournalWriter
from core.model import Incoming
from core.records import JournalRecord, State
from core.store import RedisStore
from tests.fakes.aurora import AuroraFake
from tests.fakes.cody import CodyFake
from tests.fakes.proxy import TcpProxy
from tests.fakes.surface import MemorySurface
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    MakeBridge,
    RedisServer,
    free_port,
    luna_settings,
    need_redis_server,
    no_traceback,
)
from tests.harness.faults import GROUP, STORY, prompts_once


async def binding_exists(server: RedisServer, prefix: str, channel: str) -> bool:
    """Whether the channel's binding is in the server's keys."""
    client = aioredis.Redis.from_url(server.url)
    try:
        return bool(await client.exists(f"{prefix}:{{ch:{channel}}}:binding"))
    finally:
        await client.aclose()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own that keeps its data over a restart (not started)."""
    need_redis_server()
    server = RedisServer(free_port(), tmp_path, appendonly=True)
    yield server
    await server.stop()


async def until(predicate: Callable[[], bool], within: float = 20) -> None:
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (state written by another process)
            await asyncio.sleep(0.02)


async def test_a_redis_restart_mid_reply_leaves_the_reply_whole_and_the_binding(
    make_bridge: MakeBridge,
    tg: FakeTelegram,
    cody: CodyFake,
    own_redis: RedisServer,
    prefix: str,
) -> None:
    await own_redis.start()
    bridge = make_bridge(store_url=own_redis.url)
    await bridge.start()
    cody.reply_with(STORY, chunk_size=6, chunk_delay=0.2)  # ~6 s
    tg.user_says(GROUP, "@bridge_bot tell me a story", user_id=501, chat_type="supergroup")
    await until(lambda: bool(tg.chat_texts(GROUP)))
    await own_redis.terminate()
    await asyncio.sleep(1.0)
    await own_redis.start()
    await tg.wait_for(lambda: tg.chat_texts(GROUP) == [STORY], within=30)
    assert await binding_exists(own_redis, prefix, f"tg:{GROUP}")

    tg.user_says(GROUP, "@bridge_bot and now?", user_id=502, chat_type="supergroup")
    await tg.wait_for(lambda: tg.chat_texts(GROUP) == [STORY, "echo: and now?"], within=30)
    prompts_once(cody, "tell me a story", "and now?")
    code, out = await bridge.terminate(within=20)
    assert code == 0
    no_traceback(out)


async def test_redis_down_at_start_and_while_running(
    make_bridge: MakeBridge, tg: FakeTelegram, cody: CodyFake, own_redis: RedisServer
) -> None:
    """Down at start: the bridge waits for it, then serves. Down while running: a message gets
    the short notice (nothing goes upstream), and the next one after Redis is back is answered."""
    bridge = make_bridge(store_url=own_redis.url)  # nothing listens there yet
    starting = asyncio.create_task(bridge.start())
    await asyncio.sleep(2.0)
    assert not starting.done()
    await own_redis.start()
    await starting
    tg.user_says(611, "hello", user_id=611)
    await tg.wait_for(lambda: tg.chat_texts(611) == ["echo: hello"], within=30)

    await own_redis.terminate()
    tg.user_says(611, "hello?", user_id=611)
    await tg.wait_for(lambda: tg.chat_texts(611)[-1:] == [notices.store_down()], within=30)
    assert "hello?" not in cody.messages_sent
    await own_redis.start()
    tg.user_says(611, "hello again", user_id=611)
    await tg.wait_for(lambda: tg.chat_texts(611)[-1:] == ["echo: hello again"], within=30)
    prompts_once(cody, "hello", "hello again")
    code, out = await bridge.terminate(within=20)
    assert code == 0
    no_traceback(out)


async def open_records(server: RedisServer, prefix: str) -> list[str]:
    """The states of the journal records in the server that are not done."""
    client = aioredis.Redis.from_url(server.url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*:j:*")]
        states = [json.loads(raw)["state"] for raw in await client.mget(keys)] if keys else []
        return [s for s in states if s != "done"]
    finally:
        await client.aclose()


async def test_a_redis_outage_mid_reply_shows_each_reply_once(
    make_bridge: MakeBridge,
    tg: FakeTelegram,
    cody: CodyFake,
    own_redis: RedisServer,
    prefix: str,
) -> None:
    """Redis goes away while private chats stream, for longer than the lease: the journal's
    writes and the releases wait, the replies finish, and once Redis is back the process
    settles its records instead of recovering its own finished replies."""
    await own_redis.start()
    bridge = make_bridge(store_url=own_redis.url)
    await bridge.start()
    chats = [621, 622, 623, 624]
    for _ in chats:
        cody.reply_with(STORY, chunk_size=6, chunk_delay=0.2, server_finishes=True)  # ~6 s
    for chat in chats:
        tg.user_says(chat, f"story {chat}", user_id=chat)
    await until(lambda: all(tg.chat(chat).drafts for chat in chats))  # streaming (drafts)
    await own_redis.terminate()
    # Every reply ends while Redis is down, and the process's liveness lapses meanwhile.
    await tg.wait_for(lambda: all(tg.chat_texts(c) == [STORY] for c in chats), within=30)
    await asyncio.sleep(4.0)
    await own_redis.start()
    async with asyncio.timeout(30):
        while await open_records(own_redis, prefix):  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.1)
    for chat in chats:
        tg.user_says(chat, f"after {chat}", user_id=chat)
    for chat in chats:
        await tg.wait_for(lambda c=chat: tg.chat_texts(c)[-1:] == [f"echo: after {c}"], within=30)
    await asyncio.sleep(3.0)  # a lease and more: recovery passes came and went
    for chat in chats:
        assert tg.chat_texts(chat) == [STORY, f"echo: after {chat}"]
    prompts_once(cody, *(f"story {c}" for c in chats), *(f"after {c}" for c in chats))
    code, out = await bridge.terminate(within=20)
    assert code == 0
    no_traceback(out)


async def test_a_journal_write_the_store_missed_lands_when_it_is_back(
    own_redis: RedisServer, prefix: str
) -> None:
    """A state change written while Redis is down stays pending and is stored once Redis
    answers again (unless a newer one replaced it)."""
    await own_redis.start()
    store = RedisStore(own_redis.url, prefix=prefix)
    try:
        record = JournalRecord(
            channel="tg:5",
            message_id="m1",
            owner="p|m1",
            platform="telegram",
            author="u",
            text="hi",
        )
        await store.journal_put(record.moved(State.SENT))
        journal = JournalWriter(store, record.moved(State.SENT))
        await own_redis.terminate()
        journal.later(State.STREAMING, handles=["5:10"])
        await asyncio.sleep(2.0)  # more than the brief retries: the write is held, not dropped
        await own_redis.start()
        async with asyncio.timeout(30):
            while True:
                with contextlib.suppress(StoreUnavailable):
                    stored = await store.journal_get("tg:5", "m1")
                    if stored is not None and stored.state is State.STREAMING:
                        break
                await asyncio.sleep(0.1)
        assert stored.handles == ["5:10"]
        await journal.flush()
    finally:
        await store.aclose()


async def test_an_admission_whose_answer_was_lost_leaves_nothing_queued(
    aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    """Redis admitted a message (queued it, gave it the turn) but its answer never came back, as
    when a master dies between doing a request and answering it. The message gets the store's
    notice; its ticket leaves the queue and its record is closed once Redis answers again, so
    the chat's next message is answered at once rather than after ``relay.lock_wait``."""
    port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    async with TcpProxy("127.0.0.1", port) as proxy:
        relay = {"lock_ttl": 2, "merge_queued": False}
        settings = luna_settings(aurora, f"redis://127.0.0.1:{proxy.port}/0", prefix, relay=relay)
        async with open_runtime(settings) as rt:
            chat = MemorySurface(key="t:lost")
            proxy.lose_answers()
            first = Incoming(
                platform="test", channel="t:lost", author="u:1", text="hi", message_id="l-1"
            )
            assert await rt.relay.handle(first, chat) is Outcome.STORE_DOWN
            assert proxy.lost > 0
            assert chat.messages == [notices.store_down()]
            proxy.lose_answers(False)
            async with asyncio.timeout(30):
                while True:  # the release the store did not take is tried again
                    record = await rt.store.journal_get("t:lost", "l-1")
                    if record is not None and record.state is State.DONE:
                        break
                    await asyncio.sleep(0.1)
            again = Incoming(
                platform="test", channel="t:lost", author="u:1", text="and now?", message_id="l-2"
            )
            async with asyncio.timeout(30):  # far below relay.lock_wait (10 minutes)
                assert await rt.relay.handle(again, chat) is Outcome.REPLIED
    assert chat.messages == [notices.store_down(), "echo: and now?"]
    assert aurora.messages_sent == ["and now?"]
