"""The polling lease and the once-per-deploy chore, on a real store, with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.leader import Leadership
from core.once import once_per_deploy
from core.store import RedisStore, SqliteStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Job:
    """Counts starts and stops of the job a lease guards."""

    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    async def lead(self) -> None:
        self.running = True
        self.starts += 1

    async def follow(self) -> None:
        self.running = False


@pytest.fixture
async def store(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    """A Redis store under this test's prefix, closed afterwards."""
    opened = RedisStore(redis_url, prefix=prefix)
    try:
        yield opened
    finally:
        await opened.aclose()


def lease(store: RedisStore, clock: Clock, job: Job) -> Leadership:
    return Leadership(
        store, "tg:poller:1", lead=job.lead, follow=job.follow, period=10.0, clock=clock
    )


async def test_one_process_leads_the_other_takes_over_when_it_stops(store: RedisStore) -> None:
    clock = Clock()
    first_job, second_job = Job(), Job()
    first, second = lease(store, clock, first_job), lease(store, clock, second_job)
    await first.check()
    await second.check()
    assert first.leading and first_job.running
    assert not second.leading and not second_job.running
    for _ in range(5):  # the leader keeps its lease period after period
        clock.now += 5
        await first.check()
        await second.check()
        assert first.leading and not second.leading
    # The leader dies (no more checks): the other leads within two periods.
    for _ in range(5):
        clock.now += 5
        await second.check()
    assert second.leading and second_job.running and second_job.starts == 1
    # The old leader comes back: it finds the lease taken and stands by.
    await first.check()
    assert not first.leading and not first_job.running


async def test_a_lone_process_leads_at_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bridge.db")
    job = Job()
    only = Leadership(store, "tg:poller:1", lead=job.lead, follow=job.follow)
    try:
        await only.start()
        assert only.leading and job.running
        await only.stop()
        assert not job.running
    finally:
        await store.aclose()


async def test_once_per_deploy_runs_once_per_content_and_again_after_a_failure(
    store: RedisStore,
) -> None:
    ran: list[str] = []

    async def sync() -> None:
        ran.append("sync")

    async def broken() -> None:
        raise RuntimeError("platform down")

    assert await once_per_deploy(store, "dc:commands:1", ["bind", "status"], sync)
    assert not await once_per_deploy(store, "dc:commands:1", ["bind", "status"], sync)
    assert await once_per_deploy(store, "dc:commands:1", ["bind", "status", "mode"], sync)
    assert ran == ["sync", "sync"]
    # Back to the earlier content (a reload restoring the language): done again, once.
    assert await once_per_deploy(store, "dc:commands:1", ["bind", "status"], sync)
    assert not await once_per_deploy(store, "dc:commands:1", ["bind", "status"], sync)
    assert await once_per_deploy(store, "dc:commands:1", ["bind", "status", "mode"], sync)
    assert ran == ["sync"] * 4
    with pytest.raises(RuntimeError):
        await once_per_deploy(store, "tg:commands:1", ["x"], broken, busy_ttl=0.2)
    # Not recorded as done: once the failed attempt's claim lapses, a process tries again.
    await asyncio.sleep(0.5)
    assert await once_per_deploy(store, "tg:commands:1", ["x"], sync)
    assert ran == ["sync"] * 5
    # Nor need the next try wait for that claim to lapse (a lone process would otherwise keep
    # its old menus for minutes, told "another process is doing it").
    with pytest.raises(RuntimeError):
        await once_per_deploy(store, "tg:commands:2", ["x"], broken, busy_ttl=600)
    assert await once_per_deploy(store, "tg:commands:2", ["x"], sync, busy_ttl=600)
    assert ran == ["sync"] * 6
    # While an attempt runs, another process still waits for it.
    started, finish = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await finish.wait()

    first = asyncio.create_task(once_per_deploy(store, "tg:commands:3", ["x"], slow))
    await started.wait()
    assert not await once_per_deploy(store, "tg:commands:3", ["x"], sync)
    finish.set()
    assert await first


async def test_identify_turns_are_taken_one_per_bucket_bot_wide(store: RedisStore) -> None:
    from bots.discord.frontend import identify_turn

    await identify_turn(store, "dc:identify:1:0", initial=True)
    # Another process's shard in the same bucket waits for the turn to lapse...
    waiting = asyncio.create_task(identify_turn(store, "dc:identify:1:0", initial=True))
    await asyncio.sleep(0.5)
    assert not waiting.done()
    # ...while a shard of another bucket goes at once.
    await asyncio.wait_for(identify_turn(store, "dc:identify:1:1", initial=True), 4)
    await asyncio.wait_for(waiting, 30)
