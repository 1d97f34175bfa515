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
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

from bots.runtime import Runtime, open_runtime
from bots.telegram.frontend import TelegramFrontEnd
from tests.conftest import aurora_backend, free_port, make_settings
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram

ALICE = 501
SECRET = "webhook-secret_0123"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.auto_deliver = False  # these tests post each update by hand
        yield fake


@contextlib.contextmanager
def own_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own on a free port (it may be frozen or killed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", data],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            for _ in range(100):
                try:
                    if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                        break
                except redis.RedisError:
                    pass
                proc.poll()
                if proc.returncode is not None:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
            yield url, proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(10)


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
    settings = make_settings(
        backends={"luna": aurora_backend(up)},
        redis_url=redis_url,
        prefix=prefix,
        telegram={
            "enabled": True,
            "token": tg.token,
            "base_url": tg.base_url,
            "mode": "webhook",
            "webhook": webhook_settings(port),
        },
    )
    async with open_runtime(settings) as rt:
        frontend = TelegramFrontEnd(settings.telegram, rt.bridge, rt.store)
        await frontend.start()
        try:
            assert frontend.connected
            yield rt, f"http://127.0.0.1:{port}/tg/hook"
        finally:
            await frontend.stop()


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
    tg: FakeTelegram, aurora: AuroraFake
) -> None:
    with own_redis() as (url, server):
        async with worker(tg, aurora, url, "hook") as (rt, hook_url):
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
