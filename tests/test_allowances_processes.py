"""Allowances across processes: two real `bridge run` webhook workers on one store (Redis, then
a Redis Cluster) get fifty messages of one person at once; exactly the allowance goes upstream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from tests.fakes.aurora import AuroraFake
from tests.fakes.telegram import FakeTelegram
from tests.harness import (
    CLUSTER_URL,
    BridgeProcess,
    aurora_backend,
    cluster_reachable,
    free_port,
    no_traceback,
    telegram_section,
    toml,
)

ALICE = 501
SECRET = "allowance-test_secret"
MESSAGES = 50


@contextlib.asynccontextmanager
async def two_workers(
    tmp_path: Path, tg: FakeTelegram, aurora: AuroraFake, store: dict[str, Any]
) -> AsyncIterator[list[BridgeProcess]]:
    """Two `bridge run` webhook workers behind the fake's balancer, ``per_user = "5/1d"``;
    updates wait for the test to deliver them."""
    hooks = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}/tg/hook" for port in hooks]
    tg.load_balanced = urls
    tg.auto_deliver = False
    workers: list[BridgeProcess] = []
    try:
        for k in (0, 1):
            path = tmp_path / f"worker-{k}.toml"
            path.write_text(
                toml(
                    {
                        "store": store,
                        "backends.luna": aurora_backend(aurora),
                        # Neither the rate limit nor the queue may refuse first: the allowance does.
                        "relay": {
                            "rate_limit_messages": 1000,
                            "queue_size": 1000,
                            "speaker_names": "never",
                            # One upstream message per admitted message: a merged burst would
                            # be given its merged parts back (they never went up on their own).
                            "merge_queued": False,
                        },
                        "allowances": {"per_user": "5/1d"},
                        "telegram": telegram_section(tg, mode="webhook"),
                        "telegram.webhook": {
                            "port": hooks[k],
                            "url": urls[0],
                            "secret_token": SECRET,
                        },
                        "log": {"level": "INFO"},
                        "run": {"grace_period": 3},
                    }
                )
            )
            workers.append(
                await BridgeProcess.start("run", "--config", str(path), merge_stderr=True)
            )
        for worker in workers:
            await worker.wait_log("bridge running")
        yield workers
    finally:
        for worker in workers:
            await worker.kill()


@pytest.fixture(params=["redis", "cluster"])
async def store_table(
    request: pytest.FixtureRequest, redis_url: str, prefix: str
) -> AsyncIterator[dict[str, Any]]:
    """The [store] table of both workers: the shared Redis, or the local Redis Cluster (its keys
    deleted afterwards)."""
    if request.param == "redis":
        yield {"url": redis_url, "prefix": prefix}
        return
    if not await cluster_reachable():
        pytest.skip(f"no Redis Cluster at {CLUSTER_URL}")
    yield {"url": CLUSTER_URL, "prefix": prefix, "cluster": True}
    client: Any = RedisCluster.from_url(CLUSTER_URL)
    try:
        for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
            client.delete(key)
    except redis.RedisError:
        pass
    finally:
        client.close()


async def test_fifty_messages_at_two_workers_send_exactly_the_allowance_upstream(
    tmp_path: Path, aurora: AuroraFake, store_table: dict[str, Any]
) -> None:
    async with FakeTelegram() as tg, two_workers(tmp_path, tg, aurora, store_table) as workers:
        updates = [tg.user_says(ALICE, f"message {i}", user_id=ALICE) for i in range(MESSAGES)]
        # All at once, every other one to each worker.
        statuses = await asyncio.gather(*(tg.deliver(update) for update in updates))
        assert statuses == [200] * MESSAGES
        await tg.wait_for(lambda: len(tg.chat_texts(ALICE)) == 6, within=60)
        assert [await worker.stop(within=30) for worker in workers] == [0, 0]
        logs = [worker.log for worker in workers]
        texts = tg.chat_texts(ALICE)

    assert len(aurora.messages_sent) == 5, aurora.messages_sent
    assert len(set(aurora.messages_sent)) == 5
    replies = [t for t in texts if t.startswith("echo: ")]
    assert sorted(replies) == sorted(f"echo: {m}" for m in aurora.messages_sent)
    # One notice for the 45 refused, then silence.
    [notice] = [t for t in texts if not t.startswith("echo: ")]
    assert notice.startswith("🧮 You've used all your messages for now")
    no_traceback(*logs)
