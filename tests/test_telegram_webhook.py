"""Our own Telegram webhook endpoint: the secret guards every request, and Telegram's POST is
answered only once the update is recorded in the store (a crash before that means a redelivery).

Real parts: python-telegram-bot against the fake Bot API, the fake delivering by HTTP POST, a real
Redis (our own ``redis-server``, frozen with SIGSTOP to hold the store still).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bots.runtime import Runtime
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import RedisServer, free_port, luna_settings, telegram_bridge, telegram_section

ALICE = 501
SECRET = "webhook-secret_0123"


@pytest.fixture
def tg(tg: FakeTelegram) -> FakeTelegram:
    """The fake Telegram, delivering no update by itself: these tests post each one by hand."""
    tg.auto_deliver = False
    return tg


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own on a free port (it may be frozen, then killed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def webhook_settings(port: int) -> dict[str, Any]:
    return {
        "listen": "127.0.0.1",
        "port": port,
        "url": f"http://127.0.0.1:{port}/tg/hook",
        "secret_token": SECRET,
    }


@contextlib.asynccontextmanager
async def worker(
    tg: FakeTelegram, up: AuroraFake, redis_url: str, prefix: str
) -> AsyncIterator[tuple[Runtime, str]]:
    """One webhook worker; yields its runtime and its own URL."""
    port = free_port()
    section = telegram_section(tg, fast=False, mode="webhook", webhook=webhook_settings(port))
    settings = luna_settings(up, redis_url, prefix, telegram=section)
    async with telegram_bridge(settings) as (rt, frontend):
        assert frontend.connected
        yield rt, f"http://127.0.0.1:{port}/tg/hook"


async def test_requests_without_the_secret_are_refused_and_never_relayed(
    tg: FakeTelegram, aurora: AuroraFake, redis_url: str, prefix: str
) -> None:
    async with worker(tg, aurora, redis_url, prefix) as (_, url):
        update = tg.user_says(ALICE, "forged", user_id=ALICE)
        assert await tg.deliver(update, secret="", url=url) == 401
        assert await tg.deliver(update, secret="not-the-secret", url=url) == 403
        real = tg.user_says(ALICE, "genuine", user_id=ALICE)
        assert await tg.deliver(real, url=url) == 200
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: genuine"])
    assert aurora.messages_sent == ["genuine"]


async def test_the_post_is_answered_only_once_the_update_is_recorded(
    tg: FakeTelegram, aurora: AuroraFake, own_redis: RedisServer
) -> None:
    assert own_redis.proc is not None
    server = own_redis.proc
    async with worker(tg, aurora, own_redis.url, "hook") as (rt, hook_url):
        first = tg.user_says(ALICE, "warm up", user_id=ALICE)
        assert await tg.deliver(first, url=hook_url) == 200
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: warm up"])

        os.kill(server.pid, signal.SIGSTOP)  # the store holds still: nothing can be recorded
        update = tg.user_says(ALICE, "held", user_id=ALICE)
        post = asyncio.create_task(tg.deliver(update, url=hook_url))
        done, _ = await asyncio.wait({post}, timeout=1.0)
        assert not done, "answered before the update was recorded"
        os.kill(server.pid, signal.SIGCONT)
        assert await post == 200
        # Recorded: the message's journal record is in the store before Telegram's answer.
        message_id = f"tg:{ALICE}:{update['message']['message_id']}"
        assert await rt.store.journal_get(f"tg:{ALICE}", message_id) is not None
        await tg.wait_for(lambda: tg.chat_texts(ALICE) == ["echo: warm up", "echo: held"])
    assert aurora.messages_sent == ["warm up", "held"]
