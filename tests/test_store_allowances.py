"""The store's allowance contract, on SQLite, Redis and a Redis Cluster: every meter of a message
is checked and charged at once, once per message, atomically across processes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from core.model import Meter, MeterScope, Usage, Window
from core.store import RedisStore, SqliteStore, Store
from core.windows import window_of
from tests.harness.contract_stores import (
    CLUSTER_URL,
    REDIS_URL,
    admit_args,
    cluster_store,
    delete_prefix,
    finish_admitted,
    redis_reachable,
    same_data,
)

UTC = ZoneInfo("UTC")


def today() -> Window:
    return window_of("1d", time.time(), UTC)


def meters(
    user: str = "telegram:1",
    channel: str = "tg:1",
    *,
    per_user: int | None = 2,
    per_chat: int | None = None,
    plan: int | None = None,
    window: Window | None = None,
) -> list[Meter]:
    window = window or today()
    return [
        Meter(MeterScope.USER, user, per_user, window),
        Meter(MeterScope.CHAT, channel, per_chat, window),
        Meter(MeterScope.PLAN, "cody", plan, window),
    ]


def metered(message_id: str, channel: str = "tg:1", **overrides: Any) -> dict[str, Any]:
    """Admission arguments of one message of user u1 with the meters given."""
    given = overrides.pop("meters", None)
    args = admit_args(channel=channel, message_id=message_id, rate_limit=1000, **overrides)
    args["meters"] = meters(channel=channel) if given is None else given
    return args


async def test_every_meter_is_charged_or_none(store: Store) -> None:
    first = await store.admit(**metered("m1", "c1"))
    assert first.turn and first.over is None and first.used == (1, 1, 1)
    second = await store.admit(**metered("m2", "c2"))
    assert second.queued and second.used == (2, 1, 2)
    third = await store.admit(**metered("m3", "c3"))
    assert third.over == meters()[0]  # the person's allowance, with its window (the reset)
    assert not (third.queued or third.turn or third.busy or third.rate_limited)
    assert third.used == ()
    # Charged to none: the chat and the plan did not count it either.
    used = await store.usage([*meters(), *meters(channel="c3")[1:2]])
    assert [u.used for u in used] == [2, 0, 2, 0]
    # Refused like a rate-limited message: no place, no record; a re-delivery is a duplicate.
    assert (await store.take_turn("c3", "other|x", 30)).acquired
    assert await store.journal_get("c3", "m3") is None
    assert (await store.admit(**metered("m3", "c3", process="p-b"))).duplicate


async def test_the_first_meter_over_is_named(store: Store) -> None:
    tight = meters(per_user=5, per_chat=1, plan=1)
    assert (await store.admit(**metered("m1", meters=tight))).used == (1, 1, 1)
    over = await store.admit(**metered("m2", meters=tight))
    assert over.over == tight[1]  # the chat's, before the plan's
    assert [u.used for u in await store.usage(tight)] == [1, 1, 1]


async def test_a_message_is_charged_once_however_often_it_comes(store: Store) -> None:
    args = metered("m1")
    assert (await store.admit(**args)).used == (1, 1, 1)
    await finish_admitted(store, args)
    again = await store.admit(**metered("m1", process="p-b"))
    assert again.duplicate and again.used == () and again.over is None
    # A recovered message was charged when it first came.
    resumed = await store.admit(**{**metered("m1", process="p-c"), "resume": True})
    assert resumed.queued and resumed.used == ()
    assert [u.used for u in await store.usage(meters())] == [1, 1, 1]


async def test_busy_and_rate_limited_messages_are_charged_nothing(store: Store) -> None:
    assert (await store.admit(**metered("m1", queue_size=0))).turn
    busy = await store.admit(**metered("m2", queue_size=0))
    assert busy.busy and busy.used == ()
    limited = await store.admit(**{**metered("m3", "c3"), "rate_limit": 1})
    assert limited.rate_limited and limited.used == ()
    assert [u.used for u in await store.usage(meters())] == [1, 1, 1]
    # Nor do they hold a charge back: the person's second message still fits.
    assert (await store.admit(**metered("m4", "c4"))).used == (2, 1, 2)


async def test_over_an_allowance_is_said_before_busy(store: Store) -> None:
    one = meters(per_user=1)
    assert (await store.admit(**metered("m1", meters=one, queue_size=0))).turn
    refused = await store.admit(**metered("m2", meters=one, queue_size=0))
    assert refused.over == one[0] and not refused.busy


async def test_a_refund_gives_the_charge_back_once(store: Store) -> None:
    args = metered("m1")
    assert (await store.admit(**args)).used == (1, 1, 1)
    assert await store.refund(args["meters"], "tg:1", "m1")
    assert [u.used for u in await store.usage(meters())] == [0, 0, 0]
    assert not await store.refund(args["meters"], "tg:1", "m1")  # never twice
    assert not await store.refund(args["meters"], "tg:1", "never-admitted")
    assert [u.used for u in await store.usage(meters())] == [0, 0, 0]
    # A refunded message that comes again is a duplicate: charged no more.
    assert (await store.admit(**metered("m1", process="p-b"))).duplicate
    assert [u.used for u in await store.usage(meters())] == [0, 0, 0]


async def test_a_grant_adds_room_in_the_window_and_can_be_taken_back(store: Store) -> None:
    one = meters(per_user=1)
    assert (await store.admit(**metered("m1", "c1", meters=one))).queued
    assert (await store.admit(**metered("m2", "c2", meters=one))).over is not None
    assert await store.grant(one[0], 2) == Usage(used=1, granted=2)
    assert (await store.admit(**metered("m3", "c3", meters=one))).queued
    assert await store.grant(one[0], -2) == Usage(used=2, granted=0)
    assert (await store.admit(**metered("m4", "c4", meters=one))).over == one[0]
    assert (await store.usage(one[:1])) == [Usage(used=2, granted=0)]


async def test_a_new_window_counts_afresh(store: Store) -> None:
    now = time.time()
    first = Window("1d", now - 100, now + 60)
    then = Window("1d", first.end, first.end + 86400)
    assert (
        await store.admit(**metered("m1", "c1", meters=meters(per_user=1, window=first)))
    ).queued
    assert (await store.admit(**metered("m2", "c2", meters=meters(per_user=1, window=first)))).over
    fresh = await store.admit(**metered("m3", "c3", meters=meters(per_user=1, window=then)))
    assert fresh.queued and fresh.used == (1, 1, 1)


async def test_counters_expire_with_their_window(store: Store) -> None:
    now = time.time()
    short = meters(per_user=1, window=Window("1h", now - 10, now + 0.3))
    assert (await store.admit(**metered("m1", "c1", meters=short))).queued
    await asyncio.sleep(0.6)
    assert await store.usage(short) == [Usage(used=0)] * 3
    assert not await store.refund(short, "c1", "m1")  # the window took its charge with it


async def test_top_lists_the_heaviest_users_of_a_window(store: Store) -> None:
    for user, count in (("telegram:1", 3), ("telegram:2", 1), ("discord:3", 2)):
        for i in range(count):
            mine = meters(user, per_user=None)
            await store.admit(**metered(f"{user}-{i}", f"c-{user}-{i}", meters=mine))
    assert await store.top(MeterScope.USER, today(), 2) == [("telegram:1", 3), ("discord:3", 2)]
    assert await store.top(MeterScope.PLAN, today(), 5) == [("cody", 6)]
    assert await store.top(MeterScope.USER, Window("7d", 0, 1), 5) == []


async def test_metering_adds_no_round_trip(store: Store) -> None:
    counted: Any = store
    before = counted.round_trips
    assert (await store.admit(**metered("m1"))).turn
    assert counted.round_trips - before == 1


async def test_counts_survive_a_new_store_on_the_same_data(store: Store, tmp_path: Path) -> None:
    assert (await store.admit(**metered("m1"))).queued
    if isinstance(store, SqliteStore):
        await store.aclose()
        again: Store = SqliteStore(store.path)
    else:
        assert isinstance(store, RedisStore)
        again = same_data(store)
    try:
        assert [u.used for u in await again.usage(meters())] == [1, 1, 1]
        assert (await again.admit(**metered("m2", "c2"))).used == (2, 1, 2)
    finally:
        await again.aclose()


@pytest.fixture(params=["redis", "sqlite", "cluster"])
async def two(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on the same data, as two processes of one deployment have."""
    if request.param == "sqlite":
        pair = (SqliteStore(tmp_path / "bridge.db"), SqliteStore(tmp_path / "bridge.db"))
        yield pair
        for one in pair:
            await one.aclose()
        return
    if request.param == "cluster":
        async for first in cluster_store():
            assert isinstance(first, RedisStore)
            second = RedisStore(CLUSTER_URL, prefix=first.prefix, cluster=True)
            yield first, second
            await second.aclose()
        return
    if not await redis_reachable():
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one)")
    prefix = f"test-{uuid.uuid4().hex}"
    pair = (RedisStore(REDIS_URL, prefix=prefix), RedisStore(REDIS_URL, prefix=prefix))
    try:
        yield pair
    finally:
        for one in pair:
            await one.aclose()
        await delete_prefix(prefix)


async def test_fifty_at_once_from_two_processes_admit_exactly_the_allowance(
    two: tuple[Store, Store],
) -> None:
    # One person, per_user = "5/1d", fifty messages in fifty chats at once, half per process.
    async def send(i: int) -> bool:
        five = meters(channel=f"c{i}", per_user=5, per_chat=100, plan=1000)
        args = metered(f"m{i}", f"c{i}", meters=five, process=f"p{i % 2}")
        return (await two[i % 2].admit(**args)).queued

    admitted = await asyncio.gather(*(send(i) for i in range(50)))
    assert sum(admitted) == 5
    window = today()
    assert await two[0].top(MeterScope.USER, window, 5) == [("telegram:1", 5)]
    assert await two[0].top(MeterScope.PLAN, window, 5) == [("cody", 5)]
    chats = await two[1].top(MeterScope.CHAT, window, 50)
    assert sorted(chats) == sorted((f"c{i}", 1) for i, ok in enumerate(admitted) if ok)


async def test_redis_counters_live_under_one_hash_tag_until_their_window_ends(
    redis_url: str, prefix: str
) -> None:
    store = RedisStore(redis_url, prefix=prefix)
    window = today()
    try:
        await store.admit(**metered("m1", meters=meters(window=window)))
        await store.grant(meters(window=window)[0], 1)
    finally:
        await store.aclose()
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:{{allow}}:*")]
        counters = [k for k in keys if ":charge:" not in k]
        assert len(counters) == 4  # used: user, chat, plan; granted: user
        for key in counters:
            assert await client.pexpiretime(key) == round(window.end * 1000)
        (charge,) = [k for k in keys if ":charge:" in k]
        assert 0 < await client.pttl(charge) <= 60_000  # as long as the message id is known
    finally:
        await client.aclose()
