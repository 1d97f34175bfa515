"""Group commit on a real Redis: round-trips asked for together leave as one pipeline, and each
caller still gets its own answers, its own errors, and a plain outage."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from core.errors import StoreUnavailable
from core.store.group_commit import MAX_COMMANDS, Commands, GroupCommit
from core.store.redis import RedisStore


class Trips:
    """Counts pipelines sent, as the store's own trip counter does."""

    def __init__(self) -> None:
        self.count = 0

    @asynccontextmanager
    async def __call__(self, requests: int) -> AsyncIterator[None]:
        self.count += 1
        yield


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True)
    yield redis
    await redis.aclose()


def setting(key: str, value: str) -> Commands:
    commands = Commands()
    commands.set(key, value, px=60_000)
    commands.get(key)
    return commands


async def test_callers_in_one_loop_turn_share_one_pipeline(client: Redis, prefix: str) -> None:
    trips = Trips()
    group = GroupCommit(client, trips)
    answers = await asyncio.gather(
        *(group.send(setting(f"{prefix}:k{i}", f"v{i}")) for i in range(50))
    )
    assert answers == [[True, f"v{i}"] for i in range(50)]
    assert trips.count == 1


async def test_a_burst_larger_than_a_pipeline_leaves_as_several(client: Redis, prefix: str) -> None:
    trips = Trips()
    group = GroupCommit(client, trips)
    callers = MAX_COMMANDS  # two commands each: two pipelines' worth
    answers = await asyncio.gather(
        *(group.send(setting(f"{prefix}:k{i}", str(i))) for i in range(callers))
    )
    assert [a[1] for a in answers] == [str(i) for i in range(callers)]
    assert trips.count == 2


async def test_an_error_reaches_only_the_caller_whose_command_failed(
    client: Redis, prefix: str
) -> None:
    group = GroupCommit(client, Trips())
    await client.set(f"{prefix}:text", "not a number")
    wrong = Commands()
    wrong.incr(f"{prefix}:text")
    fine = setting(f"{prefix}:ok", "yes")
    results = await asyncio.gather(group.send(wrong), group.send(fine), return_exceptions=True)
    assert isinstance(results[0], Exception) and "not an integer" in str(results[0])
    assert results[1] == [True, "yes"]


async def test_a_cancelled_caller_does_not_disturb_the_others(client: Redis, prefix: str) -> None:
    group = GroupCommit(client, Trips())
    gone = asyncio.ensure_future(group.send(setting(f"{prefix}:gone", "1")))
    kept = asyncio.ensure_future(group.send(setting(f"{prefix}:kept", "2")))
    await asyncio.sleep(0)
    gone.cancel()
    assert await kept == [True, "2"]
    assert gone.cancelled()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_outage_is_each_callers_store_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5)
    try:
        results = await asyncio.gather(
            *(store.note_handled(f"c{i}", str(i), ttl=60) for i in range(5)),
            return_exceptions=True,
        )
    finally:
        await store.aclose()
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert len({id(r) for r in results}) == 5  # one error each, not one shared traceback
    assert (store.round_trips, store.pipelines) == (5, 1)
