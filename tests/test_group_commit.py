"""Group commit on a real Redis: round-trips asked for together leave as one pipeline, and each
caller still gets its own answers, its own errors, and a plain outage."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis import exceptions as redis_errors
from redis.asyncio import Redis, RedisCluster

from core.errors import StoreRefused, StoreUnavailable
from core.store.group_commit import MAX_COMMANDS, Commands, GroupCommit
from core.store.redis import RedisStore, outage
from tests.harness import CLUSTER_URL, cluster_reachable


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


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ConnectionError("Connection closed by server."),
        redis_errors.TimeoutError("Timeout reading from socket"),
        redis_errors.ClusterDownError("CLUSTERDOWN The cluster is down"),
        redis_errors.MasterDownError("MASTERDOWN Link with MASTER is down"),
        redis_errors.TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
        redis_errors.MovedError("3999 127.0.0.1:7102"),
        redis_errors.AskError("3999 127.0.0.1:7102"),
        redis_errors.ClusterError("TTL exhausted."),
        redis_errors.SlotNotCoveredError("Command # 1 (EVAL) slot 3999 is not covered"),
        redis_errors.RedisClusterException("Redis Cluster cannot be connected."),
        redis_errors.ReadOnlyError("READONLY You can't write against a read only replica."),
    ],
)
def test_a_clusters_errors_mid_failover_are_an_outage(error: Exception) -> None:
    found = outage(error, cluster=True)
    assert type(found) is StoreUnavailable, found


def test_other_errors_are_no_outage() -> None:
    assert (
        outage(redis_errors.ResponseError("WRONGTYPE Operation against a key"), cluster=True)
        is None
    )
    # MOVED from a server the client took for a single Redis: a setting to change.
    assert isinstance(
        outage(redis_errors.MovedError("1 127.0.0.1:7102"), cluster=False), StoreRefused
    )


async def test_a_cluster_error_answered_to_one_command_is_its_callers_outage() -> None:
    """In a pipeline, a node's error comes back as one command's answer, not raised: its
    caller gets StoreUnavailable all the same (a failover, not a failed reply)."""
    if not await cluster_reachable():
        pytest.skip("no local Redis Cluster (.ci/redis-cluster starts one)")
    client = RedisCluster.from_url(CLUSTER_URL, decode_responses=True)
    group = GroupCommit(client, Trips(), lambda error: outage(error, cluster=True) or error)
    down = Commands()
    down.eval("return redis.error_reply('CLUSTERDOWN The cluster is down')", 1, "{t}:k")
    try:
        results = await asyncio.gather(
            group.send(down), group.send(setting("{t}:ok", "yes")), return_exceptions=True
        )
    finally:
        await client.aclose()
    assert isinstance(results[0], StoreUnavailable), results[0]
    assert results[1] == [True, "yes"]
