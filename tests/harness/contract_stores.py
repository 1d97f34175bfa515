"""Each kind of store for the store contract suites (SQLite, Redis, the Redis Cluster, Redis behind
Sentinel), and the admission arguments the contracts share."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.config import host_port
from core.records import JournalRecord, State, ticket_of
from core.store import RedisStore, SqliteStore, Store
from core.store.sentinel import SentinelTarget
from tests.harness.sentinels import MASTER_NAME, SentinelGroup
from tests.harness.settings import CLUSTER_URL, REDIS_URL
from tests.harness.stores import cluster_reachable


async def redis_reachable() -> bool:
    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
        return True
    except (OSError, aioredis.ConnectionError, aioredis.TimeoutError):
        return False
    finally:
        await client.aclose()


async def delete_prefix(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def cluster_store() -> AsyncIterator[Store]:
    """A store on the local Redis Cluster: skipped locally when none answers, a failure in CI."""
    if not await cluster_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"no Redis Cluster at {CLUSTER_URL} (.ci/redis-cluster starts one)")
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL} (.ci/redis-cluster starts one)")
    prefix = f"test-{uuid.uuid4().hex}"
    cluster_store = RedisStore(CLUSTER_URL, prefix=prefix, cluster=True)
    try:
        yield cluster_store
    finally:
        client: Any = cluster_store._redis
        for key in [k async for k in client.scan_iter(match=f"{prefix}:*")]:
            await client.delete(key)
        await cluster_store.aclose()


async def sentinel_store(group: SentinelGroup) -> AsyncIterator[Store]:
    """A store on the master a Sentinel group names (the session's shared group)."""
    prefix = f"test-{uuid.uuid4().hex}"
    target = SentinelTarget(tuple(host_port(a) for a in group.addresses), MASTER_NAME)
    on_sentinels = RedisStore(prefix=prefix, sentinel=target)
    try:
        yield on_sentinels
    finally:
        client: Any = on_sentinels._redis
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await on_sentinels.aclose()


def same_data(store: RedisStore) -> RedisStore:
    """Another client on ``store``'s data (Redis, the Cluster or the sentinels' master), as a
    second process of the deployment has."""
    if store._sentinel is not None:
        return RedisStore(prefix=store.prefix, sentinel=store._sentinel.target)
    url = CLUSTER_URL if store.cluster else REDIS_URL
    return RedisStore(url, prefix=store.prefix, cluster=store.cluster)


@pytest.fixture(name="store", params=["redis", "sqlite", "cluster", "sentinel"])
async def each_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each kind; Redis keys live under a unique prefix, deleted afterwards."""
    if request.param == "sqlite":
        sqlite_store = SqliteStore(tmp_path / "bridge.db")
        yield sqlite_store
        await sqlite_store.aclose()
        return
    if request.param == "cluster":
        async for on_cluster in cluster_store():
            yield on_cluster
        return
    if request.param == "sentinel":
        async for on_sentinels in sentinel_store(request.getfixturevalue("shared_sentinels")):
            yield on_sentinels
        return
    if not await redis_reachable():
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one)")
    prefix = f"test-{uuid.uuid4().hex}"
    redis_store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        yield redis_store
    finally:
        await redis_store.aclose()
        await delete_prefix(prefix)


def journal_record(
    channel: str = "tg:1", message_id: str = "m1", process: str = "p-a"
) -> JournalRecord:
    return JournalRecord(
        channel=channel,
        message_id=message_id,
        owner=ticket_of(process, message_id),
        platform="telegram",
        author="u1",
        text=f"prompt {message_id}",
        target={"chat": "1"},
    )


def admit_args(**overrides: Any) -> dict[str, Any]:
    channel = overrides.pop("channel", "tg:1")
    message_id = overrides.pop("message_id", "m1")
    process = overrides.pop("process", "p-a")
    args: dict[str, Any] = {
        "record": journal_record(channel, message_id, process),
        "user": "u1",
        "lease_ttl": 30.0,
        "queue_size": 5,
        "dedupe_ttl": 60.0,
        "rate_limit": 5,
        "rate_window": 60.0,
    }
    args.update(overrides)
    return args


async def finish_admitted(store: Store, args: dict[str, Any]) -> None:
    record: JournalRecord = args["record"]
    await store.finish(record.channel, record.owner, record.moved(State.DONE))
