"""Redis down when `bridge run` starts: it retries for `run.startup_timeout`, then refuses with one
clear line; started again (or still retrying) once Redis answers, it serves. The Redis here is the
test's own redis-server on a free port, never the shared one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import AURORA_TOKEN, CHARACTER_ID, free_port
from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.procs import RedisServer, running_bridge

PASSWORD = "redis-pass-must-not-leak"


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A redis-server not started yet, on a free port; killed after the test."""
    server = RedisServer(free_port(), tmp_path, password=PASSWORD)
    try:
        yield server
    finally:
        await server.stop()


def config(
    tmp_path: Path, redis: RedisServer, aurora: AuroraFake, tg: FakeTelegram, wait: float
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[store]\nurl = "{redis.url}"\n'
        f'[backends.luna]\nkind = "aurora"\nbase_url = "{aurora.base_url}"\n'
        f'token = "{AURORA_TOKEN}"\ncharacter_id = {CHARACTER_ID}\n'
        f'[telegram]\nenabled = true\ntoken = "{tg.token}"\nbase_url = "{tg.base_url}"\n'
        'private_budget = "20/1s"\n'
        f'[log]\nlevel = "warning"\n[run]\nstartup_timeout = {wait}\n'
    )
    return path


async def test_redis_down_at_start_is_one_line_and_a_later_start_serves(
    tmp_path: Path, own_redis: RedisServer, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        path = config(tmp_path, own_redis, aurora, tg, wait=2)
        async with running_bridge("run", "--config", str(path)) as down:
            code = await down.exited()
        assert code == 2, down.log
        assert "Traceback" not in down.log and PASSWORD not in down.log
        refusals = [line for line in down.lines if line.startswith("bridge: ")]
        assert len(refusals) == 1, down.log
        assert refusals[0].startswith("bridge: store.url: the store did not answer within 2s")
        assert not tg.calls_of("getUpdates")  # it never started taking messages

        await own_redis.start()
        aurora.reply_with("Redis is back, and so am I.")
        async with running_bridge("run", "--config", str(path)) as up:
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=60)
            tg.user_says(801, "are you there?", user_id=801)
            await tg.wait_for(
                lambda: tg.chat_texts(801) == ["Redis is back, and so am I."], within=30
            )
            assert await up.stop() == 0, up.log
        assert PASSWORD not in up.log


async def test_redis_that_comes_up_within_the_startup_timeout_is_waited_for(
    tmp_path: Path, own_redis: RedisServer, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        path = config(tmp_path, own_redis, aurora, tg, wait=120)
        async with running_bridge("run", "--config", str(path)) as proc:
            await proc.wait_log("store not answering yet")
            await own_redis.start()
            aurora.reply_with("Late Redis, fine.")
            await tg.wait_for(lambda: bool(tg.calls_of("getUpdates")), within=60)
            tg.user_says(802, "hello", user_id=802)
            await tg.wait_for(lambda: tg.chat_texts(802) == ["Late Redis, fine."], within=30)
            assert await proc.stop() == 0, proc.log
        assert "Traceback" not in proc.log and PASSWORD not in proc.log


async def test_sigterm_while_waiting_for_redis_stops_without_waiting_out_the_timeout(
    tmp_path: Path, own_redis: RedisServer, aurora: AuroraFake
) -> None:
    async with FakeTelegram() as tg:
        path = config(tmp_path, own_redis, aurora, tg, wait=600)
        async with running_bridge("run", "--config", str(path)) as proc:
            await proc.wait_log("store not answering yet")
            assert await proc.stop(within=60) == 0, proc.log  # far less than the 600 s it waits
        assert "Traceback" not in proc.log
        assert not tg.calls_of("getUpdates")
