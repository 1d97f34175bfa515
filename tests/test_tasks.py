"""Ending background tasks (core/tasks.py)."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import cancel


async def test_each_task_unwinds_before_cancel_returns() -> None:
    unwound: list[str] = []

    async def worker() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            unwound.append("worker")

    async def failed() -> None:
        raise RuntimeError("already over")

    task, over = asyncio.create_task(worker()), asyncio.create_task(failed())
    await asyncio.sleep(0)
    await cancel(task, None, over)  # None and a finished task are passed over
    assert task.cancelled() and unwound == ["worker"]


async def test_a_caller_cancelled_while_it_waits_stays_cancelled() -> None:
    """A shutdown that cancels the stopping code itself is not swallowed by the wait."""
    slow_exit = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await slow_exit.wait()  # takes a while to unwind
            raise

    async def stopping() -> str:
        await cancel(inner)
        return "went on as if not cancelled"

    inner = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    outer = asyncio.create_task(stopping())
    await asyncio.sleep(0)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    slow_exit.set()
    await asyncio.wait([inner])
