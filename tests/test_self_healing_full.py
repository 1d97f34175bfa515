"""Redis out of memory (``maxmemory`` with ``noeviction``): reads work, every write is refused.
The condition is named: replies in flight finish, new messages get the "can't store" notice,
one log line names ``maxmemory``, `bridge run` refuses to start with one line and `bridge check`
reports it. On a redis-server of the test's own, filled to its tiny ``maxmemory``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import OutOfMemoryError

from core import notices
from core.errors import StoreFull
from core.records import State
from core.store.redis import RedisStore
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    ALICE,
    RedisServer,
    aurora_backend,
    free_port,
    open_telegram,
    run_cli,
    telegram_section,
    toml,
)

# Several Telegram messages long: the journal records each new one mid-reply, into a full store.
REPLY = " ".join(f"word{i}" for i in range(1100))


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    own = RedisServer(free_port(), tmp_path)
    await own.start()
    try:
        yield own
    finally:
        await own.stop()


async def fill(server: RedisServer) -> None:
    """Give the server a tiny ``maxmemory`` with ``noeviction``, and fill it until it refuses."""
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        used = int((await client.info("memory"))["used_memory"])
        await client.config_set("maxmemory", str(used + 256 * 1024))
        with pytest.raises(OutOfMemoryError):
            for i in range(10_000):
                await client.set(f"filler:{i}", "x" * 4096)
        # A client leaving frees its buffers: stay well over the limit, as a filled Redis is.
        used = int((await client.info("memory"))["used_memory"])
        await client.config_set("maxmemory", str(used - 128 * 1024))
    finally:
        await client.aclose()


async def unlimit(server: RedisServer) -> None:
    """Lift the memory limit again (memory freed by the operator)."""
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_set("maxmemory", "0")
    finally:
        await client.aclose()


def maxmemory_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "maxmemory" in r.getMessage()]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.exc_info and r.name.startswith(("core", "bots", "telegram"))
    ]


async def test_a_full_store_finishes_replies_and_names_the_condition(
    server: RedisServer,
    tg: FakeTelegram,
    aurora: AuroraFake,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with open_telegram(tg, aurora, server.url, prefix) as chat:
        await chat.say("hello")
        assert (await chat.reply()).endswith("hello")

        aurora.reply_with(REPLY, chunk_size=100, chunk_delay=0.05)
        asked = [await chat.say("tell me more")]
        await tg.wait_for(lambda: len(chat.texts) == 2)  # the reply is streaming
        await fill(server)
        await tg.wait_for(lambda: chat.rt.relay.in_flight == 0)
        assert " ".join(chat.texts[1:]).split() == REPLY.split()  # finished, whole
        chat.log.read = len(chat.texts)

        asked.append(await chat.say("and now?"))
        assert await chat.reply() == str(notices.store_full())
        asked.append(await chat.say("still?"))
        assert await chat.reply() == str(notices.store_full())

        await unlimit(server)  # memory freed: served again, and nothing answered twice
        await chat.say("back?")
        assert (await chat.reply()).endswith("back?")
        shown = list(chat.texts)
        for message in asked:  # the long reply and the two refused messages
            message_id = f"tg:{ALICE}:{message['message_id']}"
            record = await chat.rt.store.journal_get(f"tg:{ALICE}", message_id)
            assert record is None or record.state is State.DONE, record
        assert not await chat.rt.store.journal_lapsed()
    assert chat.texts == shown
    assert aurora.messages_sent == ["hello", "tell me more", "back?"]
    assert str(notices.failed()) not in chat.texts
    assert len(maxmemory_lines(caplog)) == 1
    assert tracebacks(caplog) == []


async def test_the_store_says_full_not_unreachable(server: RedisServer, prefix: str) -> None:
    store = RedisStore(server.url, prefix=prefix)
    try:
        assert (await store.ping()).startswith("redis ")
        await fill(server)
        with pytest.raises(StoreFull, match="maxmemory"):
            await store.ping()
        with pytest.raises(StoreFull):
            await store.claim("lease:test:1", 10.0)
    finally:
        await store.aclose()


async def test_bridge_run_refuses_a_full_store_in_one_line_and_check_reports_it(
    server: RedisServer, tg: FakeTelegram, aurora: AuroraFake, tmp_path: Path, prefix: str
) -> None:
    await fill(server)
    config = tmp_path / "config.toml"
    tables = {
        "store": {"url": server.url, "prefix": prefix},
        "backends.luna": aurora_backend(aurora),
        "telegram": telegram_section(tg),
        "log": {"level": "warning"},
    }
    config.write_text(toml(tables))
    code, out, err = await run_cli("run", "--config", str(config))
    assert code == 75, err  # EX_TEMPFAIL: a supervisor tries again; memory may be freed
    refusals = [line for line in err.splitlines() if line.startswith("bridge: ")]
    assert len(refusals) == 1 and "maxmemory" in refusals[0], err
    assert "Traceback" not in out + err
    assert not tg.calls_of("getUpdates")  # it never started taking messages

    code, out, err = await run_cli("check", "--config", str(config))
    assert code != 0
    assert [line for line in out.splitlines() if "store" in line and "maxmemory" in line], out
