"""Redis down when `bridge run` starts: it retries for `run.startup_timeout`, then refuses with one
clear line and exit 75 (a condition that may pass: a supervisor starts it again); started again (or still retrying) once Redis answers, it serves. The Redis here is the
test's own redis-server on a free port, never the shared one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    BridgeProcess,
    RedisServer,
    aurora_backend,
    free_port,
    running_bridge,
    telegram_section,
    toml,
)

PASSWORD = "redis-pass-must-not-leak"


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server not started yet, on a free port; killed after the test."""
    server = RedisServer(free_port(), tmp_path, password=PASSWORD)
    try:
        yield server
    finally:
        await server.stop()


StartBridge = Callable[..., contextlib.AbstractAsyncContextManager[BridgeProcess]]


@pytest.fixture
def bridge(
    tmp_path: Path, own_redis: RedisServer, aurora: AuroraFake, tg: FakeTelegram
) -> StartBridge:
    """``bridge(wait=s)``: `bridge run` (for the block) on Aurora, Telegram and the own Redis,
    which it waits up to ``wait`` seconds for at start."""

    def start(*, wait: float) -> contextlib.AbstractAsyncContextManager[BridgeProcess]:
        path = tmp_path / "config.toml"
        tables = {
            "store": {"url": own_redis.url},
            "backends.luna": aurora_backend(aurora),
            "telegram": telegram_section(tg, fast=False, private_budget="20/1s"),
            "log": {"level": "warning"},
            "run": {"startup_timeout": wait},
        }
        path.write_text(toml(tables))
        return running_bridge("run", "--config", str(path))

    return start


async def test_redis_down_at_start_is_one_line_and_a_later_start_serves(
    bridge: StartBridge, own_redis: RedisServer, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    async with bridge(wait=2) as down:
        code = await down.exited()
    assert code == 75, down.log  # EX_TEMPFAIL: Redis may come back, unlike a bad config
    assert "Traceback" not in down.log and PASSWORD not in down.log
    refusals = [line for line in down.lines if line.startswith("bridge: ")]
    assert len(refusals) == 1, down.log
    assert refusals[0].startswith("bridge: store.url: the store did not answer within 2s")
    assert not tg.calls_of("getUpdates")  # it never started taking messages

    await own_redis.start()
    aurora.reply_with("Redis is back, and so am I.")
    async with bridge(wait=2) as up:
        await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=60)
        tg.user_says(801, "are you there?", user_id=801)
        await tg.wait_for(lambda: tg.chat_texts(801) == ["Redis is back, and so am I."], within=30)
        assert await up.stop() == 0, up.log
    assert PASSWORD not in up.log


async def test_redis_that_comes_up_within_the_startup_timeout_is_waited_for(
    bridge: StartBridge, own_redis: RedisServer, aurora: AuroraFake, tg: FakeTelegram
) -> None:
    async with bridge(wait=120) as proc:
        await proc.wait_log("store not answering yet")
        await own_redis.start()
        aurora.reply_with("Late Redis, fine.")
        await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=60)
        tg.user_says(802, "hello", user_id=802)
        await tg.wait_for(lambda: tg.chat_texts(802) == ["Late Redis, fine."], within=30)
        assert await proc.stop() == 0, proc.log
    assert "Traceback" not in proc.log and PASSWORD not in proc.log


async def test_sigterm_while_waiting_for_redis_stops_without_waiting_out_the_timeout(
    bridge: StartBridge, tg: FakeTelegram
) -> None:
    async with bridge(wait=600) as proc:
        await proc.wait_log("store not answering yet")
        assert await proc.stop(within=60) == 0, proc.log  # far less than the 600 s it waits
    assert "Traceback" not in proc.log
    assert not tg.calls_of("getUpdates")
